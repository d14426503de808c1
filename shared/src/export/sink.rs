//! [`ExportSink`]: the document in memory up to one part, then streamed to
//! S3 as a multipart upload.

use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::{s3_err, ExportError, Finished};

/// A JSON document being written: kept in memory up to one part, then
/// streamed to S3 part by part.
pub struct ExportSink {
    buf: Vec<u8>,
    s3: crate::config::S3,
    bucket: String,
    key: String,
    part_size: usize,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    bytes: u64,
}

/// S3's smallest part (but the last).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;

impl ExportSink {
    pub fn new(
        s3: impl Into<crate::config::S3>,
        bucket: impl Into<String>,
        key: impl Into<String>,
        part_size: usize,
    ) -> Self {
        Self {
            buf: Vec::new(),
            s3: s3.into(),
            bucket: bucket.into(),
            key: key.into(),
            part_size: part_size.max(MIN_PART_BYTES),
            upload_id: None,
            parts: Vec::new(),
            bytes: 0,
        }
    }

    /// The buffer records are written to.
    pub fn writer(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Uploads a part once a part's worth is buffered.
    ///
    /// # Errors
    /// [`ExportError`] when S3 refuses the part.
    pub async fn spill(&mut self) -> Result<(), ExportError> {
        if self.buf.len() < self.part_size {
            return Ok(());
        }
        if self.upload_id.is_none() {
            let out = self
                .s3
                .create_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type("application/json")
                .send()
                .await
                .map_err(|e| s3_err(aws_sdk_s3::error::DisplayErrorContext(e)))?;
            self.upload_id = out.upload_id().map(str::to_string);
        }
        self.upload_part().await
    }

    async fn upload_part(&mut self) -> Result<(), ExportError> {
        let number = self.parts.len() as i32 + 1;
        let body = std::mem::take(&mut self.buf);
        self.bytes += body.len() as u64;
        let out = self
            .s3
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_upload_id(self.upload_id.clone())
            .part_number(number)
            .body(body.into())
            .send()
            .await
            .map_err(|e| s3_err(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_string))
                .build(),
        );
        Ok(())
    }

    /// Ends the document: inline if it never left memory and is at most
    /// `inline_limit` bytes, else stored in S3.
    ///
    /// # Errors
    /// [`ExportError`] when S3 refuses the upload (a started multipart upload
    /// is aborted).
    pub async fn finish(mut self, inline_limit: usize) -> Result<Finished, ExportError> {
        if self.upload_id.is_none() {
            if self.buf.len() <= inline_limit {
                return Ok(Finished::Inline(self.buf));
            }
            let bytes = self.buf.len() as u64;
            let out = self
                .s3
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type("application/json")
                .body(std::mem::take(&mut self.buf).into())
                .send()
                .await
                .map_err(|e| s3_err(aws_sdk_s3::error::DisplayErrorContext(e)))?;
            return Ok(Finished::Stored {
                key: self.key,
                bytes,
                version_id: out.version_id().map(str::to_string),
            });
        }
        // Its parts hold personal data: a failed end leaves none behind
        // (an erasure deletes objects, not the parts of an upload).
        match self.complete().await {
            Ok(version_id) => Ok(Finished::Stored {
                key: self.key,
                bytes: self.bytes,
                version_id,
            }),
            Err(e) => {
                self.abort_started().await;
                Err(e)
            }
        }
    }

    /// Uploads what is buffered as the last part and completes the upload;
    /// the object's version.
    async fn complete(&mut self) -> Result<Option<String>, ExportError> {
        if !self.buf.is_empty() {
            self.upload_part().await?;
        }
        self.s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .set_upload_id(self.upload_id.clone())
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| s3_err(aws_sdk_s3::error::DisplayErrorContext(e)))
            .map(|out| out.version_id().map(str::to_string))
    }

    /// Gives up a started upload (its parts hold personal data).
    pub async fn abort(self) {
        self.abort_started().await;
    }

    async fn abort_started(&self) {
        if let Some(id) = &self.upload_id {
            let aborted = self
                .s3
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.key)
                .upload_id(id)
                .send()
                .await;
            if let Err(e) = aborted {
                tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(e),
                    "export upload not aborted: its parts go with the bucket's lifecycle rule (a day)");
            }
        }
    }
}
