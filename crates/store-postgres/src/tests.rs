//! The store contract (core's `testing::store_contract`) on PostgreSQL, a database per test, and
//! what only PostgreSQL needs showing.
//! Needs TEST_DATABASE_URL (scripts/test.sh sets it); without it the tests say they are skipped,
//! and under CI they fail instead.

use std::sync::Arc;

use auth_core::events::RevocationReason;
use auth_core::model::{Revocation, Role};
use auth_core::ports::{AccountStore, SessionStore, Store};
use auth_core::testing::store_contract::{new_session, new_user, unique};
use chrono::{Duration, Utc};
use sqlx::Connection;
use uuid::Uuid;

use super::{PgStore, PoolSettings};

async fn pg_store() -> Option<PgStore> {
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
    Some(store)
}

async fn store() -> Option<Arc<dyn Store>> {
    pg_store().await.map(|store| Arc::new(store) as Arc<dyn Store>)
}

auth_core::store_contract_tests!(store());
auth_core::mfa_contract_tests!(store());
auth_core::client_contract_tests!(store());

fn ids(revocations: &[Revocation]) -> Vec<Uuid> {
    revocations.iter().map(|revocation| revocation.session_id).collect()
}

/// The poll's cursor is the snapshot's xmin, not the highest id seen: a revocation whose
/// transaction commits after later ones, and after a poll, long after the time it was stamped
/// with, still reaches the next poll.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_committed_after_later_ones_and_after_a_poll_is_in_the_next_poll() {
    let Some(store) = pg_store().await else { return };
    let now = Utc::now();
    let user = store.create_user(new_user(&unique("late"), Role::User)).await.unwrap();
    let horizon = now - Duration::minutes(16);
    let mut sessions = Vec::new();
    for hash in 1..=3 {
        sessions.push(store.create_session(new_session(user.id, 0, vec![hash], now)).await.unwrap().unwrap().id);
    }
    let [early, late, other] = sessions[..] else { unreachable!() };
    store.revoke_session(user.id, early, RevocationReason::Logout, now).await.unwrap();
    let (loaded, cursor) = store.revocations_after(None, horizon).await.unwrap();
    assert_eq!(ids(&loaded), [early]);

    // A slow transaction writes its revocation, stamped a minute ago, and stays open while a
    // later transaction commits another one: the slow one's id is the lower of the two.
    let stamped = Utc::now() - Duration::seconds(60);
    let mut slow = store.pool().begin().await.unwrap();
    sqlx::query("INSERT INTO session_revocations (session_id, user_id, revoked_at) VALUES ($1, $2, $3)")
        .bind(late)
        .bind(user.id)
        .bind(stamped)
        .execute(&mut *slow)
        .await
        .unwrap();
    store.revoke_session(user.id, other, RevocationReason::Logout, Utc::now()).await.unwrap();
    let polled_at = Utc::now();
    let (during, cursor) = store.revocations_after(Some(cursor), horizon).await.unwrap();
    // Rows read before may come again (a transaction elsewhere on the server can hold the
    // horizon back), so only membership is asserted.
    assert!(ids(&during).contains(&other) && !ids(&during).contains(&late), "{during:?}");
    slow.commit().await.unwrap();

    // Neither "since the last poll minus 5 s" nor "above the highest transaction seen" reaches it.
    assert!(stamped < polled_at - Duration::seconds(5));
    let (after, _) = store.revocations_after(Some(cursor), horizon).await.unwrap();
    assert!(ids(&after).contains(&late), "the late commit is read: {after:?}");
}
