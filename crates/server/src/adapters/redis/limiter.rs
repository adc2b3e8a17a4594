//! Rate limits shared by every instance: GCRA in Lua on Redis' clock, with this instance's own
//! budget as the fallback while Redis does not answer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use auth_core::clock::Clock;
use auth_core::ports::{Quota, RateDecision, RateLimiter};

use super::{COMMAND_TIMEOUT, RedisHandle};
use crate::adapters::in_process::InProcessLimiter;

/// GCRA in one atomic script, on Redis' own clock so every instance agrees. The key holds the
/// theoretical arrival time (microseconds) and expires when the budget is whole again. The same
/// rule as `auth_core::ports::gcra`, which a property test holds it to (ARGV[4], a fixed "now",
/// is only ever passed by that test).
const GCRA_SCRIPT: &str = r"
local now
if ARGV[4] then
  now = tonumber(ARGV[4])
else
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
end
local period = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local spend = ARGV[3] == '1'
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
if new_tat <= now + period then
  if spend then
    redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000))
    return {1, new_tat - now, 0}
  end
  return {1, tat - now, 0}
end
return {0, tat - now, new_tat - period - now}
";

/// Gives back one interval of a spent budget (see `gcra_refund`), on Redis' clock (ARGV[2], a
/// fixed "now", only in the property test).
const GCRA_REFUND_SCRIPT: &str = r"
local now
if ARGV[2] then
  now = tonumber(ARGV[2])
else
  local time = redis.call('TIME')
  now = tonumber(time[1]) * 1000000 + tonumber(time[2])
end
local interval = tonumber(ARGV[1])
local stored = redis.call('GET', KEYS[1])
if not stored then return 0 end
local tat = tonumber(stored) - interval
if tat > now then
  redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000))
else
  redis.call('DEL', KEYS[1])
end
return 1
";

/// Limits shared by every instance through Redis; falls back to this instance's own budget
/// while Redis does not answer, and returns to Redis by itself.
pub struct RedisLimiter {
    redis: Arc<RedisHandle>,
    script: redis::Script,
    refund_script: redis::Script,
    fallback: InProcessLimiter,
    degraded: AtomicBool,
}

impl RedisLimiter {
    /// `clock` runs the fallback's windows; Redis keeps its own clock, shared by every instance.
    pub fn new(redis: Arc<RedisHandle>, clock: Arc<dyn Clock>) -> Self {
        Self {
            redis,
            script: redis::Script::new(GCRA_SCRIPT),
            refund_script: redis::Script::new(GCRA_REFUND_SCRIPT),
            fallback: InProcessLimiter::new(clock),
            degraded: AtomicBool::new(false),
        }
    }

    async fn decide(&self, key: &str, quota: Quota, spend: bool) -> RateDecision {
        let period = quota.period.as_micros() as u64;
        let interval = quota.emission_interval().as_micros().max(1) as u64;
        let call = async {
            let mut connection = self.redis.connection().await?;
            self.script
                .key(self.redis.key(&format!("rl:{key}")))
                .arg(period)
                .arg(interval)
                .arg(if spend { "1" } else { "0" })
                .invoke_async::<(i64, i64, i64)>(&mut connection)
                .await
        };
        match tokio::time::timeout(COMMAND_TIMEOUT, call).await {
            Ok(Ok(answer)) => {
                if self.degraded.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate limiting is shared through Redis again");
                }
                decision_of(answer, quota)
            }
            failed => {
                if !self.degraded.swap(true, Ordering::Relaxed) {
                    let cause = match failed {
                        Ok(Err(error)) => error.to_string(),
                        _ => "timed out".to_owned(),
                    };
                    tracing::warn!(%cause, "Redis unavailable: rate limits fall back to this instance's own budget");
                }
                if spend { self.fallback.check(key, quota).await } else { self.fallback.peek(key, quota).await }
            }
        }
    }
}

/// The script's answer `(allowed, used, retry after)`, in microseconds, as a decision.
fn decision_of((allowed, used, retry): (i64, i64, i64), quota: Quota) -> RateDecision {
    let period = quota.period.as_micros() as u64;
    let interval = quota.emission_interval().as_micros().max(1) as u64;
    let used = used.max(0) as u64;
    let remaining = (period.saturating_sub(used) / interval) as u32;
    RateDecision {
        allowed: allowed == 1,
        limit: quota.limit,
        remaining: remaining.min(quota.limit),
        reset_after: Duration::from_micros(used),
        retry_after: Duration::from_micros(retry.max(0) as u64),
    }
}

#[async_trait]
impl RateLimiter for RedisLimiter {
    async fn check(&self, key: &str, quota: Quota) -> RateDecision {
        self.decide(key, quota, true).await
    }

    async fn peek(&self, key: &str, quota: Quota) -> RateDecision {
        self.decide(key, quota, false).await
    }

    async fn refund(&self, key: &str, quota: Quota) {
        let interval = quota.emission_interval().as_micros().max(1) as u64;
        let call = async {
            let mut connection = self.redis.connection().await?;
            self.refund_script
                .key(self.redis.key(&format!("rl:{key}")))
                .arg(interval)
                .invoke_async::<i64>(&mut connection)
                .await
        };
        if !matches!(tokio::time::timeout(COMMAND_TIMEOUT, call).await, Ok(Ok(_))) {
            // The reservation may have been spent from the fallback while Redis was away.
            self.fallback.refund(key, quota).await;
        }
    }
}

/// The two GCRA implementations agree: the same sequences of checks, peeks and refunds, at the
/// same instants, get the same decisions from the Lua script in a real Redis as from the Rust
/// rule. Needs TEST_REDIS_URL (scripts/test.sh sets it); under CI it must be there.
#[cfg(test)]
mod same_rule {
    use auth_core::ports::{gcra, gcra_refund};
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Check,
        Peek,
        Refund,
    }

    fn steps() -> impl Strategy<Value = Vec<(u64, Step)>> {
        let step = prop_oneof![3 => Just(Step::Check), 1 => Just(Step::Peek), 1 => Just(Step::Refund)];
        // Milliseconds since the previous step, from "at once" to past a whole period.
        proptest::collection::vec((prop_oneof![3 => Just(0u64), 5 => 0..2_000u64, 1 => 0..130_000u64], step), 1..40)
    }

    fn redis_url() -> Option<String> {
        let url = std::env::var("TEST_REDIS_URL").ok();
        let required = std::env::var("AUTH_TEST_REQUIRE_BACKENDS").is_ok_and(|value| value == "1")
            || std::env::var("CI").is_ok_and(|value| value == "true");
        assert!(url.is_some() || !required, "TEST_REDIS_URL must be set under CI; run scripts/test.sh");
        if url.is_none() {
            eprintln!("skipping the Lua/Rust GCRA comparison: TEST_REDIS_URL is not set (use scripts/test.sh)");
        }
        url
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn the_lua_script_and_the_rust_rule_decide_alike(
            limit in 1u32..20,
            period_seconds in 10u64..120,
            sequence in steps(),
        ) {
            let Some(url) = redis_url() else { return Ok(()) };
            let quota = Quota { limit, period: Duration::from_secs(period_seconds) };
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let disagreement = runtime.block_on(async move {
                let client = redis::Client::open(url.as_str()).unwrap();
                let mut connection = client.get_multiplexed_async_connection().await.unwrap();
                let key = format!("test:gcra:{}", uuid::Uuid::new_v4().simple());
                let (check, refund) = (redis::Script::new(GCRA_SCRIPT), redis::Script::new(GCRA_REFUND_SCRIPT));
                let period = quota.period.as_micros() as u64;
                let interval = quota.emission_interval().as_micros().max(1) as u64;
                // Microseconds since the epoch, as Redis' clock gives them: sixteen digits.
                let mut now: u64 = 1_764_000_000_000_000;
                let mut stored: Option<u64> = None;
                for (index, (elapsed_ms, step)) in sequence.iter().enumerate() {
                    now += elapsed_ms * 1_000;
                    match step {
                        Step::Check | Step::Peek => {
                            let spend = matches!(step, Step::Check);
                            let answer: (i64, i64, i64) = check
                                .key(&key)
                                .arg(period)
                                .arg(interval)
                                .arg(if spend { "1" } else { "0" })
                                .arg(now)
                                .invoke_async(&mut connection)
                                .await
                                .unwrap();
                            let (expected, next) = gcra(stored, now, quota, spend);
                            if let Some(next) = next {
                                stored = Some(next);
                            }
                            let actual = decision_of(answer, quota);
                            if actual != expected {
                                return Some(format!("step {index} {step:?}: Lua {actual:?}, Rust {expected:?}"));
                            }
                        }
                        Step::Refund => {
                            let _: i64 = refund.key(&key).arg(interval).arg(now).invoke_async(&mut connection).await.unwrap();
                            stored = gcra_refund(stored, now, quota);
                        }
                    }
                }
                None
            });
            prop_assert!(disagreement.is_none(), "{}", disagreement.unwrap_or_default());
        }
    }
}
