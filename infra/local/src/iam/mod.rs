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
//!
//! A call on a table, bucket or queue that the template encrypts with a key
//! of its own also needs that key: the service asks KMS for it as the
//! caller, with `kms:ViaService` its own ([`Sse`]). Without that permission
//! AWS refuses the call (a `KMS.AccessDeniedException`, S3's 403), so it is
//! checked too, as if the function had called KMS.

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
    /// For a KMS permission a service uses on the caller's behalf: the
    /// request's own need (`sqs:SendMessage on <queue>`), named in the refusal.
    pub sse_of: Option<String>,
}

/// Server-side encryption with the stack's own keys, which AWS services use
/// as the caller: the key policy allows it, and so must the caller's own
/// policy. What each call needs, per AWS's documentation:
/// - SQS: `SendMessage(Batch)` `kms:GenerateDataKey` and `kms:Decrypt` (a
///   new data key is decrypted to check it), `ReceiveMessage` `kms:Decrypt`
///   (<https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html>).
/// - S3: `PutObject` `kms:GenerateDataKey`; every request of a multipart
///   upload also `kms:Decrypt` (S3 reads the encrypted parts to complete
///   it); `GetObject` `kms:Decrypt`; a `HEAD` no KMS, only `s3:GetObject`
///   (<https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html>,
///   `mpuoverview.html#mpuAndPermissions`, `API/API_HeadObject.html`).
/// - DynamoDB: any access to the table has DynamoDB decrypt the table key
///   as the principal accessing it (`kms:Decrypt`; cached, asked again after
///   five idle minutes); the keys it generates, it does with its own grant
///   (<https://docs.aws.amazon.com/kms/latest/developerguide/services-dynamodb.html>).
///
/// The services' encryption contexts are not given, so a statement
/// conditioned on them does not apply (stricter than AWS). A dead-letter
/// queue's consumer also needs its source queues' keys: every queue here
/// has the same key, so that is not modelled.
#[derive(Debug, Clone, Default)]
pub struct Sse {
    /// The region the services call KMS from: `kms:ViaService` is
    /// `<service>.<region>.amazonaws.com`.
    pub region: String,
    /// A table, bucket or queue ARN → the ARN of the key encrypting it.
    pub keys: BTreeMap<String, String>,
}

/// The policies of every function, and what was refused.
#[derive(Clone, Default)]
pub struct Guard {
    /// Access key → (function, statements).
    by_key: BTreeMap<String, (String, Vec<Statement>)>,
    /// A table or bucket name, queue URL or name, or key id → its ARN.
    arns: BTreeMap<String, String>,
    sse: Sse,
    denied: Arc<Mutex<Vec<String>>>,
}

impl Guard {
    /// The guard of stack `prefix`, enforced from now on by every proxy.
    /// `functions`: name → statements; `resources`: every name a request may
    /// use for a resource (its `Ref`, name, ARN) → its ARN; `sse`: the keys
    /// encrypting them.
    pub fn new(
        prefix: &str,
        functions: BTreeMap<String, Vec<Statement>>,
        resources: BTreeMap<String, String>,
        sse: Sse,
    ) -> Self {
        let guard = Self {
            by_key: functions
                .into_iter()
                .map(|(name, st)| (access_key_of(prefix, &name), (name, st)))
                .collect(),
            arns: resources,
            sse,
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
        let mut text = format!("{function}: {} on {}", refused.action, refused.resource);
        if let Some(request) = &refused.sse_of {
            text.push_str(&format!(" (server-side encryption of {request})"));
        }
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

/// The signing access key of a request (`Credential=<key>/…`).
fn access_key(headers: &hyper::HeaderMap) -> Option<String> {
    let auth = headers.get("authorization")?.to_str().ok()?;
    let rest = &auth[auth.find("Credential=")? + "Credential=".len()..];
    Some(rest.split('/').next()?.to_string())
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

mod needs;

#[cfg(test)]
mod tests;
