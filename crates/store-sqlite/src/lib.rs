//! SQLite storage for auth-service: the embedded default. One process owns the file, so write
//! transactions are serialised in-process (SQLite has a single writer anyway), which gives
//! refresh rotation the same all-or-nothing behaviour as PostgreSQL's row locks.

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

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::error::StoreError;
use auth_core::ports::Store;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::Mutex;
use uuid::Uuid;

use errors::store_error;

/// Pool settings chosen from configuration.
#[derive(Debug, Clone, Copy)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

pub struct SqliteStore {
    pub(crate) pool: SqlitePool,
    /// Held for the whole of every write transaction.
    pub(crate) write_lock: Mutex<()>,
}

impl SqliteStore {
    pub fn connect(url: &str, settings: PoolSettings) -> Result<Self, StoreError> {
        let in_memory = url.contains(":memory:");
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|error| StoreError::Other(format!("invalid SQLite URL: {error}")))?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        let options = if in_memory {
            options
        } else {
            create_private_file(options.get_filename())?;
            options.journal_mode(SqliteJournalMode::Wal).synchronous(SqliteSynchronous::Normal)
        };
        // A connection to a file cannot go stale: no ping before each use (sqlx's default is a
        // round trip to the connection's worker thread for every query).
        let mut pool_options =
            SqlitePoolOptions::new().acquire_timeout(settings.acquire_timeout).test_before_acquire(false);
        pool_options = if in_memory {
            // Every connection to `:memory:` is its own database: keep exactly one, forever.
            pool_options.max_connections(1).min_connections(1).idle_timeout(None).max_lifetime(None)
        } else {
            pool_options.max_connections(settings.max_connections.max(1))
        };
        Ok(Self { pool: pool_options.connect_lazy_with(options), write_lock: Mutex::new(()) })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// Creates the database file readable by its owner only, before SQLite would create it with
/// the umask's mode (usually 0644): it holds password and token hashes. SQLite gives the -wal
/// and -shm files the mode of the database file. An existing file keeps the mode it has.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        // An empty file is an empty SQLite database.
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(StoreError::Other(format!("could not create {}: {error}", path.display()))),
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn pool_state(&self) -> (u32, usize) {
        (self.pool.size(), self.pool.num_idle())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map(|_| ()).map_err(store_error)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let _writing = self.write_lock.lock().await;
        sqlx::migrate!("./migrations").run(&self.pool).await.map_err(|error| match error {
            sqlx::migrate::MigrateError::Execute(error) => store_error(error),
            other => StoreError::Other(other.to_string()),
        })
    }
}

pub(crate) fn micros(time: DateTime<Utc>) -> i64 {
    time.timestamp_micros()
}

pub(crate) fn time_of(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::Other(format!("timestamp out of range: {micros}")))
}

pub(crate) fn uuid_of(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|error| StoreError::Other(format!("malformed id {text:?}: {error}")))
}

#[cfg(test)]
mod tests;
