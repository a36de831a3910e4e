//! The platform's own routes: health, metrics, pages, signed object links.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::TestApp;
use domain::storage::{self, LinkAccess, ObjectKey};

async fn app() -> (TestApp, testkit::TestDb) {
    let db = testkit::sqlite().await;
    (TestApp::new(db.db.clone()).await, db)
}

#[test]
fn healthz_answers_and_metrics_count_requests() {
    testkit::run(async {
        let (mut app, _db) = app().await;
        let health = app.get("/healthz").await;
        assert_eq!(health.status, StatusCode::OK);
        assert_eq!(health.json()["status"], "ok");
        assert!(
            health.headers.contains_key("x-request-id"),
            "every response carries its request id"
        );
        let metrics = app.get("/metrics").await;
        assert_eq!(metrics.status, StatusCode::OK);
        assert!(
            metrics.body.contains(
                r#"crucible_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
            ),
            "{}",
            metrics.body
        );
    })
}

#[test]
fn the_home_page_is_rendered_with_its_hydration_scripts() {
    testkit::run(async {
        let (mut app, _db) = app().await;
        let home = app.get("/").await;
        assert_eq!(home.status, StatusCode::OK);
        assert!(home.body.contains("Fine-tuning, decided by competition"));
        assert!(home.body.contains("/pkg/crucible.js"), "{}", home.body);
        assert!(
            home.body.contains("/pkg/crucible.wasm") || home.body.contains("crucible_bg.wasm"),
            "{}",
            home.body
        );
        for link in ["/signin", "/signup", "/leaderboards"] {
            assert!(
                home.body.contains(&format!("href=\"{link}\"")),
                "the home page links to {link}"
            );
        }
        assert!(
            !home.body.contains("href=\"/dashboard\""),
            "no dashboard link before signing in"
        );
    })
}

#[test]
fn an_unknown_page_is_a_404_page_and_an_unknown_api_route_a_404_json() {
    testkit::run(async {
        let (mut app, _db) = app().await;
        let page = app.get("/no/such/page").await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        assert!(page.body.contains("Page not found"));
        let api = app.get("/api/v1/no-such-route").await;
        assert_eq!(api.status, StatusCode::NOT_FOUND);
        assert_eq!(api.json()["error"]["code"], "not_found");
    })
}

#[test]
fn signed_object_links_grant_what_they_name_until_they_expire() {
    testkit::run(async {
        let (mut app, _db) = app().await;
        let store = app.state.platform.store.clone();
        let key = ObjectKey::new("datasets/d1/train.jsonl").unwrap();
        store
            .put(&key, storage::bytes_stream("{\"a\":1}\n"))
            .await
            .unwrap();

        let read = store
            .presign(&key, LinkAccess::Read, Duration::from_secs(60))
            .await
            .unwrap();
        let path = read
            .strip_prefix("http://127.0.0.1:3000")
            .unwrap()
            .to_string();
        let response = app.get(&path).await;
        assert_eq!(
            (response.status, response.body.as_str()),
            (StatusCode::OK, "{\"a\":1}\n")
        );

        // The same signature for another object, or for writing, is refused.
        let other = path.replace("train.jsonl", "test.jsonl");
        assert_eq!(app.get(&other).await.status, StatusCode::FORBIDDEN);
        let put = Request::put(&path).body(Body::from("overwrite")).unwrap();
        assert_eq!(app.send(put).await.status, StatusCode::FORBIDDEN);

        let expired = store
            .presign(&key, LinkAccess::Read, Duration::ZERO)
            .await
            .unwrap();
        let response = app
            .get(expired.strip_prefix("http://127.0.0.1:3000").unwrap())
            .await;
        assert_eq!(response.status, StatusCode::FORBIDDEN);
        assert!(
            response.json()["error"]["message"]
                .as_str()
                .unwrap()
                .contains("expired")
        );

        let upload_key = ObjectKey::new("submissions/s1/model.tar").unwrap();
        let write = store
            .presign(&upload_key, LinkAccess::Write, Duration::from_secs(60))
            .await
            .unwrap();
        let put = Request::put(write.strip_prefix("http://127.0.0.1:3000").unwrap())
            .body(Body::from("weights"))
            .unwrap();
        let response = app.send(put).await;
        assert_eq!(response.status, StatusCode::OK, "{}", response.body);
        assert_eq!(response.json()["size"], 7);
        assert_eq!(
            storage::collect(store.get(&upload_key).await.unwrap())
                .await
                .unwrap(),
            b"weights"
        );
    })
}
