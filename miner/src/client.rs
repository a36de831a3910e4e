//! The miner's side of the API: every request signed with Epistula v2 by the hotkey, JSON in and out,
//! and plain GETs of the short-lived training-data links (http or https).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Error;

pub struct Api {
    base: String,
    keys: schnorrkel::Keypair,
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    /// The server's identity, named in `Epistula-Signed-For` so a request cannot be replayed elsewhere.
    signed_for: Option<String>,
}

impl Api {
    pub fn new(base: &str, keys: schnorrkel::Keypair) -> Result<Api, Error> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|err| Error::Server(format!("no TLS roots: {err}")))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Api {
            base: base.trim_end_matches('/').to_string(),
            keys,
            http: Client::builder(TokioExecutor::new()).build(connector),
            signed_for: None,
        })
    }

    /// Learns the server's identity (`GET /api/v1/miner/identity`), so that every request after
    /// this is signed for that server only; returns it.
    pub async fn sign_for_server(&mut self) -> Result<String, Error> {
        let url = format!("{}/api/v1/miner/identity", self.base);
        let identity = serde_json::from_slice::<Value>(&self.download(&url).await?)
            .ok()
            .and_then(|v| v["identity"].as_str().map(str::to_string))
            .ok_or_else(|| Error::Server("the server did not say its identity".into()))?;
        self.signed_for = Some(identity.clone());
        Ok(identity)
    }

    /// Sends a signed request to `path` and reads the JSON answer as `T`; a 4xx/5xx is an error with
    /// the server's message.
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
        extra: &[(&str, &str)],
    ) -> Result<T, Error> {
        let signed = domain::miners::epistula::sign(
            &self.keys,
            &body,
            domain::clock::now_ms(),
            self.signed_for.as_deref(),
        );
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("content-type", "application/json");
        for (name, value) in [
            ("epistula-version", signed.version),
            ("epistula-timestamp", signed.timestamp),
            ("epistula-uuid", signed.uuid),
            ("epistula-signed-by", signed.signed_by),
            ("epistula-signed-for", signed.signed_for),
            ("epistula-request-signature", signed.signature),
        ] {
            if let Some(value) = value {
                request = request.header(name, value);
            }
        }
        for (name, value) in extra {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|err| Error::Server(format!("{method} {path}: {err}")))?;
        let (status, answer) = self.send(request).await?;
        if !status.is_success() {
            let message = serde_json::from_slice::<Value>(&answer)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&answer).into_owned());
            return Err(Error::Refused {
                status: status.as_u16(),
                message: format!("{method} {path}: {message}"),
            });
        }
        serde_json::from_slice(&answer)
            .map_err(|err| Error::Server(format!("{method} {path}: unexpected answer: {err}")))
    }

    /// The bytes behind a short-lived link.
    pub async fn download(&self, url: &str) -> Result<Bytes, Error> {
        let request = http::Request::get(url)
            .body(Full::new(Bytes::new()))
            .map_err(|err| Error::Server(format!("GET {url}: {err}")))?;
        let (status, body) = self.send(request).await?;
        if !status.is_success() {
            return Err(Error::Refused {
                status: status.as_u16(),
                message: format!(
                    "downloading the training data: {}",
                    String::from_utf8_lossy(&body)
                ),
            });
        }
        Ok(body)
    }

    async fn send(
        &self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<(http::StatusCode, Bytes), Error> {
        let what = format!("{} {}", request.method(), request.uri().path());
        let response = self
            .http
            .request(request)
            .await
            .map_err(|err| Error::Server(format!("{what}: {err}")))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|err| Error::Server(format!("{what}: reading the answer: {err}")))?
            .to_bytes();
        Ok((status, body))
    }
}
