//! In-process rate limiting: one instance's own budget (single-instance deployments, tests,
//! and the fallback while Redis does not answer).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use auth_core::clock::{Clock, SystemClock};
use auth_core::ports::{Quota, RateDecision, RateLimiter, gcra, gcra_refund};

/// Most keys kept at once. Past it, expired keys are swept; if that is not enough, the keys
/// closest to a whole budget are forgotten first, so memory stays bounded under a flood of
/// distinct keys while the most-spent budgets (an attack in progress) are the last to go.
const DEFAULT_MAX_KEYS: usize = 100_000;

pub struct InProcessLimiter {
    /// Theoretical arrival time per key, in microseconds since the epoch.
    arrivals: Mutex<HashMap<String, u64>>,
    max_keys: usize,
    clock: Arc<dyn Clock>,
}

impl Default for InProcessLimiter {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl InProcessLimiter {
    /// A limiter whose windows run on `clock` (the service's clock: tests may move it).
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self { arrivals: Mutex::new(HashMap::new()), max_keys: DEFAULT_MAX_KEYS, clock }
    }

    pub fn with_max_keys(max_keys: usize) -> Self {
        Self { max_keys: max_keys.max(1), ..Self::default() }
    }

    fn now_micros(&self) -> u64 {
        u64::try_from(self.clock.now().timestamp_micros()).unwrap_or(0)
    }

    /// Keys held now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.arrivals.lock().map_or(0, |arrivals| arrivals.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes room for one more key.
    fn make_room(arrivals: &mut HashMap<String, u64>, now: u64, max_keys: usize) {
        if arrivals.len() < max_keys {
            return;
        }
        arrivals.retain(|_, tat| *tat > now);
        if arrivals.len() < max_keys {
            return;
        }
        // Keep the 90% furthest from a whole budget; forget the rest.
        let keep = max_keys - max_keys / 10 - 1;
        let mut times: Vec<u64> = arrivals.values().copied().collect();
        let cut = times.len() - keep;
        let (_, threshold, _) = times.select_nth_unstable(cut.saturating_sub(1));
        let threshold = *threshold;
        arrivals.retain(|_, tat| *tat > threshold);
    }

    fn refund_now(&self, key: &str, quota: Quota) {
        let now = self.now_micros();
        if let Ok(mut arrivals) = self.arrivals.lock() {
            match gcra_refund(arrivals.get(key).copied(), now, quota) {
                Some(tat) => {
                    arrivals.insert(key.to_owned(), tat);
                }
                None => {
                    arrivals.remove(key);
                }
            }
        }
    }

    fn decide(&self, key: &str, quota: Quota, spend: bool) -> RateDecision {
        let now = self.now_micros();
        let Ok(mut arrivals) = self.arrivals.lock() else {
            // A poisoned lock means a panic elsewhere; failing open keeps the service usable.
            return RateDecision { allowed: true, limit: quota.limit, remaining: 0, ..gcra(None, now, quota, false).0 };
        };
        let (decision, new_tat) = gcra(arrivals.get(key).copied(), now, quota, spend);
        if let Some(new_tat) = new_tat {
            if !arrivals.contains_key(key) {
                Self::make_room(&mut arrivals, now, self.max_keys);
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

    async fn refund(&self, key: &str, quota: Quota) {
        self.refund_now(key, quota);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_flood_of_distinct_keys_stays_within_the_bound_and_keeps_the_most_spent() {
        let limiter = InProcessLimiter::with_max_keys(1_000);
        let quota = Quota::per_minute(5);
        // One key spent to the bone: it must survive the flood.
        for _ in 0..5 {
            limiter.check("login-failures:victim@example.com", quota).await;
        }
        for index in 0..10_000 {
            limiter.check(&format!("login-failures:{index}@example.com"), Quota::per_minute(100)).await;
            assert!(limiter.len() <= 1_000, "bounded at {index}");
        }
        assert!(!limiter.check("login-failures:victim@example.com", quota).await.allowed);
    }

    #[tokio::test]
    async fn a_refund_gives_back_what_check_spent() {
        let limiter = InProcessLimiter::default();
        let quota = Quota::per_minute(2);
        assert!(limiter.check("k", quota).await.allowed);
        assert!(limiter.check("k", quota).await.allowed);
        assert!(!limiter.peek("k", quota).await.allowed);
        limiter.refund("k", quota).await;
        assert!(limiter.check("k", quota).await.allowed);
        limiter.refund("k", quota).await;
        limiter.refund("k", quota).await;
        assert!(limiter.is_empty(), "a whole budget is forgotten");
    }
}
