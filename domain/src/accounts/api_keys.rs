//! API keys: `crk_` followed by 48 hex digits. Stored as a SHA-256 (the key has 192 random bits, so a
//! fast hash is safe and lookups need no scan); listed by prefix and name only.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::User;
use crate::clock::{Millis, now_ms};
use crate::db::{self, Database, api_keys::ApiKeyRow};
use crate::error::{Error, Result};
use crate::secret::Secret;

const KEY_MARK: &str = "crk_";
const PREFIX_LEN: usize = KEY_MARK.len() + 8;
pub const MAX_NAME_LEN: usize = 64;

/// An API key as its owner sees it in lists: never the key itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: Millis,
    pub last_used_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(row: ApiKeyRow) -> Self {
        ApiKey {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// A key just created: the only moment the full key exists outside its holder.
#[derive(Debug)]
pub struct NewApiKey {
    pub key: ApiKey,
    pub secret: Secret<String>,
}

pub async fn create_api_key(db: &Database, user: &User, name: &str) -> Result<NewApiKey> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(Error::invalid(
            "name",
            format!("give the key a name of 1 to {MAX_NAME_LEN} characters, e.g. \"ci-pipeline\""),
        ));
    }
    let mut random = [0u8; 24];
    rand::rng().fill_bytes(&mut random);
    let secret = format!("{KEY_MARK}{}", hex::encode(random));
    let row = ApiKeyRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user.id.clone(),
        name: name.to_string(),
        prefix: secret[..PREFIX_LEN].to_string(),
        created_at: now_ms(),
        last_used_at: None,
        revoked_at: None,
    };
    db::api_keys::insert(db.pool(), &row, &hash(&secret)).await?;
    Ok(NewApiKey {
        key: row.into(),
        secret: Secret::new(secret),
    })
}

pub async fn list_api_keys(db: &Database, user: &User) -> Result<Vec<ApiKey>> {
    Ok(db::api_keys::for_user(db.pool(), &user.id)
        .await?
        .into_iter()
        .map(ApiKey::from)
        .collect())
}

pub async fn revoke_api_key(db: &Database, user: &User, key_id: &str) -> Result<()> {
    if db::api_keys::revoke(db.pool(), &user.id, key_id, now_ms()).await? {
        Ok(())
    } else {
        Err(Error::NotFound("live API key"))
    }
}

/// The owner of `presented`, if it is a live key.
pub async fn authenticate_api_key(db: &Database, presented: &str) -> Result<Option<User>> {
    if !presented.starts_with(KEY_MARK) {
        return Ok(None);
    }
    db::api_keys::use_key(db.pool(), &hash(presented), now_ms())
        .await?
        .map(User::try_from)
        .transpose()
}

fn hash(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}
