//! Object deletion in a versioned bucket, where a plain delete only adds a
//! delete marker and leaves the data behind as a noncurrent version.

/// Deletes every version and delete marker of the objects under `prefix`
/// (only the object named exactly `prefix` when `exact`). Returns how many
/// object versions (not markers) were deleted. Errors are the SDK's message.
///
/// # Errors
/// The SDK's message when a listing or deletion fails.
pub async fn delete_all_versions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    exact: bool,
) -> Result<u64, String> {
    let wanted = |key: Option<&str>| key.is_some_and(|k| !exact || k == prefix);
    let mut deleted = 0;
    loop {
        let out = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(sdk_text)?;
        let versions: Vec<(&str, Option<&str>)> = out
            .versions()
            .iter()
            .filter(|v| wanted(v.key()))
            .map(|v| (v.key().unwrap_or_default(), v.version_id()))
            .collect();
        let markers: Vec<(&str, Option<&str>)> = out
            .delete_markers()
            .iter()
            .filter(|m| wanted(m.key()))
            .map(|m| (m.key().unwrap_or_default(), m.version_id()))
            .collect();
        if versions.is_empty() && markers.is_empty() {
            return Ok(deleted);
        }
        deleted += versions.len() as u64;
        // Deleting by version id removes that version for good and adds no
        // marker, so relisting converges on an empty listing.
        delete_versions(s3, bucket, &[versions, markers].concat()).await?;
    }
}

/// Deletes the versions and delete markers under `prefix` written before
/// `before_ms` (ms since the epoch, S3's `LastModified`), in one pass over
/// the listing: those written since are left. Returns how many object
/// versions (not markers) were deleted.
///
/// # Errors
/// The SDK's message when a listing or deletion fails.
pub async fn delete_versions_before(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
    before_ms: i64,
) -> Result<u64, String> {
    let before = |at: Option<&aws_sdk_s3::primitives::DateTime>| {
        at.and_then(|t| t.to_millis().ok()).is_some_and(|t| t < before_ms)
    };
    let (mut deleted, mut key_marker, mut version_marker) = (0, None, None);
    loop {
        let out = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .map_err(sdk_text)?;
        let versions: Vec<(&str, Option<&str>)> = out
            .versions()
            .iter()
            .filter(|v| v.key().is_some() && before(v.last_modified()))
            .map(|v| (v.key().unwrap_or_default(), v.version_id()))
            .collect();
        let markers: Vec<(&str, Option<&str>)> = out
            .delete_markers()
            .iter()
            .filter(|m| m.key().is_some() && before(m.last_modified()))
            .map(|m| (m.key().unwrap_or_default(), m.version_id()))
            .collect();
        deleted += versions.len() as u64;
        delete_versions(s3, bucket, &[versions, markers].concat()).await?;
        if out.is_truncated() != Some(true) {
            return Ok(deleted);
        }
        key_marker = out.next_key_marker().map(str::to_string);
        version_marker = out.next_version_id_marker().map(str::to_string);
    }
}

/// Deletes each `(key, version id)` for good.
async fn delete_versions(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    versions: &[(&str, Option<&str>)],
) -> Result<(), String> {
    for &(key, version) in versions {
        s3.delete_object()
            .bucket(bucket)
            .key(key)
            .set_version_id(version.map(str::to_string))
            .send()
            .await
            .map_err(sdk_text)?;
    }
    Ok(())
}

fn sdk_text<E: std::error::Error>(e: E) -> String {
    aws_sdk_s3::error::DisplayErrorContext(e).to_string()
}
