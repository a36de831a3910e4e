//! The admins' audit log: every action an admin takes is recorded with who took it, on what, and why,
//! in the same transaction as the action itself, so the log and the platform never disagree.

use serde::{Deserialize, Serialize};
use sqlx::{Any, Executor};

use crate::accounts::User;
use crate::clock::{Millis, now_ms};
use crate::db::{self, Database, admin_actions::AdminActionRow};
use crate::error::Result;

/// Who acts from `crucible admin` on the command line, where nobody is signed in.
pub const COMMAND_LINE: &str = "command line";

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminAction {
    /// The admin's email, or [`COMMAND_LINE`].
    pub actor: String,
    /// What was done, e.g. `suspend_miner`.
    pub action: String,
    /// What it was done to: a hotkey, a model id, a job or task id.
    pub subject: String,
    /// The reason or the values given.
    pub detail: String,
    pub at: Millis,
}

/// Records that `actor` did `action` to `subject`; pass the transaction the action runs in.
pub async fn record<'e>(
    exec: impl Executor<'e, Database = Any>,
    actor: &str,
    action: &str,
    subject: &str,
    detail: &str,
) -> Result<()> {
    let row = AdminActionRow {
        id: uuid::Uuid::now_v7().to_string(),
        actor: actor.to_string(),
        action: action.to_string(),
        subject: subject.to_string(),
        detail: detail.to_string(),
        at: now_ms(),
    };
    db::admin_actions::insert(exec, &row).await?;
    Ok(())
}

/// The latest `limit` actions, newest first, for admins.
pub async fn recent(db: &Database, admin: &User, limit: i64) -> Result<Vec<AdminAction>> {
    admin.require_admin("read the admins' log")?;
    Ok(db::admin_actions::recent(db.pool(), limit)
        .await?
        .into_iter()
        .map(|row| AdminAction {
            actor: row.actor,
            action: row.action,
            subject: row.subject,
            detail: row.detail,
            at: row.at,
        })
        .collect())
}
