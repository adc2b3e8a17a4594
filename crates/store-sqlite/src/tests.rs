//! Store behaviour on SQLite: the store contract (core's `testing::store_contract`) on an
//! in-memory database, and what only SQLite needs showing; the HTTP suite runs the same rules end
//! to end.

use auth_core::model::{NewSession, NewUser, Role};
use auth_core::ports::{AccountStore, SessionStore, Store};
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

auth_core::store_contract_tests!(async { Some(std::sync::Arc::new(store().await) as std::sync::Arc<dyn Store>) });

fn new_user(email: &str) -> NewUser {
    NewUser {
        id: Uuid::new_v4(),
        email: email.to_owned(),
        email_key: email.to_lowercase(),
        full_name: None,
        role: Role::User,
        password_hash: Some("hash".into()),
        email_verified: false,
        created_at: Utc::now(),
    }
}

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
    let session = store
        .create_session(NewSession {
            id: Uuid::new_v4(),
            user_id,
            user_agent: None,
            ip_address: None,
            refresh_token_hash: Uuid::new_v4().as_bytes().to_vec(),
            created_at: now,
            expires_at: now + Duration::days(1),
            credentials_version: 0,
        })
        .await
        .unwrap()
        .expect("a fresh account");
    session.id
}

fn ids(revocations: &[auth_core::model::Revocation]) -> Vec<Uuid> {
    revocations.iter().map(|revocation| revocation.session_id).collect()
}

#[tokio::test]
async fn a_revocation_committed_after_a_poll_is_in_the_next_poll_however_old_its_time() {
    use auth_core::events::RevocationReason;

    let (store, path) = file_store().await;
    let user = store.create_user(new_user("heidi@example.com")).await.unwrap();
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

#[tokio::test]
async fn the_outbox_leases_retries_dead_letters_and_prunes() {
    use auth_core::events::DeliveryResult;
    use auth_core::ports::EventStore;

    let store = store().await;
    let first = store.create_user(new_user("frank@example.com")).await.unwrap();
    let second = store.create_user(new_user("grace@example.com")).await.unwrap();
    let now = Utc::now();
    let (worker, other) = (Uuid::new_v4(), Uuid::new_v4());
    let lease = now + Duration::seconds(30);

    let claimed = store.claim_events(worker, now, lease, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|event| event.user_id).collect::<Vec<_>>(), [first.id, second.id]);
    assert!(store.claim_events(other, now, lease, 10).await.unwrap().is_empty(), "leased events are taken");
    // After the lease runs out, someone else may take them.
    assert_eq!(
        store.claim_events(other, lease + Duration::seconds(1), lease + Duration::seconds(30), 10).await.unwrap().len(),
        2
    );
    // The first worker's late report is ignored: it no longer holds the lease.
    store.finish_delivery(worker, claimed[0].sequence, DeliveryResult::Delivered, now).await.unwrap();
    assert_eq!(store.outbox_stats().await.unwrap().pending, 2);

    let later = lease + Duration::seconds(2);
    store
        .finish_delivery(
            other,
            claimed[0].sequence,
            DeliveryResult::Retry {
                delivered_sinks: vec!["redis:s".into()],
                error: "webhook answered 500".into(),
                retry_at: later + Duration::seconds(5),
            },
            later,
        )
        .await
        .unwrap();
    store
        .finish_delivery(
            other,
            claimed[1].sequence,
            DeliveryResult::GiveUp { delivered_sinks: vec![], error: "gone".into() },
            later,
        )
        .await
        .unwrap();
    assert!(
        store.claim_events(worker, later, later + Duration::seconds(30), 10).await.unwrap().is_empty(),
        "not due yet"
    );
    let retried =
        store.claim_events(worker, later + Duration::seconds(6), later + Duration::seconds(60), 10).await.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!(retried[0].attempts, 1);
    assert_eq!(retried[0].delivered_sinks, ["redis:s"]);

    let dead = store.list_dead_letters(None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].user_id, dead[0].last_error.as_deref()), (second.id, Some("gone")));
    assert!(store.retry_dead_letter(dead[0].id, later).await.unwrap());
    assert!(!store.retry_dead_letter(dead[0].id, later).await.unwrap(), "only dead letters are retried");
    assert!(store.list_dead_letters(None, 10).await.unwrap().is_empty());

    store.finish_delivery(worker, retried[0].sequence, DeliveryResult::Delivered, later).await.unwrap();
    assert_eq!(store.prune_events(later - Duration::seconds(1)).await.unwrap(), 0, "inside the retention");
    assert_eq!(store.prune_events(later + Duration::seconds(1)).await.unwrap(), 1);
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.dead), (1, 0));
}
