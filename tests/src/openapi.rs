//! The API contract, checked on every response the tests receive: the
//! OpenAPI 3.1 document the API serves (`functions/api/openapi.json`) must
//! document the status for that route, and the body must match the
//! response's schema (JSON Schema 2020-12, the `jsonschema` crate).

use std::sync::OnceLock;

use serde_json::{json, Value};

/// The document, as compiled into the API.
pub fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| serde_json::from_str(api::OPENAPI_JSON).expect("openapi.json is JSON"))
}

/// The document's path template for `path` (no query): a literal segment
/// wins over a `{parameter}`; `None` when no path matches.
fn path_template(doc: &Value, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    doc["paths"]
        .as_object()?
        .keys()
        .filter_map(|template| {
            let parts: Vec<&str> = template.trim_matches('/').split('/').collect();
            let fits =
                parts.len() == segments.len() && parts.iter().zip(&segments).all(|(p, s)| p.starts_with('{') || p == s);
            fits.then(|| (parts.iter().filter(|p| p.starts_with('{')).count(), template.clone()))
        })
        .min()
        .map(|(_, t)| t)
}

/// A `$ref` into the document (`#/components/...`), followed.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => doc
            .pointer(r.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("openapi.json: {r} not found")),
        None => v,
    }
}

/// Validates `body` against `schema` (which may `$ref` the document's components).
fn validate(doc: &Value, schema: &Value, body: &Value, what: &str) {
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "components": doc["components"],
        "allOf": [schema],
    });
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&root)
        .unwrap_or_else(|e| panic!("openapi.json: the schema of {what} does not compile: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: the body does not match openapi.json: {errors:?}\nbody: {body}"
    );
}

/// Panics unless the API's answer `status` / `body` to `method path` is
/// what `openapi.json` documents. Paths outside `/v1` are not the API's.
pub fn check_response(method: &str, path: &str, status: u16, body: &Value) {
    let path = path.split('?').next().unwrap_or_default();
    if !path.starts_with("/v1/") && path != "/v1" {
        return;
    }
    let doc = document();
    let error = json!({"$ref": "#/components/schemas/Error"});
    let Some(template) = path_template(doc, path) else {
        assert_eq!(
            status, 404,
            "{method} {path}: no such route in openapi.json, yet answered {status}"
        );
        return validate(doc, &error, body, &format!("{method} {path} {status}"));
    };
    let Some(op) = doc["paths"][&template].get(method.to_ascii_lowercase()) else {
        assert_eq!(
            status, 405,
            "{method} {template}: not in openapi.json, yet answered {status}"
        );
        return validate(doc, &error, body, &format!("{method} {path} {status}"));
    };
    let what = format!("{method} {template} {status}");
    let response = op["responses"]
        .get(status.to_string())
        .map(|r| resolve(doc, r))
        .unwrap_or_else(|| panic!("{what}: status not documented in openapi.json (body: {body})"));
    if let Some(schema) = response.pointer("/content/application~1json/schema") {
        validate(doc, schema, body, &what);
    }
}
