//! CloudFormation intrinsics resolved against what was created: `Ref`,
//! `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, ….

use serde_json::Value;

use super::Provisioned;
use crate::template::Template;

pub(super) fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Resolves a template value (literal, `Ref`, `Fn::GetAtt`, `Fn::Sub`) against
/// what has been created. `None` when it names something we do not create.
pub fn resolve(v: &Value, done: &Provisioned, template: &Template) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(m) => {
            if let Some(name) = m.get("Ref").and_then(Value::as_str) {
                return resolve_ref(name, done, template);
            }
            if let Some(parts) = m.get("Fn::GetAtt").and_then(Value::as_array) {
                let res = parts.first()?.as_str()?;
                let attr = parts.get(1)?.as_str()?;
                return resolve_att(res, attr, done);
            }
            if let Some(s) = m.get("Fn::Sub").and_then(Value::as_str) {
                let mut out = String::new();
                let mut rest = s;
                while let Some(start) = rest.find("${") {
                    out.push_str(&rest[..start]);
                    let end = rest[start..].find('}')? + start;
                    let var = &rest[start + 2..end];
                    let value = match var.split_once('.') {
                        Some((res, attr)) if !var.starts_with("AWS::") => resolve_att(res, attr, done)?,
                        _ => resolve_ref(var, done, template)?,
                    };
                    out.push_str(&value);
                    rest = &rest[end + 1..];
                }
                out.push_str(rest);
                return Some(out);
            }
            None
        }
        _ => None,
    }
}

pub(super) fn resolve_ref(name: &str, done: &Provisioned, template: &Template) -> Option<String> {
    match name {
        "AWS::Region" => return Some(done.region.clone()),
        "AWS::StackName" => return Some(done.prefix.clone()),
        "AWS::AccountId" => return Some("123456789012".into()),
        "AWS::Partition" => return Some("aws".into()),
        _ => {}
    }
    if let Some(p) = done.resources.get(name) {
        return Some(p.reference.clone());
    }
    // Parameters resolve to their defaults; secrets have none and stay unset.
    template.parameters.get(name).and_then(|p| p.get("Default")).map(str_of)
}

pub(super) fn resolve_att(res: &str, attr: &str, done: &Provisioned) -> Option<String> {
    let p = done.resources.get(res)?;
    Some(match attr {
        "Arn" => p.arn.clone(),
        "QueueUrl" => p.reference.clone(),
        "QueueName" => p.name.clone(),
        _ => p.reference.clone(),
    })
}
