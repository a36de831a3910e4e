//! The miner API's authentication: Epistula v2 signatures checked on every request, each refusal a
//! 401 with its reason; a client using the standard Bittensor key library is accepted as it is; and
//! the base-model catalogue. Each test runs on SQLite and on PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TestApp, TestResponse};
use domain::clock::now_ms;
use domain::miners::epistula::{SignedHeaders, sign};
use serde_json::{Value, json};

fn keypair(seed: u8) -> schnorrkel::Keypair {
    schnorrkel::MiniSecretKey::from_bytes(&[seed; 32])
        .unwrap()
        .expand_to_keypair(schnorrkel::ExpansionMode::Ed25519)
}

fn declaration() -> Vec<u8> {
    json!({"task_types": ["instruct", "dpo"], "max_parameters": 8_000_000_000u64})
        .to_string()
        .into_bytes()
}

async fn post_signed(
    app: &mut TestApp,
    path: &str,
    headers: &SignedHeaders,
    body: Vec<u8>,
) -> TestResponse {
    let mut request = Request::post(path).header("content-type", "application/json");
    let named = [
        ("Epistula-Version", &headers.version),
        ("Epistula-Timestamp", &headers.timestamp),
        ("Epistula-Uuid", &headers.uuid),
        ("Epistula-Signed-By", &headers.signed_by),
        ("Epistula-Signed-For", &headers.signed_for),
        ("Epistula-Request-Signature", &headers.signature),
    ];
    for (name, value) in named {
        if let Some(value) = value {
            request = request.header(name, value);
        }
    }
    app.send(request.body(Body::from(body)).unwrap()).await
}

fn message(response: &TestResponse) -> String {
    response.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

testkit::on_both_databases! {
    async fn a_signed_miner_registers_and_updates_its_declaration(db: Database) {
        let mut app = TestApp::new(db).await;
        let keys = keypair(1);
        let headers = sign(&keys, &declaration(), now_ms(), None);
        let registered = post_signed(&mut app, "/api/v1/miner/register", &headers, declaration()).await;
        assert_eq!(registered.status, StatusCode::OK, "{}", registered.body);
        let miner = registered.json();
        assert_eq!(miner["hotkey"], headers.signed_by.clone().unwrap());
        assert_eq!(miner["task_types"], json!(["instruct", "dpo"]));

        let again = json!({"task_types": ["chat"], "max_parameters": 1_000}).to_string().into_bytes();
        let updated = post_signed(&mut app, "/api/v1/miner/register", &sign(&keys, &again, now_ms(), None), again).await;
        assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
        assert_eq!(updated.json()["id"], miner["id"], "the same miner");
        assert_eq!(updated.json()["task_types"], json!(["chat"]));

        let empty = json!({"task_types": [], "max_parameters": 1}).to_string().into_bytes();
        let refused = post_signed(&mut app, "/api/v1/miner/register", &sign(&keys, &empty, now_ms(), None), empty).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(refused.json()["error"]["field"], "task_types");
    }

    async fn unsigned_stale_replayed_forged_and_wrong_key_requests_are_refused(db: Database) {
        let mut app = TestApp::new(db).await;
        let keys = keypair(1);
        let path = "/api/v1/miner/register";
        let cases: Vec<(&str, SignedHeaders, &str)> = vec![
            ("unsigned", SignedHeaders::default(), "Epistula-Version is missing"),
            ("stale", sign(&keys, &declaration(), now_ms() - 9_000, None), "ms old"),
            ("from the future", sign(&keys, &declaration(), now_ms() + 60_000, None), "in the future"),
            ("signed for another body", sign(&keys, b"{}", now_ms(), None), "does not match"),
            ("claiming another hotkey", {
                let mut headers = sign(&keys, &declaration(), now_ms(), None);
                headers.signed_by = sign(&keypair(2), b"", now_ms(), None).signed_by;
                headers
            }, "does not match"),
            ("version 1", {
                let mut headers = sign(&keys, &declaration(), now_ms(), None);
                headers.version = Some("1".into());
                headers
            }, "version 2"),
        ];
        for (what, headers, reason) in cases {
            let response = post_signed(&mut app, path, &headers, declaration()).await;
            assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{what}: {}", response.body);
            assert!(message(&response).contains(reason), "{what}: {}", response.body);
        }
        // A request seen before is refused, even with its signature intact.
        let headers = sign(&keys, &declaration(), now_ms(), None);
        assert_eq!(post_signed(&mut app, path, &headers, declaration()).await.status, StatusCode::OK);
        let replayed = post_signed(&mut app, path, &headers, declaration()).await;
        assert_eq!(replayed.status, StatusCode::UNAUTHORIZED);
        assert!(message(&replayed).contains("seen before"), "{}", replayed.body);
    }

    async fn a_miner_using_the_bittensor_key_library_is_accepted(db: Database) {
        let mut app = TestApp::new(db).await;
        let python = std::env::var("CRUCIBLE_TEST_SUBSTRATE_PYTHON").expect(
            "CRUCIBLE_TEST_SUBSTRATE_PYTHON names a Python with substrate-interface (scripts/test.sh installs it)",
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/epistula_sign.py");
        let body = String::from_utf8(declaration()).unwrap();
        let output = std::process::Command::new(python).args([script, "//Alice", &body]).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let sent: Value = serde_json::from_slice(&output.stdout).unwrap();
        let header = |name: &str| sent[name].as_str().map(str::to_string);
        let headers = SignedHeaders {
            version: header("Epistula-Version"),
            timestamp: header("Epistula-Timestamp"),
            uuid: header("Epistula-Uuid"),
            signed_by: header("Epistula-Signed-By"),
            signed_for: header("Epistula-Signed-For"),
            signature: header("Epistula-Request-Signature"),
        };
        let registered = post_signed(&mut app, "/api/v1/miner/register", &headers, declaration()).await;
        assert_eq!(registered.status, StatusCode::OK, "{}", registered.body);
        // Alice's well-known development hotkey.
        assert_eq!(registered.json()["hotkey"], "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
        let tampered = post_signed(&mut app, "/api/v1/miner/register", &headers, b"{\"task_types\": [\"image\"], \"max_parameters\": 1}".to_vec()).await;
        assert_eq!(tampered.status, StatusCode::UNAUTHORIZED, "{}", tampered.body);
    }

    async fn customers_read_the_base_model_catalogue(db: Database) {
        let mut app = TestApp::new(db).await;
        let key = app.customer_key("owner@example.org").await;
        let catalogue = app.api("GET", "/api/v1/models", Some(&key), None).await;
        assert_eq!(catalogue.status, StatusCode::OK, "{}", catalogue.body);
        let catalogue = catalogue.json();
        let qwen = catalogue["models"].as_array().unwrap().iter().find(|m| m["id"] == "Qwen/Qwen2.5-0.5B-Instruct").cloned().unwrap();
        assert_eq!(qwen["parameters"], 494_032_768u64);
        assert!(qwen["task_types"].as_array().unwrap().contains(&json!("dpo")));
        let image = catalogue["bounds"].as_array().unwrap().iter().find(|b| b["task_type"] == "image").cloned().unwrap();
        assert_eq!((image["min_hours"].as_u64(), image["max_hours"].as_u64()), (Some(1), Some(4)));
        app.forget_cookies();
        assert_eq!(app.api("GET", "/api/v1/models", None, None).await.status, StatusCode::UNAUTHORIZED);
    }
}
