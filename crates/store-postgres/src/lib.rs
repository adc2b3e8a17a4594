//! PostgreSQL storage for auth-service. Every use case that writes more than one row runs in
//! one transaction here; row locks (`FOR UPDATE`) serialise concurrent refreshes of a session.

mod accounts;
mod admin;
mod clients;
mod email_tokens;
mod errors;
mod events;
mod identities;
mod mailbox;
mod mfa;
mod sessions;

use std::time::Duration;

use async_trait::async_trait;
use auth_core::error::StoreError;
use auth_core::ports::Store;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgPool};

use errors::store_error;

/// Pool settings chosen from configuration.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    /// How long a request waits for a connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
}

/// A pooled connection idle for longer than this is pinged before use. sqlx pings every
/// connection as it returns to the pool, so one used since then is known to be alive; its
/// default pings on every acquire as well, a second round trip for each query.
const IDLE_BEFORE_PING: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    /// Builds a lazily connecting pool: the service starts, and recovers, whether or not the
    /// database answers at this moment.
    pub fn connect(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url
            .parse::<PgConnectOptions>()
            .map_err(|error| StoreError::Other(format!("invalid DATABASE_URL: {error}")))?
            .application_name("auth-service");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(settings.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|connection, metadata| {
                Box::pin(async move {
                    // A failed ping drops the connection and the pool opens or takes another.
                    Ok(metadata.idle_for < IDLE_BEFORE_PING || connection.ping().await.is_ok())
                })
            })
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

#[async_trait]
impl Store for PgStore {
    fn pool_state(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ()).map_err(store_error)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("./migrations").run(&self.pool).await.map_err(|error| match error {
            sqlx::migrate::MigrateError::Execute(error) => store_error(error),
            other => StoreError::Other(other.to_string()),
        })
    }
}

#[cfg(test)]
mod tests;
