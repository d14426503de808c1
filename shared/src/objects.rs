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
    let mut deleted = 0;
    loop {
        let out = s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .map_err(sdk_text)?;
        let (versions, markers) = chosen(&out, |key, _| !exact || key == prefix);
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
        let (versions, markers) = chosen(&out, |_, at| {
            at.and_then(|t| t.to_millis().ok()).is_some_and(|t| t < before_ms)
        });
        deleted += versions.len() as u64;
        delete_versions(s3, bucket, &[versions, markers].concat()).await?;
        if out.is_truncated() != Some(true) {
            return Ok(deleted);
        }
        key_marker = out.next_key_marker().map(str::to_string);
        version_marker = out.next_version_id_marker().map(str::to_string);
    }
}

/// A key and version id.
type Version<'a> = (&'a str, Option<&'a str>);

/// The versions and the delete markers of a listing that `wanted` accepts,
/// by key and `LastModified`.
fn chosen<'a>(
    out: &'a aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput,
    wanted: impl Fn(&str, Option<&aws_sdk_s3::primitives::DateTime>) -> bool,
) -> (Vec<Version<'a>>, Vec<Version<'a>>) {
    let versions = out
        .versions()
        .iter()
        .filter_map(|v| Some((v.key()?, v.version_id(), v.last_modified())))
        .filter(|(key, _, at)| wanted(key, *at))
        .map(|(key, id, _)| (key, id))
        .collect();
    let markers = out
        .delete_markers()
        .iter()
        .filter_map(|m| Some((m.key()?, m.version_id(), m.last_modified())))
        .filter(|(key, _, at)| wanted(key, *at))
        .map(|(key, id, _)| (key, id))
        .collect();
    (versions, markers)
}

/// Deletes each `(key, version id)` for good.
async fn delete_versions(s3: &aws_sdk_s3::Client, bucket: &str, versions: &[Version<'_>]) -> Result<(), String> {
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
