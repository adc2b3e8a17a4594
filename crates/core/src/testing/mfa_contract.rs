//! The second-factor part of the store contract (`MfaStore`): enrolment, the TOTP replay guard
//! and single-use recovery codes under races, passkeys, and the administrator's reset. Run by
//! both store crates through [`mfa_contract_tests!`](crate::mfa_contract_tests).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use super::store_contract::{new_session, new_user, unique, user_events};
use crate::error::StoreError;
use crate::events::RevocationReason;
use crate::mfa::{NewPasskey, RECOVERY_CODE_COUNT, SecondFactors, recovery};
use crate::model::{Role, User};
use crate::ports::Store;

/// Generates one `#[tokio::test]` per second-factor check, as
/// [`store_contract_tests!`](crate::store_contract_tests) does for the rest of the contract.
#[macro_export]
macro_rules! mfa_contract_tests {
    ($make:expr) => {
        $crate::store_contract_tests!(@each mfa_contract, $make;
            a_totp_factor_is_pending_until_confirmed_and_then_kept_until_removed,
            second_factors_count_a_confirmed_totp_factor_passkeys_and_unused_codes,
            a_totp_step_is_spent_once_and_an_older_one_never,
            racing_uses_of_one_totp_step_let_exactly_one_through,
            recovery_codes_are_single_use_and_a_new_set_replaces_the_old,
            racing_uses_of_one_recovery_code_let_exactly_one_through,
            passkeys_are_added_listed_found_used_and_removed_by_their_owner_only,
            a_credential_id_is_registered_once_whoever_asks,
            removing_the_last_second_factor_removes_the_recovery_codes,
            resetting_second_factors_removes_them_all_and_revokes_every_session,
        );
    };
}

/// A passkey of `user_id` with a fresh credential id, registered at `created_at`.
pub fn new_passkey(user_id: Uuid, created_at: DateTime<Utc>) -> NewPasskey {
    NewPasskey {
        id: Uuid::new_v4(),
        user_id,
        credential_id: Uuid::new_v4().as_bytes().to_vec(),
        name: "Security key".into(),
        credential: r#"{"cred":{"counter":0}}"#.into(),
        created_at,
    }
}

/// The hashes of a full set of recovery codes of `user_id`, named after `set`.
fn codes(user_id: Uuid, set: &str) -> Vec<String> {
    (0..RECOVERY_CODE_COUNT).map(|index| recovery::hash(user_id, &format!("{set}-{index}"))).collect()
}

async fn account(store: &Arc<dyn Store>, name: &str) -> User {
    store.create_user(new_user(&unique(name), Role::User)).await.unwrap()
}

/// A user with a confirmed TOTP factor (the code of `step` spent) and a set of recovery codes.
async fn enrolled(store: &Arc<dyn Store>, name: &str, step: i64) -> User {
    let user = account(store, name).await;
    store.put_pending_totp(user.id, "v1.sealed", Utc::now()).await.unwrap();
    assert!(store.confirm_totp(user.id, step, Some(codes(user.id, "first")), Utc::now()).await.unwrap());
    user
}

/// Type and `data` of each event of the user written since the last look.
async fn new_events(store: &Arc<dyn Store>, user_id: Uuid) -> Vec<(String, Value)> {
    let events = user_events(store, user_id).await;
    events
        .into_iter()
        .map(|event| {
            let envelope: Value = serde_json::from_str(&event.payload).unwrap();
            (event.event_type, envelope["data"].clone())
        })
        .collect()
}

fn types(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(event_type, _)| event_type.as_str()).collect()
}

fn event(event_type: &str, data: Value) -> (String, Value) {
    (event_type.to_owned(), data)
}

fn micros(time: Option<DateTime<Utc>>) -> Option<i64> {
    time.map(|time| time.timestamp_micros())
}

pub async fn a_totp_factor_is_pending_until_confirmed_and_then_kept_until_removed(store: Arc<dyn Store>) {
    let user = account(&store, "tara").await;
    let now = Utc::now();
    assert!(store.find_totp(user.id).await.unwrap().is_none());
    assert!(!store.confirm_totp(user.id, 1, None, now).await.unwrap(), "nothing to confirm");
    store.put_pending_totp(user.id, "v1.first", now).await.unwrap();
    store.put_pending_totp(user.id, "v1.second", now).await.unwrap();
    let pending = store.find_totp(user.id).await.unwrap().unwrap();
    assert_eq!(pending.user_id, user.id);
    assert_eq!(pending.sealed_secret, "v1.second", "a restart replaces the secret");
    assert_eq!((pending.confirmed_at, pending.last_used_step), (None, None));
    assert_eq!(micros(Some(pending.created_at)), micros(Some(now)));
    assert!(!store.second_factors(user.id).await.unwrap().any(), "a pending factor is no second factor");
    assert_eq!(types(&new_events(&store, user.id).await), ["user.registered"], "nothing until confirmed");

    assert!(store.confirm_totp(user.id, 7, Some(codes(user.id, "first")), now).await.unwrap());
    let confirmed = store.find_totp(user.id).await.unwrap().unwrap();
    assert_eq!((micros(confirmed.confirmed_at), confirmed.last_used_step), (micros(Some(now)), Some(7)));
    let expected = SecondFactors { totp: true, passkeys: 0, recovery_codes_left: RECOVERY_CODE_COUNT as u32 };
    assert_eq!(store.second_factors(user.id).await.unwrap(), expected);
    assert!(!store.confirm_totp(user.id, 8, None, now).await.unwrap(), "confirmed already");
    let restart = store.put_pending_totp(user.id, "v1.third", now).await;
    assert!(matches!(restart, Err(StoreError::Conflict("totp"))), "{restart:?}");
    assert_eq!(store.find_totp(user.id).await.unwrap().unwrap(), confirmed, "the confirmed factor is kept");
    assert_eq!(new_events(&store, user.id).await, [event("user.mfa_enabled", json!({"method": "totp"}))]);
}

pub async fn second_factors_count_a_confirmed_totp_factor_passkeys_and_unused_codes(store: Arc<dyn Store>) {
    let user = account(&store, "uma").await;
    let stranger = account(&store, "stranger").await;
    let now = Utc::now();
    assert_eq!(store.second_factors(user.id).await.unwrap(), SecondFactors::default());
    let hashes = codes(user.id, "first");
    store.replace_recovery_codes(user.id, hashes.clone(), now).await.unwrap();
    assert!(store.use_recovery_code(user.id, &hashes[0], now).await.unwrap());
    store.add_passkey(new_passkey(user.id, now)).await.unwrap();
    store.add_passkey(new_passkey(user.id, now)).await.unwrap();
    store.put_pending_totp(user.id, "v1.sealed", now).await.unwrap();
    let left = RECOVERY_CODE_COUNT as u32 - 1;
    let counted = store.second_factors(user.id).await.unwrap();
    assert_eq!(counted, SecondFactors { totp: false, passkeys: 2, recovery_codes_left: left });
    assert!(counted.any(), "passkeys are second factors");
    assert!(store.confirm_totp(user.id, 1, None, now).await.unwrap());
    let counted = store.second_factors(user.id).await.unwrap();
    assert_eq!(counted, SecondFactors { totp: true, passkeys: 2, recovery_codes_left: left }, "codes kept");
    assert_eq!(store.second_factors(stranger.id).await.unwrap(), SecondFactors::default());
}

pub async fn a_totp_step_is_spent_once_and_an_older_one_never(store: Arc<dyn Store>) {
    let user = enrolled(&store, "vic", 100).await;
    let stranger = account(&store, "stranger").await;
    assert!(!store.use_totp_step(user.id, 100).await.unwrap(), "the confirming code is spent");
    assert!(!store.use_totp_step(user.id, 99).await.unwrap(), "an older step");
    assert!(store.use_totp_step(user.id, 101).await.unwrap());
    assert!(!store.use_totp_step(user.id, 101).await.unwrap(), "the same step again");
    assert!(!store.use_totp_step(user.id, 100).await.unwrap());
    assert!(store.use_totp_step(user.id, 103).await.unwrap(), "a later step, one skipped");
    assert_eq!(store.find_totp(user.id).await.unwrap().unwrap().last_used_step, Some(103));
    assert!(!store.use_totp_step(stranger.id, 200).await.unwrap(), "without a factor nothing is accepted");
    store.put_pending_totp(stranger.id, "v1.sealed", Utc::now()).await.unwrap();
    assert!(!store.use_totp_step(stranger.id, 200).await.unwrap(), "a pending factor accepts nothing");
}

pub async fn racing_uses_of_one_totp_step_let_exactly_one_through(store: Arc<dyn Store>) {
    let user = enrolled(&store, "wes", 1).await;
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let store = store.clone();
        racing.spawn(async move { store.use_totp_step(user.id, 2).await.unwrap() });
    }
    let accepted = racing.join_all().await.into_iter().filter(|accepted| *accepted).count();
    assert_eq!(accepted, 1, "one code, one sign-in");
}

pub async fn recovery_codes_are_single_use_and_a_new_set_replaces_the_old(store: Arc<dyn Store>) {
    let user = account(&store, "xena").await;
    let stranger = account(&store, "stranger").await;
    let now = Utc::now();
    let (first, second) = (codes(user.id, "first"), codes(user.id, "second"));
    new_events(&store, user.id).await;
    store.replace_recovery_codes(user.id, first.clone(), now).await.unwrap();
    assert!(store.use_recovery_code(user.id, &first[0], now).await.unwrap());
    assert!(!store.use_recovery_code(user.id, &first[0], now).await.unwrap(), "single use");
    assert!(!store.use_recovery_code(stranger.id, &first[1], now).await.unwrap(), "another user's code");
    assert!(!store.use_recovery_code(user.id, "not a code", now).await.unwrap());
    assert_eq!(store.second_factors(user.id).await.unwrap().recovery_codes_left, RECOVERY_CODE_COUNT as u32 - 1);

    store.replace_recovery_codes(user.id, second.clone(), now).await.unwrap();
    assert_eq!(store.second_factors(user.id).await.unwrap().recovery_codes_left, RECOVERY_CODE_COUNT as u32);
    assert!(!store.use_recovery_code(user.id, &first[1], now).await.unwrap(), "the old set stopped working");
    assert!(store.use_recovery_code(user.id, &second[0], now).await.unwrap());
    let regenerated = event("user.recovery_codes_regenerated", json!({}));
    assert_eq!(new_events(&store, user.id).await, [regenerated.clone(), regenerated]);
}

pub async fn racing_uses_of_one_recovery_code_let_exactly_one_through(store: Arc<dyn Store>) {
    let user = enrolled(&store, "yuri", 1).await;
    let code = codes(user.id, "first").swap_remove(3);
    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (store, code) = (store.clone(), code.clone());
        racing.spawn(async move { store.use_recovery_code(user.id, &code, Utc::now()).await.unwrap() });
    }
    let accepted = racing.join_all().await.into_iter().filter(|accepted| *accepted).count();
    assert_eq!(accepted, 1, "one code, one sign-in");
    assert_eq!(store.second_factors(user.id).await.unwrap().recovery_codes_left, RECOVERY_CODE_COUNT as u32 - 1);
}

pub async fn passkeys_are_added_listed_found_used_and_removed_by_their_owner_only(store: Arc<dyn Store>) {
    let owner = account(&store, "zoe").await;
    let stranger = account(&store, "stranger").await;
    let now = Utc::now();
    let older = new_passkey(owner.id, now - Duration::seconds(2));
    let newer = NewPasskey { name: "Phone".into(), ..new_passkey(owner.id, now - Duration::seconds(1)) };
    new_events(&store, owner.id).await;
    let added = store.add_passkey(newer.clone()).await.unwrap();
    assert_eq!((added.id, added.user_id, added.name.as_str()), (newer.id, owner.id, "Phone"));
    assert_eq!((&added.credential_id, &added.credential), (&newer.credential_id, &newer.credential));
    assert_eq!((micros(Some(added.created_at)), added.last_used_at), (micros(Some(newer.created_at)), None));
    store.add_passkey(older.clone()).await.unwrap();
    let listed = store.list_passkeys(owner.id).await.unwrap();
    assert_eq!(listed.iter().map(|passkey| passkey.id).collect::<Vec<_>>(), [older.id, newer.id], "oldest first");
    assert_eq!(listed[1], added);
    assert!(store.list_passkeys(stranger.id).await.unwrap().is_empty());

    let found = store.find_passkey_by_credential_id(&older.credential_id).await.unwrap().unwrap();
    assert_eq!((found.id, found.user_id), (older.id, owner.id));
    assert!(store.find_passkey_by_credential_id(b"unknown").await.unwrap().is_none());
    assert_eq!(found.sign_count, 0, "no assertion yet");
    let used = r#"{"cred":{"counter":7}}"#;
    assert!(store.record_passkey_use(older.id, 0, 7, used, now).await.unwrap());
    let found = store.find_passkey_by_credential_id(&older.credential_id).await.unwrap().unwrap();
    assert_eq!((found.credential.as_str(), found.sign_count), (used, 7));
    assert_eq!(micros(found.last_used_at), micros(Some(now)));
    // A second use that read the counter before the first was recorded loses the compare-and-set.
    assert!(!store.record_passkey_use(older.id, 0, 7, r#"{"cred":{"counter":7},"late":1}"#, now).await.unwrap());
    let found = store.find_passkey_by_credential_id(&older.credential_id).await.unwrap().unwrap();
    assert_eq!((found.credential.as_str(), found.sign_count), (used, 7), "unchanged by the loser");

    assert!(!store.delete_passkey(stranger.id, older.id, now).await.unwrap(), "someone else's");
    assert!(store.delete_passkey(owner.id, older.id, now).await.unwrap());
    assert!(!store.delete_passkey(owner.id, older.id, now).await.unwrap(), "gone already");
    let listed = store.list_passkeys(owner.id).await.unwrap();
    assert_eq!(listed.iter().map(|passkey| passkey.id).collect::<Vec<_>>(), [newer.id]);
    assert_eq!(
        new_events(&store, owner.id).await,
        [
            event("user.passkey_added", json!({"passkey_id": newer.id})),
            event("user.passkey_added", json!({"passkey_id": older.id})),
            event("user.passkey_removed", json!({"passkey_id": older.id})),
        ]
    );
    assert!(new_events(&store, stranger.id).await.is_empty(), "a refused removal records nothing");
}

pub async fn a_credential_id_is_registered_once_whoever_asks(store: Arc<dyn Store>) {
    let (first, second) = (account(&store, "abe").await, account(&store, "bea").await);
    let passkey = new_passkey(first.id, Utc::now());
    store.add_passkey(passkey.clone()).await.unwrap();
    new_events(&store, second.id).await;
    let stolen = store.add_passkey(NewPasskey { id: Uuid::new_v4(), user_id: second.id, ..passkey.clone() }).await;
    assert!(matches!(stolen, Err(StoreError::Conflict("credential_id"))), "{stolen:?}");
    let again = store.add_passkey(NewPasskey { id: Uuid::new_v4(), ..passkey }).await;
    assert!(matches!(again, Err(StoreError::Conflict("credential_id"))), "{again:?}");
    assert!(store.list_passkeys(second.id).await.unwrap().is_empty());
    assert_eq!(store.list_passkeys(first.id).await.unwrap().len(), 1);
    assert!(new_events(&store, second.id).await.is_empty(), "a refused registration records nothing");
}

pub async fn removing_the_last_second_factor_removes_the_recovery_codes(store: Arc<dyn Store>) {
    let user = enrolled(&store, "cal", 1).await;
    let now = Utc::now();
    let passkey = store.add_passkey(new_passkey(user.id, now)).await.unwrap();
    new_events(&store, user.id).await;
    assert!(store.delete_passkey(user.id, passkey.id, now).await.unwrap());
    let left = store.second_factors(user.id).await.unwrap();
    assert_eq!(left.recovery_codes_left, RECOVERY_CODE_COUNT as u32, "the TOTP factor remains");
    assert!(store.delete_totp(user.id, now).await.unwrap());
    assert_eq!(store.second_factors(user.id).await.unwrap(), SecondFactors::default(), "the codes went with it");
    assert!(store.find_totp(user.id).await.unwrap().is_none());
    assert!(!store.delete_totp(user.id, now).await.unwrap(), "nothing left to remove");
    assert_eq!(
        new_events(&store, user.id).await,
        [
            event("user.passkey_removed", json!({"passkey_id": passkey.id})),
            event("user.mfa_disabled", json!({"method": "totp"})),
        ]
    );

    // The other way round: a pending TOTP factor keeps nothing alive, and its removal is no event.
    let other = account(&store, "stranger").await;
    let passkey = store.add_passkey(new_passkey(other.id, now)).await.unwrap();
    store.replace_recovery_codes(other.id, codes(other.id, "first"), now).await.unwrap();
    store.put_pending_totp(other.id, "v1.sealed", now).await.unwrap();
    new_events(&store, other.id).await;
    assert!(store.delete_passkey(other.id, passkey.id, now).await.unwrap());
    assert_eq!(store.second_factors(other.id).await.unwrap().recovery_codes_left, 0);
    assert!(store.delete_totp(other.id, now).await.unwrap());
    assert_eq!(new_events(&store, other.id).await, [event("user.passkey_removed", json!({"passkey_id": passkey.id}))]);
}

pub async fn resetting_second_factors_removes_them_all_and_revokes_every_session(store: Arc<dyn Store>) {
    let user = enrolled(&store, "dora", 1).await;
    let now = Utc::now();
    let session = store.create_session(new_session(user.id, user.credentials_version, vec![1], now)).await.unwrap();
    let session = session.unwrap();
    let older = store.add_passkey(new_passkey(user.id, now - Duration::seconds(2))).await.unwrap();
    let newer = store.add_passkey(new_passkey(user.id, now - Duration::seconds(1))).await.unwrap();
    new_events(&store, user.id).await;

    let revoked = store.reset_second_factors(user.id, RevocationReason::SecondFactorsReset, now).await.unwrap();
    assert_eq!(revoked.iter().map(|revocation| revocation.session_id).collect::<Vec<_>>(), [session.id]);
    assert_eq!(store.second_factors(user.id).await.unwrap(), SecondFactors::default());
    assert!(store.find_totp(user.id).await.unwrap().is_none());
    assert!(store.list_passkeys(user.id).await.unwrap().is_empty());
    assert!(store.find_session(session.id).await.unwrap().unwrap().revoked_at.is_some());
    let stale = store.create_session(new_session(user.id, user.credentials_version, vec![2], now)).await.unwrap();
    assert!(stale.is_none(), "a sign-in checked before the reset opens nothing");
    assert_eq!(
        new_events(&store, user.id).await,
        [
            event("user.mfa_disabled", json!({"method": "totp"})),
            event("user.passkey_removed", json!({"passkey_id": older.id})),
            event("user.passkey_removed", json!({"passkey_id": newer.id})),
            event("session.revoked", json!({"session_id": session.id, "reason": "second_factors_reset"})),
        ]
    );

    // A pending TOTP factor goes too, without `user.mfa_disabled`.
    let pending = account(&store, "stranger").await;
    store.put_pending_totp(pending.id, "v1.sealed", now).await.unwrap();
    new_events(&store, pending.id).await;
    let revoked = store.reset_second_factors(pending.id, RevocationReason::SecondFactorsReset, now).await.unwrap();
    assert!(revoked.is_empty());
    assert!(store.find_totp(pending.id).await.unwrap().is_none());
    assert!(new_events(&store, pending.id).await.is_empty());
}
