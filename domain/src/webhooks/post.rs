//! POSTing one delivery: to the addresses [`Reach::resolve`] vetted and no others, without following
//! redirects, within short time limits.

use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use sha2::Sha256;

use super::reach::Reach;

/// How long connecting may take, and the whole attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(10);

/// What one delivery sends.
pub(super) struct Outgoing<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub delivery_id: &'a str,
    pub event: &'a str,
    pub body: &'a [u8],
    /// Unix seconds, signed with the body (Standard Webhooks), so a captured delivery cannot be
    /// replayed later as new.
    pub timestamp_secs: i64,
}

/// The signature of `body` under `secret`: `sha256=` and hex (`X-Crucible-Signature`).
pub fn signature(secret: &str, body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac(secret.as_bytes(), &[body])))
}

/// The Standard Webhooks signature (`webhook-signature`): `v1,` and the base64 HMAC-SHA256 of
/// `{id}.{timestamp}.{body}` under `key` (the secret's bytes; a Standard Webhooks library takes them
/// as `whsec_` and their base64).
pub fn standard_signature(key: &[u8], id: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let timestamp = timestamp_secs.to_string();
    let signed = mac(
        key,
        &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    );
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(signed)
    )
}

fn mac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Sends the delivery; the answer's status, or why there was none (a refused address among them).
pub(super) async fn post(reach: Reach, outgoing: &Outgoing<'_>) -> Result<u16, String> {
    let url =
        url::Url::parse(outgoing.url).map_err(|err| format!("the URL is not valid: {err}"))?;
    let addresses = reach.resolve(&url).await?;
    let mut http = HttpConnector::new_with_resolver(Vetted(addresses));
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|err| format!("no TLS roots: {err}"))?
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build::<_, Full<bytes::Bytes>>(connector);
    let timestamp = outgoing.timestamp_secs.to_string();
    let request = http::Request::post(outgoing.url)
        .header("content-type", "application/json")
        .header("user-agent", "crucible-webhooks")
        .header("x-crucible-event", outgoing.event)
        .header("x-crucible-delivery", outgoing.delivery_id)
        .header(
            "x-crucible-signature",
            signature(outgoing.secret, outgoing.body),
        )
        .header("webhook-id", outgoing.delivery_id)
        .header("webhook-timestamp", &timestamp)
        .header(
            "webhook-signature",
            standard_signature(
                outgoing.secret.as_bytes(),
                outgoing.delivery_id,
                outgoing.timestamp_secs,
                outgoing.body,
            ),
        )
        .body(Full::new(bytes::Bytes::copy_from_slice(outgoing.body)))
        .map_err(|err| format!("the URL cannot be requested: {err}"))?;
    let response = tokio::time::timeout(TIMEOUT, client.request(request))
        .await
        .map_err(|_| format!("no answer in {TIMEOUT:?}"))?
        .map_err(|err| format!("the request failed: {err}"))?;
    // Only the status is kept: the answer's body is never read (a redirect is not followed either).
    Ok(response.status().as_u16())
}

/// A resolver that answers every name with the addresses already vetted for the delivery's host.
#[derive(Clone)]
struct Vetted(Vec<SocketAddr>);

impl tower_service::Service<Name> for Vetted {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Name) -> Self::Future {
        std::future::ready(Ok(self.0.clone().into_iter()))
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine;

    #[test]
    fn the_standard_webhooks_signature_matches_the_specifications_example() {
        // The example in the Standard Webhooks specification: secret
        // `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw`, id, timestamp and payload as below.
        let key = base64::engine::general_purpose::STANDARD
            .decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let signature = super::standard_signature(
            &key,
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
