//! The store contract: what every `Store` must do, races included, written once and run by both
//! store crates through [`store_contract_tests!`](crate::store_contract_tests) (SQLite in memory,
//! PostgreSQL with a database per test).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::error::StoreError;
use crate::events::{DeliveryResult, OutboxEvent, RevocationReason};
use crate::model::{
    AccountDeletion, EmailTokenPurpose, NewEmailToken, NewIdentity, NewSession, NewUser, Role, UserPatch, UserUpdate,
};
use crate::model::{AdminBootstrap, Revocation};
use crate::ports::{RefreshRotation, RotationOutcome, Store};

/// Generates one `#[tokio::test]` per contract check. `$make` is an expression giving a future of
/// `Option<Arc<dyn Store>>`, evaluated afresh for each test (`None`: the backend is not available
/// here, and the maker has said so). The `@each` arm serves the other contract modules too
/// ([`mfa_contract_tests!`](crate::mfa_contract_tests)).
#[macro_export]
macro_rules! store_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@each store_contract, $make;
            duplicate_email_keys_are_a_conflict,
            rotation_then_grandparent_replay_revokes_and_logs_the_session,
            racing_rotations_of_one_token_leave_one_successor,
            a_session_opens_only_at_the_credentials_version_it_was_checked_against,
            two_admins_demoting_each_other_at_once_leave_one_admin,
            the_last_admin_cannot_be_deleted,
            two_workers_never_lease_one_event_at_once,
            a_provider_proving_the_mailbox_replaces_what_was_attached_before,
            a_conflicting_link_writes_no_event,
            identities_are_found_by_provider_and_subject_and_unlinked_by_provider,
            users_are_listed_by_id_and_by_a_literal_email_prefix,
            only_the_owner_revokes_a_session_and_the_list_shows_live_ones_newest_first,
            a_password_change_keeps_one_session_and_kills_reset_links,
            email_tokens_are_single_use_purpose_bound_and_expire,
            an_email_change_moves_the_account_only_to_a_free_address,
            pruning_drops_what_nobody_can_present,
            the_outbox_leases_retries_dead_letters_and_prunes,
            revocations_are_polled_past_a_cursor_that_pruning_does_not_turn_back,
            an_admin_is_created_or_promoted_only_when_asked,
            a_hash_upgrade_keeps_sessions_and_the_credentials_version,
            a_session_keeps_its_assurance_through_rotation,
            a_step_up_raises_only_the_owners_live_session_and_spends_its_refresh_token,
        );
    };
    (@each $module:ident, $make:expr; $($name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(store) = $make.await {
                    $crate::testing::$module::$name(store).await;
                }
            }
        )+
    };
}

/// A password account with a throwaway hash, created now.
pub fn new_user(email: &str, role: Role) -> NewUser {
    NewUser {
        id: Uuid::new_v4(),
        email: email.to_owned(),
        email_key: email.to_lowercase(),
        full_name: None,
        role,
        password_hash: Some("hash".into()),
        email_verified: false,
        created_at: Utc::now(),
    }
}

/// An address nobody else in the database has.
pub fn unique(name: &str) -> String {
    format!("{name}-{}@example.com", Uuid::new_v4().simple())
}

/// A session of `user_id` opened at `now` at credentials version `version`, living a day.
pub fn new_session(user_id: Uuid, version: i64, hash: Vec<u8>, now: DateTime<Utc>) -> NewSession {
    NewSession {
        id: Uuid::new_v4(),
        user_id,
        user_agent: None,
        ip_address: None,
        refresh_token_hash: hash,
        created_at: now,
        expires_at: now + Duration::days(1),
        credentials_version: version,
        assurance: crate::mfa::Assurance::password(),
        client: None,
    }
}

fn rotation(presented: &[u8], successor: &[u8], now: DateTime<Utc>) -> RefreshRotation {
    RefreshRotation {
        presented_hash: presented.to_vec(),
        successor_hash: successor.to_vec(),
        now,
        reuse_interval_seconds: 10,
        expires_at: now + Duration::days(1),
        client_id: None,
    }
}

/// The undelivered events of one user, in outbox order, read the way the dispatcher reads them.
/// Every user's pending events are delivered on the way, so the next call, for whichever user,
/// returns only events written since.
pub async fn user_events(store: &Arc<dyn Store>, user_id: Uuid) -> Vec<OutboxEvent> {
    let worker = Uuid::new_v4();
    let mut events = Vec::new();
    loop {
        let now = Utc::now();
        let claimed = store.claim_events(worker, now, now + Duration::seconds(30), 100).await.unwrap();
        if claimed.is_empty() {
            return events;
        }
        for event in claimed {
            store.finish_delivery(worker, event.sequence, DeliveryResult::Delivered, Utc::now()).await.unwrap();
            if event.user_id == user_id {
                events.push(event);
            }
        }
    }
}

/// Event types of one user, in outbox order (see [`user_events`]).
async fn event_types(store: &Arc<dyn Store>, user_id: Uuid) -> Vec<String> {
    user_events(store, user_id).await.into_iter().map(|event| event.event_type).collect()
}

pub async fn duplicate_email_keys_are_a_conflict(store: Arc<dyn Store>) {
    let email = unique("Alice");
    store.create_user(new_user(&email, Role::User)).await.unwrap();
    let duplicate = store.create_user(new_user(&email.to_uppercase(), Role::User)).await;
    assert!(matches!(duplicate, Err(StoreError::Conflict("email"))), "{duplicate:?}");
    let found = store.find_user_by_email(&email.to_lowercase()).await.unwrap().unwrap();
    assert_eq!(found.email, email, "kept as typed");
    assert!(found.identity_providers.is_empty());
}

pub async fn rotation_then_grandparent_replay_revokes_and_logs_the_session(store: Arc<dyn Store>) {
    let user = store.create_user(new_user(&unique("bob"), Role::User)).await.unwrap();
    let now = Utc::now();
    let session = store.create_session(new_session(user.id, 0, vec![1], now)).await.unwrap().unwrap();
    let rotate = |presented: u8, successor: u8| rotation(&[presented], &[successor], now);
    assert!(matches!(store.rotate_refresh_token(rotate(1, 2)).await.unwrap(), RotationOutcome::Rotated(_)));
    assert!(matches!(store.rotate_refresh_token(rotate(1, 2)).await.unwrap(), RotationOutcome::ParentReplayed(_)));
    assert!(matches!(store.rotate_refresh_token(rotate(2, 3)).await.unwrap(), RotationOutcome::Rotated(_)));
    assert!(matches!(store.rotate_refresh_token(rotate(9, 10)).await.unwrap(), RotationOutcome::Unknown));
    assert!(matches!(store.rotate_refresh_token(rotate(1, 2)).await.unwrap(), RotationOutcome::Reused(_)));
    assert!(matches!(store.rotate_refresh_token(rotate(3, 4)).await.unwrap(), RotationOutcome::Revoked));
    let (log, _) = store.revocations_after(None, now - Duration::seconds(1)).await.unwrap();
    assert_eq!(log.iter().map(|revocation| revocation.session_id).collect::<Vec<_>>(), vec![session.id]);
}

pub async fn racing_rotations_of_one_token_leave_one_successor(store: Arc<dyn Store>) {
    let user = store.create_user(new_user(&unique("carl"), Role::User)).await.unwrap();
    let now = Utc::now();
    store.create_session(new_session(user.id, 0, b"live".to_vec(), now)).await.unwrap().unwrap();
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let store = store.clone();
        racing.spawn(async move { store.rotate_refresh_token(rotation(b"live", b"next", now)).await.unwrap() });
    }
    let outcomes = racing.join_all().await;
    let rotated = outcomes.iter().filter(|outcome| matches!(outcome, RotationOutcome::Rotated(_))).count();
    let replayed = outcomes.iter().filter(|outcome| matches!(outcome, RotationOutcome::ParentReplayed(_))).count();
    assert_eq!((rotated, replayed), (1, 9), "{outcomes:?}");
}

pub async fn a_session_opens_only_at_the_credentials_version_it_was_checked_against(store: Arc<dyn Store>) {
    let user = store.create_user(new_user(&unique("dana"), Role::User)).await.unwrap();
    let now = Utc::now();
    store.revoke_user_sessions(user.id, RevocationReason::LogoutAll, now).await.unwrap();
    let stale = store.create_session(new_session(user.id, user.credentials_version, vec![7], now)).await.unwrap();
    assert!(stale.is_none(), "a sign-in checked before the revocation opens nothing");
    let current = store.find_user(user.id).await.unwrap().unwrap();
    assert!(current.credentials_version > user.credentials_version);
    assert!(
        store.create_session(new_session(user.id, current.credentials_version, vec![8], now)).await.unwrap().is_some()
    );
    let patch = UserPatch { is_active: Some(false), ..UserPatch::default() };
    store.update_user(user.id, patch, now).await.unwrap();
    let deactivated = store.find_user(user.id).await.unwrap().unwrap();
    let refused = store.create_session(new_session(user.id, deactivated.credentials_version, vec![9], now)).await;
    assert!(refused.unwrap().is_none(), "an inactive account opens nothing");
}

pub async fn two_admins_demoting_each_other_at_once_leave_one_admin(store: Arc<dyn Store>) {
    let first = store.create_user(new_user(&unique("admin-a"), Role::Admin)).await.unwrap();
    let second = store.create_user(new_user(&unique("admin-b"), Role::Admin)).await.unwrap();
    let demote = |id: Uuid| {
        let store = store.clone();
        async move {
            let patch = UserPatch { role: Some(Role::User), ..UserPatch::default() };
            store.update_user(id, patch, Utc::now()).await.unwrap()
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(demote(first.id)), tokio::spawn(demote(second.id)));
    let outcomes = [a.unwrap(), b.unwrap()];
    let refused = outcomes.iter().filter(|outcome| matches!(outcome, UserUpdate::LastAdmin)).count();
    assert_eq!(refused, 1, "exactly one demotion must be refused: {outcomes:?}");
}

pub async fn the_last_admin_cannot_be_deleted(store: Arc<dyn Store>) {
    let admin = store.create_user(new_user(&unique("admin"), Role::Admin)).await.unwrap();
    // Other tests' admins share a PostgreSQL database only within their own test: this one is alone.
    assert!(matches!(store.delete_user(admin.id, Utc::now()).await.unwrap(), AccountDeletion::LastAdmin));
    let colleague = store.create_user(new_user(&unique("admin"), Role::Admin)).await.unwrap();
    assert!(matches!(store.delete_user(admin.id, Utc::now()).await.unwrap(), AccountDeletion::Deleted(_)));
    assert!(matches!(store.delete_user(admin.id, Utc::now()).await.unwrap(), AccountDeletion::NotFound));
    assert!(matches!(store.delete_user(colleague.id, Utc::now()).await.unwrap(), AccountDeletion::LastAdmin));
}

pub async fn two_workers_never_lease_one_event_at_once(store: Arc<dyn Store>) {
    for index in 0..20 {
        store.create_user(new_user(&unique(&format!("user{index}")), Role::User)).await.unwrap();
    }
    let lease = |worker: Uuid| {
        let store = store.clone();
        async move {
            let now = Utc::now();
            store.claim_events(worker, now, now + Duration::seconds(30), 50).await.unwrap()
        }
    };
    let (a, b) = tokio::join!(tokio::spawn(lease(Uuid::new_v4())), tokio::spawn(lease(Uuid::new_v4())));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.len() + b.len(), 20, "every pending event is leased once");
    assert!(a.iter().all(|event| b.iter().all(|other| other.sequence != event.sequence)), "no event twice");
}

pub async fn a_provider_proving_the_mailbox_replaces_what_was_attached_before(store: Arc<dyn Store>) {
    let user = store.create_user(new_user(&unique("erin"), Role::User)).await.unwrap();
    let identity = |provider: &str| NewIdentity {
        provider: provider.to_owned(),
        subject: format!("{provider}-{}", Uuid::new_v4().simple()),
        email: None,
        created_at: Utc::now(),
    };
    store.link_identity(user.id, identity("vk"), false).await.unwrap();
    store.create_session(new_session(user.id, user.credentials_version, vec![5], Utc::now())).await.unwrap().unwrap();
    let revoked = store.link_identity(user.id, identity("google"), true).await.unwrap();
    assert_eq!(revoked.len(), 1, "the session opened before the proof ends");
    let proven = store.find_user(user.id).await.unwrap().unwrap();
    assert!(proven.email_verified && proven.password_hash.is_none());
    assert_eq!(proven.identity_providers, ["google"]);
    assert!(proven.credentials_version > user.credentials_version);
    assert_eq!(
        event_types(&store, user.id).await,
        [
            "user.registered",
            "user.identity_linked",
            "user.identity_linked",
            "user.email_verified",
            "user.updated",
            "session.revoked"
        ]
    );
    // A second proof changes nothing more.
    assert!(store.link_identity(user.id, identity("facebook"), true).await.unwrap().is_empty());
}

pub async fn a_conflicting_link_writes_no_event(store: Arc<dyn Store>) {
    let first = store.create_user(new_user(&unique("fay"), Role::User)).await.unwrap();
    let second = store.create_user(new_user(&unique("gus"), Role::User)).await.unwrap();
    let identity = NewIdentity {
        provider: "google".into(),
        subject: Uuid::new_v4().to_string(),
        email: None,
        created_at: Utc::now(),
    };
    store.link_identity(first.id, identity.clone(), false).await.unwrap();
    assert!(matches!(store.link_identity(second.id, identity, false).await, Err(StoreError::Conflict("identity"))));
    assert_eq!(event_types(&store, second.id).await, ["user.registered"]);
}

fn identity(provider: &str, subject: &str) -> NewIdentity {
    NewIdentity { provider: provider.to_owned(), subject: subject.to_owned(), email: None, created_at: Utc::now() }
}

pub async fn identities_are_found_by_provider_and_subject_and_unlinked_by_provider(store: Arc<dyn Store>) {
    let user = store.create_user(new_user(&unique("hal"), Role::User)).await.unwrap();
    let subject = Uuid::new_v4().to_string();
    store.link_identity(user.id, identity("vk", &subject), false).await.unwrap();
    assert_eq!(store.find_user_by_identity("vk", &subject).await.unwrap().unwrap().id, user.id);
    assert!(store.find_user_by_identity("google", &subject).await.unwrap().is_none(), "provider and subject");
    store.unlink_identity(user.id, "vk").await.unwrap();
    assert!(store.find_user_by_identity("vk", &subject).await.unwrap().is_none());
    let created = store
        .create_user_with_identity(
            NewUser { password_hash: None, ..new_user(&unique("ivy"), Role::User) },
            identity("google", &subject),
        )
        .await
        .unwrap();
    assert_eq!(created.identity_providers, ["google"]);
    assert!(created.password_hash.is_none());
}

pub async fn users_are_listed_by_id_and_by_a_literal_email_prefix(store: Arc<dyn Store>) {
    let prefix = format!("p{}", Uuid::new_v4().simple());
    let mut ids = Vec::new();
    for index in 0..5 {
        let user = store.create_user(new_user(&format!("{prefix}_{index}@example.com"), Role::User)).await.unwrap();
        ids.push(user.id);
    }
    store.create_user(new_user(&format!("{prefix}x9@example.com"), Role::User)).await.unwrap();
    ids.sort();
    let first = store.list_users(None, 3, Some(&format!("{prefix}_"))).await.unwrap();
    assert_eq!(first.iter().map(|user| user.id).collect::<Vec<_>>(), ids[..3]);
    let rest = store.list_users(Some(ids[2]), 3, Some(&format!("{prefix}_"))).await.unwrap();
    assert_eq!(rest.iter().map(|user| user.id).collect::<Vec<_>>(), ids[3..], "`_` matches itself only");
}

pub async fn only_the_owner_revokes_a_session_and_the_list_shows_live_ones_newest_first(store: Arc<dyn Store>) {
    let owner = store.create_user(new_user(&unique("jo"), Role::User)).await.unwrap();
    let other = store.create_user(new_user(&unique("kim"), Role::User)).await.unwrap();
    let now = Utc::now();
    let older = store.create_session(new_session(owner.id, 0, vec![21], now)).await.unwrap().unwrap();
    let newer =
        store.create_session(new_session(owner.id, 0, vec![22], now + Duration::seconds(1))).await.unwrap().unwrap();
    let revoke = |user: Uuid, session: Uuid| store.revoke_session(user, session, RevocationReason::Logout, now);
    assert!(revoke(other.id, older.id).await.unwrap().is_none(), "someone else's session");
    let listed = store.list_active_sessions(owner.id, now).await.unwrap();
    assert_eq!(listed.iter().map(|session| session.id).collect::<Vec<_>>(), [newer.id, older.id]);
    assert!(revoke(owner.id, older.id).await.unwrap().is_some());
    assert!(revoke(owner.id, older.id).await.unwrap().is_none(), "already revoked");
    let listed = store.list_active_sessions(owner.id, now).await.unwrap();
    assert_eq!(listed.iter().map(|session| session.id).collect::<Vec<_>>(), [newer.id]);
    assert_eq!(store.find_session_by_refresh_hash(&[21]).await.unwrap().unwrap().id, older.id);
}

fn token(user_id: Uuid, hash: &[u8], purpose: EmailTokenPurpose, lifetime: Duration) -> NewEmailToken {
    let now = Utc::now();
    NewEmailToken {
        token_hash: hash.to_vec(),
        user_id,
        purpose,
        created_at: now,
        expires_at: now + lifetime,
        new_email: None,
    }
}

pub async fn a_password_change_keeps_one_session_and_kills_reset_links(store: Arc<dyn Store>) {
    let user = store.create_user(new_user(&unique("lou"), Role::User)).await.unwrap();
    let now = Utc::now();
    let kept = store.create_session(new_session(user.id, 0, vec![31], now)).await.unwrap().unwrap();
    let other = store.create_session(new_session(user.id, 0, vec![32], now)).await.unwrap().unwrap();
    store
        .create_email_token(token(user.id, b"reset", EmailTokenPurpose::ResetPassword, Duration::hours(1)))
        .await
        .unwrap();
    let revoked = store.change_password(user.id, "new-hash", Some(kept.id), now).await.unwrap();
    assert_eq!(revoked.iter().map(|revocation| revocation.session_id).collect::<Vec<_>>(), [other.id]);
    let changed = store.find_user(user.id).await.unwrap().unwrap();
    assert_eq!(changed.password_hash.as_deref(), Some("new-hash"));
    assert!(changed.credentials_version > user.credentials_version);
    assert!(store.reset_password(b"reset", "another", now).await.unwrap().is_none(), "the reset link died");
}

pub async fn email_tokens_are_single_use_purpose_bound_and_expire(store: Arc<dyn Store>) {
    let user = store.create_user(new_user(&unique("max"), Role::User)).await.unwrap();
    let now = Utc::now();
    store
        .create_email_token(token(user.id, b"verify", EmailTokenPurpose::VerifyEmail, Duration::hours(1)))
        .await
        .unwrap();
    store
        .create_email_token(token(user.id, b"reset-1", EmailTokenPurpose::ResetPassword, Duration::hours(1)))
        .await
        .unwrap();
    store
        .create_email_token(token(user.id, b"reset-2", EmailTokenPurpose::ResetPassword, Duration::hours(1)))
        .await
        .unwrap();
    store
        .create_email_token(token(user.id, b"old", EmailTokenPurpose::VerifyEmail, Duration::seconds(-1)))
        .await
        .unwrap();
    assert!(store.verify_email(b"reset-1", now).await.unwrap().is_none(), "a reset token does not verify");
    assert!(store.verify_email(b"old", now).await.unwrap().is_none(), "expired");
    assert_eq!(store.verify_email(b"verify", now).await.unwrap().unwrap().0, user.id);
    assert!(store.verify_email(b"verify", now).await.unwrap().is_none(), "single use");
    assert!(store.find_user(user.id).await.unwrap().unwrap().email_verified);
    let (reset_user, _) = store.reset_password(b"reset-1", "reset-hash", now).await.unwrap().unwrap();
    assert_eq!(reset_user, user.id);
    assert!(store.reset_password(b"reset-2", "again", now).await.unwrap().is_none(), "the other reset link died");
}

pub async fn an_email_change_moves_the_account_only_to_a_free_address(store: Arc<dyn Store>) {
    let user = store.create_user(new_user(&unique("ned"), Role::User)).await.unwrap();
    let new_email = unique("Ned-New");
    let change = |hash: &[u8], to: &str| NewEmailToken {
        new_email: Some(to.to_owned()),
        ..token(user.id, hash, EmailTokenPurpose::ChangeEmail, Duration::hours(1))
    };
    store.create_email_token(change(b"change-1", &new_email)).await.unwrap();
    store.create_email_token(change(b"change-2", &unique("ned-other"))).await.unwrap();
    assert_eq!(store.verify_email(b"change-1", Utc::now()).await.unwrap().unwrap().0, user.id);
    let moved = store.find_user_by_email(&new_email.to_lowercase()).await.unwrap().unwrap();
    assert_eq!((moved.id, moved.email.as_str(), moved.email_verified), (user.id, new_email.as_str(), true));
    assert!(store.verify_email(b"change-2", Utc::now()).await.unwrap().is_none(), "older links die with the change");

    let taken = store.create_user(new_user(&unique("taken"), Role::User)).await.unwrap();
    store.create_email_token(change(b"change-3", &taken.email)).await.unwrap();
    let refused = store.verify_email(b"change-3", Utc::now()).await;
    assert!(matches!(refused, Err(StoreError::Conflict("email"))), "{refused:?}");
    assert_eq!(store.find_user(user.id).await.unwrap().unwrap().email, new_email, "nothing changed");
}

pub async fn pruning_drops_what_nobody_can_present(store: Arc<dyn Store>) {
    let user = store.create_user(new_user(&unique("ola"), Role::User)).await.unwrap();
    let now = Utc::now();
    let expired = NewSession { expires_at: now - Duration::seconds(1), ..new_session(user.id, 0, vec![41], now) };
    let expired = store.create_session(expired).await.unwrap().unwrap();
    let live = store.create_session(new_session(user.id, 0, vec![42], now)).await.unwrap().unwrap();
    assert!(store.prune(now - Duration::hours(1), now).await.unwrap() >= 1);
    assert!(store.find_session(expired.id).await.unwrap().is_none());
    assert!(store.find_session(live.id).await.unwrap().is_some());
}

pub async fn the_outbox_leases_retries_dead_letters_and_prunes(store: Arc<dyn Store>) {
    let first = store.create_user(new_user(&unique("frank"), Role::User)).await.unwrap();
    let second = store.create_user(new_user(&unique("grace"), Role::User)).await.unwrap();
    let now = Utc::now();
    let (worker, other) = (Uuid::new_v4(), Uuid::new_v4());
    let lease = now + Duration::seconds(30);

    let claimed = store.claim_events(worker, now, lease, 10).await.unwrap();
    assert_eq!(claimed.iter().map(|event| event.user_id).collect::<Vec<_>>(), [first.id, second.id]);
    assert!(store.claim_events(other, now, lease, 10).await.unwrap().is_empty(), "leased events are taken");
    assert_eq!(store.outbox_stats().await.unwrap().pending, 2);
    // After the lease runs out, someone else may take them.
    let after_lease = lease + Duration::seconds(1);
    assert_eq!(store.claim_events(other, after_lease, after_lease + Duration::seconds(30), 10).await.unwrap().len(), 2);
    // The first worker's late report is ignored: it no longer holds the lease.
    store.finish_delivery(worker, claimed[0].sequence, DeliveryResult::Delivered, now).await.unwrap();
    assert_eq!(store.outbox_stats().await.unwrap().pending, 2);

    let later = lease + Duration::seconds(2);
    let retry = DeliveryResult::Retry {
        delivered_sinks: vec!["redis:s".into()],
        error: "webhook answered 500".into(),
        retry_at: later + Duration::seconds(5),
    };
    store.finish_delivery(other, claimed[0].sequence, retry, later).await.unwrap();
    let give_up = DeliveryResult::GiveUp { delivered_sinks: vec![], error: "gone".into() };
    store.finish_delivery(other, claimed[1].sequence, give_up, later).await.unwrap();
    assert!(store.claim_events(worker, later, later + Duration::seconds(30), 10).await.unwrap().is_empty(), "not due");
    let retried = store.claim_events(worker, later + Duration::seconds(6), later + Duration::seconds(60), 10).await;
    let retried = retried.unwrap();
    assert_eq!(retried.len(), 1);
    assert_eq!((retried[0].attempts, retried[0].delivered_sinks.as_slice()), (1, ["redis:s".to_owned()].as_slice()));

    let dead = store.list_dead_letters(None, 10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!((dead[0].user_id, dead[0].last_error.as_deref()), (second.id, Some("gone")));
    assert!(store.list_dead_letters(Some(dead[0].sequence), 10).await.unwrap().is_empty(), "paged after the last");
    assert_eq!(store.outbox_stats().await.unwrap().dead, 1);
    assert!(store.retry_dead_letter(dead[0].id, later).await.unwrap());
    assert!(!store.retry_dead_letter(dead[0].id, later).await.unwrap(), "only dead letters are retried");
    assert!(!store.retry_dead_letter(Uuid::new_v4(), later).await.unwrap(), "an unknown id is no dead letter");
    assert!(store.list_dead_letters(None, 10).await.unwrap().is_empty());

    store.finish_delivery(worker, retried[0].sequence, DeliveryResult::Delivered, later).await.unwrap();
    assert_eq!(store.prune_events(later - Duration::seconds(1)).await.unwrap(), 0, "inside the retention");
    assert_eq!(store.prune_events(later + Duration::seconds(1)).await.unwrap(), 1);
    let stats = store.outbox_stats().await.unwrap();
    assert_eq!((stats.pending, stats.dead), (1, 0));
}

fn ids(revocations: &[Revocation]) -> Vec<Uuid> {
    revocations.iter().map(|revocation| revocation.session_id).collect()
}

pub async fn revocations_are_polled_past_a_cursor_that_pruning_does_not_turn_back(store: Arc<dyn Store>) {
    let user = store.create_user(new_user(&unique("heidi"), Role::User)).await.unwrap();
    let now = Utc::now();
    let horizon = now - Duration::minutes(16);
    let open = |hash: u8| store.create_session(new_session(user.id, 0, vec![hash], now));
    let early = open(1).await.unwrap().unwrap().id;
    let late = open(2).await.unwrap().unwrap().id;
    store.revoke_session(user.id, early, RevocationReason::Logout, now).await.unwrap();
    // A poll may return a row again (on PostgreSQL another open transaction anywhere on the
    // server holds the cursor back), so what is asserted is that nothing is ever missed.
    let (loaded, cursor) = store.revocations_after(None, horizon).await.unwrap();
    assert_eq!(ids(&loaded), [early]);

    // Stamped long before this poll's window, committed after the last poll: still seen.
    let stamped = now - Duration::seconds(60);
    store.revoke_session(user.id, late, RevocationReason::Logout, stamped).await.unwrap();
    let (after, cursor) = store.revocations_after(Some(cursor), horizon).await.unwrap();
    let late_row = after.iter().find(|revocation| revocation.session_id == late).expect("the late revocation");
    assert_eq!(late_row.revoked_at.timestamp_micros(), stamped.timestamp_micros());
    assert!(store.revocations_after(None, now + Duration::seconds(1)).await.unwrap().0.is_empty(), "too old");

    // Pruning every row must not make a sequence number come back under the cursor.
    store.prune(now + Duration::hours(1), now - Duration::days(1)).await.unwrap();
    let third = open(3).await.unwrap().unwrap().id;
    let revoked = store.revoke_user_sessions(user.id, RevocationReason::AdminLogout, now).await.unwrap();
    assert_eq!(ids(&revoked), [third], "only live sessions are revoked");
    let (after_pruning, _) = store.revocations_after(Some(cursor), horizon).await.unwrap();
    assert!(ids(&after_pruning).contains(&third), "{after_pruning:?}");
    assert!(open(4).await.unwrap().is_none(), "revoking every session bumped the credentials version");
}

pub async fn an_admin_is_created_or_promoted_only_when_asked(store: Arc<dyn Store>) {
    let email = unique("root");
    let AdminBootstrap::Created(created) = store.ensure_admin(new_user(&email, Role::User), false).await.unwrap()
    else {
        panic!("a free address gets a new admin");
    };
    assert_eq!(created.role, Role::Admin);
    let again = store.ensure_admin(new_user(&email, Role::User), true).await.unwrap();
    assert!(matches!(again, AdminBootstrap::AlreadyAdmin(user) if user.id == created.id));

    let existing = store.create_user(new_user(&unique("member"), Role::User)).await.unwrap();
    let mut asked = new_user(&existing.email, Role::User);
    asked.password_hash = Some("another hash".into());
    let left = store.ensure_admin(asked.clone(), false).await.unwrap();
    assert!(matches!(left, AdminBootstrap::LeftAsIs(user) if user.role == Role::User));
    let AdminBootstrap::Promoted(promoted) = store.ensure_admin(asked, true).await.unwrap() else {
        panic!("promotion was asked for");
    };
    assert_eq!((promoted.id, promoted.role), (existing.id, Role::Admin));
    assert_eq!(promoted.password_hash.as_deref(), Some("hash"), "the password is never touched");
}

pub async fn a_hash_upgrade_keeps_sessions_and_the_credentials_version(store: Arc<dyn Store>) {
    let user = store.create_user(new_user(&unique("ivan"), Role::User)).await.unwrap();
    let now = Utc::now();
    let session = store.create_session(new_session(user.id, user.credentials_version, vec![7], now)).await.unwrap();
    let session = session.unwrap();
    store.set_password_hash(user.id, "upgraded", now + Duration::seconds(1)).await.unwrap();
    let upgraded = store.find_user(user.id).await.unwrap().unwrap();
    assert_eq!(upgraded.password_hash.as_deref(), Some("upgraded"));
    assert_eq!(upgraded.credentials_version, user.credentials_version, "the same password, rehashed");
    assert!(store.find_session(session.id).await.unwrap().unwrap().revoked_at.is_none());
}

pub async fn a_session_keeps_its_assurance_through_rotation(store: Arc<dyn Store>) {
    use crate::mfa::{Aal, Assurance, AuthMethod};
    let user = store.create_user(new_user(&unique("judy"), Role::User)).await.unwrap();
    let now = Utc::now();
    let assurance = Assurance::federated().step_up(&[AuthMethod::Otp], false);
    let opened = NewSession { assurance: assurance.clone(), ..new_session(user.id, 0, vec![51], now) };
    let session = store.create_session(opened).await.unwrap().unwrap();
    assert_eq!(
        (session.assurance.aal, session.assurance.amr.as_slice()),
        (Aal::Aal2, [AuthMethod::Fed, AuthMethod::Otp].as_slice())
    );
    let RotationOutcome::Rotated(rotated) = store.rotate_refresh_token(rotation(&[51], &[52], now)).await.unwrap()
    else {
        panic!("a live token rotates");
    };
    assert_eq!(rotated.assurance, assurance);
    assert_eq!(store.find_session(session.id).await.unwrap().unwrap().assurance, assurance);
}

pub async fn a_step_up_raises_only_the_owners_live_session_and_spends_its_refresh_token(store: Arc<dyn Store>) {
    use crate::mfa::{Aal, Assurance, AuthMethod};
    use crate::ports::SessionStepUp;
    let user = store.create_user(new_user(&unique("kim"), Role::User)).await.unwrap();
    let other = store.create_user(new_user(&unique("lee"), Role::User)).await.unwrap();
    let now = Utc::now();
    let session = store.create_session(new_session(user.id, 0, vec![61], now)).await.unwrap().unwrap();
    let raised = Assurance::password().step_up(&[AuthMethod::Otp], false);
    let step_up = |user_id: Uuid| SessionStepUp {
        user_id,
        session_id: session.id,
        assurance: raised.clone(),
        refresh_token_hash: vec![62],
        now,
    };
    assert!(store.step_up_session(step_up(other.id)).await.unwrap().is_none(), "someone else's session");
    let stepped = store.step_up_session(step_up(user.id)).await.unwrap().unwrap();
    assert_eq!(stepped.assurance.aal, Aal::Aal2);
    assert_eq!(store.find_session(session.id).await.unwrap().unwrap().assurance, raised);
    let RotationOutcome::Rotated(rotated) = store.rotate_refresh_token(rotation(&[62], &[63], now)).await.unwrap()
    else {
        panic!("the new refresh token is live");
    };
    assert_eq!(rotated.assurance, raised);
    assert!(matches!(
        store.rotate_refresh_token(rotation(&[61], &[64], now)).await.unwrap(),
        RotationOutcome::Reused(_)
    ));
    let revoked = SessionStepUp { refresh_token_hash: vec![65], ..step_up(user.id) };
    assert!(store.step_up_session(revoked).await.unwrap().is_none(), "a revoked session is not raised");
}
