//! Store behaviour on an in-memory database; the HTTP suite runs the same rules end to end.

use auth_core::model::{NewSession, NewUser, Role};
use auth_core::ports::{AccountStore, RefreshRotation, RotationOutcome, SessionStore, Store};
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

#[tokio::test]
async fn duplicate_email_keys_are_a_conflict() {
    let store = store().await;
    store.create_user(new_user("Alice@Example.com")).await.unwrap();
    let duplicate = store.create_user(new_user("alice@example.com")).await;
    assert!(matches!(duplicate, Err(auth_core::error::StoreError::Conflict("email"))));
    let found = store.find_user_by_email("alice@example.com").await.unwrap().unwrap();
    assert_eq!(found.email, "Alice@Example.com");
    assert!(found.identity_providers.is_empty());
}

#[tokio::test]
async fn rotation_then_grandparent_replay_revokes_and_logs_the_session() {
    let store = store().await;
    let user = store.create_user(new_user("bob@example.com")).await.unwrap();
    let now = Utc::now();
    let session = store
        .create_session(NewSession {
            id: Uuid::new_v4(),
            user_id: user.id,
            user_agent: None,
            ip_address: None,
            refresh_token_hash: vec![1],
            created_at: now,
            expires_at: now + Duration::days(1),
        })
        .await
        .unwrap();
    let rotate = |presented: u8, successor: u8| RefreshRotation {
        presented_hash: vec![presented],
        successor_hash: vec![successor],
        now,
        reuse_interval_seconds: 10,
        expires_at: now + Duration::days(1),
    };
    assert!(matches!(store.rotate_refresh_token(rotate(1, 2)).await.unwrap(), RotationOutcome::Rotated(_)));
    assert!(matches!(store.rotate_refresh_token(rotate(1, 2)).await.unwrap(), RotationOutcome::ParentReplayed(_)));
    assert!(matches!(store.rotate_refresh_token(rotate(2, 3)).await.unwrap(), RotationOutcome::Rotated(_)));
    assert!(matches!(store.rotate_refresh_token(rotate(9, 10)).await.unwrap(), RotationOutcome::Unknown));
    assert!(matches!(store.rotate_refresh_token(rotate(1, 2)).await.unwrap(), RotationOutcome::Reused(_)));
    assert!(matches!(store.rotate_refresh_token(rotate(3, 4)).await.unwrap(), RotationOutcome::Revoked));
    let log = store.revocations_since(now - Duration::seconds(1)).await.unwrap();
    assert_eq!(log.iter().map(|revocation| revocation.session_id).collect::<Vec<_>>(), vec![session.id]);
}
