//! `openapi.json` and the router's table ([`crate::ROUTES`]) describe the
//! same API: the same routes, each with the same scope.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::{OPENAPI_JSON, ROUTES};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

fn document() -> Value {
    serde_json::from_str(OPENAPI_JSON).expect("openapi.json is JSON")
}

/// Every operation of the document: (METHOD, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for m in METHODS {
            if let Some(op) = item.get(m) {
                out.push((m.to_ascii_uppercase(), path.clone(), op));
            }
        }
    }
    out
}

#[test]
fn every_route_the_router_serves_is_in_the_open_api_document_and_nothing_else() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let in_code: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let undocumented: Vec<String> = in_code
        .difference(&documented)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    let unserved: Vec<String> = documented
        .difference(&in_code)
        .map(|(m, p)| format!("{m} {p}"))
        .collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "routes in the router (api ROUTES) but not in functions/api/openapi.json: {undocumented:?}; \
         in openapi.json but not in the router: {unserved:?}"
    );
}

#[test]
fn every_operation_names_the_scope_the_router_checks() {
    let doc = document();
    for (method, path, op) in operations(&doc) {
        let Some(route) = ROUTES.iter().find(|r| r.method == method && r.path == path) else {
            continue; // reported by the test above
        };
        let scopes: Vec<&str> = op["security"][0]["bearer"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path}: no bearer security"))
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let want: Vec<&str> = route.scope.map(|s| s.as_str()).into_iter().collect();
        assert_eq!(scopes, want, "{method} {path}");
    }
}

#[test]
fn the_document_is_open_api_3_1_with_one_error_shape() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["jsonSchemaDialect"], "https://json-schema.org/draft/2020-12/schema");
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], serde_json::json!(["error"]));
    assert_eq!(
        error["properties"]["error"]["required"],
        serde_json::json!(["code", "message"])
    );
}

#[test]
fn the_reason_breakdowns_name_exactly_the_reason_codes_the_sender_records() {
    use optcast_shared::outcomes::reason;
    let doc = document();
    let counts = &doc["components"]["schemas"]["Broadcast"]["properties"]["counts"]["properties"];
    let codes = |field: &str| -> Vec<String> {
        counts[field]["propertyNames"]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{field}: no enum of codes"))
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(codes("skipped_by_reason"), reason::SKIPPED);
    assert_eq!(codes("failed_by_reason"), reason::FAILED);
    // The recipient route names the same codes.
    let recipient: BTreeSet<String> = doc["components"]["schemas"]["Recipient"]["properties"]["reason"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    let all: BTreeSet<String> = reason::SKIPPED
        .iter()
        .chain(reason::FAILED.iter())
        .map(|c| c.to_string())
        .collect();
    assert_eq!(recipient, all);
}
