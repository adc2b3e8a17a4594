//! The store contract (core's `testing::store_contract`) on PostgreSQL, a database per test.
//! Needs TEST_DATABASE_URL (scripts/test.sh sets it); without it the tests say they are skipped,
//! and under CI they fail instead.

use std::sync::Arc;

use auth_core::ports::Store;
use sqlx::Connection;
use uuid::Uuid;

use super::{PgStore, PoolSettings};

async fn store() -> Option<Arc<dyn Store>> {
    let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
        let required = std::env::var("AUTH_TEST_REQUIRE_BACKENDS").is_ok_and(|value| value == "1")
            || std::env::var("CI").is_ok_and(|value| value == "true");
        assert!(!required, "TEST_DATABASE_URL must be set under CI; run scripts/test.sh");
        eprintln!("skipping the PostgreSQL store contract: TEST_DATABASE_URL is not set (use scripts/test.sh)");
        return None;
    };
    let name = format!("auth_test_{}", Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(&admin_url).await.expect("connect to TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.expect("create test database");
    let (base, _) = admin_url.rsplit_once('/').expect("TEST_DATABASE_URL names a database");
    let query = admin_url.split_once('?').map(|(_, query)| format!("?{query}")).unwrap_or_default();
    let store = PgStore::connect(
        &format!("{base}/{name}{query}"),
        PoolSettings { max_connections: 8, acquire_timeout: std::time::Duration::from_secs(5) },
    )
    .expect("a PostgreSQL URL");
    store.migrate().await.expect("migrations apply");
    Some(Arc::new(store))
}

auth_core::store_contract_tests!(store());
