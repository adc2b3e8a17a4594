//! The Redis connection, and the revocation broadcast over Redis pub/sub.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use auth_core::model::Revocation;
use auth_core::ports::{Quota, RateDecision, RateLimiter, RevocationBroadcast};
use auth_core::sessions::SessionService;
use futures::StreamExt;
use redis::aio::ConnectionManager;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// How long a Redis call may take before Redis counts as unavailable for that call.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// Where Redis is: one server, or a Redis Cluster (`REDIS_URL` listing several nodes).
enum Deployment {
    Single(redis::Client),
    Cluster(Box<redis::cluster::ClusterClient>),
}

/// A multiplexed connection to a server or a cluster; commands route by key in a cluster.
#[derive(Clone)]
pub enum RedisConnection {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl redis::aio::ConnectionLike for RedisConnection {
    fn req_packed_command<'a>(&'a mut self, command: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        match self {
            RedisConnection::Single(connection) => connection.req_packed_command(command),
            RedisConnection::Cluster(connection) => connection.req_packed_command(command),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        match self {
            RedisConnection::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            RedisConnection::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            RedisConnection::Single(connection) => connection.get_db(),
            RedisConnection::Cluster(connection) => connection.get_db(),
        }
    }
}

/// The node URLs of `REDIS_URL`: one URL, or several separated by commas (a cluster), each
/// `redis://` or `rediss://`; `redis-cluster://h1:7000,h2:7001` is the same as listing them.
pub fn redis_nodes(url: &str) -> Vec<String> {
    let (scheme, rest) = match url.split_once("://") {
        Some(("redis-cluster", rest)) => ("redis", rest),
        Some(("rediss-cluster", rest)) => ("rediss", rest),
        _ => ("", url),
    };
    rest.split(',')
        .map(str::trim)
        .filter(|node| !node.is_empty())
        .map(
            |node| {
                if scheme.is_empty() || node.contains("://") { node.to_owned() } else { format!("{scheme}://{node}") }
            },
        )
        .map(|node| if node.contains("://") { node } else { format!("redis://{node}") })
        .collect()
}

/// A lazily (re)connecting handle: the service starts and keeps serving while Redis is down.
pub struct RedisHandle {
    deployment: Deployment,
    /// Pub/sub goes through one node: in a cluster, PUBLISH reaches every node's subscribers.
    subscriber: redis::Client,
    connection: Mutex<Option<RedisConnection>>,
    prefix: String,
    subscribed: AtomicBool,
}

impl RedisHandle {
    pub fn new(url: &str, prefix: &str) -> Result<Self, redis::RedisError> {
        let nodes = redis_nodes(url);
        let first = nodes.first().cloned().unwrap_or_else(|| url.to_owned());
        let deployment = if nodes.len() > 1 {
            Deployment::Cluster(Box::new(
                redis::cluster::ClusterClient::builder(nodes)
                    .connection_timeout(COMMAND_TIMEOUT)
                    .response_timeout(COMMAND_TIMEOUT)
                    .build()?,
            ))
        } else {
            Deployment::Single(redis::Client::open(first.as_str())?)
        };
        Ok(Self {
            deployment,
            subscriber: redis::Client::open(first.as_str())?,
            connection: Mutex::new(None),
            prefix: prefix.to_owned(),
            subscribed: AtomicBool::new(false),
        })
    }

    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// A connection, creating it on first use.
    pub async fn connection(&self) -> Result<RedisConnection, redis::RedisError> {
        let mut guard = self.connection.lock().await;
        if let Some(connection) = guard.as_ref() {
            return Ok(connection.clone());
        }
        let connection = match &self.deployment {
            Deployment::Single(client) => {
                let config = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(COMMAND_TIMEOUT))
                    .set_response_timeout(Some(COMMAND_TIMEOUT))
                    .set_number_of_retries(1);
                RedisConnection::Single(ConnectionManager::new_with_config(client.clone(), config).await?)
            }
            Deployment::Cluster(client) => RedisConnection::Cluster(client.get_async_connection().await?),
        };
        *guard = Some(connection.clone());
        Ok(connection)
    }

    pub async fn ping(&self) -> Result<(), redis::RedisError> {
        let mut connection = self.connection().await?;
        redis::cmd("PING").query_async::<String>(&mut connection).await.map(|_| ())
    }

    /// Whether the revocation subscription is live; the database poll speeds up when not.
    pub fn is_subscribed(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed)
    }

    fn revocation_channel(&self) -> String {
        self.key("revocations")
    }
}

/// Publishes revocations to every instance subscribed to the same Redis.
pub struct RedisRevocationBroadcast {
    redis: Arc<RedisHandle>,
}

impl RedisRevocationBroadcast {
    pub fn new(redis: Arc<RedisHandle>) -> Self {
        Self { redis }
    }
}

#[async_trait]
impl RevocationBroadcast for RedisRevocationBroadcast {
    async fn publish(&self, revocations: &[Revocation]) {
        if revocations.is_empty() {
            return;
        }
        let Ok(payload) = serde_json::to_string(revocations) else {
            return;
        };
        let published = async {
            let mut connection = self.redis.connection().await?;
            redis::cmd("PUBLISH")
                .arg(self.redis.revocation_channel())
                .arg(payload)
                .query_async::<i64>(&mut connection)
                .await
        };
        // The database poll delivers it anyway; Redis only makes it faster.
        if let Err(error) = tokio::time::timeout(COMMAND_TIMEOUT, published)
            .await
            .unwrap_or_else(|_| Err(redis::RedisError::from((redis::ErrorKind::Io, "publish timed out"))))
        {
            tracing::warn!(%error, "revocation broadcast failed; other instances will see it from the database");
        }
    }
}

/// Listens for revocations from other instances until `stop` fires, reconnecting as needed.
pub async fn listen_for_revocations(redis: Arc<RedisHandle>, sessions: Arc<SessionService>, stop: CancellationToken) {
    let mut backoff = Duration::from_millis(100);
    while !stop.is_cancelled() {
        match subscribe(&redis).await {
            Ok(mut pubsub) => {
                backoff = Duration::from_millis(100);
                redis.subscribed.store(true, Ordering::Relaxed);
                tracing::debug!("subscribed to revocation broadcasts");
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        () = stop.cancelled() => break,
                        message = messages.next() => match message {
                            Some(message) => {
                                let payload: String = message.get_payload().unwrap_or_default();
                                match serde_json::from_str::<Vec<Revocation>>(&payload) {
                                    Ok(revocations) => sessions.absorb(&revocations),
                                    Err(error) => tracing::warn!(%error, "ignored malformed revocation broadcast"),
                                }
                            }
                            None => break,
                        },
                    }
                }
                redis.subscribed.store(false, Ordering::Relaxed);
            }
            Err(error) => tracing::debug!(%error, "revocation subscription unavailable"),
        }
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn subscribe(redis: &RedisHandle) -> Result<redis::aio::PubSub, redis::RedisError> {
    let connect = async {
        let mut pubsub = redis.subscriber.get_async_pubsub().await?;
        pubsub.subscribe(redis.revocation_channel()).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    tokio::time::timeout(Duration::from_secs(2), connect)
        .await
        .unwrap_or_else(|_| Err(redis::RedisError::from((redis::ErrorKind::Io, "subscribe timed out"))))
}

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
    fallback: crate::cache::memory::InProcessLimiter,
    degraded: AtomicBool,
}

impl RedisLimiter {
    pub fn new(redis: Arc<RedisHandle>) -> Self {
        Self {
            redis,
            script: redis::Script::new(GCRA_SCRIPT),
            refund_script: redis::Script::new(GCRA_REFUND_SCRIPT),
            fallback: crate::cache::memory::InProcessLimiter::default(),
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

/// Short-lived values shared by every instance (pending OAuth logins).
pub struct RedisEphemeralStore {
    redis: Arc<RedisHandle>,
}

impl RedisEphemeralStore {
    pub fn new(redis: Arc<RedisHandle>) -> Self {
        Self { redis }
    }
}

fn unavailable(error: impl std::fmt::Display) -> auth_core::error::StoreError {
    auth_core::error::StoreError::Unavailable(format!("redis: {error}"))
}

#[async_trait]
impl auth_core::ports::EphemeralStore for RedisEphemeralStore {
    async fn put(&self, key: &str, value: &str, ttl: Duration) -> Result<(), auth_core::error::StoreError> {
        let call = async {
            let mut connection = self.redis.connection().await?;
            redis::cmd("SET")
                .arg(self.redis.key(key))
                .arg(value)
                .arg("PX")
                .arg(ttl.as_millis() as u64)
                .query_async::<()>(&mut connection)
                .await
        };
        tokio::time::timeout(COMMAND_TIMEOUT, call).await.map_err(unavailable)?.map_err(unavailable)
    }

    async fn take(&self, key: &str) -> Result<Option<String>, auth_core::error::StoreError> {
        let call = async {
            let mut connection = self.redis.connection().await?;
            redis::cmd("GETDEL").arg(self.redis.key(key)).query_async::<Option<String>>(&mut connection).await
        };
        tokio::time::timeout(COMMAND_TIMEOUT, call).await.map_err(unavailable)?.map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_urls_list_their_nodes() {
        assert_eq!(redis_nodes("redis://cache:6379"), vec!["redis://cache:6379"]);
        assert_eq!(redis_nodes("redis-cluster://a:7000,b:7001"), vec!["redis://a:7000", "redis://b:7001"]);
        assert_eq!(redis_nodes("redis://a:7000, redis://b:7001"), vec!["redis://a:7000", "redis://b:7001"]);
        assert_eq!(redis_nodes("rediss-cluster://a:7000"), vec!["rediss://a:7000"]);
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
