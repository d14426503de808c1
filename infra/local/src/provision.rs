//! Creates in the AWS emulator the resources `template.yaml` declares, named
//! `<prefix>-<LogicalId>` so several stacks (one per test) can share one
//! emulator. Re-running against the same emulator reuses what exists.

use std::collections::BTreeMap;

use anyhow::{anyhow, Context};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, SseSpecification, SseType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::template::Template;

/// A created resource: what `Ref` and `Fn::GetAtt` resolve to.
#[derive(Debug, Clone, Default)]
pub struct Physical {
    /// `Ref` value: table name, queue URL, bucket name, key id.
    pub reference: String,
    pub arn: String,
    pub name: String,
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

    async fn key(&self, logical: &str) -> anyhow::Result<Physical> {
        let alias = format!("alias/{}", self.physical_name(logical));
        let aliases = self.kms.list_aliases().send().await.map_err(err)?;
        if let Some(key_id) = aliases
            .aliases()
            .iter()
            .find(|a| a.alias_name() == Some(alias.as_str()))
            .and_then(|a| a.target_key_id())
        {
            let meta = self.kms.describe_key().key_id(key_id).send().await.map_err(err)?;
            let arn = meta
                .key_metadata()
                .and_then(|m| m.arn())
                .unwrap_or_default()
                .to_string();
            return Ok(Physical {
                reference: key_id.to_string(),
                arn,
                name: alias,
            });
        }
        let created = self
            .kms
            .create_key()
            .description(format!("optcast local {logical}"))
            .send()
            .await
            .map_err(err)?;
        let meta = created.key_metadata().ok_or_else(|| anyhow!("no key metadata"))?;
        let key_id = meta.key_id().to_string();
        self.kms
            .create_alias()
            .alias_name(&alias)
            .target_key_id(&key_id)
            .send()
            .await
            .map_err(err)?;
        let _ = self.kms.enable_key_rotation().key_id(&key_id).send().await;
        Ok(Physical {
            reference: key_id,
            arn: meta.arn().unwrap_or_default().to_string(),
            name: alias,
        })
    }

    async fn table(&self, logical: &str, props: &Value, done: &Provisioned) -> anyhow::Result<Physical> {
        let name = self.physical_name(logical);
        let key_schema = |v: &Value| -> anyhow::Result<Vec<KeySchemaElement>> {
            v.as_array()
                .ok_or_else(|| anyhow!("KeySchema is not a list"))?
                .iter()
                .map(|k| {
                    let kind = if k["KeyType"] == "HASH" {
                        KeyType::Hash
                    } else {
                        KeyType::Range
                    };
                    Ok(KeySchemaElement::builder()
                        .attribute_name(str_of(&k["AttributeName"]))
                        .key_type(kind)
                        .build()?)
                })
                .collect()
        };
        let mut req = self
            .ddb
            .create_table()
            .table_name(&name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(key_schema(&props["KeySchema"])?));
        for a in props["AttributeDefinitions"].as_array().into_iter().flatten() {
            let t = match str_of(&a["AttributeType"]).as_str() {
                "N" => ScalarAttributeType::N,
                "B" => ScalarAttributeType::B,
                _ => ScalarAttributeType::S,
            };
            req = req.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(str_of(&a["AttributeName"]))
                    .attribute_type(t)
                    .build()?,
            );
        }
        for g in props["GlobalSecondaryIndexes"].as_array().into_iter().flatten() {
            let gsi = GlobalSecondaryIndex::builder()
                .index_name(str_of(&g["IndexName"]))
                .set_key_schema(Some(key_schema(&g["KeySchema"])?))
                .projection(projection(&g["Projection"]))
                .build()?;
            req = req.global_secondary_indexes(gsi);
        }
        if props["SSESpecification"]["SSEEnabled"] == Value::Bool(true) {
            let mut sse = SseSpecification::builder().enabled(true).sse_type(SseType::Kms);
            if let Some(k) = resolve(&props["SSESpecification"]["KMSMasterKeyId"], done, self.template) {
                sse = sse.kms_master_key_id(k);
            }
            req = req.sse_specification(sse.build());
        }
        match req.send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => {}
            Err(e) => return Err(err(e)),
        }
        if let Some(ttl) = props["TimeToLiveSpecification"]["AttributeName"].as_str() {
            let spec = TimeToLiveSpecification::builder()
                .attribute_name(ttl)
                .enabled(true)
                .build()?;
            // Fails harmlessly when TTL is already enabled.
            let _ = self
                .ddb
                .update_time_to_live()
                .table_name(&name)
                .time_to_live_specification(spec)
                .send()
                .await;
        }
        let desc = self.ddb.describe_table().table_name(&name).send().await.map_err(err)?;
        let arn = desc.table().and_then(|t| t.table_arn()).unwrap_or_default().to_string();
        Ok(Physical {
            reference: name.clone(),
            arn,
            name,
        })
    }

    async fn bucket(&self, logical: &str, props: &Value, done: &Provisioned) -> anyhow::Result<Physical> {
        use aws_sdk_s3::types::*;
        let name = self.physical_name(logical).to_ascii_lowercase();
        let create = self
            .s3
            .create_bucket()
            .bucket(&name)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(self.region))
                    .build(),
            )
            .send()
            .await;
        if let Err(e) = create {
            let owned = e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you());
            if !owned {
                return Err(err(e));
            }
        }
        if props["VersioningConfiguration"]["Status"] == "Enabled" {
            self.s3
                .put_bucket_versioning()
                .bucket(&name)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(err)?;
        }
        let rules = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(rule) = rules.first() {
            let default = &rule["ServerSideEncryptionByDefault"];
            let mut by_default = ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::AwsKms);
            if let Some(k) = resolve(&default["KMSMasterKeyID"], done, self.template) {
                by_default = by_default.kms_master_key_id(k);
            }
            let config = ServerSideEncryptionConfiguration::builder()
                .rules(
                    ServerSideEncryptionRule::builder()
                        .apply_server_side_encryption_by_default(by_default.build()?)
                        .bucket_key_enabled(rule["BucketKeyEnabled"] == Value::Bool(true))
                        .build(),
                )
                .build()?;
            self.s3
                .put_bucket_encryption()
                .bucket(&name)
                .server_side_encryption_configuration(config)
                .send()
                .await
                .map_err(err)?;
        }
        let pab = &props["PublicAccessBlockConfiguration"];
        if pab.is_object() {
            let config = PublicAccessBlockConfiguration::builder()
                .block_public_acls(pab["BlockPublicAcls"] == Value::Bool(true))
                .block_public_policy(pab["BlockPublicPolicy"] == Value::Bool(true))
                .ignore_public_acls(pab["IgnorePublicAcls"] == Value::Bool(true))
                .restrict_public_buckets(pab["RestrictPublicBuckets"] == Value::Bool(true))
                .build();
            self.s3
                .put_public_access_block()
                .bucket(&name)
                .public_access_block_configuration(config)
                .send()
                .await
                .map_err(err)?;
        }
        Ok(Physical {
            reference: name.clone(),
            arn: format!("arn:aws:s3:::{name}"),
            name,
        })
    }

    async fn queue(&self, logical: &str, props: &Value, done: &Provisioned) -> anyhow::Result<Physical> {
        let name = self.physical_name(logical);
        let mut req = self.sqs.create_queue().queue_name(&name);
        for (attr, key) in [
            ("VisibilityTimeout", QueueAttributeName::VisibilityTimeout),
            ("MessageRetentionPeriod", QueueAttributeName::MessageRetentionPeriod),
            ("DelaySeconds", QueueAttributeName::DelaySeconds),
            (
                "KmsDataKeyReusePeriodSeconds",
                QueueAttributeName::KmsDataKeyReusePeriodSeconds,
            ),
        ] {
            if let Some(v) = props.get(attr).and_then(|v| resolve(v, done, self.template)) {
                req = req.attributes(key, v);
            }
        }
        if let Some(k) = props
            .get("KmsMasterKeyId")
            .and_then(|v| resolve(v, done, self.template))
        {
            req = req.attributes(QueueAttributeName::KmsMasterKeyId, k);
        }
        if let Some(policy) = props.get("RedrivePolicy") {
            let target = resolve(&policy["deadLetterTargetArn"], done, self.template)
                .ok_or_else(|| anyhow!("unresolved DLQ"))?;
            let max = policy["maxReceiveCount"].as_i64().unwrap_or(5);
            let redrive = serde_json::json!({ "deadLetterTargetArn": target, "maxReceiveCount": max }).to_string();
            req = req.attributes(QueueAttributeName::RedrivePolicy, redrive);
        }
        let url = req
            .send()
            .await
            .map_err(err)?
            .queue_url()
            .unwrap_or_default()
            .to_string();
        let attrs = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(err)?;
        let arn = attrs
            .attributes()
            .and_then(|a| a.get(&QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default();
        Ok(Physical {
            reference: url,
            arn,
            name,
        })
    }

    fn functions(&self, out: &mut Provisioned) -> anyhow::Result<()> {
        let global_env = self.template.globals["Function"]["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (logical, r) in self.template.of_type("AWS::Serverless::Function") {
            let code_uri = str_of(&r.properties["CodeUri"]);
            let name = code_uri
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(logical)
                .to_string();
            let mut env = BTreeMap::new();
            let vars = r.properties["Environment"]["Variables"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (k, v) in global_env.iter().chain(vars.iter()) {
                if let Some(value) = resolve(v, out, self.template) {
                    env.insert(k.clone(), value);
                }
            }
            for event in r.properties["Events"].as_object().into_iter().flat_map(|m| m.values()) {
                let p = &event["Properties"];
                match event["Type"].as_str() {
                    Some("HttpApi") | Some("Api") => out.routes.push(HttpRoute {
                        method: str_of(&p["Method"]).to_ascii_uppercase(),
                        path: str_of(&p["Path"]),
                        function: name.clone(),
                        authorizer: p["Auth"]["Authorizer"].as_str().map(str::to_string),
                        scopes: p["Auth"]["AuthorizationScopes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect(),
                    }),
                    Some("SQS") => {
                        let queue_arn = resolve(&p["Queue"], out, self.template)
                            .ok_or_else(|| anyhow!("{logical}: unresolved queue"))?;
                        let queue = out
                            .resources
                            .values()
                            .find(|q| q.arn == queue_arn)
                            .ok_or_else(|| anyhow!("{logical}: unknown queue"))?;
                        out.queue_sources.push(QueueSource {
                            function: name.clone(),
                            queue_url: queue.reference.clone(),
                            queue_arn,
                            batch_size: p["BatchSize"].as_i64().unwrap_or(10).clamp(1, 10) as i32,
                        });
                    }
                    Some("Schedule") | Some("ScheduleV2") => {
                        let expr = str_of(if p["Schedule"].is_null() {
                            &p["ScheduleExpression"]
                        } else {
                            &p["Schedule"]
                        });
                        if let Some(every) = parse_rate(&expr) {
                            out.schedules.push(ScheduleSource {
                                function: name.clone(),
                                every,
                            });
                        }
                    }
                    _ => {}
                }
            }
            out.functions.insert(name.clone(), FunctionSpec { name, env });
        }
        Ok(())
    }
}

/// `rate(1 minute)` and friends; cron expressions are not run locally.
fn parse_rate(expr: &str) -> Option<std::time::Duration> {
    let inner = expr.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let secs = match unit.trim_end_matches('s') {
        "second" => n,
        "minute" => n * 60,
        "hour" => n * 3600,
        "day" => n * 86_400,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(secs))
}

fn str_of(v: &Value) -> String {
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

fn resolve_ref(name: &str, done: &Provisioned, template: &Template) -> Option<String> {
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

fn resolve_att(res: &str, attr: &str, done: &Provisioned) -> Option<String> {
    let p = done.resources.get(res)?;
    Some(match attr {
        "Arn" => p.arn.clone(),
        "QueueUrl" => p.reference.clone(),
        "QueueName" => p.name.clone(),
        _ => p.reference.clone(),
    })
}

/// A GSI's projection as the template declares it, so an index read locally
/// returns exactly the attributes it would in AWS.
fn projection(p: &Value) -> Projection {
    let kind = match p["ProjectionType"].as_str() {
        Some("KEYS_ONLY") => ProjectionType::KeysOnly,
        Some("INCLUDE") => ProjectionType::Include,
        _ => ProjectionType::All,
    };
    let attrs: Vec<String> = p["NonKeyAttributes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect();
    Projection::builder()
        .projection_type(kind)
        .set_non_key_attributes((!attrs.is_empty()).then_some(attrs))
        .build()
}
