//! Revocations told to every instance through Redis pub/sub (best effort: the database poll is
//! the guarantee).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::model::Revocation;
use auth_core::ports::RevocationBroadcast;
use auth_core::sessions::SessionService;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::{COMMAND_TIMEOUT, RedisHandle};

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
