//! Redis adapters: the connection (one server or a cluster), the revocation broadcast, the
//! shared rate limiter and the ephemeral store.

mod broadcast;
mod ephemeral;
mod limiter;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::Mutex;

pub use broadcast::{RedisRevocationBroadcast, listen_for_revocations};
pub use ephemeral::RedisEphemeralStore;
pub use limiter::RedisLimiter;

/// How long a Redis call may take before Redis counts as unavailable for that call.
pub(crate) const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

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
    pub(crate) subscriber: redis::Client,
    connection: Mutex<Option<RedisConnection>>,
    prefix: String,
    pub(crate) subscribed: AtomicBool,
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

    pub(crate) fn revocation_channel(&self) -> String {
        self.key("revocations")
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
