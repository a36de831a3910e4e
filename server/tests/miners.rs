//! The miner API's authentication: Epistula v2 signatures checked on every request, each refusal a
//! 401 with its reason; a client using the standard Bittensor key library is accepted as it is; a
//! hotkey linked to a browser account by signing a challenge; and the base-model catalogue, read by
//! customers and managed by admins in the browser. Each test runs on SQLite and on PostgreSQL.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::{TestApp, TestResponse};
use domain::clock::now_ms;
use domain::miners::Hotkey;
use domain::miners::epistula::{SignedHeaders, sign, sign_text};
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

    async fn a_request_signed_for_another_service_is_refused_and_a_forgery_uses_up_no_request_id(db: Database) {
        let mut app = TestApp::new(db).await;
        let keys = keypair(1);
        let path = "/api/v1/miner/register";
        let ours = app.api("GET", "/api/v1/miner/identity", None, None).await.json()["identity"].as_str().unwrap().to_string();
        assert_eq!(ours, app.state.platform.identity.to_string());
        // A request the miner signed for another validator, replayed here by whoever received it.
        let elsewhere = Hotkey::from_public_key(keypair(7).public.to_bytes()).to_string();
        let for_another = post_signed(&mut app, path, &sign(&keys, &declaration(), now_ms(), Some(&elsewhere)), declaration()).await;
        assert_eq!(for_another.status, StatusCode::UNAUTHORIZED, "{}", for_another.body);
        assert!(message(&for_another).contains(&format!("signed for {elsewhere}")) && message(&for_another).contains(&ours), "{}", for_another.body);
        let for_us = post_signed(&mut app, path, &sign(&keys, &declaration(), now_ms(), Some(&ours)), declaration()).await;
        assert_eq!(for_us.status, StatusCode::OK, "{}", for_us.body);

        // A forger who saw a request's headers in flight sends its uuid first with a signature that does
        // not hold: refused, and the uuid is not used up, so the real request still goes through.
        let real = sign(&keys, &declaration(), now_ms(), None);
        let mut forged = real.clone();
        forged.signature = sign(&keys, b"{}", now_ms(), None).signature;
        let refused = post_signed(&mut app, path, &forged, declaration()).await;
        assert!(refused.status == StatusCode::UNAUTHORIZED && message(&refused).contains("does not match"), "{}", refused.body);
        let accepted = post_signed(&mut app, path, &real, declaration()).await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);

        // An unsigned upload is refused before a byte of its body is read.
        let read = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let touched = read.clone();
        let body = futures::stream::poll_fn(move |_| {
            touched.store(true, std::sync::atomic::Ordering::SeqCst);
            std::task::Poll::Ready(Some(Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"0123456789"))))
        });
        let upload = app.send(Request::put("/api/v1/miner/recipes?name=anon").body(Body::from_stream(body)).unwrap()).await;
        assert_eq!(upload.status, StatusCode::UNAUTHORIZED, "{}", upload.body);
        assert!(!read.load(std::sync::atomic::Ordering::SeqCst), "the body was read before the signature's headers were checked");
    }

    async fn a_miner_using_the_bittensor_key_library_is_accepted(db: Database) {
        let mut app = TestApp::new(db).await;
        let python = std::env::var("CRUCIBLE_TEST_SUBSTRATE_PYTHON").expect(
            "CRUCIBLE_TEST_SUBSTRATE_PYTHON names a Python with substrate-interface (scripts/test.sh installs it)",
        );
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/epistula_sign.py");
        let body = String::from_utf8(declaration()).unwrap();
        // Signed for this deployment, as a miner that names whom it talks to does.
        let ours = app.state.platform.identity.to_string();
        let output = std::process::Command::new(python).args([script, "//Alice", &body, &ours]).output().unwrap();
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

    async fn admins_manage_the_catalogue_in_the_browser(db: Database) {
        let mut app = TestApp::new(db.clone()).await;
        let key = app.customer_key("customer@example.org").await;
        // A customer may not change it.
        let refused = app.submit("/admin/models", "/admin/models", &[("id", "Qwen/Qwen2.5-3B-Instruct"), ("family", "qwen2"), ("parameters", "3085938688"), ("task_types", "instruct")]).await;
        assert_eq!(refused.status, StatusCode::SEE_OTHER);
        assert!(app.get("/admin/models").await.body.contains("nly an admin may change the model catalogue"));

        let admin = domain::accounts::Email::parse("admin@example.org").unwrap();
        let password = domain::accounts::Password::new(common::PASSWORD).unwrap();
        domain::accounts::sign_up(&db, &admin, &password, domain::accounts::Role::Admin).await.unwrap();
        app.forget_cookies();
        app.sign_in("admin@example.org", common::PASSWORD).await;
        let models = |catalogue: &Value| -> Vec<String> {
            catalogue["models"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect()
        };
        assert!(!models(&app.api("GET", "/api/v1/models", Some(&key), None).await.json()).contains(&"Qwen/Qwen2.5-3B-Instruct".to_string()));

        let added = app.submit("/admin/models", "/admin/models", &[("id", "Qwen/Qwen2.5-3B-Instruct"), ("family", "qwen2"), ("parameters", "3085938688"), ("task_types", "instruct"), ("task_types", "chat")]).await;
        assert_eq!(added.location(), "/admin/models");
        assert!(app.get("/admin/models").await.body.contains("Qwen/Qwen2.5-3B-Instruct added"));
        let catalogue = app.api("GET", "/api/v1/models", Some(&key), None).await.json();
        let new = catalogue["models"].as_array().unwrap().iter().find(|m| m["id"] == "Qwen/Qwen2.5-3B-Instruct").cloned().expect("the new model is offered");
        assert_eq!(new["task_types"], json!(["instruct", "chat"]));
        assert_eq!(new["parameters"], 3_085_938_688u64);

        for (fields, says) in [
            (vec![("id", "no-owner"), ("family", "x"), ("parameters", "1"), ("task_types", "instruct")], "owner/name"),
            (vec![("id", "a/b"), ("family", "x"), ("parameters", "1")], "at least one task type"),
            (vec![("id", "Qwen/Qwen2.5-3B-Instruct"), ("family", "qwen2"), ("parameters", "1"), ("task_types", "chat")], "in the catalogue already"),
        ] {
            app.submit("/admin/models", "/admin/models", &fields).await;
            assert!(app.get("/admin/models").await.body.contains(says), "{fields:?} should say {says}");
        }

        app.submit("/admin/models", "/admin/models/enabled", &[("id", "Qwen/Qwen2.5-3B-Instruct"), ("enabled", "false")]).await;
        assert!(!models(&app.api("GET", "/api/v1/models", Some(&key), None).await.json()).contains(&"Qwen/Qwen2.5-3B-Instruct".to_string()), "a model no longer offered is not listed");
        assert!(app.get("/admin/models").await.body.contains("not offered"), "admins still see it");

        app.submit("/admin/models", "/admin/bounds", &[("task_type", "instruct"), ("min_hours", "2"), ("max_hours", "6")]).await;
        let bounds = app.api("GET", "/api/v1/models", Some(&key), None).await.json()["bounds"].clone();
        let instruct = bounds.as_array().unwrap().iter().find(|b| b["task_type"] == "instruct").cloned().unwrap();
        assert_eq!((instruct["min_hours"].as_u64(), instruct["max_hours"].as_u64()), (Some(2), Some(6)));
        app.submit("/admin/models", "/admin/bounds", &[("task_type", "instruct"), ("min_hours", "5"), ("max_hours", "3")]).await;
        assert!(app.get("/admin/models").await.body.contains("1 ≤ minimum ≤ maximum"));
    }

    async fn a_miner_links_a_hotkey_by_signing_the_challenge(db: Database) {
        let mut app = TestApp::new(db).await;
        app.sign_up("miner@example.org", "miner").await;
        let page = app.get("/miner/hotkeys").await;
        assert!(page.body.contains("No hotkey is linked"), "{}", page.body);
        let challenge = common::challenge_on(&page.body);
        let keys = keypair(9);
        let hotkey = Hotkey::from_public_key(keys.public.to_bytes()).to_string();
        let link = |hotkey: String, challenge: String, signature: String| {
            vec![("hotkey".to_string(), hotkey), ("challenge".to_string(), challenge), ("signature".to_string(), signature), ("task_types".to_string(), "instruct".to_string()), ("task_types".to_string(), "grpo".to_string()), ("max_billions".to_string(), "3.5".to_string())]
        };
        let refusals = [
            (link(hotkey.clone(), challenge.clone(), sign_text(&keypair(10), challenge.as_bytes())), "does not match"),
            (link(hotkey.clone(), challenge.replace("crucible-link:", "crucible-link:x"), sign_text(&keys, challenge.as_bytes())), "not a challenge this page gave you"),
            (link("5Nope".into(), challenge.clone(), sign_text(&keys, challenge.as_bytes())), "not an SS58 address"),
        ];
        for (fields, says) in refusals {
            let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            app.submit("/miner/hotkeys", "/miner/hotkeys", &fields).await;
            assert!(app.get("/miner/hotkeys").await.body.contains(says), "should say {says}");
        }
        let fields = link(hotkey.clone(), challenge.clone(), sign_text(&keys, challenge.as_bytes()));
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        app.submit("/miner/hotkeys", "/miner/hotkeys", &fields).await;
        let page = app.get("/miner/hotkeys").await;
        assert!(page.body.contains("is linked to this account"), "{}", page.body);
        assert!(page.body.contains(&hotkey) && page.body.contains("instruct, grpo") && page.body.contains("3.5 B"));

        // The same signature is no use to another account: its challenge names the first.
        app.forget_cookies();
        app.sign_up("thief@example.org", "miner").await;
        let own_challenge = common::challenge_on(&app.get("/miner/hotkeys").await.body);
        app.submit("/miner/hotkeys", "/miner/hotkeys", &fields).await;
        assert!(app.get("/miner/hotkeys").await.body.contains("not a challenge this page gave you"));
        // Nor can another account take the hotkey with a fresh signature it could not make... unless it
        // holds the key; then the hotkey stays with its first account.
        let taken = link(hotkey.clone(), own_challenge.clone(), sign_text(&keys, own_challenge.as_bytes()));
        let taken: Vec<(&str, &str)> = taken.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        app.submit("/miner/hotkeys", "/miner/hotkeys", &taken).await;
        assert!(app.get("/miner/hotkeys").await.body.contains("linked to another account"));
    }

    async fn the_bittensor_key_library_signs_the_link_challenge(db: Database) {
        let mut app = TestApp::new(db).await;
        app.sign_up("alice@example.org", "miner").await;
        let challenge = common::challenge_on(&app.get("/miner/hotkeys").await.body);
        let python = std::env::var("CRUCIBLE_TEST_SUBSTRATE_PYTHON").expect("CRUCIBLE_TEST_SUBSTRATE_PYTHON (scripts/test.sh sets it)");
        // What the page tells a miner to run, with Alice's development key.
        let script = "import sys; from substrateinterface import Keypair; k = Keypair.create_from_uri('//Alice'); print(k.ss58_address); print('0x' + k.sign(sys.argv[1]).hex())";
        let output = std::process::Command::new(python).args(["-c", script, &challenge]).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8(output.stdout).unwrap();
        let mut lines = stdout.lines();
        let (hotkey, signature) = (lines.next().unwrap(), lines.next().unwrap());
        app.submit("/miner/hotkeys", "/miner/hotkeys", &[("hotkey", hotkey), ("challenge", &challenge), ("signature", signature), ("task_types", "instruct"), ("max_billions", "8")]).await;
        let page = app.get("/miner/hotkeys").await;
        assert!(page.body.contains("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"), "{}", page.body);
        assert!(page.body.contains("is linked to this account"));
    }

    async fn an_admin_suspends_a_miner_in_the_browser_and_it_gets_no_offers(db: Database) {
        let mut app = TestApp::new(db.clone()).await;
        let (suspended, active) = (keypair(31), keypair(32));
        for keys in [&suspended, &active] {
            app.register_miner(keys, &["instruct"], 8_000_000_000).await;
        }
        let hotkey = Hotkey::from_public_key(suspended.public.to_bytes()).to_string();
        let key = app.customer_key("customer@example.org").await;
        app.submit("/admin/miners", "/admin/miners/suspension", &[("hotkey", &hotkey), ("action", "suspend"), ("reason", "nope")]).await;
        assert!(app.get("/admin/miners").await.body.contains("nly an admin may suspend or reinstate miners"));
        assert!(app.get("/admin/queue").await.body.contains("nly an admin may see the work queue"), "a customer sees no queue");
        assert!(app.get("/admin/tasks").await.body.contains("nly an admin may see every task"), "a customer sees no one else's tasks");
        let parsed = Hotkey::parse(&hotkey).unwrap();
        assert_eq!(domain::miners::by_hotkey(&db, &parsed).await.unwrap().unwrap().suspended_reason, None, "a customer cannot suspend");

        let admin = domain::accounts::Email::parse("admin@example.org").unwrap();
        let password = domain::accounts::Password::new(common::PASSWORD).unwrap();
        domain::accounts::sign_up(&db, &admin, &password, domain::accounts::Role::Admin).await.unwrap();
        app.forget_cookies();
        app.sign_in("admin@example.org", common::PASSWORD).await;
        assert!(app.get("/admin/miners").await.body.contains(&hotkey));
        app.submit("/admin/miners", "/admin/miners/suspension", &[("hotkey", &hotkey), ("action", "suspend"), ("reason", "copied artifacts")]).await;
        let page = app.get("/admin/miners").await.body;
        assert!(page.contains("is suspended and gets no offers") && page.contains("suspended: copied artifacts"), "{page}");

        // A task fans out to the active miner only.
        let dataset = common::validated_dataset(&mut app, &key).await;
        let request = json!({"dataset_id": dataset["id"], "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 2});
        let created = app.api("POST", "/api/v1/tasks", Some(&key), Some(request)).await;
        assert_eq!(created.status, StatusCode::CREATED);
        let task = created.json()["id"].as_str().unwrap().to_string();
        app.state.platform.scheduling.offer_ttl_ms = 60_000;
        app.run_jobs().await;
        for (keys, expected, what) in [(&active, 1, "the active miner is offered the task"), (&suspended, 0, "the suspended one is not")] {
            let offers = app.signed("GET", "/api/v1/miner/offers?wait=0", keys, Vec::new()).await.json();
            assert_eq!(offers["offers"].as_array().unwrap().len(), expected, "{what}");
        }

        // The work queue shows the jobs the task made, by queue, kind and state, and which queues this
        // server runs: none for evaluation or trainers, as it has neither, with the reason.
        let queue = app.get("/admin/queue").await.body;
        assert!(queue.contains("data-test=\"queue-count\"") && queue.contains("prepare_task") && queue.contains("validate_dataset"), "{queue}");
        let workers: Vec<&str> = queue.split("data-test=\"queue-workers\"").skip(1).collect();
        assert_eq!(workers.len(), 4, "{queue}");
        assert!(workers[0].contains("fast") && workers[0].contains("1 worker<"), "{}", workers[0]);
        assert!(workers[2].contains("evaluation") && workers[2].contains("not started here: no evaluator is configured"), "{}", workers[2]);
        assert!(workers[3].contains("trainer") && workers[3].contains("not started here: no trainer hosts"), "{}", workers[3]);
        app.submit("/admin/miners", "/admin/miners/suspension", &[("hotkey", &hotkey), ("action", "reinstate")]).await;
        assert!(app.get("/admin/miners").await.body.contains("is reinstated"));
        assert_eq!(domain::miners::by_hotkey(&db, &parsed).await.unwrap().unwrap().suspended_reason, None);

        // A job that failed for good is tried again from its first attempt.
        let job: (String,) = sqlx::query_as("SELECT id FROM jobs WHERE kind = 'prepare_task'").fetch_one(db.pool()).await.unwrap();
        // (As its last attempt would have left it.)
        sqlx::query("UPDATE jobs SET state = 'failed', last_error = $1, updated_at = $2 WHERE id = $3").bind("the store was unreachable").bind(now_ms()).bind(&job.0).execute(db.pool()).await.unwrap();
        let queue = app.get("/admin/queue").await.body;
        assert!(queue.contains("the store was unreachable") && queue.contains("data-test=\"retry-job\""), "{queue}");
        app.submit("/admin/queue", &format!("/admin/jobs/{}/retry", job.0), &[]).await;
        assert!(app.get("/admin/queue").await.body.contains("is queued again from its first attempt"));
        let (state, attempts): (String, i64) = sqlx::query_as("SELECT state, attempts FROM jobs WHERE id = $1").bind(&job.0).fetch_one(db.pool()).await.unwrap();
        assert_eq!((state.as_str(), attempts), ("queued", 0));
        app.submit("/admin/queue", &format!("/admin/jobs/{}/retry", job.0), &[]).await;
        assert!(app.get("/admin/queue").await.body.contains("has not failed for good"), "a queued job is not retried twice");

        // The admin cancels the customer's task with a reason, which the customer reads in its events.
        assert!(app.get("/admin/tasks").await.body.contains(&task));
        app.submit("/admin/tasks", &format!("/admin/tasks/{task}/cancel"), &[("reason", "")]).await;
        assert!(app.get("/admin/tasks").await.body.contains("ay why the task is cancelled"));
        app.submit("/admin/tasks", &format!("/admin/tasks/{task}/cancel"), &[("reason", "the dataset breaks the terms")]).await;
        assert!(app.get("/admin/tasks").await.body.contains("is cancelled; its customer sees why"));
        let events = app.api("GET", &format!("/api/v1/tasks/{task}/events"), Some(&key), None).await.json();
        let last = events["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["to_state"], "cancelled");
        assert_eq!(last["reason"], "cancelled by an admin: the dataset breaks the terms");

        // Every one of those actions is in the admins' log, newest first, with who took it.
        let log = app.get("/admin/queue").await.body;
        let at = |action: &str| log.find(action).unwrap_or_else(|| panic!("{action} is logged: {log}"));
        assert!(at("cancel_task") < at("retry_job") && at("retry_job") < at("reinstate_miner") && at("reinstate_miner") < at("suspend_miner"));
        assert!(log.contains("copied artifacts") && log.contains("admin@example.org"));
    }
}
