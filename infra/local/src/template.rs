//! Reads `template.yaml` so the local stack creates exactly the resources
//! (and wires exactly the functions) that SAM deploys: the two cannot drift.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone)]
pub struct Template {
    pub parameters: Map<String, Value>,
    pub globals: Value,
    pub resources: BTreeMap<String, Resource>,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: String,
    pub properties: Value,
}

impl Template {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let yaml: serde_yaml::Value = serde_yaml::from_str(text).context("template.yaml is not YAML")?;
        let doc = to_json(yaml);
        let Some(resources) = doc.get("Resources").and_then(Value::as_object) else {
            bail!("template has no Resources");
        };
        let resources = resources
            .iter()
            .map(|(name, r)| {
                let kind = r.get("Type").and_then(Value::as_str).unwrap_or_default().to_string();
                let properties = r.get("Properties").cloned().unwrap_or(Value::Object(Map::new()));
                (name.clone(), Resource { kind, properties })
            })
            .collect();
        Ok(Self {
            parameters: doc
                .get("Parameters")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            globals: doc.get("Globals").cloned().unwrap_or(Value::Null),
            resources,
        })
    }

    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Resource)> + 'a {
        self.resources.iter().filter(move |(_, r)| r.kind == kind)
    }
}

/// YAML to JSON, turning CloudFormation short-form tags (`!Ref`, `!GetAtt`,
/// `!Sub`, …) into their long forms.
fn to_json(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(f) = n.as_f64() {
                json!(f)
            } else {
                Value::String(n.to_string())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_yaml::to_string(&other).unwrap_or_default().trim().to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let inner = to_json(tagged.value);
            match tag {
                "Ref" => json!({ "Ref": inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (res, attr) = s.split_once('.').unwrap_or((&s, ""));
                        json!({ "Fn::GetAtt": [res, attr] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

#[cfg(test)]
mod key_policy_tests;
#[cfg(test)]
mod logging_tests;
#[cfg(test)]
mod monitoring_tests;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod wiring_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form_intrinsics_become_long_form() {
        let t = Template::parse(
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      A: !Ref K\n      B: !GetAtt D.Arn\n      C: !Sub '${AWS::StackName}-x'\n",
        )
        .unwrap();
        let p = &t.resources["Q"].properties;
        assert_eq!(p["A"], json!({"Ref": "K"}));
        assert_eq!(p["B"], json!({"Fn::GetAtt": ["D", "Arn"]}));
        assert_eq!(p["C"], json!({"Fn::Sub": "${AWS::StackName}-x"}));
    }
}
