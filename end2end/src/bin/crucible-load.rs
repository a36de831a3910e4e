//! `crucible-load`: the fan-out benchmark. Starts `crucible serve` (SQLite, or PostgreSQL with
//! `--database-url`), registers `--miners` miners who each hold one keep-alive connection, long-poll for
//! offers and accept every one, then creates `--tasks` tasks and prints offers/s, the offer latency (from
//! the offer's creation in the server to its miner reading it) and the server's peak RSS.
//!
//! Run by `scripts/bench-load.sh`, which builds the release binaries and starts PostgreSQL.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use domain::clock::now_ms;
use end2end::{customer_key, free_port, listening, post_json, ready_dataset, start};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

struct Options {
    miners: u32,
    tasks: u32,
    database_url: Option<String>,
}

fn options() -> Options {
    let mut options = Options {
        miners: 10_000,
        tasks: 1_000,
        database_url: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--miners" => options.miners = value.parse().expect("--miners N"),
            "--tasks" => options.tasks = value.parse().expect("--tasks N"),
            "--database-url" => options.database_url = Some(value),
            other => panic!("unknown flag {other}; use --miners N --tasks N [--database-url URL]"),
        }
    }
    options
}

/// What the miners saw, shared between them.
#[derive(Default)]
struct Tally {
    latencies_ms: Mutex<Vec<i64>>,
    accepted: AtomicUsize,
    polling: AtomicUsize,
    errors: AtomicUsize,
    last_offer: Mutex<Option<Instant>>,
}

fn main() {
    let options = options();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(options));
}

async fn run(options: Options) {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let data_dir = data.path().to_str().unwrap().to_string();
    let mut storage = vec!["--data-dir", data_dir.as_str()];
    if let Some(url) = &options.database_url {
        storage.extend(["--database-url", url.as_str()]);
    }
    let mut flags = storage[2..].to_vec();
    // Offers stay open and windows last long enough that nothing closes during the measurement.
    flags.extend([
        "--offer-ttl-secs",
        "600",
        "--hour-ms",
        "600000",
        "--min-dataset-rows",
        "100",
    ]);
    let server = start(Path::new(&data_dir), port, &flags, &[]);
    listening(port).await;
    let database = if options.database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "crucible-load: {} miners, {} tasks, {database}",
        options.miners, options.tasks
    );

    let key = customer_key(&storage, "load@example.com");
    let dataset = ready_dataset(&base, &base, &key, 200).await;

    let tally = Arc::new(Tally::default());
    let registering = Arc::new(tokio::sync::Semaphore::new(64));
    let started = Instant::now();
    for index in 0..options.miners {
        let tally = tally.clone();
        let registering = registering.clone();
        tokio::spawn(async move {
            let permit = registering.acquire_owned().await.unwrap();
            let mut miner = Miner::register(port, index).await;
            drop(permit);
            tally.polling.fetch_add(1, Ordering::Relaxed);
            miner.poll_forever(&tally).await;
        });
    }
    while tally.polling.load(Ordering::Relaxed) < options.miners as usize {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "registered {} miners in {:.1} s; each now long-polls",
        options.miners,
        started.elapsed().as_secs_f64()
    );
    // Let the last long polls reach the server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "server RSS with every miner waiting: {} MiB (peak so far {} MiB)",
        status_kib(server.0.id(), "VmRSS:") / 1024,
        peak_rss_kib(server.0.id()) / 1024
    );

    let created = Instant::now();
    let creating = Arc::new(tokio::sync::Semaphore::new(16));
    let mut creations = tokio::task::JoinSet::new();
    for _ in 0..options.tasks {
        let permit = creating.clone().acquire_owned().await.unwrap();
        let (base, key, dataset) = (base.clone(), key.clone(), dataset.clone());
        creations.spawn(async move {
            let request = serde_json::json!({"dataset_id": dataset, "model_id": "Qwen/Qwen2.5-0.5B-Instruct", "hours_to_complete": 1});
            let (status, answer) = post_json(&format!("{base}/api/v1/tasks"), &key, &request).await;
            assert_eq!(status, 201, "creating a task: {answer}");
            drop(permit);
        });
    }
    creations.join_all().await;
    let creation = created.elapsed();

    // Until every task's pool is full, or nothing new arrives for 10 s.
    let expected = options.tasks as usize * 15;
    let mut last_count = 0;
    let mut quiet_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let count = tally.latencies_ms.lock().unwrap().len();
        if count >= expected {
            break;
        }
        if count != last_count {
            last_count = count;
            quiet_since = Instant::now();
        } else if quiet_since.elapsed() > Duration::from_secs(10) {
            println!("no new offers for 10 s: stopping at {count} of {expected}");
            break;
        }
    }

    let peak_rss_mib = peak_rss_kib(server.0.id()) / 1024;
    let mut latencies = tally.latencies_ms.lock().unwrap().clone();
    latencies.sort_unstable();
    let spread = tally
        .last_offer
        .lock()
        .unwrap()
        .map_or(Duration::ZERO, |last| last - created);
    let delivered = latencies.len();
    println!(
        "created {} tasks in {:.1} s",
        options.tasks,
        creation.as_secs_f64()
    );
    println!(
        "offers delivered: {delivered} of {expected} in {:.1} s = {:.0} offers/s; accepted {}; request errors {}",
        spread.as_secs_f64(),
        delivered as f64 / spread.as_secs_f64().max(0.001),
        tally.accepted.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
    );
    println!(
        "offer latency: p50 {} ms, p99 {} ms, max {} ms (target p99 < 100 ms)",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0),
    );
    println!("server peak RSS: {peak_rss_mib} MiB (target < 300 MiB)");
    stop(server).await;
}

/// Stops the server as an operator does (SIGTERM), so that it may finish; killed after 30 s.
async fn stop(mut server: end2end::Server) {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status();
    for _ in 0..300 {
        if server.0.try_wait().ok().flatten().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// The process's peak resident memory, from `/proc`.
fn peak_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM:")
}

/// A memory figure of the process's `/proc/PID/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// One simulated miner on its own keep-alive connection.
struct Miner {
    keys: schnorrkel::Keypair,
    port: u16,
    connection: Option<BufReader<TcpStream>>,
    seen: HashSet<String>,
}

impl Miner {
    async fn register(port: u16, index: u32) -> Miner {
        let mut seed = [7u8; 32];
        seed[..4].copy_from_slice(&index.to_le_bytes());
        let keys = schnorrkel::MiniSecretKey::from_bytes(&seed)
            .unwrap()
            .expand_to_keypair(schnorrkel::ExpansionMode::Ed25519);
        let mut miner = Miner {
            keys,
            port,
            connection: None,
            seen: HashSet::new(),
        };
        let body = br#"{"task_types": ["instruct"], "max_parameters": 8000000000}"#;
        loop {
            match miner.send("POST", "/api/v1/miner/register", body).await {
                Ok((200, _)) => return miner,
                Ok((status, answer)) => panic!("registering a miner: {status} {answer}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    async fn poll_forever(&mut self, tally: &Tally) {
        loop {
            let offers = match self.send("GET", "/api/v1/miner/offers?wait=30", b"").await {
                Ok((200, answer)) => answer["offers"].as_array().cloned().unwrap_or_default(),
                _ => {
                    tally.errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let read_at = now_ms();
            for offer in offers {
                let id = offer["id"].as_str().unwrap_or_default().to_string();
                if !self.seen.insert(id.clone()) {
                    continue;
                }
                let offered_at = offer["offered_at"].as_i64().unwrap_or(read_at);
                tally
                    .latencies_ms
                    .lock()
                    .unwrap()
                    .push(read_at - offered_at);
                *tally.last_offer.lock().unwrap() = Some(Instant::now());
                let path = format!("/api/v1/miner/offers/{id}/accept");
                match self.send("POST", &path, b"").await {
                    Ok((200, _)) => {
                        tally.accepted.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        tally.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    /// One signed request on the miner's connection (opened again when it was closed).
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, Value)> {
        if self.connection.is_none() {
            let stream = TcpStream::connect(("127.0.0.1", self.port)).await?;
            self.connection = Some(BufReader::new(stream));
        }
        let result = self.exchange(method, path, body).await;
        if result.is_err() {
            self.connection = None;
        }
        result
    }

    async fn exchange(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<(u16, Value)> {
        let signed = domain::miners::epistula::sign(&self.keys, body, now_ms(), None);
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n\
             Content-Type: application/json\r\nEpistula-Version: 2\r\nEpistula-Timestamp: {}\r\n\
             Epistula-Uuid: {}\r\nEpistula-Signed-By: {}\r\nEpistula-Request-Signature: {}\r\n\r\n",
            self.port,
            body.len(),
            signed.timestamp.unwrap_or_default(),
            signed.uuid.unwrap_or_default(),
            signed.signed_by.unwrap_or_default(),
            signed.signature.unwrap_or_default(),
        );
        let connection = self.connection.as_mut().expect("connected");
        connection.get_mut().write_all(head.as_bytes()).await?;
        connection.get_mut().write_all(body).await?;
        let mut line = String::new();
        connection.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("not a status line: {line:?}")))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if connection.read_line(&mut line).await? == 0 {
                return Err(std::io::Error::other("the connection closed"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut answer = vec![0; length];
        connection.read_exact(&mut answer).await?;
        Ok((
            status,
            serde_json::from_slice(&answer).unwrap_or(Value::Null),
        ))
    }
}
