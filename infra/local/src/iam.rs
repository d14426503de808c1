//! Each function's IAM policy from `template.yaml`, enforced on the calls it
//! makes to the local AWS: a call the deployed role would be refused is
//! refused here too, as AWS answers it (`AccessDenied`), and recorded, so a
//! missing permission fails the suite instead of the first deployment.
//!
//! Each function of a stack signs with its own access key
//! ([`access_key_of`]); every proxy in front of the emulator
//! ([`crate::counting_proxy`], also the tests' fault and counting proxies)
//! names the function from the request's `Credential` and asks [`check`],
//! which finds the stack's [`Guard`] by that key.
//! What is evaluated: `Allow` statements' `Action` and `Resource` patterns
//! (`*`, `?`), and the condition keys the template uses: `kms:ViaService`
//! (never true for a direct call), `kms:EncryptionContext:<key>`,
//! `dynamodb:LeadingKeys` (of a one-item request) and `s3:prefix`, with
//! `StringEquals`/`StringLike` (also under `ForAllValues:`). A statement with any other
//! condition does not apply. Calls of an unknown key (tests, the pollers)
//! are not checked.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use wildmatch::WildMatch;

/// One `Allow` statement, resolved against what the local stack created.
#[derive(Debug, Clone)]
pub struct Statement {
    pub actions: Vec<String>,
    pub resources: Vec<String>,
    /// `(operator, key, values)`.
    pub conditions: Vec<(String, String, Vec<String>)>,
}

/// The access key function `name` of the stack `prefix` signs with locally.
pub fn access_key_of(prefix: &str, name: &str) -> String {
    format!("LOCAL{}FN{}", prefix.to_ascii_uppercase(), name.to_ascii_uppercase())
}

/// `aws` signing as function `name` of the stack `prefix` ([`access_key_of`]).
pub fn signing_as(aws: &aws_config::SdkConfig, prefix: &str, name: &str) -> aws_config::SdkConfig {
    let credentials =
        aws_credential_types::Credentials::new(access_key_of(prefix, name), "local", None, None, "optcast-local");
    aws.to_builder()
        .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(
            credentials,
        ))
        .build()
}

/// The `Allow` statements of a function's `Policies`, each value resolved by
/// `resolve` (an intrinsic the stack cannot resolve drops that value).
pub fn statements(policies: &Value, resolve: impl Fn(&Value) -> Option<String>) -> Vec<Statement> {
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(items) => items.iter().filter_map(&resolve).collect(),
            Value::Null => Vec::new(),
            other => resolve(other).into_iter().collect(),
        }
    };
    policies
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|p| p["Statement"].as_array().cloned().unwrap_or_default())
        .filter(|st| st["Effect"] == "Allow")
        .map(|st| Statement {
            actions: list(&st["Action"]),
            resources: list(&st["Resource"]),
            conditions: st["Condition"]
                .as_object()
                .into_iter()
                .flatten()
                .flat_map(|(op, keys)| {
                    keys.as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (op.clone(), k.clone(), list(v)))
                        .collect::<Vec<_>>()
                })
                .collect(),
        })
        .collect()
}

/// One permission a request needs: the IAM action, the resource's ARN and
/// the request's values of condition keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Need {
    pub action: String,
    pub resource: String,
    pub context: BTreeMap<String, String>,
}

/// The policies of every function, and what was refused.
#[derive(Clone, Default)]
pub struct Guard {
    /// Access key → (function, statements).
    by_key: BTreeMap<String, (String, Vec<Statement>)>,
    /// A table or bucket name, queue URL or name, or key id → its ARN.
    arns: BTreeMap<String, String>,
    denied: Arc<Mutex<Vec<String>>>,
}

impl Guard {
    /// The guard of stack `prefix`, enforced from now on by every proxy.
    /// `functions`: name → statements; `resources`: every name a request may
    /// use for a resource (its `Ref`, name, ARN) → its ARN.
    pub fn new(prefix: &str, functions: BTreeMap<String, Vec<Statement>>, resources: BTreeMap<String, String>) -> Self {
        let guard = Self {
            by_key: functions
                .into_iter()
                .map(|(name, st)| (access_key_of(prefix, &name), (name, st)))
                .collect(),
            arns: resources,
            denied: Arc::default(),
        };
        let mut guards = registry().lock().expect("registry");
        for key in guard.by_key.keys() {
            guards.insert(key.clone(), guard.clone());
        }
        guard
    }

    /// Every refusal so far (`function: action on resource`).
    pub fn denied(&self) -> Vec<String> {
        self.denied.lock().expect("denied").clone()
    }

    /// Every refusal so far, forgetting them (a test that provokes one).
    pub fn take_denied(&self) -> Vec<String> {
        std::mem::take(&mut *self.denied.lock().expect("denied"))
    }

    /// `None` when the request signed with `key` is allowed; else the
    /// refusal, as recorded.
    fn refusal(
        &self,
        key: &str,
        headers: &hyper::HeaderMap,
        method: &hyper::Method,
        uri: &hyper::Uri,
        body: &[u8],
    ) -> Option<String> {
        let (function, statements) = self.by_key.get(key)?;
        let needs = self.needs(headers, method, uri, body);
        let refused = needs
            .iter()
            .find(|need| !statements.iter().any(|st| allows(st, need)))?;
        let text = format!("{function}: {} on {}", refused.action, refused.resource);
        tracing::error!(denied = %text, "IAM: the template's policy refuses this call");
        self.denied.lock().expect("denied").push(text.clone());
        Some(text)
    }

    fn arn(&self, name: &str) -> String {
        if let Some(arn) = self.arns.get(name) {
            return arn.clone();
        }
        // A queue URL of another host form: by its name.
        let last = name.rsplit('/').next().unwrap_or(name);
        self.arns.get(last).cloned().unwrap_or_else(|| name.to_string())
    }

    /// What a request needs, by service.
    fn needs(&self, headers: &hyper::HeaderMap, method: &hyper::Method, uri: &hyper::Uri, body: &[u8]) -> Vec<Need> {
        let need = |action: String, resource: String| Need {
            action,
            resource,
            context: BTreeMap::new(),
        };
        let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) else {
            return self.s3_needs(method, uri, body);
        };
        let json: Value = serde_json::from_slice(body).unwrap_or_default();
        let (service, op) = target.split_once('.').unwrap_or((target, ""));
        match service {
            s if s.starts_with("DynamoDB") => {
                let table = |t: &Value| self.arn(t.as_str().unwrap_or_default());
                match op {
                    "BatchGetItem" | "BatchWriteItem" => json["RequestItems"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(t, _)| need(format!("dynamodb:{op}"), self.arn(t)))
                        .collect(),
                    "TransactWriteItems" | "TransactGetItems" => json["TransactItems"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|item| {
                            let (kind, inner) = item.as_object()?.iter().next()?;
                            let action = match kind.as_str() {
                                "Put" => "PutItem",
                                "Update" => "UpdateItem",
                                "Delete" => "DeleteItem",
                                "ConditionCheck" => "ConditionCheckItem",
                                _ => "GetItem",
                            };
                            Some(with_leading_key(
                                need(format!("dynamodb:{action}"), table(&inner["TableName"])),
                                inner,
                            ))
                        })
                        .collect(),
                    _ => {
                        let mut resource = table(&json["TableName"]);
                        if let Some(index) = json["IndexName"].as_str() {
                            resource = format!("{resource}/index/{index}");
                        }
                        vec![with_leading_key(need(format!("dynamodb:{op}"), resource), &json)]
                    }
                }
            }
            "AmazonSQS" => {
                let action = op.strip_suffix("Batch").unwrap_or(op);
                vec![need(
                    format!("sqs:{action}"),
                    self.arn(json["QueueUrl"].as_str().unwrap_or_default()),
                )]
            }
            "TrentService" => {
                let mut n = need(
                    format!("kms:{op}"),
                    self.arn(json["KeyId"].as_str().unwrap_or_default()),
                );
                for (k, v) in json["EncryptionContext"].as_object().into_iter().flatten() {
                    n.context.insert(
                        format!("kms:EncryptionContext:{k}"),
                        v.as_str().unwrap_or_default().into(),
                    );
                }
                vec![n]
            }
            "secretsmanager" => vec![need(
                format!("secretsmanager:{op}"),
                json["SecretId"].as_str().unwrap_or_default().to_string(),
            )],
            other => vec![need(format!("{other}:{op}"), "*".into())],
        }
    }

    /// An S3 request (path style: `/bucket/key`) as IAM sees it.
    fn s3_needs(&self, method: &hyper::Method, uri: &hyper::Uri, body: &[u8]) -> Vec<Need> {
        let path = uri.path().trim_start_matches('/');
        let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
        let key = percent_encoding::percent_decode_str(key)
            .decode_utf8_lossy()
            .to_string();
        let query: BTreeMap<String, String> = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
        let bucket_arn = self.arn(bucket);
        let object = |key: &str| format!("{bucket_arn}/{key}");
        let need = |action: &str, resource: String| Need {
            action: format!("s3:{action}"),
            resource,
            context: BTreeMap::new(),
        };
        use hyper::Method as M;
        if key.is_empty() {
            return match *method {
                M::POST if query.contains_key("delete") => deleted_objects(body)
                    .into_iter()
                    .map(|(k, versioned)| {
                        let action = if versioned {
                            "DeleteObjectVersion"
                        } else {
                            "DeleteObject"
                        };
                        need(action, object(&k))
                    })
                    .collect(),
                M::GET | M::HEAD => {
                    let action = if query.contains_key("versions") {
                        "ListBucketVersions"
                    } else {
                        "ListBucket"
                    };
                    let mut n = need(action, bucket_arn.clone());
                    n.context
                        .insert("s3:prefix".into(), query.get("prefix").cloned().unwrap_or_default());
                    vec![n]
                }
                _ => vec![need("CreateBucket", bucket_arn.clone())],
            };
        }
        let action = match *method {
            M::GET | M::HEAD if query.contains_key("versionId") => "GetObjectVersion",
            M::GET | M::HEAD => "GetObject",
            M::PUT | M::POST => "PutObject",
            M::DELETE if query.contains_key("uploadId") => "AbortMultipartUpload",
            M::DELETE if query.contains_key("versionId") => "DeleteObjectVersion",
            M::DELETE => "DeleteObject",
            _ => "GetObject",
        };
        vec![need(action, object(&key))]
    }
}

fn registry() -> &'static Mutex<HashMap<String, Guard>> {
    static GUARDS: OnceLock<Mutex<HashMap<String, Guard>>> = OnceLock::new();
    GUARDS.get_or_init(Mutex::default)
}

/// `None` when the request is allowed, or not signed by a function of a
/// stack with a [`Guard`] (a test's own calls, the pollers); else the
/// refusal, recorded in that stack's guard.
pub fn check(headers: &hyper::HeaderMap, method: &hyper::Method, uri: &hyper::Uri, body: &[u8]) -> Option<String> {
    let key = access_key(headers)?;
    let guard = registry().lock().expect("registry").get(&key)?.clone();
    guard.refusal(&key, headers, method, uri, body)
}

/// `need` with `dynamodb:LeadingKeys`: the partition key (`pk`) of the one
/// item a request (or transaction item) names by `Key` or `Item`.
fn with_leading_key(mut need: Need, request: &Value) -> Need {
    let key = request.get("Key").or_else(|| request.get("Item"));
    if let Some(pk) = key.and_then(|k| k["pk"]["S"].as_str()) {
        need.context.insert("dynamodb:LeadingKeys".into(), pk.to_string());
    }
    need
}

/// The signing access key of a request (`Credential=<key>/…`).
fn access_key(headers: &hyper::HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let rest = &auth[auth.find("Credential=")? + "Credential=".len()..];
    Some(rest.split('/').next()?.to_string())
}

/// The keys of an S3 `DeleteObjects` body, and whether each names a version.
fn deleted_objects(body: &[u8]) -> Vec<(String, bool)> {
    let text = String::from_utf8_lossy(body);
    let (mut out, mut element, mut key, mut versioned) = (Vec::new(), String::new(), None::<String>, false);
    for token in xmlparser::Tokenizer::from(text.as_ref()).flatten() {
        match token {
            xmlparser::Token::ElementStart { local, .. } => element = local.as_str().to_string(),
            xmlparser::Token::Text { text } if element == "Key" => key = Some(text.as_str().to_string()),
            xmlparser::Token::Text { .. } if element == "VersionId" => versioned = true,
            xmlparser::Token::ElementEnd {
                end: xmlparser::ElementEnd::Close(_, local),
                ..
            } => {
                if local.as_str() == "Object" {
                    if let Some(k) = key.take() {
                        out.push((k, versioned));
                    }
                    versioned = false;
                }
                element.clear();
            }
            _ => {}
        }
    }
    out
}

/// Whether `st` allows `need`.
fn allows(st: &Statement, need: &Need) -> bool {
    let matches = |pattern: &str, value: &str| WildMatch::new(pattern).matches(value);
    st.actions
        .iter()
        .any(|a| matches(&a.to_ascii_lowercase(), &need.action.to_ascii_lowercase()))
        && st.resources.iter().any(|r| matches(r, &need.resource))
        && st.conditions.iter().all(|(op, key, values)| {
            let Some(value) = need.context.get(key) else {
                return false;
            };
            // Every key evaluated here has one value per request, so
            // `ForAllValues:` asks the same of it. (AWS counts a missing
            // key as meeting `ForAllValues`; here it does not: stricter.)
            match op.strip_prefix("ForAllValues:").unwrap_or(op) {
                "StringEquals" => values.iter().any(|v| v == value),
                "StringLike" => values.iter().any(|v| matches(v, value)),
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statement(actions: &[&str], resources: &[&str]) -> Statement {
        Statement {
            actions: actions.iter().map(|s| s.to_string()).collect(),
            resources: resources.iter().map(|s| s.to_string()).collect(),
            conditions: Vec::new(),
        }
    }

    fn need(action: &str, resource: &str) -> Need {
        Need {
            action: action.into(),
            resource: resource.into(),
            context: BTreeMap::new(),
        }
    }

    #[test]
    fn actions_and_resources_match_as_iam_patterns() {
        let st = statement(&["dynamodb:Query", "s3:Get*"], &["arn:t/orders", "arn:b/exports/*"]);
        assert!(allows(&st, &need("dynamodb:Query", "arn:t/orders")));
        assert!(allows(&st, &need("DynamoDB:query", "arn:t/orders")));
        assert!(!allows(&st, &need("dynamodb:Query", "arn:t/orders/index/by_age")));
        assert!(allows(&st, &need("s3:GetObjectVersion", "arn:b/exports/x/y.json")));
        assert!(!allows(&st, &need("s3:PutObject", "arn:b/exports/x")));
        assert!(!allows(&st, &need("s3:GetObject", "arn:b/claims/x")));
    }

    #[test]
    fn conditions_apply_only_when_the_request_meets_them() {
        let mut via = statement(&["kms:Decrypt"], &["*"]);
        via.conditions = vec![("StringEquals".into(), "kms:ViaService".into(), vec!["sqs.x".into()])];
        // A direct call comes via no service.
        assert!(!allows(&via, &need("kms:Decrypt", "arn:k")));
        let mut prefix = statement(&["s3:ListBucket"], &["arn:b"]);
        prefix.conditions = vec![("StringLike".into(), "s3:prefix".into(), vec!["quarantine/*".into()])];
        let mut listing = need("s3:ListBucket", "arn:b");
        listing.context.insert("s3:prefix".into(), "quarantine/2026/".into());
        assert!(allows(&prefix, &listing));
        listing.context.insert("s3:prefix".into(), "claims/".into());
        assert!(!allows(&prefix, &listing));
    }

    #[test]
    fn leading_keys_limit_a_statement_to_the_items_whose_partition_key_matches() {
        let mut tombstones = statement(&["dynamodb:UpdateItem"], &["arn:t/consent"]);
        tombstones.conditions = vec![(
            "ForAllValues:StringLike".into(),
            "dynamodb:LeadingKeys".into(),
            vec!["PAGE#*#GONE#*".into()],
        )];
        let update = |pk: &str| {
            with_leading_key(
                need("dynamodb:UpdateItem", "arn:t/consent"),
                &serde_json::json!({"Key": {"pk": {"S": pk}, "sk": {"S": "x"}}}),
            )
        };
        assert!(allows(&tombstones, &update("PAGE#1#GONE#abc")));
        assert!(!allows(&tombstones, &update("PAGE#1#SUB#abc")));
        // A request naming no one item does not meet it.
        assert!(!allows(&tombstones, &need("dynamodb:UpdateItem", "arn:t/consent")));
    }

    #[test]
    fn a_transaction_needs_each_items_own_action_and_a_batch_delete_each_keys() {
        let guard = Guard::new(
            "unit",
            BTreeMap::new(),
            BTreeMap::from([
                (
                    "t-deliveries".to_string(),
                    "arn:aws:dynamodb:r:1:table/t-deliveries".to_string(),
                ),
                ("bucket".to_string(), "arn:aws:s3:::bucket".to_string()),
            ]),
        );
        let mut headers = hyper::HeaderMap::new();
        headers.insert("x-amz-target", "DynamoDB_20120810.TransactWriteItems".parse().unwrap());
        let body = br#"{"TransactItems":[{"Delete":{"TableName":"t-deliveries"}},{"ConditionCheck":{"TableName":"t-deliveries"}}]}"#;
        let uri: hyper::Uri = "/".parse().unwrap();
        let needs = guard.needs(&headers, &hyper::Method::POST, &uri, body);
        assert_eq!(
            needs.iter().map(|n| n.action.as_str()).collect::<Vec<_>>(),
            ["dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
        );
        assert_eq!(needs[0].resource, "arn:aws:dynamodb:r:1:table/t-deliveries");
        let delete = br#"<Delete><Object><Key>exports/a.json</Key><VersionId>v1</VersionId></Object><Object><Key>claims/b</Key></Object></Delete>"#;
        let uri: hyper::Uri = "/bucket?delete".parse().unwrap();
        let needs = guard.needs(&hyper::HeaderMap::new(), &hyper::Method::POST, &uri, delete);
        assert_eq!(
            needs
                .iter()
                .map(|n| (n.action.as_str(), n.resource.as_str()))
                .collect::<Vec<_>>(),
            [
                ("s3:DeleteObjectVersion", "arn:aws:s3:::bucket/exports/a.json"),
                ("s3:DeleteObject", "arn:aws:s3:::bucket/claims/b")
            ]
        );
    }
}
