//! The revocation log as the poll reads it, against the PostgreSQL store itself (the SQLite
//! store has the same test in its crate): a revocation whose transaction commits late, long
//! after the time it was stamped with, still reaches the poll.

use auth_core::events::RevocationReason;
use auth_core::model::{NewSession, NewUser, Revocation, Role};
use auth_core::ports::{AccountStore, SessionStore, Store};
use auth_store_postgres::{PgStore, PoolSettings};
use chrono::{Duration, Utc};
use uuid::Uuid;

use crate::helpers::{Backend, fresh_settings, postgres_available, unique_email};

async fn store() -> PgStore {
    let settings = fresh_settings(Backend::Postgres).await;
    let store = PgStore::connect(
        &settings.database_url,
        PoolSettings { max_connections: 4, acquire_timeout: std::time::Duration::from_secs(5) },
    )
    .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn open_session(store: &PgStore, user_id: Uuid) -> Uuid {
    let now = Utc::now();
    store
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
        .expect("a fresh account")
        .id
}

fn ids(revocations: &[Revocation]) -> Vec<Uuid> {
    revocations.iter().map(|revocation| revocation.session_id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_committed_after_later_ones_and_after_a_poll_is_in_the_next_poll() {
    if !postgres_available() {
        return;
    }
    let store = store().await;
    let email = unique_email();
    let now = Utc::now();
    let user = store
        .create_user(NewUser {
            id: Uuid::new_v4(),
            email: email.clone(),
            email_key: email.to_lowercase(),
            full_name: None,
            role: Role::User,
            password_hash: Some("hash".into()),
            email_verified: false,
            created_at: now,
        })
        .await
        .unwrap();
    let horizon = now - Duration::minutes(16);
    let (early, late, other) =
        (open_session(&store, user.id).await, open_session(&store, user.id).await, open_session(&store, user.id).await);
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
