//! The sweep of S3 objects past their retention: every version and delete
//! marker under a prefix.

use optcast_shared::retention::{Budget, Category, SweepReport};
use optcast_shared::store;

use super::{SweepError, Sweeper};

impl Sweeper {
    /// Deletes every object version and delete marker under `prefix` last
    /// modified before `cutoff_ms`.
    pub(crate) async fn sweep_objects(
        &self,
        prefix: &str,
        cutoff_ms: i64,
        budget: &mut Budget,
        report: &mut SweepReport,
    ) -> Result<(), SweepError> {
        use aws_sdk_s3::types::{Delete as S3Delete, ObjectIdentifier};
        let expired = |t: Option<&aws_sdk_s3::primitives::DateTime>| {
            t.is_some_and(|t| t.to_millis().is_ok_and(|ms| ms < cutoff_ms))
        };
        let (mut key_marker, mut version_marker) = (None::<String>, None::<String>);
        loop {
            let out = self
                .s3
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker.clone())
                .set_version_id_marker(version_marker.clone())
                .send()
                .await
                .map_err(store::StoreError::s3)?;
            let mut doomed = Vec::new();
            let mut versions = 0u64;
            for v in out.versions() {
                if expired(v.last_modified()) && budget.take(1) == 1 {
                    doomed.push((
                        v.key().unwrap_or_default().to_string(),
                        v.version_id().map(str::to_string),
                    ));
                    versions += 1;
                }
            }
            for m in out.delete_markers() {
                if expired(m.last_modified()) {
                    doomed.push((
                        m.key().unwrap_or_default().to_string(),
                        m.version_id().map(str::to_string),
                    ));
                }
            }
            for chunk in doomed.chunks(1000) {
                let objects = chunk
                    .iter()
                    .map(|(k, v)| ObjectIdentifier::builder().key(k).set_version_id(v.clone()).build())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| store::StoreError::s3_text(e.to_string()))?;
                let delete = S3Delete::builder()
                    .set_objects(Some(objects))
                    .quiet(true)
                    .build()
                    .map_err(|e| store::StoreError::s3_text(e.to_string()))?;
                let result = self
                    .s3
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(store::StoreError::s3)?;
                if let Some(e) = result.errors().first() {
                    return Err(store::StoreError::s3_text(format!(
                        "{} object(s) not deleted: {}",
                        result.errors().len(),
                        e.code().unwrap_or("error")
                    ))
                    .into());
                }
            }
            report.add(Category::RawPayloads, versions);
            if budget.exhausted() || !out.is_truncated().unwrap_or(false) {
                return Ok(());
            }
            key_marker = out.next_key_marker().map(str::to_string);
            version_marker = out.next_version_id_marker().map(str::to_string);
        }
    }
}
