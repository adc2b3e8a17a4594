//! The OAuth part of the store contract (`ClientStore`, and sessions held by a client): the
//! registry round trip, grants, and what deleting a client or withdrawing a grant revokes. Run
//! by both store crates through [`client_contract_tests!`](crate::client_contract_tests).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{Duration, DurationRound, Utc};
use uuid::Uuid;

use super::store_contract::{new_session, new_user, unique, user_events};
use crate::error::StoreError;
use crate::model::{NewSession, Role, SessionClient, User};
use crate::oidc::{ClientKind, ClientPatch, Grant, GrantType, NewClient, hash_secret};
use crate::ports::{RefreshRotation, RotationOutcome, Store};

/// Generates one `#[tokio::test]` per OAuth check.
#[macro_export]
macro_rules! client_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@each client_contract, $make;
            a_client_round_trips_and_its_id_is_unique,
            a_patch_changes_only_what_it_names_and_a_rotation_keeps_the_previous_secret,
            a_client_session_rotates_only_for_its_client_and_is_not_a_listed_device,
            deleting_a_client_revokes_its_sessions_and_its_own_tokens,
            withdrawing_a_grant_revokes_only_that_persons_sessions_of_that_client,
        );
    };
}

fn new_client(name: &str) -> NewClient {
    let now = Utc::now().duration_trunc(Duration::microseconds(1)).unwrap();
    NewClient {
        id: Uuid::new_v4(),
        client_id: format!("{name}-{}", Uuid::new_v4().simple()),
        name: name.to_owned(),
        kind: ClientKind::Confidential,
        redirect_uris: vec!["https://app.example.com/cb".into()],
        post_logout_redirect_uris: vec!["https://app.example.com/out".into()],
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        scopes: vec!["openid".into(), "email".into()],
        first_party: false,
        audience: Some("api".into()),
        resources: vec!["https://api.example.com".into(), "urn:example:orders".into()],
        secret_hash: Some(hash_secret("secret")),
        created_at: now,
    }
}

async fn person(store: &Arc<dyn Store>) -> User {
    store.create_user(new_user(&unique("oauth"), Role::User)).await.unwrap()
}

/// A session of `user` held by `client_id`, with refresh-token hash `hash`.
fn held(user: &User, client_id: &str, hash: Vec<u8>) -> NewSession {
    let now = Utc::now();
    NewSession {
        client: Some(SessionClient {
            client_id: client_id.to_owned(),
            scope: "openid".into(),
            auth_time: now,
            resources: vec!["https://api.example.com".into(), "urn:example:orders".into()],
        }),
        ..new_session(user.id, user.credentials_version, hash, now)
    }
}

pub async fn a_client_round_trips_and_its_id_is_unique(store: Arc<dyn Store>) {
    let client = new_client("wiki");
    let created = store.create_client(client.clone()).await.unwrap();
    let found = store.find_client(&client.client_id).await.unwrap().unwrap();
    for stored in [&created, &found] {
        assert_eq!(stored.id, client.id);
        assert_eq!(stored.name, "wiki");
        assert_eq!(stored.kind, ClientKind::Confidential);
        assert_eq!(stored.redirect_uris, client.redirect_uris);
        assert_eq!(stored.post_logout_redirect_uris, client.post_logout_redirect_uris);
        assert_eq!(stored.grant_types, client.grant_types);
        assert_eq!(stored.scopes, client.scopes);
        assert_eq!(stored.audience.as_deref(), Some("api"));
        assert_eq!(stored.resources, client.resources);
        assert_eq!(stored.secret_hash, client.secret_hash);
        assert_eq!(stored.created_at, client.created_at);
    }
    assert!(store.list_clients().await.unwrap().iter().any(|listed| listed.client_id == client.client_id));
    let again = NewClient { id: Uuid::new_v4(), ..client.clone() };
    assert!(matches!(store.create_client(again).await, Err(StoreError::Conflict("client_id"))));
    assert!(store.find_client("no-such-client").await.unwrap().is_none());
}

pub async fn a_patch_changes_only_what_it_names_and_a_rotation_keeps_the_previous_secret(store: Arc<dyn Store>) {
    let client = store.create_client(new_client("patched")).await.unwrap();
    let patch = ClientPatch {
        name: Some("renamed".into()),
        audience: Some(None),
        first_party: Some(true),
        resources: Some(vec![]),
        ..ClientPatch::default()
    };
    let patched = store.update_client(&client.client_id, patch, Utc::now()).await.unwrap().unwrap();
    assert_eq!(patched.name, "renamed");
    assert!(patched.first_party);
    assert_eq!(patched.audience, None);
    assert!(patched.resources.is_empty());
    assert_eq!(patched.redirect_uris, client.redirect_uris, "not named, not changed");
    assert!(store.update_client("missing", ClientPatch::default(), Utc::now()).await.unwrap().is_none());

    let until = Utc::now() + Duration::hours(1);
    assert!(store.rotate_client_secret(&client.client_id, &hash_secret("second"), until, Utc::now()).await.unwrap());
    let rotated = store.find_client(&client.client_id).await.unwrap().unwrap();
    assert_eq!(rotated.secret_hash.as_deref(), Some(hash_secret("second").as_str()));
    assert_eq!(rotated.previous_secret_hash.as_deref(), Some(hash_secret("secret").as_str()));
    assert!(rotated.secret_matches("secret", Utc::now()) && rotated.secret_matches("second", Utc::now()));
    assert!(!store.rotate_client_secret("missing", "x", until, Utc::now()).await.unwrap());
}

pub async fn a_client_session_rotates_only_for_its_client_and_is_not_a_listed_device(store: Arc<dyn Store>) {
    let client = store.create_client(new_client("rotating")).await.unwrap();
    let user = person(&store).await;
    let session = store.create_session(held(&user, &client.client_id, vec![61])).await.unwrap().unwrap();
    assert_eq!(session.client.as_ref().unwrap().client_id, client.client_id);
    assert_eq!(session.client.as_ref().unwrap().resources.len(), 2);
    assert_eq!(store.find_session(session.id).await.unwrap().unwrap().client, session.client);
    assert!(store.list_active_sessions(user.id, Utc::now()).await.unwrap().is_empty());
    let rotation = |client_id: Option<&str>| RefreshRotation {
        presented_hash: vec![61],
        successor_hash: vec![62],
        now: Utc::now(),
        reuse_interval_seconds: 10,
        expires_at: Utc::now() + Duration::days(1),
        client_id: client_id.map(str::to_owned),
    };
    for wrong in [None, Some("another-client")] {
        assert!(matches!(store.rotate_refresh_token(rotation(wrong)).await.unwrap(), RotationOutcome::Unknown));
    }
    assert!(store.refresh_token_is_live(&[61]).await.unwrap(), "a refused rotation spends nothing");
    assert!(matches!(
        store.rotate_refresh_token(rotation(Some(&client.client_id))).await.unwrap(),
        RotationOutcome::Rotated(_)
    ));
    assert!(!store.refresh_token_is_live(&[61]).await.unwrap());
    assert!(store.refresh_token_is_live(&[62]).await.unwrap());
    // A person's own session is not rotated by a client either.
    let own = store
        .create_session(new_session(user.id, user.credentials_version, vec![63], Utc::now()))
        .await
        .unwrap()
        .unwrap();
    let as_client =
        RefreshRotation { presented_hash: vec![63], successor_hash: vec![64], ..rotation(Some(&client.client_id)) };
    assert!(matches!(store.rotate_refresh_token(as_client).await.unwrap(), RotationOutcome::Unknown));
    assert_eq!(store.list_active_sessions(user.id, Utc::now()).await.unwrap()[0].id, own.id);
}

pub async fn deleting_a_client_revokes_its_sessions_and_its_own_tokens(store: Arc<dyn Store>) {
    let client = store.create_client(new_client("deleted")).await.unwrap();
    let (alice, bob) = (person(&store).await, person(&store).await);
    let first = store.create_session(held(&alice, &client.client_id, vec![71])).await.unwrap().unwrap();
    let second = store.create_session(held(&bob, &client.client_id, vec![72])).await.unwrap().unwrap();
    let own = store
        .create_session(new_session(alice.id, alice.credentials_version, vec![73], Utc::now()))
        .await
        .unwrap()
        .unwrap();
    let now = Utc::now();
    store
        .put_grant(Grant {
            user_id: alice.id,
            client_id: client.client_id.clone(),
            scopes: vec!["openid".into()],
            granted_at: now,
        })
        .await
        .unwrap();
    user_events(&store, alice.id).await;

    let revocations = store.delete_client(&client.client_id, now).await.unwrap().unwrap();
    let revoked: Vec<Uuid> = revocations.iter().map(|revocation| revocation.session_id).collect();
    assert!(revoked.contains(&first.id) && revoked.contains(&second.id) && revoked.contains(&client.id));
    assert!(!revoked.contains(&own.id), "the person's own session stays");
    let (logged, _) = store.revocations_after(None, now - Duration::seconds(1)).await.unwrap();
    assert!(logged.iter().any(|revocation| revocation.session_id == client.id), "the client's own tokens are revoked");
    assert!(store.find_client(&client.client_id).await.unwrap().is_none());
    assert!(store.list_grants(alice.id).await.unwrap().is_empty());
    // (One look at the outbox delivers everyone's events: the client's are checked.)
    let types: Vec<String> = user_events(&store, client.id).await.into_iter().map(|event| event.event_type).collect();
    assert_eq!(types, ["oauth.client_deleted"]);
    assert!(store.delete_client(&client.client_id, now).await.unwrap().is_none());
}

pub async fn withdrawing_a_grant_revokes_only_that_persons_sessions_of_that_client(store: Arc<dyn Store>) {
    let client = store.create_client(new_client("granted")).await.unwrap();
    let other = store.create_client(new_client("other")).await.unwrap();
    let (alice, bob) = (person(&store).await, person(&store).await);
    // Events are due when they occur: grants are dated in the past so the outbox can deliver them.
    let now = Utc::now() - Duration::seconds(5);
    for user in [&alice, &bob] {
        store
            .put_grant(Grant {
                user_id: user.id,
                client_id: client.client_id.clone(),
                scopes: vec!["openid".into()],
                granted_at: now,
            })
            .await
            .unwrap();
    }
    let wider = Grant {
        user_id: alice.id,
        client_id: client.client_id.clone(),
        scopes: vec!["email".into(), "openid".into()],
        granted_at: now + Duration::seconds(1),
    };
    store.put_grant(wider.clone()).await.unwrap();
    store
        .put_grant(Grant {
            user_id: alice.id,
            client_id: other.client_id.clone(),
            scopes: vec!["openid".into()],
            granted_at: now + Duration::seconds(2),
        })
        .await
        .unwrap();
    let grants = store.list_grants(alice.id).await.unwrap();
    assert_eq!(grants.len(), 2);
    assert_eq!(grants[0].client_id, other.client_id, "newest first");
    assert_eq!(store.find_grant(alice.id, &client.client_id).await.unwrap().unwrap().scopes, wider.scopes, "replaced");

    let alices = store.create_session(held(&alice, &client.client_id, vec![81])).await.unwrap().unwrap();
    let alices_other = store.create_session(held(&alice, &other.client_id, vec![82])).await.unwrap().unwrap();
    let bobs = store.create_session(held(&bob, &client.client_id, vec![83])).await.unwrap().unwrap();
    let revoked = store.revoke_grant(alice.id, &client.client_id, now).await.unwrap().unwrap();
    assert_eq!(revoked.iter().map(|revocation| revocation.session_id).collect::<Vec<_>>(), [alices.id]);
    assert!(store.find_session(alices_other.id).await.unwrap().unwrap().revoked_at.is_none());
    assert!(store.find_session(bobs.id).await.unwrap().unwrap().revoked_at.is_none());
    assert!(store.find_grant(alice.id, &client.client_id).await.unwrap().is_none());
    assert!(store.find_grant(bob.id, &client.client_id).await.unwrap().is_some());
    let types: Vec<String> = user_events(&store, alice.id).await.into_iter().map(|event| event.event_type).collect();
    assert_eq!(&types[types.len() - 2..], ["session.revoked", "oauth.grant_revoked"]);
    assert!(store.revoke_grant(alice.id, &client.client_id, now).await.unwrap().is_none());
}
