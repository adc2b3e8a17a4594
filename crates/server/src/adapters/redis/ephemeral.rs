//! Short-lived values shared by every instance (pending OAuth sign-ins, link tickets).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{COMMAND_TIMEOUT, RedisHandle};

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
