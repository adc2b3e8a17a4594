//! The outbox's bookkeeping: events as leased by the dispatcher, how an attempt ended and how
//! that is written back, dead letters and figures for metrics.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// An event waiting in, or claimed from, the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    /// Position in the outbox: the delivery order.
    pub sequence: i64,
    pub id: Uuid,
    pub event_type: String,
    pub user_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// The envelope JSON, exactly as it is delivered.
    pub payload: String,
    /// Delivery attempts made so far.
    pub attempts: u32,
    /// Sinks that already accepted the event; a retry skips them.
    pub delivered_sinks: Vec<String>,
}

/// A user event whose delivery gave up after its last attempt (as the admin API shows it).
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeadLetter {
    /// Position in the outbox (the page cursor), not shown.
    #[serde(skip)]
    pub sequence: i64,
    /// The event id (consumers' idempotency key).
    pub id: Uuid,
    #[serde(rename = "type")]
    #[cfg_attr(feature = "openapi", schema(example = "user.registered"))]
    pub event_type: String,
    pub user_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    pub attempts: u32,
    /// Why the last attempt failed (secret-free).
    pub last_error: Option<String>,
    pub failed_at: DateTime<Utc>,
    /// Sinks that did accept the event; a retry skips them.
    pub delivered_sinks: Vec<String>,
}

/// How a delivery attempt ended, as the dispatcher reports it back to the outbox.
#[derive(Debug, Clone)]
pub enum DeliveryResult {
    /// Every sink accepted the event.
    Delivered,
    /// Some sink refused: try again at `retry_at`, keeping what was delivered.
    Retry { delivered_sinks: Vec<String>, error: String, retry_at: DateTime<Utc> },
    /// Out of attempts: dead-letter until an administrator retries it.
    GiveUp { delivered_sinks: Vec<String>, error: String },
}

/// How a delivery result is written to the outbox row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// `pending`, `delivered` or `dead`.
    pub state: &'static str,
    /// Comma-joined sinks that accepted the event; `None` keeps what is stored.
    pub delivered_sinks: Option<String>,
    pub error: Option<String>,
    /// When to try again; `None` keeps what is stored.
    pub retry_at: Option<DateTime<Utc>>,
}

impl DeliveryResult {
    pub fn record(self) -> DeliveryRecord {
        match self {
            DeliveryResult::Delivered => {
                DeliveryRecord { state: "delivered", delivered_sinks: None, error: None, retry_at: None }
            }
            DeliveryResult::Retry { delivered_sinks, error, retry_at } => DeliveryRecord {
                state: "pending",
                delivered_sinks: Some(join_sinks(&delivered_sinks)),
                error: Some(error),
                retry_at: Some(retry_at),
            },
            DeliveryResult::GiveUp { delivered_sinks, error } => DeliveryRecord {
                state: "dead",
                delivered_sinks: Some(join_sinks(&delivered_sinks)),
                error: Some(error),
                retry_at: None,
            },
        }
    }
}

/// Outbox figures for metrics.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboxStats {
    pub pending: u64,
    pub dead: u64,
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// Sink keys are stored comma-separated; keys never contain a comma (see the dispatcher).
pub fn join_sinks(sinks: &[String]) -> String {
    sinks.join(",")
}

pub fn split_sinks(stored: &str) -> Vec<String> {
    stored.split(',').filter(|sink| !sink.is_empty()).map(str::to_owned).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_lists_round_trip() {
        let sinks = vec!["redis:auth:events".to_owned(), "webhook:1".to_owned()];
        assert_eq!(split_sinks(&join_sinks(&sinks)), sinks);
        assert!(split_sinks("").is_empty());
    }
}
