//! The template's data resources created in the emulator: the KMS key, the
//! DynamoDB tables (with their indexes and TTL), the S3 bucket and the SQS
//! queues, each with the settings the template gives it.

use anyhow::anyhow;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, SseSpecification, SseType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use super::intrinsics::{resolve, str_of};
use super::{err, Physical, Provisioned, Provisioner};

impl Provisioner<'_> {
    pub(super) async fn key(&self, logical: &str) -> anyhow::Result<Physical> {
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
                sse_key: None,
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
            sse_key: None,
        })
    }

    pub(super) async fn table(&self, logical: &str, props: &Value, done: &Provisioned) -> anyhow::Result<Physical> {
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
        let sse_enabled = props["SSESpecification"]["SSEEnabled"] == Value::Bool(true);
        let sse_key =
            resolve(&props["SSESpecification"]["KMSMasterKeyId"], done, self.template).filter(|_| sse_enabled);
        if sse_enabled {
            let sse = SseSpecification::builder().enabled(true).sse_type(SseType::Kms);
            req = req.sse_specification(sse.set_kms_master_key_id(sse_key.clone()).build());
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
            sse_key,
        })
    }

    pub(super) async fn bucket(&self, logical: &str, props: &Value, done: &Provisioned) -> anyhow::Result<Physical> {
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
        let mut sse_key = None;
        if let Some(rule) = rules.first() {
            let default = &rule["ServerSideEncryptionByDefault"];
            sse_key = resolve(&default["KMSMasterKeyID"], done, self.template);
            let by_default = ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::AwsKms)
                .set_kms_master_key_id(sse_key.clone());
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
            sse_key,
        })
    }

    pub(super) async fn queue(&self, logical: &str, props: &Value, done: &Provisioned) -> anyhow::Result<Physical> {
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
        let sse_key = props
            .get("KmsMasterKeyId")
            .and_then(|v| resolve(v, done, self.template));
        if let Some(k) = &sse_key {
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
            sse_key,
        })
    }
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
