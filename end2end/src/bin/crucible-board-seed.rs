//! `crucible-board-seed --data-dir DIR [--miners N] [--scores N]`: fills a Crucible database with a
//! scored history for the leaderboard benchmark — N miners (10,000 by default) and N scored
//! submissions (100,000), ten per task, spread over the last 7 days with the points scoring gives
//! (one +3 per task, the rest 0 or −1). Rows are written straight to the tables, in batches, so a
//! seed takes seconds; `scripts/bench-leaderboard.sh` runs it and then `crucible serve` on the result.

use domain::clock::now_ms;
use domain::db::{Database, DatabaseUrl};
use rand::{Rng, SeedableRng};
use sqlx::Executor;

const PER_TASK: usize = 10;
const BATCH: usize = 500;
const WEEK_MS: i64 = 7 * 86_400_000;

struct Options {
    data_dir: std::path::PathBuf,
    miners: usize,
    scores: usize,
}

fn options() -> Options {
    let mut options = Options {
        data_dir: "crucible-data".into(),
        miners: 10_000,
        scores: 100_000,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--data-dir" => options.data_dir = value.into(),
            "--miners" => options.miners = value.parse().expect("--miners N"),
            "--scores" => options.scores = value.parse().expect("--scores N"),
            other => panic!("unknown flag {other}; use --data-dir DIR --miners N --scores N"),
        }
    }
    options
}

fn main() {
    let options = options();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(seed(options));
}

/// `INSERT INTO table (columns) VALUES …` for every row, `BATCH` rows a statement, in one transaction.
async fn insert_all(db: &Database, table: &str, columns: &str, rows: &[String]) {
    let mut tx = db.pool().begin().await.unwrap();
    for chunk in rows.chunks(BATCH) {
        let sql = format!(
            "INSERT INTO {table} ({columns}) VALUES {}",
            chunk.join(", ")
        );
        tx.execute(sql.as_str()).await.unwrap();
    }
    tx.commit().await.unwrap();
}

async fn seed(options: Options) {
    std::fs::create_dir_all(&options.data_dir).unwrap();
    let db = Database::connect(&DatabaseUrl::sqlite_file(
        &options.data_dir.join("crucible.db"),
    ))
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let now = now_ms();
    let mut rng = rand::rngs::StdRng::seed_from_u64(56);
    // Ids and hotkeys are made up: the leaderboard reads them as text and never checks them.
    insert_all(
        &db,
        "users",
        "id, email, password_hash, role, created_at",
        &[format!(
            "('bench-owner', 'bench@example.org', '!', 'customer', {now})"
        )],
    )
    .await;
    insert_all(
        &db,
        "datasets",
        "id, owner_id, name, state, format, size_bytes, sha256, columns, preview, created_at, updated_at",
        &[format!(
            "('bench-data', 'bench-owner', 'bench', 'ready', 'jsonl', 0, '', '[]', '[]', {now}, {now})"
        )],
    )
    .await;
    let miners: Vec<String> = (0..options.miners)
        .map(|i| {
            format!("('m{i:05}', 'hotkey-{i:05}', '[\"instruct\"]', 8000000000, {now}, {now})")
        })
        .collect();
    insert_all(
        &db,
        "miners",
        "id, hotkey, task_types, max_parameters, created_at, updated_at",
        &miners,
    )
    .await;
    let task_count = options.scores.div_ceil(PER_TASK);
    let types = ["instruct", "chat", "dpo", "grpo"];
    let tasks: Vec<(String, i64)> = (0..task_count)
        .map(|i| (format!("t{i:06}"), now - rng.random_range(0..WEEK_MS)))
        .collect();
    let task_rows: Vec<String> = tasks
        .iter()
        .enumerate()
        .map(|(i, (id, at))| {
            format!(
                "('{id}', 'bench-owner', 'bench-data', '{}', 'Qwen/Qwen2.5-0.5B-Instruct', 2, 'success', 8, 15, {at}, {at})",
                types[i % types.len()]
            )
        })
        .collect();
    insert_all(
        &db,
        "tasks",
        "id, owner_id, dataset_id, task_type, model_id, hours_to_complete, state, pool_min, pool_max, created_at, updated_at",
        &task_rows,
    )
    .await;
    let mut scores = Vec::with_capacity(options.scores);
    for (t, (task, at)) in tasks.iter().enumerate() {
        let mut pool: Vec<usize> = Vec::with_capacity(PER_TASK);
        while pool.len() < PER_TASK.min(options.miners) {
            let miner = rng.random_range(0..options.miners);
            if !pool.contains(&miner) {
                pool.push(miner);
            }
        }
        for (place, miner) in pool.into_iter().enumerate() {
            if scores.len() == options.scores {
                break;
            }
            let (points, rank) = match place {
                0 => (3, "1".to_string()),
                8 | 9 => (-1, "NULL".to_string()),
                _ => (0, (place + 1).to_string()),
            };
            scores.push(format!(
                "('s{t:06}-{place}', '{task}', 'm{miner:05}', {points}, {rank}, 'seeded for the benchmark', {at})"
            ));
        }
    }
    insert_all(
        &db,
        "scores",
        "id, task_id, miner_id, points, rank, reason, scored_at",
        &scores,
    )
    .await;
    println!(
        "seeded {} miners, {} tasks and {} scores in {:.1} s",
        options.miners,
        task_count,
        scores.len(),
        started.elapsed().as_secs_f64()
    );
}
