//! Linking a hotkey to a browser account: the account is shown a challenge, signs it with the hotkey
//! (as `Keypair.sign` of the Bittensor key libraries does, or a browser wallet), and the signature
//! proves that whoever holds the account holds the key. The challenge carries its own expiry and a MAC
//! under the deployment's signing key, so nothing is stored until the link is made.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Declaration, Hotkey, Miner, epistula, register};
use crate::Platform;
use crate::accounts::User;
use crate::clock::{Millis, now_ms};
use crate::db;
use crate::error::{Error, Result};

/// How long a challenge may be signed after it is shown.
pub const CHALLENGE_TTL_MS: Millis = 30 * 60_000;

const PREFIX: &str = "crucible-link";

fn mac(platform: &Platform, user_id: &str, expires_at: Millis) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(platform.signing_key.expose())
        .expect("HMAC takes any key length");
    mac.update(format!("{PREFIX}:{user_id}:{expires_at}").as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

/// The text the account's holder signs with the hotkey to link it.
pub fn challenge(platform: &Platform, user: &User, now: Millis) -> String {
    let expires_at = now + CHALLENGE_TTL_MS;
    format!(
        "{PREFIX}:{}:{expires_at}:{}",
        user.id,
        mac(platform, &user.id, expires_at)
    )
}

/// Links `hotkey` to `user` when `signature` is the hotkey's signature of a challenge made for this
/// user that has not expired, registering the miner with `declaration` (or updating what it declared).
pub async fn link(
    platform: &Platform,
    user: &User,
    hotkey: &str,
    challenge: &str,
    signature: &str,
    declaration: Declaration,
) -> Result<Miner> {
    let hotkey = Hotkey::parse(hotkey).map_err(|why| {
        Error::invalid(
            "hotkey",
            format!("the hotkey is not an SS58 address: {why}"),
        )
    })?;
    let parts: Vec<&str> = challenge.trim().split(':').collect();
    let expires_at = match parts.as_slice() {
        [PREFIX, user_id, expires_at, tag] if *user_id == user.id => expires_at
            .parse::<Millis>()
            .ok()
            .filter(|at| mac(platform, &user.id, *at) == *tag),
        _ => None,
    }
    .ok_or_else(|| {
        Error::invalid(
            "challenge",
            "this is not a challenge this page gave you; sign the one shown",
        )
    })?;
    if now_ms() > expires_at {
        return Err(Error::invalid(
            "challenge",
            "the challenge has expired; sign the new one shown on the page",
        ));
    }
    epistula::verify_text(&hotkey, challenge.trim().as_bytes(), signature)
        .map_err(|refusal| Error::invalid("signature", refusal.to_string()))?;
    let taken = || Error::Conflict {
        field: Some("hotkey"),
        message: "this hotkey is linked to another account".into(),
    };
    if let Some(row) = db::miners::by_hotkey(platform.db.pool(), &hotkey.to_string()).await?
        && db::miners::owner_of(platform.db.pool(), &row.id)
            .await?
            .is_some_and(|owner| owner != user.id)
    {
        return Err(taken());
    }
    let miner = register(&platform.db, &hotkey, declaration).await?;
    if !db::miners::link_owner(platform.db.pool(), &miner.hotkey, &user.id, now_ms()).await? {
        return Err(taken());
    }
    Ok(miner)
}

/// The hotkeys linked to the account.
pub async fn linked(platform: &Platform, user: &User) -> Result<Vec<Miner>> {
    db::miners::owned_by(platform.db.pool(), &user.id)
        .await?
        .into_iter()
        .map(Miner::try_from)
        .collect()
}

/// What a linked hotkey has on now and has done: its open offers, the tasks it trains, its scores.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Dashboard {
    pub miner: Miner,
    pub offers: Vec<crate::tasks::Offer>,
    /// (task id, model id, task type, deadline)
    pub active: Vec<(String, String, String, Millis)>,
    /// Newest first, at most 50.
    pub scores: Vec<crate::scoring::audit::AuditScore>,
}

/// The dashboards of the account's linked hotkeys.
pub async fn dashboards(platform: &Platform, user: &User) -> Result<Vec<Dashboard>> {
    let mut dashboards = Vec::new();
    for miner in linked(platform, user).await? {
        let offers = crate::tasks::fan_out::open_offers(
            &platform.dispatch(),
            &miner,
            std::time::Duration::ZERO,
        )
        .await?;
        let active = db::offers::active_for_miner(platform.db.pool(), &miner.id)
            .await?
            .into_iter()
            .map(|a| (a.task_id, a.model_id, a.task_type, a.deadline_at))
            .collect();
        let scores = db::scores::for_miner(platform.db.pool(), &miner.id, 50)
            .await?
            .into_iter()
            .map(crate::scoring::audit::AuditScore::from)
            .collect();
        dashboards.push(Dashboard {
            miner,
            offers,
            active,
            scores,
        });
    }
    Ok(dashboards)
}
