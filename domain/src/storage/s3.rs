//! The scale-out object store: an S3 bucket (or any S3-compatible server) through aws-sdk-s3.
//! Objects larger than one part go up as multipart uploads, so memory holds at most one part.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream as S3Body;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::{Bytes, BytesMut};
use futures::StreamExt;

use super::{ByteStream, LinkAccess, ObjectKey, ObjectStore, StorageError, StoredObject, Tally};
use crate::secret::Secret;

/// Parts of a multipart upload (S3 wants at least 5 MiB for all but the last).
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Where the bucket is and how to sign in to it.
#[derive(Clone, Debug)]
pub struct S3Config {
    pub bucket: String,
    /// Prepended to every key, e.g. `crucible/`; empty for the bucket's root.
    pub prefix: String,
    /// For S3-compatible servers (path-style addressing); `None` for AWS itself.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: Secret<String>,
}

#[derive(Debug, Clone)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
}

fn backend(err: impl std::error::Error) -> StorageError {
    // The SDK's Display is terse ("service error"); the Debug chain says what happened.
    StorageError::Backend(format!("{err:?}"))
}

impl S3Store {
    pub fn new(config: S3Config) -> Self {
        let credentials = Credentials::new(
            config.access_key_id,
            config.secret_access_key.expose().clone(),
            None,
            None,
            "crucible-config",
        );
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https();
        let mut builder = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region))
            .credentials_provider(credentials)
            .http_client(http)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if let Some(endpoint) = config.endpoint {
            builder = builder.endpoint_url(endpoint).force_path_style(true);
        }
        let prefix = match config.prefix.trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        S3Store {
            client: Client::from_conf(builder.build()),
            bucket: config.bucket,
            prefix,
        }
    }

    fn full_key(&self, key: &ObjectKey) -> String {
        format!("{}{key}", self.prefix)
    }

    async fn put_single(&self, key: &str, body: Bytes) -> Result<(), StorageError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(S3Body::from(body))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Uploads `first` and then the rest of `body` part by part.
    async fn put_multipart(
        &self,
        key: &str,
        first: Bytes,
        body: &mut ByteStream,
        tally: &mut Tally,
    ) -> Result<(), StorageError> {
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(backend)?;
        let upload_id = upload
            .upload_id()
            .ok_or_else(|| StorageError::Backend("no upload id".into()))?
            .to_string();
        let result = self.upload_parts(key, &upload_id, first, body, tally).await;
        if result.is_err() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &str,
        upload_id: &str,
        first: Bytes,
        body: &mut ByteStream,
        tally: &mut Tally,
    ) -> Result<(), StorageError> {
        let mut parts = Vec::new();
        let mut next = Some(first);
        while let Some(part) = next {
            let number = i32::try_from(parts.len() + 1)
                .map_err(|_| StorageError::Backend("too many parts".into()))?;
            let uploaded = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(S3Body::from(part))
                .send()
                .await
                .map_err(backend)?;
            parts.push(
                CompletedPart::builder()
                    .set_e_tag(uploaded.e_tag().map(str::to_string))
                    .part_number(number)
                    .build(),
            );
            next = fill_part(body, tally).await?;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// Reads up to one part's worth of bytes from `body`; `None` when the body is exhausted.
async fn fill_part(
    body: &mut ByteStream,
    tally: &mut Tally,
) -> Result<Option<Bytes>, StorageError> {
    let mut buffer = BytesMut::new();
    while buffer.len() < PART_SIZE {
        match body.next().await {
            Some(chunk) => {
                let chunk = chunk?;
                tally.add(&chunk);
                buffer.extend_from_slice(&chunk);
            }
            None => break,
        }
    }
    Ok((!buffer.is_empty()).then(|| buffer.freeze()))
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(
        &self,
        key: &ObjectKey,
        mut body: ByteStream,
    ) -> Result<StoredObject, StorageError> {
        let key = self.full_key(key);
        let mut tally = Tally::default();
        let first = fill_part(&mut body, &mut tally).await?.unwrap_or_default();
        if first.len() < PART_SIZE {
            self.put_single(&key, first).await?;
        } else {
            self.put_multipart(&key, first, &mut body, &mut tally)
                .await?;
        }
        Ok(tally.finish())
    }

    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, StorageError> {
        let response = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await;
        let object = match response {
            Ok(object) => object,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                return Err(StorageError::NotFound(key.to_string()));
            }
            Err(err) => return Err(backend(err)),
        };
        let chunks = futures::stream::unfold(object.body, |mut body| async move {
            let chunk = body.next().await?;
            Some((chunk.map_err(std::io::Error::other), body))
        });
        Ok(Box::pin(chunks))
    }

    async fn size(&self, key: &ObjectKey) -> Result<Option<u64>, StorageError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
        {
            Ok(head) => Ok(Some(head.content_length().unwrap_or(0).max(0) as u64)),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(backend(err)),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn presign(
        &self,
        key: &ObjectKey,
        access: LinkAccess,
        ttl: Duration,
    ) -> Result<String, StorageError> {
        let config = PresigningConfig::expires_in(ttl).map_err(backend)?;
        let key = self.full_key(key);
        let request = match access {
            LinkAccess::Read => self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(config)
                .await
                .map_err(backend)?,
            LinkAccess::Write => self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(key)
                .presigned(config)
                .await
                .map_err(backend)?,
        };
        Ok(request.uri().to_string())
    }
}
