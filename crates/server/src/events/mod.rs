//! Delivery of the outbox: every instance runs a dispatcher that leases due events, hands
//! each to every sink that has not yet accepted it, and records the outcome. Delivery is at
//! least once; consumers deduplicate on the event `id`.

pub mod sinks;

use std::sync::Arc;
use std::time::{Duration, Instant};

use auth_core::clock::Clock;
use auth_core::events::{DeliveryResult, OutboxEvent};
use auth_core::ports::Store;
use futures::StreamExt;
use rand::Rng;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use sinks::EventSink;

/// Events leased per round; each belongs to a different user, so they go out concurrently.
const BATCH_SIZE: u32 = 100;
const CONCURRENT_DELIVERIES: usize = 16;
const STATS_INTERVAL: Duration = Duration::from_secs(5);
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    pub poll_interval: Duration,
    pub lease: Duration,
    pub max_attempts: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    pub retention: Duration,
}

pub struct Dispatcher {
    store: Arc<dyn Store>,
    sinks: Vec<Arc<dyn EventSink>>,
    settings: DispatcherSettings,
    clock: Arc<dyn Clock>,
    /// This instance's identity in the leases it takes.
    worker: Uuid,
}

impl Dispatcher {
    pub fn new(
        store: Arc<dyn Store>,
        sinks: Vec<Arc<dyn EventSink>>,
        settings: DispatcherSettings,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { store, sinks, settings, clock, worker: Uuid::new_v4() }
    }

    /// Delivers until `stop` fires. Claimed events left unsent at shutdown return to the queue
    /// when their lease runs out.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let mut failing = false;
        let mut stats_due = Instant::now();
        // Pruning also runs at start-up, so short-lived instances keep the table trimmed too.
        let mut prune_due = Instant::now();
        loop {
            let delivered = match self.dispatch_once(&stop).await {
                Ok(count) => {
                    if failing {
                        tracing::info!("event dispatch recovered");
                        failing = false;
                    }
                    count
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "event dispatch failed; retrying");
                        failing = true;
                    }
                    0
                }
            };
            if Instant::now() >= stats_due {
                self.record_stats().await;
                stats_due = Instant::now() + STATS_INTERVAL;
            }
            if Instant::now() >= prune_due {
                self.prune().await;
                prune_due = Instant::now() + PRUNE_INTERVAL;
            }
            // A full round may have more behind it (a user's next event becomes due only
            // once the previous one is out): go again at once.
            let pause = if delivered > 0 { Duration::ZERO } else { self.settings.poll_interval };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// One round: lease due events and deliver them. Returns how many were handled.
    pub async fn dispatch_once(&self, stop: &CancellationToken) -> Result<usize, auth_core::error::StoreError> {
        let now = self.clock.now();
        let lease_until =
            now + chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::seconds(60));
        let events = self.store.claim_events(self.worker, now, lease_until, BATCH_SIZE).await?;
        let count = events.len();
        futures::stream::iter(events)
            .for_each_concurrent(CONCURRENT_DELIVERIES, |event| async move {
                if stop.is_cancelled() {
                    return;
                }
                let result = self.deliver(&event).await;
                if let Err(error) =
                    self.store.finish_delivery(self.worker, event.sequence, result, self.clock.now()).await
                {
                    // The lease runs out and the event goes again: at least once.
                    tracing::warn!(%error, event_id = %event.id, "could not record a delivery");
                }
            })
            .await;
        Ok(count)
    }

    async fn deliver(&self, event: &OutboxEvent) -> DeliveryResult {
        let mut delivered_sinks = event.delivered_sinks.clone();
        let mut errors = Vec::new();
        for sink in &self.sinks {
            if delivered_sinks.iter().any(|key| key == sink.key()) {
                continue;
            }
            match sink.deliver(event).await {
                Ok(()) => {
                    metrics::counter!("events_deliveries_total", "sink" => sink.kind(), "outcome" => "delivered")
                        .increment(1);
                    delivered_sinks.push(sink.key().to_owned());
                }
                Err(error) => {
                    metrics::counter!("events_deliveries_total", "sink" => sink.kind(), "outcome" => "failed")
                        .increment(1);
                    errors.push(error);
                }
            }
        }
        if errors.is_empty() {
            return DeliveryResult::Delivered;
        }
        let attempt = event.attempts + 1;
        let error = errors.join("; ");
        if attempt >= self.settings.max_attempts {
            metrics::counter!("events_dead_lettered_total").increment(1);
            tracing::warn!(event_id = %event.id, event_type = %event.event_type, attempts = attempt, %error,
                "event delivery gave up; dead-lettered");
            return DeliveryResult::GiveUp { delivered_sinks, error };
        }
        let delay = retry_delay(attempt, self.settings.retry_base, self.settings.retry_max, rand::thread_rng().r#gen());
        tracing::info!(event_id = %event.id, attempts = attempt, retry_in_ms = delay.as_millis() as u64, %error,
            "event delivery failed; will retry");
        DeliveryResult::Retry {
            delivered_sinks,
            error,
            retry_at: self.clock.now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::seconds(1)),
        }
    }

    async fn record_stats(&self) {
        match self.store.outbox_stats().await {
            Ok(stats) => {
                metrics::gauge!("events_outbox_pending").set(stats.pending as f64);
                metrics::gauge!("events_outbox_dead_lettered").set(stats.dead as f64);
                let age = stats
                    .oldest_pending
                    .map(|oldest| (self.clock.now() - oldest).num_milliseconds().max(0) as f64 / 1000.0)
                    .unwrap_or(0.0);
                metrics::gauge!("events_oldest_undelivered_age_seconds").set(age);
            }
            Err(error) => tracing::debug!(%error, "outbox statistics unavailable"),
        }
    }

    async fn prune(&self) {
        let retention = chrono::Duration::from_std(self.settings.retention).unwrap_or(chrono::Duration::days(7));
        match self.store.prune_events(self.clock.now() - retention).await {
            Ok(removed) => tracing::debug!(removed, "pruned delivered events"),
            Err(error) => tracing::warn!(%error, "pruning delivered events failed"),
        }
    }
}

/// Exponential backoff with jitter: `base * 2^(attempt-1)`, capped at `max`, then a random
/// point in its upper half (`jitter` in `[0, 1)`), so retries of many events spread out but
/// never come sooner than half the schedule.
pub fn retry_delay(attempt: u32, base: Duration, max: Duration, jitter: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(32);
    let scheduled = base.saturating_mul(1u32 << exponent.min(31)).min(max);
    let jitter = jitter.clamp(0.0, 1.0);
    scheduled.mul_f64(0.5 + jitter / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        assert_eq!(retry_delay(1, base, max, 1.0), Duration::from_secs(1));
        assert_eq!(retry_delay(2, base, max, 1.0), Duration::from_secs(2));
        assert_eq!(retry_delay(5, base, max, 1.0), Duration::from_secs(16));
        assert_eq!(retry_delay(30, base, max, 1.0), max);
        assert_eq!(retry_delay(u32::MAX, base, max, 1.0), max);
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let base = Duration::from_secs(8);
        let max = Duration::from_secs(600);
        assert_eq!(retry_delay(1, base, max, 0.0), Duration::from_secs(4));
        let jittered = retry_delay(1, base, max, 0.5);
        assert!(jittered > Duration::from_secs(4) && jittered < Duration::from_secs(8));
    }
}
