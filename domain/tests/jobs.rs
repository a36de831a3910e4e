//! The job queue on both databases: claiming, leases, retries, and no job claimed twice.

use domain::db::{self, Database};

async fn enqueue(db: &Database, subject: &str, now: i64) -> String {
    db::jobs::enqueue(db.pool(), "validate_dataset", subject, 4, now)
        .await
        .unwrap()
}

async fn claim(db: &Database, now: i64) -> Option<db::jobs::JobRow> {
    db::jobs::claim(db.pool(), db.backend(), now, now + 60_000)
        .await
        .unwrap()
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
}
