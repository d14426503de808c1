//! What a request needs of its caller's policy: its own action on its
//! resource (each item's, in a batch or transaction), with the condition
//! keys the template uses, then the KMS permissions its server-side
//! encryption implies.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Guard, Need};

/// DynamoDB actions that read or write a table's items (a transaction's
/// items are needs of these).
const DYNAMODB_ITEM_ACTIONS: [&str; 9] = [
    "GetItem",
    "BatchGetItem",
    "Query",
    "Scan",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "BatchWriteItem",
    "ConditionCheckItem",
];

impl Guard {
    /// What a request needs, by service: its own permissions, then the KMS
    /// ones its server-side encryption implies.
    pub(super) fn needs(
        &self,
        headers: &hyper::HeaderMap,
        method: &hyper::Method,
        uri: &hyper::Uri,
        body: &[u8],
    ) -> Vec<Need> {
        let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) else {
            return self.s3_needs(headers, method, uri, body);
        };
        let mut needs = self.json_needs(target, body);
        let implied: Vec<Need> = needs.iter().flat_map(|n| self.implied(n)).collect();
        needs.extend(implied);
        needs
    }

    /// What a JSON-protocol request (`X-Amz-Target`) needs itself.
    fn json_needs(&self, target: &str, body: &[u8]) -> Vec<Need> {
        let need = |action: String, resource: String| Need {
            action,
            resource,
            context: BTreeMap::new(),
            sse_of: None,
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

    /// The KMS permissions DynamoDB or SQS uses as the caller to serve
    /// `need` ([`Sse`]); none when its resource has no key of the stack.
    fn implied(&self, need: &Need) -> Vec<Need> {
        let (service, action) = need.action.split_once(':').unwrap_or_default();
        let (resource, kms): (&str, &[&str]) = match (service, action) {
            // An index's items are the table's, under its key.
            ("dynamodb", a) if DYNAMODB_ITEM_ACTIONS.contains(&a) => {
                (need.resource.split("/index/").next().unwrap_or_default(), &["Decrypt"])
            }
            ("sqs", "SendMessage") => (&need.resource, &["GenerateDataKey", "Decrypt"]),
            ("sqs", "ReceiveMessage") => (&need.resource, &["Decrypt"]),
            _ => return Vec::new(),
        };
        self.through(service, need, self.sse.keys.get(resource), kms)
    }

    /// `kms` actions on `key` as `service` asks for them to serve `need`.
    fn through(&self, service: &str, need: &Need, key: Option<&String>, kms: &[&str]) -> Vec<Need> {
        let Some(key) = key else {
            return Vec::new();
        };
        let via = format!("{service}.{}.amazonaws.com", self.sse.region);
        kms.iter()
            .map(|action| Need {
                action: format!("kms:{action}"),
                resource: key.clone(),
                context: BTreeMap::from([("kms:ViaService".to_string(), via.clone())]),
                sse_of: Some(format!("{} on {}", need.action, need.resource)),
            })
            .collect()
    }

    /// An S3 request (path style: `/bucket/key`) as IAM sees it.
    fn s3_needs(&self, headers: &hyper::HeaderMap, method: &hyper::Method, uri: &hyper::Uri, body: &[u8]) -> Vec<Need> {
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
            sse_of: None,
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
        let request = need(crate::counting_proxy::s3_action(method, uri), object(&key));
        let multipart = query.contains_key("uploads") || query.contains_key("uploadId");
        let kms: &[&str] = match *method {
            M::GET => &["Decrypt"],
            M::PUT | M::POST if multipart => &["GenerateDataKey", "Decrypt"],
            M::PUT | M::POST => &["GenerateDataKey"],
            _ => &[],
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        // A write may name its own encryption: another key, S3's (`AES256`),
        // or `aws/s3` (`aws:kms` without a key, whose policy needs no IAM).
        let key = match header("x-amz-server-side-encryption") {
            Some(sse) if matches!(*method, M::PUT | M::POST) => header("x-amz-server-side-encryption-aws-kms-key-id")
                .filter(|_| sse.starts_with("aws:kms"))
                .map(|k| self.arn(k)),
            _ => self.sse.keys.get(&bucket_arn).cloned(),
        };
        let mut needs = self.through("s3", &request, key.as_ref(), kms);
        needs.insert(0, request);
        needs
    }
}

/// `need` with `dynamodb:LeadingKeys`: the partition key (`pk`) of the one
/// item a request (or transaction item) names by `Key` or `Item`.
pub(super) fn with_leading_key(mut need: Need, request: &Value) -> Need {
    let key = request.get("Key").or_else(|| request.get("Item"));
    if let Some(pk) = key.and_then(|k| k["pk"]["S"].as_str()) {
        need.context.insert("dynamodb:LeadingKeys".into(), pk.to_string());
    }
    need
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
