//! The job queue on both databases: claiming by queue and priority, leases, retries, fencing, release
//! on shutdown, the database's clock, and no job claimed twice.

use std::sync::Arc;
use std::time::Duration;

use domain::db::{self, Database};
use domain::queue::{self, Job, Queue, Registry, Worker};

async fn enqueue_in(db: &Database, queue: &str, priority: i64, subject: &str, now: i64) -> String {
    let job = db::jobs::NewJob {
        kind: "validate_dataset",
        queue,
        subject_id: subject,
        payload: "{}",
        priority,
        max_attempts: 4,
        run_at: now,
    };
    db::jobs::enqueue(db.pool(), &job, now).await.unwrap()
}

async fn enqueue(db: &Database, subject: &str, now: i64) -> String {
    enqueue_in(db, "cpu", 0, subject, now).await
}

async fn claim_from(db: &Database, queues: &[&str], now: i64) -> Option<db::jobs::JobRow> {
    let claimant = db::jobs::Claimant {
        name: "test:1",
        queues,
    };
    db::jobs::claim(db.pool(), db.backend(), claimant, now, now + 60_000)
        .await
        .unwrap()
}

async fn claim(db: &Database, now: i64) -> Option<db::jobs::JobRow> {
    claim_from(db, &["fast", "cpu", "evaluation", "trainer"], now).await
}

/// A job for the worker tests: it records each run in `ran`, and when `stall_ms` is set it stalls that
/// long after its start, as a paused worker would, heartbeat and all.
#[derive(serde::Serialize, serde::Deserialize)]
struct Probe {
    name: String,
    stall_ms: u64,
}

#[derive(Clone, Default)]
struct Seen {
    ran: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Job for Probe {
    const NAME: &'static str = "probe";
    const QUEUE: Queue = Queue::Fast;
    type Context = Seen;

    fn subject(&self) -> &str {
        &self.name
    }

    async fn run(self, seen: Seen) -> domain::Result<()> {
        seen.ran.lock().unwrap().push(self.name.clone());
        tokio::time::sleep(Duration::from_millis(self.stall_ms)).await;
        Ok(())
    }
}

fn worker(db: &Database, seen: &Seen, lease_ms: i64) -> Worker {
    Worker {
        registry: Arc::new(Registry::default().register::<Probe>(seen.clone())),
        db: db.clone(),
        queues: vec![Queue::Fast],
        lease_ms,
    }
}

async fn states(db: &Database) -> Vec<(String, i64)> {
    db::jobs::counts(db.pool()).await.unwrap()
}

testkit::on_both_databases! {
    async fn jobs_are_claimed_oldest_first_and_once(db: Database) {
        let first = enqueue(&db, "a", 1_000).await;
        let second = enqueue(&db, "b", 2_000).await;
        assert_eq!(claim(&db, 5_000).await.unwrap().id, first);
        assert_eq!(claim(&db, 5_000).await.unwrap().id, second);
        assert!(claim(&db, 5_000).await.is_none(), "a claimed job is not claimed again while its lease holds");
    }

    async fn a_job_not_yet_due_waits(db: Database) {
        enqueue(&db, "a", 10_000).await;
        assert!(claim(&db, 9_999).await.is_none());
        assert!(claim(&db, 10_000).await.is_some());
    }

    async fn a_dead_workers_job_is_claimed_again_when_its_lease_ends(db: Database) {
        let id = enqueue(&db, "a", 1_000).await;
        let job = claim(&db, 1_000).await.unwrap();
        assert_eq!(job.attempts, 1);
        assert!(claim(&db, 60_999).await.is_none(), "still leased");
        let again = claim(&db, 61_001).await.unwrap();
        assert_eq!((again.id.as_str(), again.attempts), (id.as_str(), 2));
    }

    async fn a_failed_job_is_retried_at_its_time_then_given_up(db: Database) {
        enqueue(&db, "a", 1_000).await;
        let first = claim(&db, 1_000).await.unwrap();
        assert!(db::jobs::fail(db.pool(), &first, "storage was down", Some(20_000), 2_000).await.unwrap());
        assert!(claim(&db, 19_999).await.is_none());
        let second = claim(&db, 20_000).await.unwrap();
        assert!(db::jobs::fail(db.pool(), &second, "storage was down", None, 21_000).await.unwrap());
        assert!(claim(&db, 10_000_000).await.is_none(), "a job failed for good is not run again");
        assert_eq!(db::jobs::counts(db.pool()).await.unwrap(), vec![("failed".to_string(), 1)]);
    }

    async fn a_worker_whose_lease_lapsed_cannot_finish_fail_or_extend_its_successors_claim(db: Database) {
        enqueue(&db, "a", 1_000).await;
        let stalled = claim(&db, 1_000).await.unwrap();
        // The first worker stalls past its lease; another takes the job over.
        let successor = claim(&db, 61_001).await.unwrap();
        assert_eq!((successor.id.as_str(), successor.attempts), (stalled.id.as_str(), 2));
        assert_ne!(stalled.claim_token, successor.claim_token);
        // The stalled worker wakes up: its heartbeat, finish and failure all change nothing.
        assert!(!db::jobs::extend_lease(db.pool(), &stalled, 200_000).await.unwrap());
        assert!(!db::jobs::finish(db.pool(), &stalled, 62_000).await.unwrap());
        assert!(!db::jobs::fail(db.pool(), &stalled, "stale", Some(62_000), 62_000).await.unwrap());
        assert_eq!(db::jobs::counts(db.pool()).await.unwrap(), vec![("running".to_string(), 1)]);
        assert!(claim(&db, 62_000).await.is_none(), "still the successor's, under its own lease");
        // The successor's own claim is recorded.
        assert!(db::jobs::extend_lease(db.pool(), &successor, 200_000).await.unwrap());
        assert!(db::jobs::finish(db.pool(), &successor, 63_000).await.unwrap());
        assert_eq!(db::jobs::counts(db.pool()).await.unwrap(), vec![("done".to_string(), 1)]);
    }

    async fn concurrent_claimers_never_share_a_job(db: Database) {
        for i in 0..40 {
            enqueue(&db, &format!("s{i}"), i).await;
        }
        let claimers = (0..8).map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                while let Some(job) = claim(&db, 1_000).await {
                    mine.push(job.id);
                }
                mine
            })
        });
        let mut all: Vec<String> = Vec::new();
        for claimer in claimers {
            all.extend(claimer.await.unwrap());
        }
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!((count, all.len()), (40, 40), "each job claimed exactly once");
    }

    async fn a_worker_claims_only_its_own_queues_jobs_highest_priority_first(db: Database) {
        let evaluation = enqueue_in(&db, "evaluation", 0, "a", 1_000).await;
        let routine = enqueue_in(&db, "fast", 0, "b", 1_000).await;
        let urgent = enqueue_in(&db, "fast", 5, "c", 2_000).await;
        assert_eq!(claim_from(&db, &["fast"], 5_000).await.unwrap().id, urgent, "priority before age");
        assert_eq!(claim_from(&db, &["fast"], 5_000).await.unwrap().id, routine);
        assert!(claim_from(&db, &["fast"], 5_000).await.is_none(), "a fast worker never takes an evaluation");
        assert_eq!(claim_from(&db, &["evaluation"], 5_000).await.unwrap().id, evaluation);
    }

    async fn a_released_job_is_claimed_again_at_once_without_losing_an_attempt(db: Database) {
        enqueue(&db, "a", 1_000).await;
        let stopped = claim(&db, 1_000).await.unwrap();
        assert!(db::jobs::release(db.pool(), &stopped, 2_000).await.unwrap());
        assert!(!db::jobs::release(db.pool(), &stopped, 2_000).await.unwrap(), "a claim is released once");
        let again = claim(&db, 2_000).await.unwrap();
        assert_eq!(again.attempts, 1, "the stopped attempt does not count");
        assert!(!db::jobs::release(db.pool(), &stopped, 2_500).await.unwrap(), "nor can an old claim release its successor's");
        assert_eq!(states(&db).await, vec![("running".to_string(), 1)]);
    }

    async fn leases_are_timed_by_the_databases_clock(db: Database) {
        let ours = domain::clock::now_ms();
        let theirs = db.now().await.unwrap();
        assert!((theirs - ours).abs() < 5_000, "the database's {theirs} against this machine's {ours}");
        // On one machine the database's clock is never behind a reading of the server's taken before it,
        // or a job queued "now" would not be due at once.
        for _ in 0..300 {
            let before = domain::clock::now_ms();
            let after = db.now().await.unwrap();
            assert!(after >= before, "the database said {after} after the server said {before}");
        }
        // A worker claims with the database's time: a job due a minute from now by this machine's
        // clock is not claimed, one due now is.
        let seen = Seen::default();
        let worker = worker(&db, &seen, 60_000);
        let job = Probe { name: "later".into(), stall_ms: 0 };
        queue::enqueue_at(db.pool(), &job, theirs + 60_000, theirs).await.unwrap();
        assert!(!worker.run_next().await.unwrap());
        let job = Probe { name: "now".into(), stall_ms: 0 };
        queue::enqueue(db.pool(), &job, theirs).await.unwrap();
        assert!(worker.run_next().await.unwrap());
        assert_eq!(*seen.ran.lock().unwrap(), vec!["now".to_string()]);
    }

    async fn a_slow_workers_finish_is_refused_once_its_lease_lapsed_and_the_job_runs_on_under_its_successor(db: Database) {
        let seen = Seen::default();
        let now = db.now().await.unwrap();
        let job = Probe { name: "slow".into(), stall_ms: 1_500 };
        queue::enqueue(db.pool(), &job, now).await.unwrap();
        // The slow worker claims it and stalls. Its lease lapses meanwhile, as if it were paused with its
        // heartbeat (the row's lease is moved into the past), and a second worker takes the job over.
        let slow = tokio::spawn({
            let worker = worker(&db, &seen, 60_000);
            async move { worker.run_next().await.unwrap() }
        });
        while seen.ran.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sqlx::query("UPDATE jobs SET lease_until = 0").execute(db.pool()).await.unwrap();
        let successor = claim(&db, db.now().await.unwrap()).await.unwrap();
        assert_eq!(successor.attempts, 2);
        // The slow worker wakes and finishes: refused, the job stays its successor's.
        assert!(slow.await.unwrap(), "the slow worker ran its job");
        let (state, token): (String, String) = sqlx::query_as("SELECT state, claim_token FROM jobs")
            .fetch_one(db.pool()).await.unwrap();
        assert_eq!((state.as_str(), token.as_str()), ("running", successor.claim_token.as_str()), "the old worker's finish is refused");
        assert!(db::jobs::finish(db.pool(), &successor, db.now().await.unwrap()).await.unwrap());
        assert_eq!(states(&db).await, vec![("done".to_string(), 1)]);
    }

    async fn a_stopped_worker_releases_its_job_for_the_next_claim(db: Database) {
        let seen = Seen::default();
        let now = db.now().await.unwrap();
        let job = Probe { name: "long".into(), stall_ms: 60_000 };
        queue::enqueue(db.pool(), &job, now).await.unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let working = tokio::spawn(worker(&db, &seen, 60_000).work(Duration::from_millis(20), {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        }));
        while seen.ran.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(5), working).await.expect("the worker stops at once").unwrap();
        let (state, attempts): (String, i64) = sqlx::query_as("SELECT state, attempts FROM jobs")
            .fetch_one(db.pool()).await.unwrap();
        assert_eq!((state.as_str(), attempts), ("queued", 0), "released, not left to its lease");
        assert!(claim(&db, db.now().await.unwrap()).await.is_some(), "the next worker claims it at once");
    }
}
