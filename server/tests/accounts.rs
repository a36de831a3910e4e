//! Accounts through the HTTP edge, as a browser and an API client meet them. Each test runs on SQLite
//! and on PostgreSQL.

mod common;

use axum::http::StatusCode;
use common::{PASSWORD, TestApp};

testkit::on_both_databases! {
    async fn a_newcomer_signs_up_and_lands_on_the_dashboard(db: Database) {
        let mut app = TestApp::new(db).await;
        let response = app.sign_up("ada@example.org", "customer").await;
        assert_eq!(response.status, StatusCode::SEE_OTHER);
        assert_eq!(response.location(), "/dashboard");
        let dashboard = app.get("/dashboard").await;
        assert!(dashboard.body.contains("Signed in as"), "{}", dashboard.body);
        assert!(dashboard.body.contains("ada@example.org"));
        assert!(dashboard.body.contains("Welcome to Crucible"), "the one-time welcome is shown");
        let again = app.get("/dashboard").await;
        assert!(!again.body.contains("Welcome to Crucible"), "the welcome is shown once only");
    }

    async fn a_wrong_password_is_refused_with_a_message(db: Database) {
        let mut app = TestApp::new(db).await;
        app.sign_up("ada@example.org", "customer").await;
        app.forget_cookies();
        let response = app.sign_in("ada@example.org", "not my password").await;
        assert_eq!((response.status, response.location()), (StatusCode::SEE_OTHER, "/signin"));
        let page = app.get("/signin").await;
        assert!(page.body.contains("Wrong email or password"), "{}", page.body);
        assert_eq!(app.api("GET", "/api/v1/account", None, None).await.status, StatusCode::UNAUTHORIZED);
    }

    async fn the_sixth_failed_sign_in_in_a_minute_is_refused(db: Database) {
        let mut app = TestApp::new(db).await;
        app.sign_up("ada@example.org", "customer").await;
        app.forget_cookies();
        for _ in 0..5 {
            app.sign_in("ada@example.org", "a wrong guess").await;
            assert!(app.get("/signin").await.body.contains("Wrong email or password"));
        }
        app.sign_in("ada@example.org", PASSWORD).await;
        let page = app.get("/signin").await;
        assert!(page.body.contains("Too many failed sign-ins for this account; wait"), "{}", page.body);
        assert_eq!(app.api("GET", "/api/v1/account", None, None).await.status, StatusCode::UNAUTHORIZED);
    }

    async fn a_form_post_without_its_csrf_token_is_refused(db: Database) {
        let mut app = TestApp::new(db).await;
        app.get("/signup").await;
        let fields = [("email", "eve@example.org"), ("password", PASSWORD), ("role", "customer")];
        let response = app.post_form("/auth/sign-up", &fields).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN);
        assert!(response.body.contains("security token is missing or out of date"), "{}", response.body);
        let forged = app.post_form("/auth/sign-up", &[("csrf", "0000"), fields[0], fields[1], fields[2]]).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        // Nothing was created: the address is still free.
        let response = app.sign_up("eve@example.org", "customer").await;
        assert_eq!(response.location(), "/dashboard");
    }

    async fn signing_in_renews_the_session_id(db: Database) {
        let mut app = TestApp::new(db).await;
        app.sign_up("ada@example.org", "customer").await;
        app.forget_cookies();
        app.get("/signin").await;
        let before = app.session_cookie().cloned().expect("a visitor gets a session for the CSRF token");
        let response = app.sign_in("ada@example.org", PASSWORD).await;
        assert_eq!(response.location(), "/dashboard");
        let cookie = response.headers.get("set-cookie").unwrap().to_str().unwrap().to_string();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
        let after = app.session_cookie().cloned().unwrap();
        assert_ne!(before, after, "the session id must change at sign-in");
    }

    async fn signing_out_ends_the_session(db: Database) {
        let mut app = TestApp::new(db).await;
        app.sign_up("ada@example.org", "customer").await;
        assert_eq!(app.api("GET", "/api/v1/account", None, None).await.status, StatusCode::OK);
        let response = app.submit("/dashboard", "/auth/sign-out", &[]).await;
        assert_eq!(response.location(), "/");
        assert_eq!(app.api("GET", "/api/v1/account", None, None).await.status, StatusCode::UNAUTHORIZED);
        assert!(app.get("/").await.body.contains("You are signed out."));
    }

    async fn a_customer_creates_lists_and_revokes_api_keys_in_the_browser(db: Database) {
        let mut app = TestApp::new(db).await;
        app.sign_up("ada@example.org", "customer").await;
        let response = app.submit("/account/api-keys", "/account/api-keys", &[("name", "ci-pipeline")]).await;
        assert_eq!(response.location(), "/account/api-keys");
        // Whoever reads the database before the key is shown (a backup, a replica) finds it nowhere.
        let rows: Vec<(String,)> = sqlx::query_as("SELECT data FROM sessions").fetch_all(app.state.platform.db.pool()).await.unwrap();
        let page = app.get("/account/api-keys").await;
        let key = element_text(&page.body, "data-test=\"new-key\"")
            .unwrap_or_else(|| panic!("the new key is shown once: {}", page.body));
        assert!(key.starts_with("crk_"), "{key}");
        assert!(!rows.is_empty() && rows.iter().all(|(data,)| !data.contains(&key) && !data.contains(&key[4..])), "a session row held the new key in clear: {rows:?}");
        assert!(page.headers.get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("crucible_pad=;")), "the pad is expired once used");
        assert!(page.body.contains("ci-pipeline"));
        assert!(page.body.contains(&key[..12]), "the list shows the key's prefix");
        let again = app.get("/account/api-keys").await;
        assert!(!again.body.contains(&key), "the full key is never shown twice");

        assert_eq!(app.api("GET", "/api/v1/account", Some(&key), None).await.status, StatusCode::OK);
        let listed = app.api("GET", "/api/v1/api-keys", Some(&key), None).await.json();
        let id = listed["api_keys"][0]["id"].as_str().unwrap().to_string();
        app.submit("/account/api-keys", &format!("/account/api-keys/{id}/revoke"), &[]).await;
        assert!(app.get("/account/api-keys").await.body.contains("revoked"));

        let refused = app.api("GET", "/api/v1/account", Some(&key), None).await;
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
        assert_eq!(refused.json()["error"]["code"], "unauthenticated");
        assert!(refused.json()["error"]["message"].as_str().unwrap().contains("revoked"));
    }

    async fn the_api_refuses_requests_without_credentials_in_json(db: Database) {
        let mut app = TestApp::new(db).await;
        let response = app.api("GET", "/api/v1/account", None, None).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers["content-type"], "application/json");
        let error = &response.json()["error"];
        assert_eq!(error["code"], "unauthenticated");
        assert!(error["message"].as_str().unwrap().contains("Authorization: Bearer"), "{error}");
        let response = app.api("POST", "/api/v1/api-keys", None, Some(serde_json::json!({"name": "x"}))).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        let response = app.api("GET", "/api/v1/account", Some("crk_notarealkey"), None).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
    }

    async fn api_keys_through_the_api(db: Database) {
        let mut app = TestApp::new(db).await;
        app.sign_up("ada@example.org", "miner").await;
        // A signed-in browser must send the CSRF token with writes.
        let refused = app.api("POST", "/api/v1/api-keys", None, Some(serde_json::json!({"name": "x"}))).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(refused.json()["error"]["message"].as_str().unwrap().contains("X-CSRF-Token"));
        let csrf = app.get("/account/api-keys").await.csrf();
        let request = axum::http::Request::post("/api/v1/api-keys")
            .header("content-type", "application/json")
            .header("x-csrf-token", csrf)
            .body(axum::body::Body::from(r#"{"name": "from-browser"}"#))
            .unwrap();
        let created = app.send(request).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let key = created.json()["key"].as_str().unwrap().to_string();

        let invalid = app.api("POST", "/api/v1/api-keys", Some(&key), Some(serde_json::json!({"name": ""}))).await;
        assert_eq!(invalid.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(invalid.json()["error"]["field"], "name");
        let malformed = app.api("POST", "/api/v1/api-keys", Some(&key), Some(serde_json::json!({"title": 1}))).await;
        assert_eq!(malformed.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(malformed.json()["error"]["code"], "bad_request");

        let id = created.json()["api_key"]["id"].as_str().unwrap().to_string();
        let revoked = app.api("DELETE", &format!("/api/v1/api-keys/{id}"), Some(&key), None).await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT);
        assert_eq!(app.api("GET", "/api/v1/account", Some(&key), None).await.status, StatusCode::UNAUTHORIZED);
    }
}

/// The text of the first element whose opening tag contains `attribute`.
fn element_text(html: &str, attribute: &str) -> Option<String> {
    let tag = html.find(attribute)?;
    let content = tag + html[tag..].find('>')? + 1;
    Some(html[content..].split('<').next()?.to_string())
}
