//! Store behaviour on SQLite: the store contract (core's `testing::store_contract`) on an
//! in-memory database, and what only SQLite needs showing; the HTTP suite runs the same rules end
//! to end.

use auth_core::model::Role;
use auth_core::ports::{AccountStore, SessionStore, Store};
use auth_core::testing::store_contract::{new_session, new_user};
use chrono::{Duration, Utc};
use uuid::Uuid;

use super::{PoolSettings, SqliteStore};

async fn store() -> SqliteStore {
    let store = SqliteStore::connect(
        "sqlite::memory:",
        PoolSettings { max_connections: 1, acquire_timeout: std::time::Duration::from_secs(5) },
    )
    .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn contract_store() -> Option<std::sync::Arc<dyn Store>> {
    Some(std::sync::Arc::new(store().await))
}

auth_core::store_contract_tests!(contract_store());
auth_core::mfa_contract_tests!(contract_store());
auth_core::client_contract_tests!(contract_store());

/// A store on a file of its own: WAL lets a poll read while a write transaction is open, which
/// the single connection of `sqlite::memory:` cannot show.
async fn file_store() -> (SqliteStore, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("auth-store-test-{}.db", Uuid::new_v4().simple()));
    let store = SqliteStore::connect(
        &format!("sqlite://{}", path.display()),
        PoolSettings { max_connections: 4, acquire_timeout: std::time::Duration::from_secs(5) },
    )
    .unwrap();
    store.migrate().await.unwrap();
    (store, path)
}

async fn open_session(store: &SqliteStore, user_id: Uuid, now: chrono::DateTime<Utc>) -> Uuid {
    let session = new_session(user_id, 0, Uuid::new_v4().as_bytes().to_vec(), now);
    store.create_session(session).await.unwrap().expect("a fresh account").id
}

fn ids(revocations: &[auth_core::model::Revocation]) -> Vec<Uuid> {
    revocations.iter().map(|revocation| revocation.session_id).collect()
}

#[tokio::test]
async fn a_revocation_committed_after_a_poll_is_in_the_next_poll_however_old_its_time() {
    use auth_core::events::RevocationReason;

    let (store, path) = file_store().await;
    let user = store.create_user(new_user("heidi@example.com", Role::User)).await.unwrap();
    let now = Utc::now();
    let horizon = now - Duration::minutes(16);
    let (early, late) = (open_session(&store, user.id, now).await, open_session(&store, user.id, now).await);
    store.revoke_session(user.id, early, RevocationReason::Logout, now).await.unwrap();
    let (loaded, cursor) = store.revocations_after(None, horizon).await.unwrap();
    assert_eq!(ids(&loaded), [early]);

    // A slow transaction stamped its revocation a minute before it commits: a poll that looks
    // back a few seconds from its last run would never see it.
    let stamped = now - Duration::seconds(60);
    let mut slow = store.pool().begin().await.unwrap();
    crate::sessions::revoke_where(&mut slow, "id = $2", user.id, Some(late), RevocationReason::Logout, stamped)
        .await
        .unwrap();
    let (during, cursor) = store.revocations_after(Some(cursor), horizon).await.unwrap();
    assert!(during.is_empty(), "uncommitted rows are not visible");
    slow.commit().await.unwrap();

    let (after, cursor) = store.revocations_after(Some(cursor), horizon).await.unwrap();
    assert_eq!(ids(&after), [late]);
    assert_eq!(after[0].revoked_at.timestamp_micros(), stamped.timestamp_micros());
    let (again, _) = store.revocations_after(Some(cursor), horizon).await.unwrap();
    assert!(again.is_empty(), "the cursor moved past it");

    // Pruning every row must not make a sequence number come back under the cursor.
    store.prune(now + Duration::hours(1), now - Duration::days(1)).await.unwrap();
    let third = open_session(&store, user.id, now).await;
    store.revoke_session(user.id, third, RevocationReason::Logout, now).await.unwrap();
    let (after_pruning, _) = store.revocations_after(Some(cursor), horizon).await.unwrap();
    assert_eq!(ids(&after_pruning), [third]);
    store.pool().close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}
