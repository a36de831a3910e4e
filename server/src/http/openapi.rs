//! `GET /api/openapi.json`: the OpenAPI 3.1 document of `/api/v1` and `/v1`, generated from each
//! handler's `#[utoipa::path]` and the types it takes and answers (never written by hand). A test holds
//! it to the router's own route list.

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi};

use super::endpoint::Endpoint;
use super::{api, openai};

pub fn endpoints() -> Vec<Endpoint> {
    vec![Endpoint::get("/api/openapi.json", serve)]
}

/// The document, built once.
pub fn document() -> &'static OpenApi {
    static DOCUMENT: OnceLock<OpenApi> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc = api::openapi();
        doc.merge(openai::openapi());
        doc.info = InfoBuilder::new()
            .title("Crucible")
            .version(env!("CARGO_PKG_VERSION"))
            .description(Some(
                "Fine-tuning decided by competition: customers' datasets, tasks and OpenAI-compatible \
                 fine-tuning jobs; miners' offers and submissions; public scores and tournaments.",
            ))
            .build();
        let schemes = ComponentsBuilder::new()
            .security_scheme(
                "api_key",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "A customer's API key (or a signed-in browser session with `X-CSRF-Token`)",
                        ))
                        .build(),
                ),
            )
            .security_scheme(
                "epistula",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "Epistula-Request-Signature",
                    "Epistula v2: the miner's hotkey signs each request (with Epistula-Timestamp, \
                     Epistula-Uuid and Epistula-Signed-By)",
                ))),
            )
            .build();
        match doc.components.as_mut() {
            Some(components) => components.security_schemes = schemes.security_schemes,
            None => doc.components = Some(schemes),
        }
        doc
    })
}

async fn serve() -> Json<&'static OpenApi> {
    Json(document())
}
