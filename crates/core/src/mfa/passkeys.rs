//! Passkeys (WebAuthn, through webauthn-rs-core): registration for a signed-in user, discoverable
//! sign-in, and the assertion that finishes a sign-in as its second factor. Ceremony state waits
//! in the ephemeral store (every instance sees it) for five minutes and is taken once.
//!
//! User verification is "preferred", as the contract asks: a security key without a PIN can be a
//! passkey. What it proves decides the level (`Assurance::from_methods`): a verified passkey
//! sign-in is `aal2`, an unverified one `aal1`; as the second factor after a password either is
//! `aal2`. A credential that verified its user at registration must verify it on every use
//! (webauthn-rs-core enforces this), so a PIN once set cannot be skipped by a thief.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;
use uuid::Uuid;
use webauthn_rs_core::WebauthnCore;
use webauthn_rs_core::error::WebauthnError;
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationResult, AuthenticationState, CreationChallengeResponse, Credential,
    CredentialID, PublicKeyCredential, RegisterPublicKeyCredential, RegistrationState, RequestAuthenticationExtensions,
    RequestChallengeResponse, RequestRegistrationExtensions, UserVerificationPolicy,
};

use super::{Aal, Assurance, AuthMethod, NewPasskey, Passkey, WEBAUTHN_CHALLENGE_TTL, counter_moves_forward};
use crate::clock::Clock;
use crate::error::{DomainError, StoreError};
use crate::model::User;
use crate::oauth::random_token;
use crate::ports::{EphemeralStore, Store};
use crate::sessions::{ClientInfo, SessionService, TokenPair};

/// The name a passkey gets when the request names none.
pub const DEFAULT_PASSKEY_NAME: &str = "Passkey";
/// Longest passkey name kept.
const MAX_PASSKEY_NAME_CHARS: usize = 64;
/// Longest credential JSON worth parsing (an attestation with certificates is a few KB).
pub const MAX_CREDENTIAL_BYTES: usize = 64 * 1024;

/// Who the relying party is: `WEBAUTHN_RP_ID`, `WEBAUTHN_RP_NAME`, `WEBAUTHN_ORIGINS`.
#[derive(Debug, Clone)]
pub struct RelyingParty {
    pub id: String,
    pub name: String,
    pub origins: Vec<Url>,
}

/// A discoverable sign-in waiting for its assertion.
#[derive(Debug)]
pub struct PasskeyLoginOptions {
    pub challenge_id: String,
    pub options: RequestChallengeResponse,
}

/// What the contract asks of the authenticator, at registration and at every assertion.
const USER_VERIFICATION: UserVerificationPolicy = UserVerificationPolicy::Preferred;

/// A passkey's credential as the store keeps it (the JSON shape webauthn-rs gives its
/// `Passkey`, so credentials registered before the move to the core crate still read).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
struct StoredCredential {
    cred: Credential,
}

pub struct PasskeyService {
    webauthn: WebauthnCore,
    store: Arc<dyn Store>,
    sessions: Arc<SessionService>,
    pending: Arc<dyn EphemeralStore>,
    clock: Arc<dyn Clock>,
}

impl PasskeyService {
    pub fn new(
        relying_party: &RelyingParty,
        store: Arc<dyn Store>,
        sessions: Arc<SessionService>,
        pending: Arc<dyn EphemeralStore>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, DomainError> {
        // The settings already refused an RP ID that is an IP or not a registrable suffix of
        // every origin's host; origins match exactly (no subdomains, no other ports).
        if relying_party.origins.is_empty() {
            return Err(DomainError::Internal("WebAuthn needs at least one origin".into()));
        }
        let webauthn = WebauthnCore::new_unsafe_experts_only(
            &relying_party.name,
            &relying_party.id,
            relying_party.origins.clone(),
            WEBAUTHN_CHALLENGE_TTL,
            Some(false),
            Some(false),
        );
        Ok(Self { webauthn, store, sessions, pending, clock })
    }

    /// Creation options for the signed-in user: a discoverable credential (the sign-in needs no
    /// email), none of the user's existing passkeys again. Needs `aal2` once the user has a
    /// second factor, like every change to them. One registration per user at a time.
    #[tracing::instrument(name = "begin passkey registration", skip_all, fields(user_id = %user.id))]
    pub async fn begin_registration(&self, user: &User, aal: Aal) -> Result<CreationChallengeResponse, DomainError> {
        let user_id = user.id;
        super::service::require_change_allowed(self.store.as_ref(), user_id, aal).await?;
        let existing = self.store.list_passkeys(user_id).await?;
        let exclude: Vec<CredentialID> =
            existing.iter().map(|passkey| CredentialID::from(passkey.credential_id.clone())).collect();
        let display_name = user.full_name.as_deref().filter(|name| !name.is_empty()).unwrap_or(&user.email);
        // No credProtect: its stricter levels hide a credential from a discoverable sign-in
        // without user verification, which "preferred" allows.
        let extensions = RequestRegistrationExtensions {
            cred_protect: None,
            uvm: Some(true),
            cred_props: Some(true),
            min_pin_length: None,
            hmac_create_secret: None,
        };
        let builder = self
            .webauthn
            .new_challenge_register_builder(user_id.as_bytes(), &user.email, display_name)
            .map_err(|error| DomainError::Internal(format!("passkey registration options: {error}")))?
            .attestation(AttestationConveyancePreference::None)
            .user_verification_policy(USER_VERIFICATION)
            // The contract's sign-in is discoverable: ask for a resident key outright.
            .require_resident_key(true)
            .exclude_credentials(Some(exclude))
            .extensions(Some(extensions));
        let (options, state) = self
            .webauthn
            .generate_challenge_register(builder)
            .map_err(|error| DomainError::Internal(format!("passkey registration options: {error}")))?;
        self.put(&registration_key(user_id), &state).await?;
        Ok(options)
    }

    /// Checks the attestation against the pending registration and keeps the passkey.
    #[tracing::instrument(name = "finish passkey registration", skip_all, fields(%user_id))]
    pub async fn finish_registration(
        &self,
        user_id: Uuid,
        credential: &str,
        name: Option<&str>,
    ) -> Result<Passkey, DomainError> {
        // Parse first: a malformed body must not spend the pending registration.
        let credential: RegisterPublicKeyCredential = parse_credential(credential, DomainError::InvalidPasskey)?;
        let Some(state) = self.take::<RegistrationState>(&registration_key(user_id)).await? else {
            audit_refused("passkey_registration_failed", Some(user_id), "no_pending_registration");
            return Err(DomainError::InvalidPasskey);
        };
        let passkey = self.webauthn.register_credential(&credential, &state, None).map_err(|error| {
            tracing::debug!(%error, "passkey attestation refused");
            audit_refused("passkey_registration_failed", Some(user_id), "invalid_attestation");
            DomainError::InvalidPasskey
        })?;
        let name = name.map(str::trim).filter(|name| !name.is_empty()).unwrap_or(DEFAULT_PASSKEY_NAME);
        let new = NewPasskey {
            id: Uuid::new_v4(),
            user_id,
            credential_id: passkey.cred_id.clone(),
            name: name.chars().take(MAX_PASSKEY_NAME_CHARS).collect(),
            credential: to_json(&StoredCredential { cred: passkey })?,
            created_at: self.clock.now(),
        };
        let stored = match self.store.add_passkey(new).await {
            Err(StoreError::Conflict(_)) => {
                audit_refused("passkey_registration_failed", Some(user_id), "credential_taken");
                return Err(DomainError::InvalidPasskey);
            }
            other => other?,
        };
        tracing::info!(target: "audit", event = "passkey_added", %user_id, passkey_id = %stored.id, outcome = "success", "passkey registered");
        Ok(stored)
    }

    pub async fn list(&self, user_id: Uuid) -> Result<Vec<Passkey>, DomainError> {
        Ok(self.store.list_passkeys(user_id).await?)
    }

    /// Renames one of the user's passkeys (a label only: no assurance needed); someone else's is
    /// not found. The name is trimmed and bounded as at registration; an empty one is refused.
    #[tracing::instrument(name = "rename passkey", skip_all, fields(%user_id, %passkey_id))]
    pub async fn rename(&self, user_id: Uuid, passkey_id: Uuid, name: &str) -> Result<Passkey, DomainError> {
        let name: String = name.trim().chars().take(MAX_PASSKEY_NAME_CHARS).collect();
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(DomainError::invalid_field("name", "1 to 64 printable characters"));
        }
        let renamed = self.store.rename_passkey(user_id, passkey_id, &name).await?.ok_or(DomainError::NotFound)?;
        tracing::info!(target: "audit", event = "passkey_renamed", %user_id, %passkey_id, outcome = "success", "passkey renamed");
        Ok(renamed)
    }

    /// Removes one of the user's passkeys (`aal2` once they have a second factor, which a
    /// passkey is); someone else's is not found.
    #[tracing::instrument(name = "remove passkey", skip_all, fields(%user_id, %passkey_id))]
    pub async fn remove(&self, user_id: Uuid, passkey_id: Uuid, aal: Aal) -> Result<(), DomainError> {
        super::service::require_change_allowed(self.store.as_ref(), user_id, aal).await?;
        if !self.store.delete_passkey(user_id, passkey_id, self.clock.now()).await? {
            return Err(DomainError::NotFound);
        }
        tracing::info!(target: "audit", event = "passkey_removed", %user_id, %passkey_id, outcome = "success", "passkey removed");
        Ok(())
    }

    /// Request options for a discoverable sign-in: no email asked, no credentials listed.
    pub async fn begin_login(&self) -> Result<PasskeyLoginOptions, DomainError> {
        // No credentials listed: the authenticator offers the user's discoverable ones.
        let (options, state) = self.authentication_options(Vec::new(), false)?;
        let challenge_id = random_token();
        self.put(&login_key(&challenge_id), &state).await?;
        Ok(PasskeyLoginOptions { challenge_id, options })
    }

    /// A discoverable sign-in: both factors in one (the key is possession, the user
    /// verification it reports is the other). Every refusal is `invalid_credentials`.
    #[tracing::instrument(name = "passkey sign-in", skip_all)]
    pub async fn finish_login(
        &self,
        challenge_id: &str,
        credential: &str,
        client: ClientInfo,
    ) -> Result<TokenPair, DomainError> {
        if challenge_id.is_empty() || challenge_id.len() > 256 {
            return Err(DomainError::InvalidCredentials);
        }
        let credential: PublicKeyCredential = parse_credential(credential, DomainError::InvalidCredentials)?;
        let Some(state) = self.take::<AuthenticationState>(&login_key(challenge_id)).await? else {
            return Err(refused_login(None, "unknown_challenge"));
        };
        let user_handle = credential.get_user_unique_id().and_then(|handle| Uuid::from_slice(handle).ok());
        let Some(user_handle) = user_handle else { return Err(refused_login(None, "no_user_handle")) };
        let stored = match self.store.find_passkey_by_credential_id(credential.get_credential_id()).await? {
            Some(stored) if stored.user_id == user_handle => stored,
            _ => return Err(refused_login(None, "unknown_credential")),
        };
        let user = match self.store.find_user(stored.user_id).await? {
            Some(user) if user.is_active => user,
            _ => return Err(refused_login(Some(stored.user_id), "account_unavailable")),
        };
        let mut passkey: StoredCredential = from_json(&stored.credential)?;
        let result = self
            .webauthn
            .authenticate_single_credential(&credential, &state, &passkey.cred)
            .map_err(|error| refused_login(Some(user.id), failure_reason(&error)))?;
        if !self.record_use(&stored, &mut passkey, &result).await? {
            return Err(refused_login(Some(user.id), "counter_went_backwards"));
        }
        metrics::counter!("passkey_sign_ins_total", "outcome" => "success").increment(1);
        tracing::info!(target: "audit", event = "passkey_sign_in", user_id = %user.id, passkey_id = %stored.id, outcome = "success", "signed in with a passkey");
        let assurance = Assurance::from_methods(&[AuthMethod::Hwk], result.user_verified());
        self.sessions.start(&user, client, assurance).await
    }

    /// Request options listing the user's passkeys, for the second step of a sign-in whose
    /// `mfa_token` is `token_key` (the token's hash, never the token).
    pub async fn begin_second_factor(
        &self,
        user_id: Uuid,
        token_key: &str,
    ) -> Result<RequestChallengeResponse, DomainError> {
        let passkeys = self.user_passkeys(user_id).await?;
        if passkeys.is_empty() {
            return Err(DomainError::MfaNotEnabled);
        }
        let credentials: Vec<Credential> = passkeys.into_iter().map(|(_, passkey)| passkey.cred).collect();
        let (options, state) = self.authentication_options(credentials, true)?;
        self.put(&second_factor_key(token_key), &state).await?;
        Ok(options)
    }

    /// Judges an assertion answering [`Self::begin_second_factor`]; a refusal is
    /// `invalid_mfa_code`, so it counts like a wrong code. The options are single use. True when
    /// the authenticator verified its user.
    pub async fn check_second_factor(
        &self,
        user: &User,
        token_key: &str,
        credential: &str,
    ) -> Result<bool, DomainError> {
        let credential: PublicKeyCredential = parse_credential(credential, DomainError::InvalidMfaCode)?;
        let Some(state) = self.take::<AuthenticationState>(&second_factor_key(token_key)).await? else {
            return Err(DomainError::InvalidMfaCode);
        };
        let result = self.webauthn.authenticate_credential(&credential, &state).map_err(|error| {
            tracing::debug!(%error, "passkey assertion refused");
            DomainError::InvalidMfaCode
        })?;
        let passkeys = self.user_passkeys(user.id).await?;
        let Some((stored, mut passkey)) =
            passkeys.into_iter().find(|(stored, _)| stored.credential_id.as_slice() == result.cred_id().as_slice())
        else {
            return Err(DomainError::InvalidMfaCode);
        };
        if !self.record_use(&stored, &mut passkey, &result).await? {
            audit_refused("passkey_second_factor_failed", Some(user.id), "counter_went_backwards");
            return Err(DomainError::InvalidMfaCode);
        }
        Ok(result.user_verified())
    }

    /// Request options for `credentials` (none: a discoverable sign-in). A second factor lets a
    /// passkey become backup eligible after registration, as webauthn-rs does for passkeys; a
    /// discoverable sign-in does not.
    fn authentication_options(
        &self,
        credentials: Vec<Credential>,
        allow_backup_eligible_upgrade: bool,
    ) -> Result<(RequestChallengeResponse, AuthenticationState), DomainError> {
        let extensions = RequestAuthenticationExtensions { appid: None, uvm: Some(true), hmac_get_secret: None };
        let builder = self
            .webauthn
            .new_challenge_authenticate_builder(credentials, Some(USER_VERIFICATION))
            .map_err(|error| DomainError::Internal(format!("passkey request options: {error}")))?
            .extensions(Some(extensions))
            .allow_backup_eligible_upgrade(allow_backup_eligible_upgrade);
        self.webauthn
            .generate_challenge_authenticate(builder)
            .map_err(|error| DomainError::Internal(format!("passkey request options: {error}")))
    }

    async fn user_passkeys(&self, user_id: Uuid) -> Result<Vec<(Passkey, StoredCredential)>, DomainError> {
        let stored = self.store.list_passkeys(user_id).await?;
        stored
            .into_iter()
            .map(|passkey| {
                let credential = from_json(&passkey.credential)?;
                Ok((passkey, credential))
            })
            .collect()
    }

    /// Keeps the signature counter and the backup state the assertion reported; false when the
    /// counter did not move past the stored one. webauthn-rs compares with the counter it was
    /// given, which a concurrent sign-in with the same passkey (a clone racing the original) may
    /// have passed meanwhile: the stored counter is checked again and replaced by compare-and-set.
    async fn record_use(
        &self,
        stored: &Passkey,
        passkey: &mut StoredCredential,
        result: &AuthenticationResult,
    ) -> Result<bool, DomainError> {
        if !counter_moves_forward(stored.sign_count, result.counter()) {
            return Ok(false);
        }
        record_assertion(&mut passkey.cred, result);
        let now: DateTime<Utc> = self.clock.now();
        let (seen, presented) = (stored.sign_count, i64::from(result.counter()));
        Ok(self.store.record_passkey_use(stored.id, seen, presented, &to_json(passkey)?, now).await?)
    }

    async fn put<T: Serialize>(&self, key: &str, state: &T) -> Result<(), DomainError> {
        Ok(self.pending.put(key, &to_json(state)?, WEBAUTHN_CHALLENGE_TTL).await?)
    }

    async fn take<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, DomainError> {
        match self.pending.take(key).await? {
            Some(raw) => Ok(serde_json::from_str(&raw).ok()),
            None => Ok(None),
        }
    }
}

fn parse_credential<T: DeserializeOwned>(credential: &str, refusal: DomainError) -> Result<T, DomainError> {
    if credential.len() > MAX_CREDENTIAL_BYTES {
        return Err(refusal);
    }
    serde_json::from_str(credential).map_err(|_| refusal)
}

fn refused_login(user_id: Option<Uuid>, reason: &'static str) -> DomainError {
    metrics::counter!("passkey_sign_ins_total", "outcome" => reason).increment(1);
    audit_refused("passkey_sign_in_failed", user_id, reason);
    DomainError::InvalidCredentials
}

fn audit_refused(event: &'static str, user_id: Option<Uuid>, reason: &'static str) {
    let user_id = user_id.map(|id| id.to_string()).unwrap_or_default();
    tracing::info!(target: "audit", event, user_id, outcome = reason, "passkey refused");
}

fn failure_reason(error: &WebauthnError) -> &'static str {
    match error {
        WebauthnError::CredentialPossibleCompromise => "counter_went_backwards",
        WebauthnError::InvalidRPOrigin => "wrong_origin",
        WebauthnError::MismatchedChallenge => "wrong_challenge",
        WebauthnError::UserNotVerified => "user_not_verified",
        _ => "invalid_assertion",
    }
}

/// What an accepted assertion changes in the credential: the counter it reported, when higher,
/// and the backup flags (a credential may become backup eligible, never stop being so).
fn record_assertion(credential: &mut Credential, result: &AuthenticationResult) {
    credential.counter = credential.counter.max(result.counter());
    credential.backup_state = result.backup_state();
    credential.backup_eligible |= result.backup_eligible();
}

fn registration_key(user_id: Uuid) -> String {
    format!("passkey-registration:{user_id}")
}

fn login_key(challenge_id: &str) -> String {
    crate::oauth::hashed_key("passkey-login", challenge_id)
}

fn second_factor_key(token_key: &str) -> String {
    format!("passkey-second-factor:{token_key}")
}

fn to_json<T: Serialize>(value: &T) -> Result<String, DomainError> {
    serde_json::to_string(value).map_err(|error| DomainError::Internal(format!("passkey state: {error}")))
}

fn from_json<T: DeserializeOwned>(raw: &str) -> Result<T, DomainError> {
    serde_json::from_str(raw).map_err(|error| DomainError::Internal(format!("stored passkey: {error}")))
}
