//! The database session store, on SQLite and PostgreSQL.

use domain::session_store::DbSessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::SessionStore;

fn record(expiry: time::OffsetDateTime) -> Record {
    let mut data = std::collections::HashMap::new();
    data.insert("user_id".to_string(), serde_json::json!("u-1"));
    Record {
        id: Id::default(),
        data,
        expiry_date: expiry,
    }
}

testkit::on_both_databases! {
    async fn a_session_survives_a_new_store(db: Database) {
        let mut saved = record(time::OffsetDateTime::now_utc() + time::Duration::hours(1));
        DbSessionStore::new(db.clone()).create(&mut saved).await.unwrap();
        // A second store over the same database, as after a restart or on another replica.
        let loaded = DbSessionStore::new(db.clone()).load(&saved.id).await.unwrap().unwrap();
        assert_eq!(loaded.data, saved.data);
        DbSessionStore::new(db).delete(&saved.id).await.unwrap();
    }

    async fn expired_sessions_are_not_loaded_and_are_swept(db: Database) {
        let store = DbSessionStore::new(db);
        let mut old = record(time::OffsetDateTime::now_utc() - time::Duration::seconds(1));
        store.create(&mut old).await.unwrap();
        assert!(store.load(&old.id).await.unwrap().is_none());
        assert_eq!(store.delete_expired().await.unwrap(), 1);
    }
}
