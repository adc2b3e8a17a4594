//! The outbox: events are inserted inside the callers' transactions; the dispatcher claims them
//! with `FOR UPDATE SKIP LOCKED` so concurrent instances never wait on, or share, an event.

use async_trait::async_trait;
use auth_core::error::StoreError;
use auth_core::events::{DeadLetter, DeliveryResult, OutboxEvent, OutboxStats, UserEvent, split_sinks};
use auth_core::ports::EventStore;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::PgStore;
use crate::errors::store_error;

/// Appends events to the outbox inside the caller's transaction.
pub(crate) async fn insert_events(connection: &mut PgConnection, events: &[UserEvent]) -> Result<(), StoreError> {
    for event in events {
        sqlx::query(
            "INSERT INTO events (id, event_type, user_id, occurred_at, payload, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $4)",
        )
        .bind(event.id)
        .bind(event.event_type)
        .bind(event.user_id)
        .bind(event.occurred_at)
        .bind(event.to_json())
        .execute(&mut *connection)
        .await
        .map_err(store_error)?;
    }
    Ok(())
}

fn outbox_event_from_row(row: &PgRow) -> Result<OutboxEvent, StoreError> {
    let attempts: i32 = row.try_get("attempts").map_err(store_error)?;
    let delivered: String = row.try_get("delivered_sinks").map_err(store_error)?;
    Ok(OutboxEvent {
        sequence: row.try_get("sequence").map_err(store_error)?,
        id: row.try_get("id").map_err(store_error)?,
        event_type: row.try_get("event_type").map_err(store_error)?,
        user_id: row.try_get("user_id").map_err(store_error)?,
        occurred_at: row.try_get("occurred_at").map_err(store_error)?,
        payload: row.try_get("payload").map_err(store_error)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        delivered_sinks: split_sinks(&delivered),
    })
}

fn dead_letter_from_row(row: &PgRow) -> Result<DeadLetter, StoreError> {
    let attempts: i32 = row.try_get("attempts").map_err(store_error)?;
    let delivered: String = row.try_get("delivered_sinks").map_err(store_error)?;
    Ok(DeadLetter {
        sequence: row.try_get("sequence").map_err(store_error)?,
        id: row.try_get("id").map_err(store_error)?,
        event_type: row.try_get("event_type").map_err(store_error)?,
        user_id: row.try_get("user_id").map_err(store_error)?,
        occurred_at: row.try_get("occurred_at").map_err(store_error)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
        last_error: row.try_get("last_error").map_err(store_error)?,
        failed_at: row.try_get("finished_at").map_err(store_error)?,
        delivered_sinks: split_sinks(&delivered),
    })
}

#[async_trait]
impl EventStore for PgStore {
    async fn claim_events(
        &self,
        worker: Uuid,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        // Only the oldest pending event of each user is deliverable, so a user's events arrive
        // in order even when several instances dispatch.
        let rows = sqlx::query(
            "UPDATE events SET locked_by = $1, locked_until = $3 WHERE sequence IN ( \
               SELECT e.sequence FROM events e \
               WHERE e.state = 'pending' AND e.next_attempt_at <= $2 \
                 AND (e.locked_until IS NULL OR e.locked_until < $2) \
                 AND NOT EXISTS (SELECT 1 FROM events p \
                                 WHERE p.user_id = e.user_id AND p.state = 'pending' AND p.sequence < e.sequence) \
               ORDER BY e.sequence LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING sequence, id, event_type, user_id, occurred_at, payload, attempts, delivered_sinks",
        )
        .bind(worker)
        .bind(now)
        .bind(lease_until)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut events = rows.iter().map(outbox_event_from_row).collect::<Result<Vec<_>, _>>()?;
        events.sort_by_key(|event| event.sequence);
        Ok(events)
    }

    async fn finish_delivery(
        &self,
        worker: Uuid,
        sequence: i64,
        result: DeliveryResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let record = result.record();
        sqlx::query(
            "UPDATE events SET state = $3, attempts = attempts + 1, \
               delivered_sinks = COALESCE($4, delivered_sinks), last_error = COALESCE($5, last_error), \
               next_attempt_at = COALESCE($6, next_attempt_at), \
               finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE $7 END, \
               locked_by = NULL, locked_until = NULL \
             WHERE sequence = $1 AND locked_by = $2 AND state = 'pending'",
        )
        .bind(sequence)
        .bind(worker)
        .bind(record.state)
        .bind(record.delivered_sinks)
        .bind(record.error)
        .bind(record.retry_at)
        .bind(now)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(store_error)
    }

    async fn list_dead_letters(&self, after: Option<i64>, limit: u32) -> Result<Vec<DeadLetter>, StoreError> {
        let rows = sqlx::query(
            "SELECT sequence, id, event_type, user_id, occurred_at, attempts, last_error, finished_at, delivered_sinks \
             FROM events WHERE state = 'dead' AND ($1::bigint IS NULL OR sequence > $1) ORDER BY sequence LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(dead_letter_from_row).collect()
    }

    async fn retry_dead_letter(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let retried = sqlx::query(
            "UPDATE events SET state = 'pending', attempts = 0, next_attempt_at = $2, finished_at = NULL \
             WHERE id = $1 AND state = 'dead'",
        )
        .bind(id)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(retried.rows_affected() > 0)
    }

    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let row = sqlx::query(
            "SELECT count(*) FILTER (WHERE state = 'pending') AS pending, \
                    count(*) FILTER (WHERE state = 'dead') AS dead, \
                    min(occurred_at) FILTER (WHERE state = 'pending') AS oldest \
             FROM events WHERE state IN ('pending', 'dead')",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        let pending: i64 = row.try_get("pending").map_err(store_error)?;
        let dead: i64 = row.try_get("dead").map_err(store_error)?;
        Ok(OutboxStats {
            pending: u64::try_from(pending).unwrap_or(0),
            dead: u64::try_from(dead).unwrap_or(0),
            oldest_pending: row.try_get("oldest").map_err(store_error)?,
        })
    }

    async fn prune_events(&self, delivered_before: DateTime<Utc>) -> Result<u64, StoreError> {
        sqlx::query("DELETE FROM events WHERE state = 'delivered' AND finished_at < $1")
            .bind(delivered_before)
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
            .map_err(store_error)
    }
}
