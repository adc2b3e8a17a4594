//! In-process rate limiting: one instance's own budget (single-instance deployments, tests,
//! and the fallback while Redis does not answer).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use auth_core::ports::{Quota, RateDecision, RateLimiter, gcra};

/// Beyond this many keys, expired ones are swept before inserting more.
const SWEEP_THRESHOLD: usize = 100_000;

#[derive(Default)]
pub struct InProcessLimiter {
    /// Theoretical arrival time per key, in microseconds since the epoch.
    arrivals: Mutex<HashMap<String, u64>>,
}

pub(crate) fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_micros() as u64)
}

impl InProcessLimiter {
    fn decide(&self, key: &str, quota: Quota, spend: bool) -> RateDecision {
        let now = now_micros();
        let Ok(mut arrivals) = self.arrivals.lock() else {
            // A poisoned lock means a panic elsewhere; failing open keeps the service usable.
            return RateDecision { allowed: true, limit: quota.limit, remaining: 0, ..gcra(None, now, quota, false).0 };
        };
        let (decision, new_tat) = gcra(arrivals.get(key).copied(), now, quota, spend);
        if let Some(new_tat) = new_tat {
            if arrivals.len() >= SWEEP_THRESHOLD {
                arrivals.retain(|_, tat| *tat > now);
            }
            arrivals.insert(key.to_owned(), new_tat);
        }
        decision
    }
}

#[async_trait]
impl RateLimiter for InProcessLimiter {
    async fn check(&self, key: &str, quota: Quota) -> RateDecision {
        self.decide(key, quota, true)
    }

    async fn peek(&self, key: &str, quota: Quota) -> RateDecision {
        self.decide(key, quota, false)
    }
}

/// Short-lived values in this process (single instance only).
#[derive(Default)]
pub struct InProcessEphemeralStore {
    values: Mutex<HashMap<String, (String, std::time::Instant)>>,
}

#[async_trait]
impl auth_core::ports::EphemeralStore for InProcessEphemeralStore {
    async fn put(&self, key: &str, value: &str, ttl: std::time::Duration) -> Result<(), auth_core::error::StoreError> {
        let now = std::time::Instant::now();
        if let Ok(mut values) = self.values.lock() {
            values.retain(|_, (_, expires)| *expires > now);
            values.insert(key.to_owned(), (value.to_owned(), now + ttl));
        }
        Ok(())
    }

    async fn take(&self, key: &str) -> Result<Option<String>, auth_core::error::StoreError> {
        let now = std::time::Instant::now();
        let taken = self.values.lock().ok().and_then(|mut values| values.remove(key));
        Ok(taken.filter(|(_, expires)| *expires > now).map(|(value, _)| value))
    }
}
