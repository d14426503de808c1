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
        for (key, version) in versions.into_iter().chain(markers) {
            s3.delete_object()
                .bucket(bucket)
                .key(key)
                .set_version_id(version.map(str::to_string))
                .send()
                .await
                .map_err(sdk_text)?;
        }
    }
}

fn sdk_text<E: std::error::Error>(e: E) -> String {
    aws_sdk_s3::error::DisplayErrorContext(e).to_string()
}
