//! What the template tests share: the project's template (parsed, and as
//! written with resource attributes), and reading its IAM and key policies
//! (wildcard actions, condition keys, the function roles' ARN pattern).

use std::path::Path;

use serde_json::Value;

use super::{to_json, Template};

pub(super) fn project_template() -> Template {
    Template::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))).unwrap()
}

/// The template as written, with resource attributes (`Condition`) too.
pub(super) fn project_document() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap();
    to_json(serde_yaml::from_str(&text).unwrap())
}

/// A string, or the text of its `Fn::Sub`.
pub(super) fn text(v: &Value) -> Option<&str> {
    v.as_str().or_else(|| v["Fn::Sub"].as_str())
}

/// A string or a list of them (each possibly a `Fn::Sub`).
fn texts(v: &Value) -> Vec<&str> {
    match v {
        Value::Array(items) => items.iter().filter_map(text).collect(),
        other => text(other).into_iter().collect(),
    }
}

/// IAM wildcard match (`*`, `?`); actions are case-insensitive.
fn glob(pattern: &str, name: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
            Some((b'?', rest)) => !t.is_empty() && go(rest, &t[1..]),
            Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    go(
        pattern.to_ascii_lowercase().as_bytes(),
        name.to_ascii_lowercase().as_bytes(),
    )
}

/// Everything that reads or produces plaintext under the key.
const DATA_PLANE: [&str; 8] = [
    "kms:Decrypt",
    "kms:Encrypt",
    "kms:ReEncryptFrom",
    "kms:ReEncryptTo",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
    "kms:GenerateDataKeyPair",
    "kms:GenerateDataKeyPairWithoutPlaintext",
];

pub(super) fn actions(statement: &Value) -> Vec<&str> {
    texts(&statement["Action"])
}

pub(super) fn allows(statement: &Value, action: &str) -> bool {
    actions(statement).iter().any(|a| glob(a, action))
}

pub(super) fn data_plane(statement: &Value) -> Vec<&'static str> {
    DATA_PLANE.into_iter().filter(|a| allows(statement, a)).collect()
}

/// The key policy's statements; a conditional one (`Fn::If`) as it reads
/// when its condition holds.
pub(super) fn key_statements(t: &Template) -> Vec<Value> {
    t.resources["DataKey"].properties["KeyPolicy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| match s["Fn::If"].as_array() {
            Some(branches) => branches[1].clone(),
            None => s.clone(),
        })
        .collect()
}

/// Every value a condition key is tested against, under any operator.
pub(super) fn condition<'a>(statement: &'a Value, key: &str) -> Vec<(&'a str, Vec<&'a str>)> {
    let mut out = Vec::new();
    for (operator, tests) in statement["Condition"].as_object().into_iter().flatten() {
        if let Some(v) = tests.get(key) {
            out.push((operator.as_str(), texts(v)));
        }
    }
    out
}

pub(super) fn has_context_condition(statement: &Value) -> bool {
    statement["Condition"]
        .as_object()
        .into_iter()
        .flat_map(|ops| ops.values())
        .filter_map(Value::as_object)
        .flat_map(|tests| tests.keys())
        .any(|k| k.starts_with("kms:EncryptionContext"))
}

/// The ARN pattern of this stack's function roles: SAM puts every role
/// under the path in Globals, and no function picks a role of its own.
pub(super) fn function_role_pattern(t: &Template) -> String {
    let path = text(&t.globals["Function"]["RolePath"]).expect("Globals.Function.RolePath");
    assert!(path.starts_with('/') && path.ends_with('/'), "{path}");
    assert!(
        path.contains("${AWS::StackName}") && path.contains("${AWS::Region}"),
        "a path of this stack in this region only: {path}"
    );
    for (name, f) in t.of_type("AWS::Serverless::Function") {
        assert!(f.properties.get("Role").is_none(), "{name} brings its own role");
        assert!(f.properties.get("RolePath").is_none(), "{name} leaves the role path");
    }
    format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{path}*")
}
