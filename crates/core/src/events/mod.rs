//! User events: what other services hear about accounts and sessions (the catalogue, here), and
//! the outbox records they travel in (`outbox`). Stores write events in the same transaction as
//! the change they describe; a dispatcher delivers them later. Payloads carry no secrets and no
//! hashes.

mod outbox;

pub use outbox::{DeadLetter, DeliveryRecord, DeliveryResult, OutboxEvent, OutboxStats, join_sinks, split_sinks};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::mfa::SecondFactorMethod;
use crate::model::{NewUser, Role, UserPatch};

/// Version of the event envelope and payloads; bumped on any incompatible change.
pub const EVENT_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    UserRegistered,
    UserUpdated,
    UserEmailVerified,
    UserRoleChanged,
    UserDeactivated,
    UserReactivated,
    UserDeleted,
    UserIdentityLinked,
    SessionRevoked,
    RefreshReuseDetected,
    UserMfaEnabled,
    UserMfaDisabled,
    UserPasskeyAdded,
    UserPasskeyRemoved,
    UserRecoveryCodesRegenerated,
    OAuthClientCreated,
    OAuthClientDeleted,
    OAuthGrantGiven,
    OAuthGrantRevoked,
}

impl EventType {
    pub const ALL: [EventType; 19] = [
        EventType::UserRegistered,
        EventType::UserUpdated,
        EventType::UserEmailVerified,
        EventType::UserRoleChanged,
        EventType::UserDeactivated,
        EventType::UserReactivated,
        EventType::UserDeleted,
        EventType::UserIdentityLinked,
        EventType::SessionRevoked,
        EventType::RefreshReuseDetected,
        EventType::UserMfaEnabled,
        EventType::UserMfaDisabled,
        EventType::UserPasskeyAdded,
        EventType::UserPasskeyRemoved,
        EventType::UserRecoveryCodesRegenerated,
        EventType::OAuthClientCreated,
        EventType::OAuthClientDeleted,
        EventType::OAuthGrantGiven,
        EventType::OAuthGrantRevoked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserRegistered => "user.registered",
            EventType::UserUpdated => "user.updated",
            EventType::UserEmailVerified => "user.email_verified",
            EventType::UserRoleChanged => "user.role_changed",
            EventType::UserDeactivated => "user.deactivated",
            EventType::UserReactivated => "user.reactivated",
            EventType::UserDeleted => "user.deleted",
            EventType::UserIdentityLinked => "user.identity_linked",
            EventType::SessionRevoked => "session.revoked",
            EventType::RefreshReuseDetected => "security.refresh_reuse_detected",
            EventType::UserMfaEnabled => "user.mfa_enabled",
            EventType::UserMfaDisabled => "user.mfa_disabled",
            EventType::UserPasskeyAdded => "user.passkey_added",
            EventType::UserPasskeyRemoved => "user.passkey_removed",
            EventType::UserRecoveryCodesRegenerated => "user.recovery_codes_regenerated",
            EventType::OAuthClientCreated => "oauth.client_created",
            EventType::OAuthClientDeleted => "oauth.client_deleted",
            EventType::OAuthGrantGiven => "oauth.grant_given",
            EventType::OAuthGrantRevoked => "oauth.grant_revoked",
        }
    }
}

/// Why sessions were revoked; carried by `session.revoked`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationReason {
    /// The user signed out of this session (logout, or revoking it from the session list).
    Logout,
    /// The user signed out everywhere.
    LogoutAll,
    /// An administrator signed the user out everywhere.
    AdminLogout,
    PasswordChanged,
    PasswordReset,
    AccountDeactivated,
    /// Demoted: tokens carrying the old role must stop working.
    RoleChanged,
    AccountDeleted,
    /// A spent refresh token came back.
    RefreshReuse,
    /// A social identity proved the mailbox of an account whose password predates that proof.
    IdentityTakeover,
    /// The mailbox was proven by an emailed link, and identities attached before that proof
    /// (possibly by whoever claimed the address first) were detached.
    IdentitiesDetached,
    /// An administrator removed the user's second factors (a lost device).
    SecondFactorsReset,
    /// The OAuth client holding the session was deleted.
    ClientDeleted,
    /// The person withdrew their grant to the client holding the session.
    GrantRevoked,
}

impl RevocationReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevocationReason::Logout => "logout",
            RevocationReason::LogoutAll => "logout_all",
            RevocationReason::AdminLogout => "admin_logout",
            RevocationReason::PasswordChanged => "password_changed",
            RevocationReason::PasswordReset => "password_reset",
            RevocationReason::AccountDeactivated => "account_deactivated",
            RevocationReason::RoleChanged => "role_changed",
            RevocationReason::AccountDeleted => "account_deleted",
            RevocationReason::RefreshReuse => "refresh_reuse",
            RevocationReason::IdentityTakeover => "identity_takeover",
            RevocationReason::IdentitiesDetached => "identities_detached",
            RevocationReason::SecondFactorsReset => "second_factors_reset",
            RevocationReason::ClientDeleted => "client_deleted",
            RevocationReason::GrantRevoked => "grant_revoked",
        }
    }
}

/// One event as it is stored and delivered. `id` is the consumers' idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserEvent {
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    pub occurred_at: DateTime<Utc>,
    pub user_id: Uuid,
    pub data: Value,
    pub version: u32,
}

impl UserEvent {
    fn new(event_type: EventType, user_id: Uuid, occurred_at: DateTime<Utc>, data: Value) -> Self {
        Self { id: Uuid::new_v4(), event_type: event_type.as_str(), occurred_at, user_id, data, version: EVENT_VERSION }
    }

    /// `method` is `password` or the provider that created the account.
    pub fn registered(user: &NewUser, method: &str) -> Self {
        Self::new(
            EventType::UserRegistered,
            user.id,
            user.created_at,
            json!({
                "email": user.email,
                "full_name": user.full_name,
                "role": user.role.as_str(),
                "email_verified": user.email_verified,
                "method": method,
            }),
        )
    }

    pub fn email_verified(user_id: Uuid, email: &str, at: DateTime<Utc>) -> Self {
        Self::new(EventType::UserEmailVerified, user_id, at, json!({ "email": email }))
    }

    pub fn role_changed(user_id: Uuid, from: Role, to: Role, at: DateTime<Utc>) -> Self {
        Self::new(EventType::UserRoleChanged, user_id, at, json!({ "from": from.as_str(), "to": to.as_str() }))
    }

    pub fn deleted(user_id: Uuid, at: DateTime<Utc>) -> Self {
        Self::new(EventType::UserDeleted, user_id, at, json!({}))
    }

    pub fn identity_linked(user_id: Uuid, provider: &str, at: DateTime<Utc>) -> Self {
        Self::new(EventType::UserIdentityLinked, user_id, at, json!({ "provider": provider }))
    }

    /// The account moved to a new, confirmed address.
    pub fn email_changed(user_id: Uuid, email: &str, full_name: Option<&str>, at: DateTime<Utc>) -> Self {
        Self::new(
            EventType::UserUpdated,
            user_id,
            at,
            json!({ "email": email, "full_name": full_name, "changed": ["email"] }),
        )
    }

    /// Ways to sign in were removed from the account: `detached` lists them (`password` or a
    /// provider), `providers` what remains.
    pub fn sign_in_methods_removed(
        user_id: Uuid,
        email: &str,
        full_name: Option<&str>,
        detached: &[String],
        providers: &[String],
        at: DateTime<Utc>,
    ) -> Self {
        Self::new(
            EventType::UserUpdated,
            user_id,
            at,
            json!({
                "email": email,
                "full_name": full_name,
                "changed": ["providers"],
                "detached_providers": detached,
                "providers": providers,
            }),
        )
    }

    pub fn session_revoked(user_id: Uuid, session_id: Uuid, reason: RevocationReason, at: DateTime<Utc>) -> Self {
        Self::new(
            EventType::SessionRevoked,
            user_id,
            at,
            json!({ "session_id": session_id, "reason": reason.as_str() }),
        )
    }

    pub fn refresh_reuse_detected(user_id: Uuid, session_id: Uuid, at: DateTime<Utc>) -> Self {
        Self::new(EventType::RefreshReuseDetected, user_id, at, json!({ "session_id": session_id }))
    }

    /// A second factor was confirmed (`method`: `totp`; passkeys have their own events).
    pub fn mfa_enabled(user_id: Uuid, method: SecondFactorMethod, at: DateTime<Utc>) -> Self {
        Self::new(EventType::UserMfaEnabled, user_id, at, json!({ "method": method.as_str() }))
    }

    /// A confirmed second factor was removed (`method`: `totp`).
    pub fn mfa_disabled(user_id: Uuid, method: SecondFactorMethod, at: DateTime<Utc>) -> Self {
        Self::new(EventType::UserMfaDisabled, user_id, at, json!({ "method": method.as_str() }))
    }

    /// A client was registered. Client events carry the client's internal id as `user_id`
    /// (the outbox orders events per that id); the payload names the client.
    pub fn client_created(client: &crate::oidc::NewClient) -> Self {
        Self::new(
            EventType::OAuthClientCreated,
            client.id,
            client.created_at,
            json!({
                "client_id": client.client_id,
                "name": client.name,
                "type": client.kind.as_str(),
                "grant_types": client.grant_types.iter().map(|grant| grant.as_str()).collect::<Vec<_>>(),
                "scopes": client.scopes,
            }),
        )
    }

    pub fn client_deleted(id: Uuid, client_id: &str, at: DateTime<Utc>) -> Self {
        Self::new(EventType::OAuthClientDeleted, id, at, json!({ "client_id": client_id }))
    }

    /// A person consented to a client for `scopes`.
    pub fn grant_given(user_id: Uuid, client_id: &str, scopes: &[String], at: DateTime<Utc>) -> Self {
        Self::new(EventType::OAuthGrantGiven, user_id, at, json!({ "client_id": client_id, "scopes": scopes }))
    }

    pub fn grant_revoked(user_id: Uuid, client_id: &str, at: DateTime<Utc>) -> Self {
        Self::new(EventType::OAuthGrantRevoked, user_id, at, json!({ "client_id": client_id }))
    }

    pub fn passkey_added(user_id: Uuid, passkey_id: Uuid, at: DateTime<Utc>) -> Self {
        Self::new(EventType::UserPasskeyAdded, user_id, at, json!({ "passkey_id": passkey_id }))
    }

    pub fn passkey_removed(user_id: Uuid, passkey_id: Uuid, at: DateTime<Utc>) -> Self {
        Self::new(EventType::UserPasskeyRemoved, user_id, at, json!({ "passkey_id": passkey_id }))
    }

    /// A new set of recovery codes replaced the old one. The codes are not in the event.
    pub fn recovery_codes_regenerated(user_id: Uuid, at: DateTime<Utc>) -> Self {
        Self::new(EventType::UserRecoveryCodesRegenerated, user_id, at, json!({}))
    }

    /// What an administrator's reset of the second factors removed, in the order consumers should
    /// apply it: `user.mfa_disabled` if the TOTP factor was confirmed (a pending one was never
    /// announced), then `user.passkey_removed` per passkey. Its `session.revoked` events follow.
    pub fn for_second_factors_reset(
        user_id: Uuid,
        totp_was_confirmed: bool,
        passkey_ids: &[Uuid],
        at: DateTime<Utc>,
    ) -> Vec<Self> {
        let totp = totp_was_confirmed.then(|| Self::mfa_disabled(user_id, SecondFactorMethod::Totp, at));
        totp.into_iter()
            .chain(passkey_ids.iter().map(|passkey_id| Self::passkey_removed(user_id, *passkey_id, at)))
            .collect()
    }

    /// The events an administrative change produces, in the order consumers should apply them.
    pub fn for_account_change(before: &AccountState, after: &AccountState, at: DateTime<Utc>) -> Vec<Self> {
        let mut events = Vec::new();
        let user_id = after.user_id;
        if before.full_name != after.full_name || before.email != after.email {
            let mut changed = Vec::new();
            if before.email != after.email {
                changed.push("email");
            }
            if before.full_name != after.full_name {
                changed.push("full_name");
            }
            events.push(Self::new(
                EventType::UserUpdated,
                user_id,
                at,
                json!({ "email": after.email, "full_name": after.full_name, "changed": changed }),
            ));
        }
        if before.role != after.role {
            events.push(Self::role_changed(user_id, before.role, after.role, at));
        }
        if before.is_active && !after.is_active {
            events.push(Self::new(EventType::UserDeactivated, user_id, at, json!({})));
        }
        if !before.is_active && after.is_active {
            events.push(Self::new(EventType::UserReactivated, user_id, at, json!({})));
        }
        events
    }

    /// The envelope as delivered.
    pub fn to_json(&self) -> String {
        // A struct of strings, ids and a `Value` always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The fields of an account whose changes produce events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountState {
    pub user_id: Uuid,
    pub email: String,
    pub full_name: Option<String>,
    pub role: Role,
    pub is_active: bool,
}

impl AccountState {
    /// The account as an administrative patch leaves it.
    pub fn patched(&self, patch: &UserPatch) -> Self {
        Self {
            role: patch.role.unwrap_or(self.role),
            is_active: patch.is_active.unwrap_or(self.is_active),
            full_name: patch.full_name.clone().unwrap_or_else(|| self.full_name.clone()),
            ..self.clone()
        }
    }

    /// Why going from `self` to `after` must revoke every session: deactivation, or losing
    /// the admin role (tokens carrying it must stop working).
    pub fn revocation_reason(&self, after: &Self) -> Option<RevocationReason> {
        if self.is_active && !after.is_active {
            Some(RevocationReason::AccountDeactivated)
        } else if self.role == Role::Admin && after.role != Role::Admin {
            Some(RevocationReason::RoleChanged)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> AccountState {
        AccountState {
            user_id: Uuid::new_v4(),
            email: "a@example.com".into(),
            full_name: None,
            role: Role::User,
            is_active: true,
        }
    }

    fn types(events: &[UserEvent]) -> Vec<&'static str> {
        events.iter().map(|event| event.event_type).collect()
    }

    #[test]
    fn an_unchanged_account_produces_nothing() {
        let before = state();
        assert!(UserEvent::for_account_change(&before, &before.clone(), Utc::now()).is_empty());
    }

    #[test]
    fn each_changed_field_produces_its_event() {
        let before = state();
        let renamed = AccountState { full_name: Some("Alice".into()), ..before.clone() };
        let events = UserEvent::for_account_change(&before, &renamed, Utc::now());
        assert_eq!(types(&events), ["user.updated"]);
        assert_eq!(events[0].data["changed"], json!(["full_name"]));
        assert_eq!(events[0].data["full_name"], "Alice");

        let promoted = AccountState { role: Role::Admin, ..before.clone() };
        let events = UserEvent::for_account_change(&before, &promoted, Utc::now());
        assert_eq!(types(&events), ["user.role_changed"]);
        assert_eq!(events[0].data, json!({"from": "user", "to": "admin"}));

        let off = AccountState { is_active: false, ..before.clone() };
        assert_eq!(types(&UserEvent::for_account_change(&before, &off, Utc::now())), ["user.deactivated"]);
        assert_eq!(types(&UserEvent::for_account_change(&off, &before, Utc::now())), ["user.reactivated"]);

        let everything =
            AccountState { full_name: Some("B".into()), role: Role::Admin, is_active: false, ..before.clone() };
        assert_eq!(
            types(&UserEvent::for_account_change(&before, &everything, Utc::now())),
            ["user.updated", "user.role_changed", "user.deactivated"]
        );
    }

    #[test]
    fn deactivation_and_demotion_revoke_sessions_and_nothing_else_does() {
        let admin = AccountState { role: Role::Admin, ..state() };
        let patch = |role, is_active| UserPatch { role, is_active, full_name: Some(Some("N".into())) };
        let reason = |before: &AccountState, patch: UserPatch| before.revocation_reason(&before.patched(&patch));
        assert_eq!(reason(&admin, patch(Some(Role::User), None)), Some(RevocationReason::RoleChanged));
        assert_eq!(reason(&admin, patch(Some(Role::User), Some(false))), Some(RevocationReason::AccountDeactivated));
        assert_eq!(reason(&state(), patch(None, Some(false))), Some(RevocationReason::AccountDeactivated));
        assert_eq!(reason(&state(), patch(Some(Role::Admin), Some(true))), None);
        assert_eq!(state().patched(&patch(None, None)).full_name.as_deref(), Some("N"));
        let user = state();
        assert_eq!(user.patched(&UserPatch::default()), user);
    }

    #[test]
    fn second_factor_events_name_the_method_or_the_passkey() {
        let (user, passkey, at) = (Uuid::new_v4(), Uuid::new_v4(), Utc::now());
        let enabled = UserEvent::mfa_enabled(user, SecondFactorMethod::Totp, at);
        assert_eq!((enabled.event_type, &enabled.data), ("user.mfa_enabled", &json!({"method": "totp"})));
        let disabled = UserEvent::mfa_disabled(user, SecondFactorMethod::Totp, at);
        assert_eq!((disabled.event_type, &disabled.data), ("user.mfa_disabled", &json!({"method": "totp"})));
        let added = UserEvent::passkey_added(user, passkey, at);
        assert_eq!((added.event_type, &added.data), ("user.passkey_added", &json!({"passkey_id": passkey})));
        let removed = UserEvent::passkey_removed(user, passkey, at);
        assert_eq!((removed.event_type, &removed.data), ("user.passkey_removed", &json!({"passkey_id": passkey})));
        let regenerated = UserEvent::recovery_codes_regenerated(user, at);
        assert_eq!((regenerated.event_type, &regenerated.data), ("user.recovery_codes_regenerated", &json!({})));

        let reset = UserEvent::for_second_factors_reset(user, true, &[passkey, Uuid::new_v4()], at);
        assert_eq!(types(&reset), ["user.mfa_disabled", "user.passkey_removed", "user.passkey_removed"]);
        assert_eq!(reset[1].data, json!({"passkey_id": passkey}));
        let pending_only = UserEvent::for_second_factors_reset(user, false, &[], at);
        assert!(pending_only.is_empty(), "a pending factor was never announced");
    }

    #[test]
    fn the_published_schema_documents_every_event_type() {
        let schema: Value =
            serde_json::from_str(include_str!("../../../../docs/events/user-event.schema.json")).unwrap();
        let names = |values: &Value| -> Vec<String> {
            values.as_array().unwrap().iter().map(|value| value.as_str().unwrap().to_owned()).collect()
        };
        let all: Vec<String> = EventType::ALL.iter().map(|event_type| event_type.as_str().to_owned()).collect();
        assert_eq!(names(&schema["properties"]["type"]["enum"]), all);
        let described: Vec<Value> = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .map(|entry| entry["properties"]["type"]["const"].clone())
            .collect();
        assert_eq!(names(&Value::Array(described)), all);
        let reasons = names(&schema["$defs"]["session_revoked"]["properties"]["reason"]["enum"]);
        assert!(reasons.contains(&RevocationReason::SecondFactorsReset.as_str().to_owned()));
    }

    #[test]
    fn the_envelope_has_every_field_and_no_secret() {
        let user = NewUser {
            id: Uuid::new_v4(),
            email: "a@example.com".into(),
            email_key: "a@example.com".into(),
            full_name: Some("A".into()),
            role: Role::User,
            email_verified: false,
            password_hash: Some("$2b$12$secret-hash".into()),
            created_at: Utc::now(),
        };
        let event = UserEvent::registered(&user, "password");
        let envelope: Value = serde_json::from_str(&event.to_json()).unwrap();
        for field in ["id", "type", "occurred_at", "user_id", "data", "version"] {
            assert!(envelope.get(field).is_some(), "missing {field}");
        }
        assert_eq!(envelope["type"], "user.registered");
        assert_eq!(envelope["version"], 1);
        assert!(!event.to_json().contains("secret-hash"));
    }
}
