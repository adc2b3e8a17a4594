//! Rate limiting as a port: GCRA (generic cell rate algorithm) quotas checked by key.

use std::time::Duration;

use async_trait::async_trait;

/// `limit` events per `period`, all of which may come at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
}

impl Quota {
    pub fn per_minute(limit: u32) -> Self {
        Self { limit, period: Duration::from_secs(60) }
    }

    /// Time for one event's worth of budget to come back.
    pub fn emission_interval(&self) -> Duration {
        self.period / self.limit.max(1)
    }
}

/// The answer for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Until the budget is whole again.
    pub reset_after: Duration,
    /// When not allowed: until the next event would be.
    pub retry_after: Duration,
}

/// Counts events per key. `check` spends one unit of budget if there is one; `peek` only looks;
/// `refund` gives back one unit that `check` spent (a reservation that turned out not to count).
#[async_trait]
pub trait RateLimiter: Send + Sync {
    async fn check(&self, key: &str, quota: Quota) -> RateDecision;
    async fn peek(&self, key: &str, quota: Quota) -> RateDecision;
    async fn refund(&self, key: &str, quota: Quota);
}

/// The GCRA step on a theoretical arrival time, all in microseconds. Returns the decision
/// and the new arrival time to store when the event is allowed and spent.
pub fn gcra(stored_tat: Option<u64>, now: u64, quota: Quota, spend: bool) -> (RateDecision, Option<u64>) {
    let period = quota.period.as_micros() as u64;
    let interval = quota.emission_interval().as_micros().max(1) as u64;
    let tat = stored_tat.unwrap_or(now).max(now);
    let new_tat = tat + interval;
    let allowed = new_tat <= now + period;
    let used = if allowed && spend { new_tat - now } else { tat - now };
    let remaining = ((period.saturating_sub(used)) / interval) as u32;
    let decision = RateDecision {
        allowed,
        limit: quota.limit,
        remaining: remaining.min(quota.limit),
        reset_after: Duration::from_micros(used),
        retry_after: if allowed { Duration::ZERO } else { Duration::from_micros(new_tat - period - now) },
    };
    (decision, (allowed && spend).then_some(new_tat))
}

/// Gives one event's worth of budget back: the arrival time moves one interval earlier, never
/// before `now`. `None` means the budget is whole again (the key can be dropped).
pub fn gcra_refund(stored_tat: Option<u64>, now: u64, quota: Quota) -> Option<u64> {
    let interval = quota.emission_interval().as_micros().max(1) as u64;
    let tat = stored_tat?.saturating_sub(interval);
    (tat > now).then_some(tat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_budget_may_be_spent_at_once_and_then_refills_steadily() {
        let quota = Quota::per_minute(100);
        let mut tat = None;
        for spent in 0..100 {
            let (decision, next) = gcra(tat, 1_000_000, quota, true);
            assert!(decision.allowed, "event {spent}");
            assert_eq!(decision.remaining, 99 - spent);
            tat = next;
        }
        let (refused, unchanged) = gcra(tat, 1_000_000, quota, true);
        assert!(!refused.allowed);
        assert_eq!(unchanged, None);
        assert_eq!(refused.retry_after, Duration::from_millis(600));
        let (later, _) = gcra(tat, 1_000_000 + 600_000, quota, true);
        assert!(later.allowed, "one interval later one event fits");
    }

    #[test]
    fn a_refund_undoes_one_spent_event_and_never_more() {
        let quota = Quota { limit: 2, period: Duration::from_secs(10) };
        let (_, tat) = gcra(None, 0, quota, true);
        let (_, tat) = gcra(tat, 0, quota, true);
        assert!(!gcra(tat, 0, quota, false).0.allowed, "the budget is spent");
        let refunded = gcra_refund(tat, 0, quota);
        assert!(gcra(refunded, 0, quota, true).0.allowed, "one event fits again");
        assert_eq!(gcra_refund(refunded, 0, quota), None, "two refunds make the budget whole");
        assert_eq!(gcra_refund(None, 0, quota), None);
        // Refunds never push the arrival time before now (that would grant extra budget).
        assert_eq!(gcra_refund(Some(3_000_000), 2_000_000, quota), None);
    }

    #[test]
    fn peeking_spends_nothing() {
        let quota = Quota { limit: 2, period: Duration::from_secs(10) };
        let (_, tat) = gcra(None, 0, quota, true);
        let (peeked, stored) = gcra(tat, 0, quota, false);
        assert!(peeked.allowed && stored.is_none());
        let (_, tat) = gcra(tat, 0, quota, true);
        assert!(!gcra(tat, 0, quota, false).0.allowed);
    }
}
