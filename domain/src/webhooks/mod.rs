//! Webhooks: a customer registers a URL and a secret; every time one of their tasks ends, each of their
//! webhooks gets a POST of the task as JSON, signed with `X-Crucible-Signature: sha256=HMAC-SHA256(secret,
//! body)` in hex, and as Standard Webhooks sign (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
//! Deliveries are background jobs, retried with backoff up to 4 attempts, and every delivery keeps its
//! attempts and last answer for the customer to read. They reach only public addresses ([`reach`]).

mod post;
pub mod reach;

pub use post::{signature, standard_signature};
pub use reach::Reach;

use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use crate::accounts::User;
use crate::clock::{Millis, now_ms};
use crate::db::{
    self, Database,
    webhooks::{DeliveryRow, WebhookRow},
};
use crate::error::{Error, Result};
use crate::queue::{self, Job, Queue};
use crate::states::DeliveryState;

/// What registering webhooks and delivering to them needs.
#[derive(Clone, Debug)]
pub struct Deliveries {
    pub db: Database,
    /// Where deliveries may go: public addresses only, unless tests or development allow more.
    pub reach: Reach,
    /// Seals the webhooks' secrets in the database.
    pub vault: crate::vault::Vault,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: String,
    pub url: String,
    pub created_at: Millis,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: String,
    pub task_id: String,
    /// `task.success`, `task.failure`, `task.cancelled`, …
    pub event: String,
    pub attempts: i64,
    pub state: DeliveryState,
    /// The last answer: its HTTP status or why there was none.
    pub last_answer: Option<String>,
    pub updated_at: Millis,
}

impl From<WebhookRow> for Webhook {
    fn from(row: WebhookRow) -> Self {
        Webhook {
            id: row.id,
            url: row.url,
            created_at: row.created_at,
        }
    }
}

/// Registers a webhook; a URL whose host is written as an address deliveries may not reach is refused
/// here (a name is checked at each delivery, as what it resolves to may change). The secret is stored
/// sealed by the platform's vault.
pub async fn create(
    deliveries: &Deliveries,
    owner: &User,
    url: &str,
    secret: &str,
) -> Result<Webhook> {
    let parsed = url::Url::parse(url.trim())
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            Error::invalid(
                "url",
                "give the full http:// or https:// address to POST to",
            )
        })?;
    deliveries
        .reach
        .check_literal(&parsed)
        .map_err(|why| Error::invalid("url", why))?;
    if secret.len() < 16 {
        return Err(Error::invalid(
            "secret",
            "the secret must be at least 16 characters: it signs every delivery",
        ));
    }
    let id = uuid::Uuid::now_v7().to_string();
    let row = WebhookRow {
        secret: deliveries.vault.seal(secret, &id),
        id,
        owner_id: owner.id.clone(),
        url: parsed.to_string(),
        created_at: now_ms(),
    };
    db::webhooks::insert(deliveries.db.pool(), &row).await?;
    Ok(row.into())
}

/// Seals the secrets stored in clear before secrets were sealed; run at start-up, safe to run twice
/// and on several replicas at once. Returns how many it sealed.
pub async fn seal_stored_secrets(deliveries: &Deliveries) -> Result<usize> {
    let mut sealed = 0;
    for (id, secret) in db::webhooks::unsealed(deliveries.db.pool(), crate::vault::SEALED).await? {
        let new = deliveries.vault.seal(&secret, &id);
        if db::webhooks::replace_secret(deliveries.db.pool(), &id, &secret, &new).await? {
            sealed += 1;
        }
    }
    Ok(sealed)
}

pub async fn list(db: &Database, owner: &User) -> Result<Vec<Webhook>> {
    Ok(db::webhooks::for_owner(db.pool(), &owner.id)
        .await?
        .into_iter()
        .map(Webhook::from)
        .collect())
}

pub async fn delete(db: &Database, owner: &User, id: &str) -> Result<()> {
    if !db::webhooks::delete(db.pool(), &owner.id, id).await? {
        return Err(Error::NotFound("webhook"));
    }
    Ok(())
}

/// The owner's webhook's deliveries, newest first.
pub async fn deliveries(db: &Database, owner: &User, id: &str) -> Result<Vec<Delivery>> {
    let webhook = db::webhooks::by_id(db.pool(), id)
        .await?
        .filter(|w| w.owner_id == owner.id)
        .ok_or(Error::NotFound("webhook"))?;
    Ok(db::webhooks::deliveries(db.pool(), &webhook.id)
        .await?
        .into_iter()
        .map(|d| Delivery {
            id: d.id,
            task_id: d.task_id,
            event: d.event,
            attempts: d.attempts,
            state: d.state,
            last_answer: d.last_answer,
            updated_at: d.updated_at,
        })
        .collect())
}

/// Announces ended tasks: takes each event from the tasks' outbox, once on any number of replicas, and
/// queues a delivery for each of the task owner's webhooks in the same transaction. How many it took.
pub async fn relay_ended_tasks(db: &Database) -> Result<usize> {
    let mut relayed = 0;
    for ended in db::tasks::outbox(db.pool(), 100).await? {
        let mut tx = db.pool().begin().await?;
        if db::tasks::take_from_outbox(&mut *tx, &ended.event_id).await? {
            task_ended(&mut tx, &ended).await?;
            relayed += 1;
        }
        tx.commit().await?;
    }
    Ok(relayed)
}

/// A delivery and its job for each of the ended task's owner's webhooks.
async fn task_ended(tx: &mut Transaction<'_, Any>, ended: &db::tasks::OutboxRow) -> Result<()> {
    let (task_id, reason, now) = (ended.task_id.as_str(), ended.reason.as_str(), ended.at);
    let Some(task) = db::tasks::by_id(&mut **tx, task_id).await? else {
        return Ok(());
    };
    let event = format!("task.{}", ended.state);
    let payload = serde_json::json!({
        "event": event,
        "task_id": task_id,
        "state": ended.state,
        "reason": reason,
        "model_id": task.model_id,
        "task_type": task.task_type,
        "at": now,
    })
    .to_string();
    for webhook in db::webhooks::for_owner(&mut **tx, &task.owner_id).await? {
        let delivery = DeliveryRow {
            id: uuid::Uuid::now_v7().to_string(),
            webhook_id: webhook.id,
            task_id: task_id.to_string(),
            event: event.clone(),
            payload: payload.clone(),
            attempts: 0,
            state: DeliveryState::Pending,
            last_answer: None,
            created_at: now,
            updated_at: now,
        };
        if db::webhooks::insert_delivery(&mut **tx, &delivery).await? {
            let job = DeliverWebhook {
                delivery_id: delivery.id.clone(),
            };
            queue::enqueue(&mut **tx, &job, now).await?;
        }
    }
    Ok(())
}

/// The job that POSTs one delivery.
#[derive(Debug, Serialize, Deserialize)]
pub struct DeliverWebhook {
    pub delivery_id: String,
}

impl Job for DeliverWebhook {
    const NAME: &'static str = "deliver_webhook";
    const QUEUE: Queue = Queue::Fast;
    type Context = Deliveries;

    fn subject(&self) -> &str {
        &self.delivery_id
    }

    async fn run(self, deliveries: Deliveries) -> Result<()> {
        deliver(&deliveries, &self.delivery_id).await
    }
}

/// POSTs delivery `id`; an answer other than 2xx is an error (retried by the job queue with backoff)
/// until the last attempt, which marks the delivery failed.
pub async fn deliver(deliveries: &Deliveries, id: &str) -> Result<()> {
    let Some(delivery) = db::webhooks::delivery(deliveries.db.pool(), id).await? else {
        return Ok(());
    };
    if delivery.state != DeliveryState::Pending {
        return Ok(());
    }
    let Some(webhook) = db::webhooks::by_id(deliveries.db.pool(), &delivery.webhook_id).await?
    else {
        return Ok(());
    };
    let attempts = delivery.attempts + 1;
    let secret = deliveries.vault.open(&webhook.secret, &webhook.id)?;
    let outgoing = post::Outgoing {
        url: &webhook.url,
        secret: secret.expose(),
        delivery_id: &delivery.id,
        event: &delivery.event,
        body: delivery.payload.as_bytes(),
        timestamp_secs: now_ms() / 1000,
    };
    let answer = post::post(deliveries.reach, &outgoing).await;
    let (state, text) = match &answer {
        Ok(status) if (200..300).contains(status) => {
            (DeliveryState::Delivered, format!("HTTP {status}"))
        }
        Ok(status) => (DeliveryState::Pending, format!("HTTP {status}")),
        Err(why) => (DeliveryState::Pending, why.clone()),
    };
    let state = if state == DeliveryState::Pending && attempts >= DeliverWebhook::MAX_ATTEMPTS {
        DeliveryState::Failed
    } else {
        state
    };
    db::webhooks::record_attempt(deliveries.db.pool(), id, attempts, state, &text, now_ms())
        .await?;
    if state == DeliveryState::Pending {
        return Err(Error::Internal(format!(
            "webhook delivery {id}: {text}; will retry"
        )));
    }
    Ok(())
}
