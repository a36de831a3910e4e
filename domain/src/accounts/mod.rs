//! Accounts: sign-up, sign-in with throttling, roles, and API keys.

mod api_keys;
mod email;
mod password;
mod role;

pub use api_keys::{
    ApiKey, NewApiKey, authenticate_api_key, create_api_key, list_api_keys, revoke_api_key,
};
pub use email::Email;
pub use password::Password;
pub use role::Role;

use serde::{Deserialize, Serialize};

use crate::clock::{Millis, now_ms};
use crate::db::{self, Database, users::UserRow};
use crate::error::{Error, Result, is_unique_violation};

/// Failed sign-ins allowed per account within [`THROTTLE_WINDOW_MS`]; the next one is refused.
pub const MAX_FAILED_SIGN_INS: i64 = 5;
pub const THROTTLE_WINDOW_MS: Millis = 60_000;

/// A signed-up person, as the rest of the platform sees them (no password hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
    pub role: Role,
    pub created_at: Millis,
}

impl TryFrom<UserRow> for User {
    type Error = Error;

    fn try_from(row: UserRow) -> Result<Self> {
        let role = Role::parse(&row.role).ok_or_else(|| {
            Error::Internal(format!("user {} has unknown role {}", row.id, row.role))
        })?;
        Ok(User {
            id: row.id,
            email: row.email,
            role,
            created_at: row.created_at,
        })
    }
}

impl User {
    /// Refuses anyone but an admin, saying what only an admin may do.
    pub fn require_admin(&self, what: &str) -> Result<()> {
        if self.role == Role::Admin {
            Ok(())
        } else {
            Err(Error::Forbidden(format!("only an admin may {what}")))
        }
    }
}

pub async fn sign_up(
    db: &Database,
    email: &Email,
    password: &Password,
    role: Role,
) -> Result<User> {
    let row = UserRow {
        id: uuid::Uuid::now_v7().to_string(),
        email: email.as_str().to_string(),
        password_hash: password.hash().await?,
        role: role.as_str().to_string(),
        created_at: now_ms(),
    };
    match db::users::insert(db.pool(), &row).await {
        Ok(()) => row.try_into(),
        Err(err) if is_unique_violation(&err) => Err(Error::Conflict {
            field: Some("email"),
            message: "an account with this email already exists; sign in instead".into(),
        }),
        Err(err) => Err(err.into()),
    }
}

/// Checks the password; refuses while the account has had too many recent failures.
pub async fn sign_in(db: &Database, email: &Email, password: &str) -> Result<User> {
    let now = now_ms();
    let (failures, oldest) =
        db::sign_in_failures::since(db.pool(), email.as_str(), now - THROTTLE_WINDOW_MS).await?;
    if failures >= MAX_FAILED_SIGN_INS {
        let wait_ms = oldest.map_or(THROTTLE_WINDOW_MS, |at| at + THROTTLE_WINDOW_MS - now);
        let retry_after_secs = u64::try_from(wait_ms.max(1_000) / 1_000).unwrap_or(60);
        return Err(Error::RateLimited {
            message: format!(
                "too many failed sign-ins for this account; wait {retry_after_secs} s and try again"
            ),
            retry_after_secs,
        });
    }
    let row = db::users::by_email(db.pool(), email.as_str()).await?;
    let stored_hash = row.as_ref().map(|r| r.password_hash.clone());
    if password::verify(password, stored_hash).await? {
        db::sign_in_failures::clear(db.pool(), email.as_str(), now - THROTTLE_WINDOW_MS).await?;
        return row
            .expect("a verified password belongs to a user")
            .try_into();
    }
    db::sign_in_failures::record(db.pool(), email.as_str(), now).await?;
    Err(Error::Unauthenticated("wrong email or password".into()))
}

pub async fn user_by_id(db: &Database, id: &str) -> Result<Option<User>> {
    db::users::by_id(db.pool(), id)
        .await?
        .map(User::try_from)
        .transpose()
}

pub async fn user_by_email(db: &Database, email: &Email) -> Result<Option<User>> {
    db::users::by_email(db.pool(), email.as_str())
        .await?
        .map(User::try_from)
        .transpose()
}
