//! Miners: who they are (an sr25519 hotkey), what they declare they take, and how their requests are
//! authenticated (Epistula v2, with a request seen before refused).

pub mod epistula;
pub mod hotkey;
pub mod link;

pub use hotkey::Hotkey;

use serde::{Deserialize, Serialize};

use crate::accounts::User;
use crate::admin_log;
use crate::clock::{Millis, now_ms};
use crate::datasets::TaskType;
use crate::db::{self, Database, miners::MinerRow};
use crate::error::{Error, Result};
use epistula::{Checked, Refusal, Signed, SignedHeaders};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Miner {
    pub id: String,
    /// The SS58 address.
    pub hotkey: String,
    pub task_types: Vec<TaskType>,
    pub max_parameters: u64,
    /// Why an admin suspended the miner; a suspended miner gets no offers.
    pub suspended_reason: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// What a miner declares it takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Declaration {
    pub task_types: Vec<TaskType>,
    /// The largest base model it trains, in parameters.
    pub max_parameters: u64,
}

impl TryFrom<MinerRow> for Miner {
    type Error = Error;

    fn try_from(row: MinerRow) -> Result<Miner> {
        Ok(Miner {
            task_types: serde_json::from_str(&row.task_types).map_err(|_| {
                Error::Internal(format!("miner {} has malformed task types", row.id))
            })?,
            max_parameters: u64::try_from(row.max_parameters).unwrap_or(0),
            id: row.id,
            hotkey: row.hotkey,
            suspended_reason: row.suspended_reason,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

/// Checks a request's headers, its time and whom it is for, and refuses a uuid seen before, before its
/// body is read. Nothing is recorded: once the caller has checked the signature against the body it
/// calls [`verify_body`], so a request nobody signed cannot use up a uuid.
pub async fn check_unseen(
    db: &Database,
    ours: &Hotkey,
    headers: &SignedHeaders,
) -> Result<Checked> {
    let checked = epistula::check_headers(headers, now_ms(), ours)
        .map_err(|refusal| Error::Unauthenticated(refusal.to_string()))?;
    if db::miners::request_seen(db.pool(), &checked.signed().uuid).await? {
        return Err(replayed(checked.signed()));
    }
    Ok(checked)
}

/// Checks the signature of a request [`check_unseen`] let through against its body's SHA-256 (hex), then
/// records its uuid; a request with the same uuid recorded first (a concurrent replay) makes this one
/// a replay.
pub async fn verify_body(db: &Database, checked: Checked, body_sha256_hex: &str) -> Result<Signed> {
    let signed = checked
        .verify(body_sha256_hex)
        .map_err(|refusal| Error::Unauthenticated(refusal.to_string()))?;
    let first_time = db::miners::note_request(
        db.pool(),
        &signed.uuid,
        &signed.hotkey.to_string(),
        now_ms(),
    )
    .await?;
    if first_time {
        Ok(signed)
    } else {
        Err(replayed(&signed))
    }
}

fn replayed(signed: &Signed) -> Error {
    Error::Unauthenticated(Refusal::Replayed(signed.uuid.clone()).to_string())
}

/// Registers the hotkey as a miner, or updates what it declared.
pub async fn register(db: &Database, hotkey: &Hotkey, declaration: Declaration) -> Result<Miner> {
    if declaration.task_types.is_empty() {
        return Err(Error::invalid(
            "task_types",
            "declare at least one task type you take: instruct, chat, dpo, grpo or image",
        ));
    }
    if declaration.max_parameters == 0 {
        return Err(Error::invalid(
            "max_parameters",
            "declare the largest model you train, in parameters (e.g. 8000000000)",
        ));
    }
    let mut task_types = declaration.task_types;
    task_types.sort();
    task_types.dedup();
    let now = now_ms();
    let row = MinerRow {
        id: uuid::Uuid::now_v7().to_string(),
        hotkey: hotkey.to_string(),
        task_types: serde_json::to_string(&task_types).expect("task types serialise"),
        max_parameters: i64::try_from(declaration.max_parameters).unwrap_or(i64::MAX),
        suspended_reason: None,
        created_at: now,
        updated_at: now,
    };
    db::miners::upsert(db.pool(), &row).await?;
    by_hotkey(db, hotkey)
        .await?
        .ok_or_else(|| Error::Internal("a miner just registered is missing".into()))
}

pub async fn by_hotkey(db: &Database, hotkey: &Hotkey) -> Result<Option<Miner>> {
    db::miners::by_hotkey(db.pool(), &hotkey.to_string())
        .await?
        .map(Miner::try_from)
        .transpose()
}

/// Suspends the miner with `reason` (it gets no offers), or reinstates it with `None`; `actor` (an
/// admin's email, or `admin_log::COMMAND_LINE`) is written to the admins' log with it.
pub async fn suspend(
    db: &Database,
    actor: &str,
    hotkey: &Hotkey,
    reason: Option<&str>,
) -> Result<()> {
    if reason.is_some_and(|r| r.trim().is_empty()) {
        return Err(Error::invalid("reason", "say why the miner is suspended"));
    }
    let hotkey = hotkey.to_string();
    let mut tx = db.pool().begin().await?;
    if !db::miners::set_suspension(&mut *tx, &hotkey, reason, now_ms()).await? {
        return Err(Error::NotFound("miner"));
    }
    let action = if reason.is_some() {
        "suspend_miner"
    } else {
        "reinstate_miner"
    };
    admin_log::record(&mut *tx, actor, action, &hotkey, reason.unwrap_or("")).await?;
    tx.commit().await?;
    Ok(())
}

/// Every miner, for admins.
pub async fn all(db: &Database, admin: &User) -> Result<Vec<Miner>> {
    admin.require_admin("list the miners")?;
    db::miners::all(db.pool())
        .await?
        .into_iter()
        .map(Miner::try_from)
        .collect()
}

/// `suspend`, by an admin in the browser.
pub async fn suspend_as(
    db: &Database,
    admin: &User,
    hotkey: &str,
    reason: Option<&str>,
) -> Result<()> {
    admin.require_admin("suspend or reinstate miners")?;
    let hotkey = Hotkey::parse(hotkey)
        .map_err(|why| Error::invalid("hotkey", format!("not an SS58 hotkey: {why}")))?;
    suspend(db, &admin.email, &hotkey, reason).await
}

/// Forgets request uuids old enough that their signatures are refused by time alone.
pub async fn forget_old_requests(db: &Database) -> Result<u64> {
    let before = now_ms() - 4 * epistula::MAX_SKEW_MS;
    Ok(db::miners::forget_requests(db.pool(), before).await?)
}
