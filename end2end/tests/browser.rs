//! Browser tests: headless Chromium, driven over WebDriver, against a real `crucible serve` started
//! on a free port with its own data directory. `scripts/test.sh` builds the binary and the web assets
//! and names them in CRUCIBLE_BIN and CRUCIBLE_SITE_ROOT. Screenshots land in `target/end2end/`.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const PASSWORD: &str = "a long browser password";

/// Child processes, each leading its own process group, killed with their groups when this is
/// dropped (even when a test fails part-way): chromedriver's Chromium goes with it.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A running server and browser.
struct Harness {
    base: String,
    browser: Client,
    _processes: Processes,
    data: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn required_env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set: run the tests with scripts/test.sh"))
}

async fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "{what} did not start listening on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Harness {
    async fn start() -> Harness {
        Harness::start_with(&[]).await
    }

    /// A server started with `extra` arguments.
    async fn start_with(extra: &[&str]) -> Harness {
        let data = tempfile::tempdir().unwrap();
        let mut processes = Processes(Vec::new());

        let port = free_port();
        let server = Command::new(required_env("CRUCIBLE_BIN"))
            .process_group(0)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data.path())
            .arg("--site-root")
            .arg(required_env("CRUCIBLE_SITE_ROOT"))
            .args(extra)
            .env("CRUCIBLE_MIN_DATASET_ROWS", "20")
            // The tests poll the API every 50 ms; the per-account limits are the edge test's to play.
            .env("CRUCIBLE_API_REQUESTS_PER_MINUTE", "1000000")
            .env("CRUCIBLE_TASKS_PER_MINUTE", "1000000")
            // With no miners registered, a task's offers close at once; it is offered again after 5 s,
            // once, and then fails: a few state changes to watch in a few seconds.
            .env("CRUCIBLE_OFFER_RETRY_SECS", "5")
            .env("CRUCIBLE_OFFER_RETRIES", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start crucible");
        processes.0.push(server);

        let driver_port = free_port();
        let driver = Command::new("chromedriver")
            .process_group(0)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (apt-get install chromium-driver)");
        processes.0.push(driver);
        wait_for_port(port, "crucible").await;
        wait_for_port(driver_port, "chromedriver").await;

        let profile = data.path().join("chromium-profile");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1200,900", format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        let browser = ClientBuilder::rustls()
            .unwrap()
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
            .expect("open a Chromium session");
        Harness {
            base: format!("http://127.0.0.1:{port}"),
            browser,
            _processes: processes,
            data,
        }
    }

    async fn goto(&self, path: &str) {
        self.browser
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    async fn fill(&self, css: &str, text: &str) {
        let field = self.browser.find(Locator::Css(css)).await.unwrap();
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.browser
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    async fn text(&self, css: &str) -> String {
        self.browser
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn wait_for_path(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let url = self.browser.current_url().await.unwrap();
            if url.path() == path {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "expected to reach {path}, still at {url}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the wasm has taken over the page.
    async fn wait_for_hydration(&self) {
        self.browser
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css("body[data-hydrated='true']"))
            .await
            .expect("the page never hydrated");
    }

    async fn wait_for_text(&self, css: &str, text: &str) {
        self.wait_for_text_within(css, text, 30).await;
    }

    async fn wait_for_text_within(&self, css: &str, text: &str, seconds: u64) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Ok(element) = self.browser.find(Locator::Css(css)).await
                && element.text().await.is_ok_and(|t| t.contains(text))
            {
                return;
            }
            assert!(Instant::now() < deadline, "{css} never showed {text:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn sign_up(&self, email: &str) {
        self.goto("/signup").await;
        self.fill("#email", email).await;
        self.fill("#password", PASSWORD).await;
        self.click("form[action='/auth/sign-up'] button[type='submit']")
            .await;
        self.wait_for_path("/dashboard").await;
    }

    /// Chooses `file` in the upload form of `/datasets` under `name` and starts the upload.
    async fn start_upload(&self, name: &str, file: &std::path::Path) {
        self.goto("/datasets").await;
        self.wait_for_hydration().await;
        self.fill("#dataset-name", name).await;
        let input = self
            .browser
            .find(Locator::Css("#dataset-file"))
            .await
            .unwrap();
        input.send_keys(&file.to_string_lossy()).await.unwrap();
        self.click("[data-test='upload-form'] button[type='submit']")
            .await;
    }

    /// Uploads `csv` as dataset `name`, validates it with the suggested mapping and waits until it is
    /// ready.
    async fn ready_dataset(&self, name: &str, csv: &str) {
        let files = tempfile::tempdir().unwrap();
        let file = files.path().join(format!("{name}.csv"));
        std::fs::write(&file, csv).unwrap();
        self.start_upload(name, &file).await;
        self.wait_for_text("[data-test='dataset-state']", "uploaded")
            .await;
        self.click("[data-test='validate']").await;
        self.wait_for_text("[data-test='dataset-state']", "ready")
            .await;
    }

    /// Goes through the new-task wizard with the first ready dataset, `model` and `hours`, up to the
    /// summary shown before confirming.
    async fn review_task(&self, model: &str, hours: &str) {
        self.goto("/tasks").await;
        self.click("[data-test='new-task']").await;
        self.wait_for_path("/tasks/new").await;
        let dataset = self
            .browser
            .find(Locator::Css("#task-dataset"))
            .await
            .unwrap();
        let first_ready = dataset
            .find(Locator::Css("option:not([value=''])"))
            .await
            .unwrap()
            .attr("value")
            .await
            .unwrap()
            .unwrap();
        dataset.select_by_value(&first_ready).await.unwrap();
        self.browser
            .find(Locator::Css("#task-model"))
            .await
            .unwrap()
            .select_by_value(model)
            .await
            .unwrap();
        self.fill("#task-hours", hours).await;
        self.click("[data-test='review-task']").await;
        // The review is a new page: wait for it, or the next step acts on the page being left.
        self.wait_for_text("[data-test='task-plan']", "Summary")
            .await;
    }

    /// Confirms the reviewed task and waits for its page; the page's path.
    async fn confirm_task(&self) -> String {
        self.click("[data-test='confirm-task']").await;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let path = self.browser.current_url().await.unwrap().path().to_string();
            if path.starts_with("/tasks/") && path != "/tasks/new" {
                return path;
            }
            assert!(Instant::now() < deadline, "the task page never opened");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/end2end");
        std::fs::create_dir_all(&dir).unwrap();
        let png = self.browser.screenshot().await.unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

#[tokio::test]
async fn a_newcomer_signs_up_signs_in_creates_an_api_key_and_signs_out() {
    let h = Harness::start().await;
    h.goto("/").await;
    h.click("a[href='/signup']").await;
    h.wait_for_path("/signup").await;
    h.fill("#email", "newcomer@example.org").await;
    h.fill("#password", PASSWORD).await;
    h.click("input[value='customer']").await;
    h.screenshot("01-sign-up").await;
    h.click("form[action='/auth/sign-up'] button[type='submit']")
        .await;
    h.wait_for_path("/dashboard").await;
    assert!(
        h.text("[data-test='dashboard-account']")
            .await
            .contains("newcomer@example.org")
    );

    h.click("form[action='/auth/sign-out'] button").await;
    h.wait_for_path("/").await;
    assert!(h.text("header nav").await.contains("Sign in"));

    h.goto("/signin").await;
    h.fill("#email", "newcomer@example.org").await;
    h.fill("#password", PASSWORD).await;
    h.click("form[action='/auth/sign-in'] button[type='submit']")
        .await;
    h.wait_for_path("/dashboard").await;
    assert_eq!(
        h.text("[data-test='signed-in-as']").await,
        "newcomer@example.org"
    );

    h.click("a[href='/account/api-keys']").await;
    h.wait_for_path("/account/api-keys").await;
    assert!(
        h.text("[data-test='no-keys']")
            .await
            .contains("no API keys")
    );
    h.fill("#key-name", "laptop-script").await;
    h.click("form[action='/account/api-keys'] button[type='submit']")
        .await;
    h.wait_for_path("/account/api-keys").await;
    let key = h.text("[data-test='new-key']").await;
    assert!(key.starts_with("crk_"), "the new key is shown: {key}");
    let row = h.text("[data-test='key-row']").await;
    assert!(
        row.contains("laptop-script") && row.contains(&key[..12]) && row.contains("active"),
        "{row}"
    );
    h.screenshot("02-api-key-created").await;

    h.click("form[action='/auth/sign-out'] button").await;
    h.wait_for_path("/").await;
    h.goto("/account/api-keys").await;
    assert!(h.text("main").await.contains("Sign in first"));
}

#[tokio::test]
async fn hydration_makes_the_password_toggle_work_without_a_reload() {
    let h = Harness::start().await;
    h.goto("/signin").await;
    // A marker on the window object survives only if the page is never reloaded.
    h.browser
        .execute(
            "window.__crucibleMarker = 'still here'; return null;",
            vec![],
        )
        .await
        .unwrap();
    let password = h.browser.find(Locator::Css("#password")).await.unwrap();
    assert_eq!(
        password.attr("type").await.unwrap().as_deref(),
        Some("password")
    );

    // Before hydration the button does nothing; keep clicking until the wasm has taken over.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        h.click("[data-test='toggle-password']").await;
        if password.attr("type").await.unwrap().as_deref() == Some("text") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the page never hydrated: the show-password button did nothing"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(h.text("[data-test='toggle-password']").await, "Hide");
    h.click("[data-test='toggle-password']").await;
    assert_eq!(
        password.attr("type").await.unwrap().as_deref(),
        Some("password")
    );
    let marker = h
        .browser
        .execute("return window.__crucibleMarker || null;", vec![])
        .await
        .unwrap();
    assert_eq!(marker, json!("still here"), "the page was reloaded");
    h.screenshot("03-hydrated-sign-in").await;
}

/// A CSV of `rows` questions and answers, then a row with an empty answer and a duplicate.
fn faq_csv(rows: usize) -> String {
    let mut csv = String::from("question,answer\n");
    for i in 0..rows {
        csv.push_str(&format!(
            "\"What is item {i}?\",\"Item {i} is a thing, described.\"\n"
        ));
    }
    csv.push_str("\"A question left unanswered?\",\n");
    csv.push_str("\"What is item 0?\",\"Item 0 is a thing, described.\"\n");
    csv
}

#[tokio::test]
async fn a_customer_uploads_a_dataset_maps_it_and_reads_the_report() {
    let h = Harness::start().await;
    let files = tempfile::tempdir().unwrap();
    h.sign_up("data@example.org").await;

    // A large upload shows its progress bar while it is sent.
    let big = files.path().join("big.csv");
    std::fs::write(&big, faq_csv(600_000)).unwrap();
    h.start_upload("big", &big).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut saw_progress = false;
    loop {
        if !saw_progress
            && h.browser
                .find(Locator::Css("[data-test='upload-progress']"))
                .await
                .is_ok()
        {
            saw_progress = true;
            h.screenshot("04-upload-progress").await;
        }
        if h.browser
            .current_url()
            .await
            .unwrap()
            .path()
            .starts_with("/datasets/")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the upload never finished");
    }
    assert!(
        saw_progress,
        "the progress bar was never shown during the upload"
    );
    h.wait_for_text("[data-test='dataset-state']", "uploaded")
        .await;

    // A small one is mapped, validated and reported on.
    let small = files.path().join("faq.csv");
    std::fs::write(&small, faq_csv(300)).unwrap();
    h.start_upload("faq", &small).await;
    h.wait_for_text("[data-test='dataset-state']", "uploaded")
        .await;
    let preview = h.text("[data-test='preview-row']").await;
    assert!(
        preview.contains("What is item 0?") && preview.contains("\"instruction\""),
        "{preview}"
    );
    let chosen = h
        .browser
        .find(Locator::Css("#role-instruction"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        chosen.as_deref(),
        Some("question"),
        "the mapping is suggested from the column names"
    );
    h.screenshot("05-mapping").await;
    h.click("[data-test='validate']").await;
    h.wait_for_text("[data-test='dataset-state']", "ready")
        .await;
    let summary = h.text("[data-test='report-summary']").await;
    assert!(
        summary.contains("302 rows read: 300 usable (270 for training; 30 held out"),
        "{summary}"
    );
    let example = h.text("[data-test='rejected-example']").await;
    assert!(
        example.contains("line 302") || example.contains("line 303"),
        "{example}"
    );
    h.screenshot("06-report").await;
}

#[tokio::test]
async fn a_customer_creates_a_task_in_the_wizard_and_watches_its_state_change() {
    let h = Harness::start().await;
    h.sign_up("tasks@example.org").await;
    h.ready_dataset("faq", &faq_csv(300)).await;
    h.review_task("Qwen/Qwen2.5-0.5B-Instruct", "2").await;
    let plan = h.text("[data-test='task-plan']").await;
    assert!(
        plan.contains("on 270 rows of instruct data") && plan.contains("30 rows are held out"),
        "{plan}"
    );
    h.screenshot("07-task-summary").await;

    // The task's page, hydrated: it follows the task without being reloaded.
    h.confirm_task().await;
    h.wait_for_hydration().await;
    h.browser
        .execute("window.__not_reloaded = true;", vec![])
        .await
        .unwrap();
    let first_seen = h.text("[data-test='task-state']").await;
    assert_ne!(
        first_seen, "failure_finding_nodes",
        "the task ended before the page could watch it"
    );
    h.wait_for_text("[data-test='task-state']", "failure_finding_nodes")
        .await;
    let still_here = h
        .browser
        .execute("return window.__not_reloaded === true;", vec![])
        .await
        .unwrap();
    assert_eq!(
        still_here,
        json!(true),
        "the page changed state in place, without a reload"
    );
    let events = h
        .browser
        .find_all(Locator::Css("[data-test='task-event']"))
        .await
        .unwrap();
    assert!(
        events.len() >= 6,
        "every move is listed, got {}",
        events.len()
    );
    let reasons = h.text("tbody").await;
    assert!(reasons.contains("rounds of offers"), "{reasons}");
    assert!(
        h.browser
            .find(Locator::Css("[data-test='cancel-task']"))
            .await
            .is_err(),
        "an ended task offers no cancel button"
    );
    h.screenshot("08-task-failed-finding-miners").await;
}

#[tokio::test]
async fn an_admin_suspends_a_miner_who_then_gets_no_offers() {
    let h = Harness::start().await;
    let data_dir = h.data.path().to_str().unwrap().to_string();
    let storage = ["--data-dir", data_dir.as_str()];
    let password = h.data.path().join("admin-password");
    std::fs::write(&password, format!("{PASSWORD}\n")).unwrap();
    let mut create_admin = vec!["admin", "create-user"];
    create_admin.extend(storage);
    create_admin.extend([
        "--email",
        "ops@example.org",
        "--password-file",
        password.to_str().unwrap(),
        "--role",
        "admin",
    ]);
    end2end::crucible(&create_admin);

    let (cheat, honest) = (end2end::miner_keys(41), end2end::miner_keys(42));
    let hotkey = |keys: &schnorrkel::Keypair| {
        domain::miners::Hotkey::from_public_key(keys.public.to_bytes()).to_string()
    };
    let declaration =
        json!({"task_types": ["instruct"], "max_parameters": 8_000_000_000u64}).to_string();
    for keys in [&cheat, &honest] {
        let (status, answer) = end2end::signed(
            "POST",
            &format!("{}/api/v1/miner/register", h.base),
            keys,
            declaration.as_bytes(),
            &[],
        )
        .await
        .expect("the server answers");
        assert_eq!(status, 200, "{answer}");
    }

    h.goto("/signin").await;
    h.fill("#email", "ops@example.org").await;
    h.fill("#password", PASSWORD).await;
    h.click("form[action='/auth/sign-in'] button[type='submit']")
        .await;
    h.wait_for_path("/dashboard").await;
    h.click("a[href='/admin/miners']").await;
    h.wait_for_path("/admin/miners").await;
    let cheat_key = hotkey(&cheat);
    h.fill(
        &format!("input[id='reason-{cheat_key}']"),
        "submitted copied artifacts",
    )
    .await;
    h.click(&format!(
        "form:has(input[name='hotkey'][value='{cheat_key}']) button[type='submit']"
    ))
    .await;
    h.wait_for_text(".flash", "is suspended and gets no offers")
        .await;
    let table = h.text("table").await;
    assert!(
        table.contains("suspended: submitted copied artifacts"),
        "{table}"
    );
    h.screenshot("09-admin-suspends-a-miner").await;

    // A customer's task is offered to the active miner only.
    let key = end2end::customer_key(&storage, "customer@example.org");
    let dataset = end2end::ready_dataset(&h.base, &h.base, &key, 40).await;
    end2end::create_task(&h.base, &key, &dataset, "Qwen/Qwen2.5-0.5B-Instruct").await;
    assert_eq!(
        offers_for(&h.base, &honest, 30).await,
        1,
        "the active miner is offered the task"
    );
    assert_eq!(
        offers_for(&h.base, &cheat, 0).await,
        0,
        "the suspended miner is not"
    );

    // The admins' log records the suspension, with who did it and why.
    h.goto("/admin/queue").await;
    let log = h.text("[data-test='admin-action']").await;
    assert!(
        log.contains("ops@example.org")
            && log.contains("suspend_miner")
            && log.contains("submitted copied artifacts"),
        "{log}"
    );
    h.screenshot("10-admin-log").await;
}

/// How many open offers the miner with `keys` has, waiting up to `wait` seconds for one.
async fn offers_for(base: &str, keys: &schnorrkel::Keypair, wait: u32) -> usize {
    let url = format!("{base}/api/v1/miner/offers?wait={wait}");
    let (status, answer) = end2end::signed("GET", &url, keys, b"", &[])
        .await
        .expect("the server answers");
    assert_eq!(status, 200, "{answer}");
    answer["offers"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_customer_downloads_the_model_reference_miners_won_with_and_the_winner_sees_the_win() {
    use end2end::reference::{self, Miners, Recipe};
    let work = tempfile::tempdir().unwrap();
    let base_models = work.path().join("base-models");
    reference::make_base_models(&base_models);
    let evaluator = reference::sibling("crucible-eval");
    let h = Harness::start_with(&[
        "--evaluator",
        evaluator.to_str().unwrap(),
        "--base-models",
        base_models.to_str().unwrap(),
        // An hour of a task's window lasts 20 s, and two miners fill a text pool.
        "--hour-ms",
        "20000",
        "--text-pool",
        "2-2",
        "--evaluation-secs",
        "120",
    ])
    .await;
    let recipes = [
        Recipe {
            learning_rate: "3e-3",
            epochs: "3",
            method: "full",
        },
        Recipe {
            learning_rate: "1e-4",
            epochs: "1",
            method: "full",
        },
    ];
    let mut miners = Miners::default();
    for (i, recipe) in recipes.into_iter().enumerate() {
        miners.start(&h.base, &base_models, work.path(), i, recipe, 1);
    }

    // The customer uploads, validates, and creates a task on the reference model.
    h.sign_up("journey@example.org").await;
    h.ready_dataset("faq", &faq_csv(300)).await;
    h.review_task("crucible/reference-tiny", "1").await;
    assert!(
        h.text("[data-test='task-plan']")
            .await
            .contains("2 to 2 miners"),
        "the summary names the pool"
    );
    let page = h.confirm_task().await;
    let id = page.trim_start_matches("/tasks/").to_string();
    h.wait_for_hydration().await;

    // The page follows the task live: the window's countdown while the miners train, then the scores.
    h.wait_for_text_within("[data-test='task-state']", "training", 60)
        .await;
    h.wait_for_text("[data-test='task-window']", "left").await;
    h.screenshot("11-task-training").await;
    h.wait_for_text_within("[data-test='task-state']", "success", 240)
        .await;
    let rows = h
        .browser
        .find_all(Locator::Css("[data-test='submission']"))
        .await
        .unwrap();
    assert_eq!(rows.len(), 2, "both miners' submissions are listed");
    assert!(
        rows[0].text().await.unwrap().starts_with('1'),
        "ranked, the winner first"
    );
    h.browser
        .find(Locator::Css("[data-test='loss-chart']"))
        .await
        .expect("the held-out losses are charted");
    h.screenshot("12-task-won").await;

    // The download link gives the winner's artifact: its SHA-256 is the one the winner declared.
    let fetched = h
        .browser
        .execute_async(
            "const [id, done] = arguments;
             const hex = (buffer) => Array.from(new Uint8Array(buffer)).map((b) => b.toString(16).padStart(2, '0')).join('');
             const link = document.querySelector(\"[data-test='download-winner']\").href;
             Promise.all([
               fetch(link).then((r) => r.arrayBuffer()).then((b) => crypto.subtle.digest('SHA-256', b)),
               fetch(`/api/v1/tasks/${id}/submissions`).then((r) => r.json()),
             ]).then(([digest, listed]) => done({sha256: hex(digest), submissions: listed.submissions}),
                     (err) => done({error: String(err)}));",
            vec![json!(id)],
        )
        .await
        .unwrap();
    let winner = fetched["submissions"]
        .as_array()
        .and_then(|list| list.iter().find(|s| s["rank"] == 1))
        .unwrap_or_else(|| panic!("{fetched}"))
        .clone();
    assert_eq!(
        fetched["sha256"], winner["sha256"],
        "the download is the winner's model"
    );

    // The winning miner links its hotkey in the browser and sees the win on its dashboard.
    let winner_key = winner["miner"].as_str().unwrap();
    let hotkey_file = (0..recipes.len())
        .map(|i| reference::hotkey_file(work.path(), i))
        .find(|file| reference::hotkey_address(file) == winner_key)
        .expect("the winner is one of the reference miners");
    h.click("form[action='/auth/sign-out'] button").await;
    h.wait_for_path("/").await;
    h.goto("/signup").await;
    h.fill("#email", "winner@example.org").await;
    h.fill("#password", PASSWORD).await;
    h.click("input[value='miner']").await;
    h.click("form[action='/auth/sign-up'] button[type='submit']")
        .await;
    h.wait_for_path("/dashboard").await;
    h.goto("/miner/hotkeys").await;
    let challenge = h
        .browser
        .find(Locator::Css("#challenge"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    h.fill("#hotkey", winner_key).await;
    h.fill(
        "#signature",
        &reference::sign_with(&hotkey_file, &challenge),
    )
    .await;
    h.click("form[action='/miner/hotkeys'] button[type='submit']")
        .await;
    h.wait_for_text("[data-test='linked-hotkey']", winner_key)
        .await;
    let won = h.text("[data-test='miner-score']").await;
    assert!(
        won.contains(&id) && won.contains("+3") && won.contains("lowest held-out loss"),
        "{won}"
    );
    h.browser
        .find(Locator::Css("[data-test='points-chart']"))
        .await
        .expect("the miner's points over time are charted");
    h.screenshot("13-miner-dashboard-won").await;
}

#[tokio::test]
async fn a_tournament_of_recipes_plays_out_and_anyone_reads_its_bracket_and_the_champions_recipe() {
    use end2end::reference;
    let work = tempfile::tempdir().unwrap();
    let base_models = work.path().join("base-models");
    reference::make_base_models(&base_models);
    let evaluator = reference::sibling("crucible-eval");
    let h = Harness::start_with(&[
        "--evaluator",
        evaluator.to_str().unwrap(),
        "--base-models",
        base_models.to_str().unwrap(),
        // Recipes build and run on this machine's Docker engine; each run has 6 s.
        "--trainers",
        "local",
        "--trainer-mib",
        "2048",
        "--hour-ms",
        "6000",
        "--tournament-registration-secs",
        "3",
        "--tournament-min-entrants",
        "3",
    ])
    .await;
    let data_dir = h.data.path().to_str().unwrap().to_string();
    let key = end2end::admin_key(&["--data-dir", data_dir.as_str()], "ops@example.org");
    let dataset = end2end::ready_dataset(&h.base, &h.base, &key, 60).await;
    let mut recipes = reference::tournament_recipes(work.path());
    recipes.push(("crashes", testkit::recipes::probe(work.path(), "crash")));
    let entrants = reference::built_recipes(std::slice::from_ref(&h.base), &recipes, 60).await;
    let request = json!({"dataset_id": dataset, "model_id": "crucible/reference-tiny", "hours": 1});
    let (status, opened) =
        end2end::post_json(&format!("{}/api/v1/tournaments", h.base), &key, &request).await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["id"].as_str().unwrap().to_string();
    for (keys, recipe) in &entrants {
        let enter = format!("{}/api/v1/miner/tournaments/{id}/entries", h.base);
        let body = json!({"recipe_id": recipe}).to_string();
        let (status, answer) = end2end::signed("POST", &enter, keys, body.as_bytes(), &[])
            .await
            .unwrap();
        assert_eq!(status, 201, "{answer}");
    }

    h.goto(&format!("/tournaments/{id}")).await;
    h.wait_for_text("[data-test=tournament-state]", "pending")
        .await;
    let started = Instant::now();
    end2end::wait_until("the tournament completes", 300, async || {
        let bracket = end2end::get_json(&format!("{}/api/v1/tournaments/{id}", h.base), &key).await;
        bracket.is_some_and(|b| b["state"] == "completed" || b["state"] == "cancelled")
    })
    .await;
    eprintln!(
        "three recipes played in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    h.goto(&format!("/tournaments/{id}")).await;
    h.wait_for_text("[data-test=tournament-state]", "completed")
        .await;
    let winner = h.text("[data-test=tournament-winner]").await;
    assert!(
        winner.contains("steady") || winner.contains("timid"),
        "{winner}"
    );
    let bracket = h.text("[data-test=bracket]").await;
    assert!(
        bracket.contains("Round 1") && bracket.contains("Round 2"),
        "{bracket}"
    );
    assert!(
        bracket.contains("failed: the recipe ended with Signalled"),
        "the crash is shown with its reason: {bracket}"
    );
    assert!(bracket.contains("a bye"), "{bracket}");
    h.screenshot("14-tournament-bracket").await;

    h.click("[data-test=tournament-winner] a").await;
    h.wait_for_text("h1", "A champion's recipe").await;
    let files = h.text("main").await;
    assert!(
        files.contains("Dockerfile") && files.contains("crucible-train"),
        "{files}"
    );
    h.screenshot("15-champions-recipe").await;

    // Champion mode: a customer has the champion's recipe train their task instead of a miner pool.
    h.sign_up("champion-mode@example.org").await;
    h.ready_dataset("faq", &faq_csv(100)).await;
    h.review_task("crucible/reference-tiny", "1").await;
    h.click("[data-test='run-by-champion']").await;
    h.click("[data-test='review-task']").await;
    h.wait_for_text(
        "[data-test='plan-champion']",
        "The reigning champion's recipe",
    )
    .await;
    let plan = h.text("[data-test='plan-champion']").await;
    let champion = if winner.contains("steady") {
        "steady"
    } else {
        "timid"
    };
    assert!(
        plan.contains(&format!("recipe {champion} (miner")),
        "{plan}"
    );
    h.screenshot("16-task-summary-champion").await;
    h.confirm_task().await;
    h.wait_for_text_within("[data-test='task-state']", "success", 120)
        .await;
    let events = h.text("main").await;
    assert!(
        events.contains(&format!(
            "the champion's recipe {champion} trained a model in"
        )),
        "{events}"
    );
    h.browser
        .find(Locator::Css("[data-test='download-winner']"))
        .await
        .expect("the champion's model is offered for download");
    h.screenshot("17-task-trained-by-champion").await;
}
