//! Creates in the AWS emulator the resources `template.yaml` declares, named
//! `<prefix>-<LogicalId>` so several stacks (one per test) can share one
//! emulator. Re-running against the same emulator reuses what exists.

use std::collections::BTreeMap;

use anyhow::{anyhow, Context};

use crate::template::Template;

mod functions;
mod intrinsics;
mod resources;

pub use intrinsics::resolve;

/// A created resource: what `Ref` and `Fn::GetAtt` resolve to.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    /// `Ref` value: table name, queue URL, bucket name, key id.
    pub reference: String,
    pub arn: String,
    pub name: String,
    /// The customer managed key of its server-side encryption, as the
    /// template names it (`KmsMasterKeyId`, `SSESpecification`,
    /// `BucketEncryption`): AWS uses it as the caller on every call that
    /// reads or writes the resource's data (`iam::Sse`).
    pub sse_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct HttpRoute {
    pub method: String,
    pub path: String,
    pub function: String,
    /// The route's `Auth.Authorizer` (a JWT authorizer of the HttpApi).
    pub authorizer: Option<String>,
    /// The route's `Auth.AuthorizationScopes`: the token needs one of them.
    pub scopes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct QueueSource {
    pub function: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: i32,
}

#[derive(Debug, Clone)]
pub struct FunctionSpec {
    /// The function's folder under `functions/`.
    pub name: String,
    pub env: BTreeMap<String, String>,
    /// Its role's `Allow` statements (`Policies`), resolved.
    pub policy: Vec<crate::iam::Statement>,
}

#[derive(Debug, Clone)]
pub struct ScheduleSource {
    pub function: String,
    /// From `rate(N minute(s)|second(s)|hour(s))`.
    pub every: std::time::Duration,
}

#[derive(Debug, Clone, Default)]
pub struct Provisioned {
    pub schedules: Vec<ScheduleSource>,
    pub prefix: String,
    pub region: String,
    pub resources: BTreeMap<String, Physical>,
    pub functions: BTreeMap<String, FunctionSpec>,
    pub routes: Vec<HttpRoute>,
    pub queue_sources: Vec<QueueSource>,
    /// The HttpApi's JWT authorizers whose issuer is set (`jwt_authorizer`).
    pub authorizers: BTreeMap<String, crate::jwt_authorizer::JwtConfig>,
}

impl Provisioned {
    /// The IAM guard of every function's policy, over what was created.
    pub fn iam_guard(&self) -> crate::iam::Guard {
        let functions = self
            .functions
            .iter()
            .map(|(name, spec)| (name.clone(), spec.policy.clone()))
            .collect();
        let arns: BTreeMap<String, String> = self
            .resources
            .values()
            .filter(|p| !p.arn.is_empty())
            .flat_map(|p| [p.reference.clone(), p.name.clone(), p.arn.clone()].map(|k| (k, p.arn.clone())))
            .collect();
        // Only keys the stack creates: an AWS managed key's policy lets the
        // caller use it through its service without any IAM permission.
        let sse = crate::iam::Sse {
            region: self.region.clone(),
            keys: self
                .resources
                .values()
                .filter_map(|p| Some((p.arn.clone(), arns.get(p.sse_key.as_ref()?)?.clone())))
                .collect(),
        };
        crate::iam::Guard::new(&self.prefix, functions, arns, sse)
    }

    pub fn get(&self, logical: &str) -> anyhow::Result<&Physical> {
        self.resources
            .get(logical)
            .ok_or_else(|| anyhow!("template has no resource {logical}"))
    }
}

pub struct Provisioner<'a> {
    pub template: &'a Template,
    pub prefix: &'a str,
    pub region: &'a str,
    pub ddb: aws_sdk_dynamodb::Client,
    pub s3: aws_sdk_s3::Client,
    pub kms: aws_sdk_kms::Client,
    pub sqs: aws_sdk_sqs::Client,
}

fn err<E: std::error::Error + Send + Sync + 'static, R: std::fmt::Debug + Send + Sync + 'static>(
    e: aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> anyhow::Error {
    anyhow!("{}", aws_sdk_sqs::error::DisplayErrorContext(e))
}

impl Provisioner<'_> {
    pub fn new<'a>(template: &'a Template, prefix: &'a str, aws: &aws_config::SdkConfig) -> Provisioner<'a> {
        Provisioner {
            template,
            prefix,
            region: "us-west-2",
            ddb: aws_sdk_dynamodb::Client::new(aws),
            s3: aws_sdk_s3::Client::new(aws),
            kms: aws_sdk_kms::Client::new(aws),
            sqs: aws_sdk_sqs::Client::new(aws),
        }
    }

    pub async fn run(&self) -> anyhow::Result<Provisioned> {
        let region = self.region.to_string();
        let mut out = Provisioned {
            prefix: self.prefix.to_string(),
            region,
            ..Default::default()
        };
        for (name, _) in self.template.of_type("AWS::KMS::Key") {
            let p = self.key(name).await.with_context(|| format!("creating key {name}"))?;
            out.resources.insert(name.clone(), p);
        }
        for (name, r) in self.template.of_type("AWS::DynamoDB::Table") {
            let p = self
                .table(name, &r.properties, &out)
                .await
                .with_context(|| format!("creating table {name}"))?;
            out.resources.insert(name.clone(), p);
        }
        for (name, r) in self.template.of_type("AWS::S3::Bucket") {
            let p = self
                .bucket(name, &r.properties, &out)
                .await
                .with_context(|| format!("creating bucket {name}"))?;
            out.resources.insert(name.clone(), p);
        }
        // Dead-letter queues first: other queues' redrive policies name them.
        let mut queues: Vec<_> = self.template.of_type("AWS::SQS::Queue").collect();
        queues.sort_by_key(|(_, r)| r.properties.get("RedrivePolicy").is_some());
        for (name, r) in queues {
            let p = self
                .queue(name, &r.properties, &out)
                .await
                .with_context(|| format!("creating queue {name}"))?;
            out.resources.insert(name.clone(), p);
        }
        self.functions(&mut out)?;
        out.authorizers = crate::jwt_authorizer::from_template(self.template, &out);
        Ok(out)
    }

    fn physical_name(&self, logical: &str) -> String {
        format!("{}-{}", self.prefix, logical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_knows_the_key_of_each_resource_by_the_name_the_template_gives_it() {
        let key = "arn:aws:kms:us-west-2:1:key/kid";
        let queue = |name: &str, sse_key: &str| Physical {
            reference: format!("http://h/1/{name}"),
            arn: format!("arn:aws:sqs:us-west-2:1:{name}"),
            name: name.into(),
            sse_key: Some(sse_key.into()),
        };
        let send = crate::iam::Statement {
            actions: vec!["sqs:SendMessage".into()],
            resources: vec!["*".into()],
            conditions: Vec::new(),
        };
        let provisioned = Provisioned {
            prefix: "unitguard".into(),
            region: "us-west-2".into(),
            resources: BTreeMap::from([
                (
                    "DataKey".into(),
                    Physical {
                        reference: "kid".into(),
                        arn: key.into(),
                        name: "alias/unitguard-DataKey".into(),
                        sse_key: None,
                    },
                ),
                // `KmsMasterKeyId: !Ref DataKey` (its id).
                ("Own".into(), queue("own", "kid")),
                // SQS's AWS managed key: no IAM permission to check.
                ("Managed".into(), queue("managed", "alias/aws/sqs")),
            ]),
            functions: BTreeMap::from([(
                "f".into(),
                FunctionSpec {
                    name: "f".into(),
                    env: BTreeMap::new(),
                    policy: vec![send],
                },
            )]),
            ..Default::default()
        };
        let guard = provisioned.iam_guard();
        let mut headers = hyper::HeaderMap::new();
        headers.insert("x-amz-target", "AmazonSQS.SendMessage".parse().unwrap());
        let credential = format!(
            "AWS4-HMAC-SHA256 Credential={}/x",
            crate::iam::access_key_of("unitguard", "f")
        );
        headers.insert("authorization", credential.parse().unwrap());
        let send_to = |queue: &str| {
            let body = format!(r#"{{"QueueUrl":"http://h/1/{queue}"}}"#);
            crate::iam::check(&headers, &hyper::Method::POST, &"/".parse().unwrap(), body.as_bytes())
        };
        assert_eq!(send_to("managed"), None);
        let refused = send_to("own").expect("no key through SQS in f's policy");
        assert!(
            refused.starts_with(&format!("f: kms:GenerateDataKey on {key} ")),
            "{refused}"
        );
        assert_eq!(guard.take_denied().len(), 1);
    }
}
