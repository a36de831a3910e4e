//! Browser sessions kept in the platform's database, so that every replica sees every session and a
//! restart signs nobody out.

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, SessionStore};

use crate::clock::{Millis, now_ms};
use crate::db::{self, Database};

#[derive(Clone, Debug)]
pub struct DbSessionStore {
    db: Database,
}

impl DbSessionStore {
    pub fn new(db: Database) -> Self {
        DbSessionStore { db }
    }

    /// Deletes expired sessions; run periodically.
    pub async fn delete_expired(&self) -> Result<u64, sqlx::Error> {
        db::sessions::delete_expired(self.db.pool(), now_ms()).await
    }
}

fn backend(err: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(err.to_string())
}

fn encode(record: &Record) -> session_store::Result<(String, Millis)> {
    let data = serde_json::to_string(record)
        .map_err(|err| session_store::Error::Encode(err.to_string()))?;
    let expires_at =
        i64::try_from(record.expiry_date.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    Ok((data, expires_at))
}

#[async_trait]
impl SessionStore for DbSessionStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            let (data, expires_at) = encode(record)?;
            let id = record.id.to_string();
            if db::sessions::insert(self.db.pool(), &id, &data, expires_at)
                .await
                .map_err(backend)?
            {
                return Ok(());
            }
            // A 128-bit collision: draw another id rather than overwrite someone's session.
            record.id = Id::default();
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let (data, expires_at) = encode(record)?;
        db::sessions::upsert(self.db.pool(), &record.id.to_string(), &data, expires_at)
            .await
            .map_err(backend)
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let Some(data) = db::sessions::live(self.db.pool(), &id.to_string(), now_ms())
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        serde_json::from_str(&data)
            .map(Some)
            .map_err(|err| session_store::Error::Decode(err.to_string()))
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        db::sessions::delete(self.db.pool(), &id.to_string())
            .await
            .map_err(backend)
    }
}
