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

async fn event_types(store: &SqliteStore, user_id: Uuid) -> Vec<String> {
    sqlx::query_scalar("SELECT event_type FROM events WHERE user_id = $1 ORDER BY sequence")
        .bind(user_id.to_string())
        .fetch_all(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn linking_an_identity_records_the_link_and_a_newly_proved_mailbox() {
    let store = store().await;
    let user = store.create_user(new_user("carol@example.com")).await.unwrap();
    let identity = |provider: &str| auth_core::model::NewIdentity {
        provider: provider.to_owned(),
        subject: format!("{provider}-subject"),
        email: Some("carol@example.com".into()),
        created_at: Utc::now(),
    };
    store.link_identity(user.id, identity("google"), true).await.unwrap();
    // The mailbox is proved already: a second link says only that it linked.
    store.link_identity(user.id, identity("vk"), true).await.unwrap();
    assert_eq!(
        event_types(&store, user.id).await,
        ["user.registered", "user.identity_linked", "user.email_verified", "user.identity_linked"]
    );
    let payload: String =
        sqlx::query_scalar("SELECT payload FROM events WHERE user_id = $1 AND event_type = 'user.identity_linked'")
            .bind(user.id.to_string())
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert!(payload.contains(r#""provider":"google""#), "{payload}");
    assert!(!payload.contains("google-subject"), "the provider's subject stays private");
}

#[tokio::test]
async fn a_conflicting_link_writes_no_event() {
    let store = store().await;
    let first = store.create_user(new_user("dave@example.com")).await.unwrap();
    let second = store.create_user(new_user("erin@example.com")).await.unwrap();
    let identity = auth_core::model::NewIdentity {
        provider: "google".into(),
        subject: "shared".into(),
        email: None,
        created_at: Utc::now(),
    };
    store.link_identity(first.id, identity.clone(), false).await.unwrap();
    assert!(store.link_identity(second.id, identity, false).await.is_err());
    assert_eq!(event_types(&store, second.id).await, ["user.registered"]);
}
