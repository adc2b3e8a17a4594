//! The second-factor use cases: TOTP enrolment and removal, recovery codes, the `mfa_required`
//! turn of a sign-in and its completion with a code. Passkey ceremonies live in `passkeys.rs`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use webauthn_rs_proto::RequestChallengeResponse;

use super::passkeys::PasskeyService;
use super::{
    Aal, Assurance, AuthMethod, FailureOutcome, MFA_TOKEN_TTL, MfaChallenge, SecondFactorMethod, SecondFactors,
    SecretBox, TotpEnrolment, TotpSecret, recovery, totp,
};
use crate::accounts::{AccountService, Email};
use crate::clock::Clock;
use crate::error::{DomainError, StoreError};
use crate::events::RevocationReason;
use crate::model::User;
use crate::oauth::random_token;
use crate::ports::{EphemeralStore, Store};
use crate::redact::Secret;
use crate::sessions::{AccessClaims, ClientInfo, SessionService, TokenPair};

/// Longest code worth looking at (a recovery code with separators is 17 characters).
const MAX_CODE_CHARS: usize = 64;

/// Where a sign-in stands after its first factor.
#[derive(Debug)]
pub enum SignInStep {
    /// No second factor on the account: the session is open.
    SignedIn(TokenPair),
    /// The account has a second factor: finish with `/auth/mfa/verify`.
    SecondFactorRequired(PendingSecondFactor),
}

/// The `mfa_required` answer.
#[derive(Debug, Clone)]
pub struct PendingSecondFactor {
    pub user_id: Uuid,
    pub mfa_token: Secret,
    pub methods: Vec<SecondFactorMethod>,
    pub expires_in: u64,
}

/// What `/auth/mfa/verify` presents.
#[derive(Debug, Clone, Copy)]
pub enum SecondFactorProof<'a> {
    Totp(&'a str),
    RecoveryCode(&'a str),
    /// A passkey assertion (WebAuthn JSON) answering `/auth/mfa/webauthn/options`.
    Webauthn(&'a str),
}

/// A second factor that checked out: its method, and whether a passkey among it verified its
/// user (which lifts a session that began with an unverified passkey to `aal2`).
#[derive(Debug, Clone, Copy)]
struct ProvenFactor {
    method: AuthMethod,
    passkey_user_verified: bool,
}

impl ProvenFactor {
    fn one_time_code() -> Self {
        Self { method: AuthMethod::Otp, passkey_user_verified: false }
    }
}

/// An mfa token's record in the ephemeral store; the token itself is kept only hashed.
#[derive(Debug, Serialize, Deserialize)]
struct StoredChallenge {
    challenge: MfaChallenge,
    passkey_user_verified: bool,
}

pub struct MfaService {
    store: Arc<dyn Store>,
    accounts: Arc<AccountService>,
    sessions: Arc<SessionService>,
    pending: Arc<dyn EphemeralStore>,
    secrets: SecretBox,
    clock: Arc<dyn Clock>,
    /// The TOTP issuer shown in authenticator apps (`WEBAUTHN_RP_NAME`).
    issuer: String,
    passkeys: Option<Arc<PasskeyService>>,
}

impl MfaService {
    pub fn new(
        store: Arc<dyn Store>,
        accounts: Arc<AccountService>,
        sessions: Arc<SessionService>,
        pending: Arc<dyn EphemeralStore>,
        secrets: SecretBox,
        clock: Arc<dyn Clock>,
        issuer: String,
    ) -> Self {
        Self { store, accounts, sessions, pending, secrets, clock, issuer, passkeys: None }
    }

    pub async fn status(&self, user_id: Uuid) -> Result<SecondFactors, DomainError> {
        Ok(self.store.second_factors(user_id).await?)
    }

    /// Changing second factors needs `aal2` once the user has one (a session from before the
    /// factor, or a stolen password, must not remove or replace it).
    pub async fn require_change_allowed(&self, user_id: Uuid, aal: Aal) -> Result<SecondFactors, DomainError> {
        require_change_allowed(self.store.as_ref(), user_id, aal).await
    }

    /// Lets `/auth/mfa/verify` take passkey assertions.
    pub fn with_passkeys(mut self, passkeys: Arc<PasskeyService>) -> Self {
        self.passkeys = Some(passkeys);
        self
    }

    /// Request options for finishing a sign-in with a passkey. The mfa token stays unspent (it
    /// is read, then put back with the time it had left).
    pub async fn webauthn_options(&self, mfa_token: &str) -> Result<RequestChallengeResponse, DomainError> {
        let passkeys = self.passkeys.as_ref().ok_or(DomainError::MfaNotEnabled)?;
        if mfa_token.is_empty() || mfa_token.len() > 256 {
            return Err(DomainError::InvalidToken);
        }
        let key = challenge_key(mfa_token);
        let raw = self.pending.take(&key).await?.ok_or(DomainError::InvalidToken)?;
        let stored: StoredChallenge = serde_json::from_str(&raw).map_err(|_| DomainError::InvalidToken)?;
        let left = (stored.challenge.expires_at - self.clock.now()).to_std().unwrap_or_default();
        if left.is_zero() {
            return Err(DomainError::InvalidToken);
        }
        self.pending.put(&key, &raw, left).await?;
        passkeys.begin_second_factor(stored.challenge.user_id, &key).await
    }

    /// Request options for stepping the signed-in session of `claims` up with a passkey; the
    /// challenge is bound to that session, so another session of the user cannot answer it.
    pub async fn webauthn_step_up_options(
        &self,
        claims: &AccessClaims,
    ) -> Result<RequestChallengeResponse, DomainError> {
        let passkeys = self.passkeys.as_ref().ok_or(DomainError::MfaNotEnabled)?;
        self.accounts.active_user(claims.sub).await?;
        passkeys.begin_second_factor(claims.sub, &step_up_key(claims.sid)).await
    }

    /// Starts (or restarts) a TOTP enrolment: a new secret, sealed for this user, inactive until
    /// a code from it confirms it.
    #[tracing::instrument(name = "begin totp enrolment", skip_all, fields(%user_id))]
    pub async fn begin_totp(&self, user_id: Uuid, aal: Aal) -> Result<TotpEnrolment, DomainError> {
        self.require_change_allowed(user_id, aal).await?;
        let user = self.accounts.active_user(user_id).await?;
        let secret = TotpSecret::generate();
        let enrolment = totp::enrolment(&secret, &self.issuer, &user.email)
            .map_err(|error| DomainError::Internal(format!("TOTP enrolment: {error}")))?;
        let sealed = self.secrets.seal(secret.as_bytes(), user_id).map_err(internal)?;
        match self.store.put_pending_totp(user_id, &sealed, self.clock.now()).await {
            Err(StoreError::Conflict("totp")) => return Err(DomainError::MfaAlreadyEnabled),
            other => other?,
        }
        tracing::info!(target: "audit", event = "totp_enrolment_started", %user_id, outcome = "success", "TOTP enrolment started");
        Ok(enrolment)
    }

    /// Confirms the pending enrolment with a code from it. The user's first second factor
    /// comes with ten recovery codes, shown this once.
    #[tracing::instrument(name = "confirm totp", skip_all, fields(%user_id))]
    pub async fn confirm_totp(&self, user_id: Uuid, code: &str) -> Result<Option<Vec<String>>, DomainError> {
        let factor = self.store.find_totp(user_id).await?.filter(|factor| factor.confirmed_at.is_none());
        let Some(factor) = factor else { return Err(DomainError::NotFound) };
        let now = self.clock.now();
        let secret = self.open_secret(user_id, &factor.sealed_secret)?;
        let Some(step) = totp::verify(&secret, code, now) else {
            tracing::info!(target: "audit", event = "mfa_verification_failed", %user_id, method = "totp", outcome = "invalid_code", "TOTP confirmation refused");
            return Err(DomainError::InvalidMfaCode);
        };
        let first = !self.store.second_factors(user_id).await?.any();
        let codes = first.then(recovery::generate);
        let hashes = codes.as_ref().map(|codes| codes.iter().map(|code| recovery::hash(user_id, code)).collect());
        if !self.store.confirm_totp(user_id, step_number(step)?, hashes, now).await? {
            return Err(DomainError::NotFound);
        }
        tracing::info!(target: "audit", event = "mfa_enabled", %user_id, method = "totp", outcome = "success", "TOTP enabled");
        Ok(codes)
    }

    #[tracing::instrument(name = "remove totp", skip_all, fields(%user_id))]
    pub async fn remove_totp(&self, user_id: Uuid, aal: Aal) -> Result<(), DomainError> {
        self.require_change_allowed(user_id, aal).await?;
        if !self.store.delete_totp(user_id, self.clock.now()).await? {
            return Err(DomainError::NotFound);
        }
        tracing::info!(target: "audit", event = "mfa_disabled", %user_id, method = "totp", outcome = "success", "TOTP removed");
        Ok(())
    }

    /// Ten new recovery codes; the old ones stop working.
    #[tracing::instrument(name = "regenerate recovery codes", skip_all, fields(%user_id))]
    pub async fn regenerate_recovery_codes(&self, user_id: Uuid, aal: Aal) -> Result<Vec<String>, DomainError> {
        if !self.require_change_allowed(user_id, aal).await?.any() {
            return Err(DomainError::MfaNotEnabled);
        }
        let codes = recovery::generate();
        let hashes = codes.iter().map(|code| recovery::hash(user_id, code)).collect();
        self.store.replace_recovery_codes(user_id, hashes, self.clock.now()).await?;
        tracing::info!(target: "audit", event = "recovery_codes_regenerated", %user_id, outcome = "success", "recovery codes regenerated");
        Ok(codes)
    }

    /// An administrator's reset for a user who lost their device: every second factor and
    /// recovery code goes, and every session of the user is revoked.
    #[tracing::instrument(name = "reset second factors", skip_all, fields(%user_id))]
    pub async fn reset(&self, admin_id: Uuid, user_id: Uuid) -> Result<(), DomainError> {
        if self.store.find_user(user_id).await?.is_none() {
            return Err(DomainError::NotFound);
        }
        let reason = RevocationReason::SecondFactorsReset;
        let revocations = self.store.reset_second_factors(user_id, reason, self.clock.now()).await?;
        tracing::info!(target: "audit", event = "second_factors_reset", %admin_id, %user_id, sessions = revocations.len(), outcome = "success", "second factors reset by an administrator");
        self.sessions.publish_revocations(&revocations).await;
        Ok(())
    }

    /// After the first factor: opens the session, or, when the account has a second factor,
    /// hands out a short-lived mfa token instead.
    pub async fn after_first_factor(
        &self,
        user: &User,
        first: Assurance,
        client: ClientInfo,
    ) -> Result<SignInStep, DomainError> {
        let factors = self.store.second_factors(user.id).await?;
        if !factors.any() {
            return Ok(SignInStep::SignedIn(self.sessions.start(user, client, first).await?));
        }
        let mut methods = Vec::new();
        if factors.totp {
            methods.push(SecondFactorMethod::Totp);
        }
        if factors.passkeys > 0 {
            methods.push(SecondFactorMethod::Webauthn);
        }
        if factors.recovery_codes_left > 0 {
            methods.push(SecondFactorMethod::RecoveryCode);
        }
        let token = random_token();
        let stored = StoredChallenge {
            challenge: MfaChallenge::new(user.id, first.amr, self.clock.now()),
            passkey_user_verified: false,
        };
        self.put_challenge(&token, &stored, MFA_TOKEN_TTL).await?;
        tracing::info!(target: "audit", event = "mfa_challenge_issued", user_id = %user.id, outcome = "second_factor_required", "sign-in waits for a second factor");
        Ok(SignInStep::SecondFactorRequired(PendingSecondFactor {
            user_id: user.id,
            mfa_token: Secret::new(token),
            methods,
            expires_in: MFA_TOKEN_TTL.as_secs(),
        }))
    }

    /// Finishes a sign-in that answered `mfa_required`. The token is taken while its code is
    /// judged (so guesses with one token take turns, on every instance), and put back after a
    /// wrong code until its fifth. Wrong codes also count toward the account's cool-off.
    #[tracing::instrument(name = "verify second factor", skip_all)]
    pub async fn verify(
        &self,
        mfa_token: &str,
        proof: SecondFactorProof<'_>,
        client: ClientInfo,
    ) -> Result<TokenPair, DomainError> {
        if mfa_token.is_empty() || mfa_token.len() > 256 {
            return Err(DomainError::InvalidToken);
        }
        let raw = self.pending.take(&challenge_key(mfa_token)).await?.ok_or(DomainError::InvalidToken)?;
        let mut stored: StoredChallenge = serde_json::from_str(&raw).map_err(|_| DomainError::InvalidToken)?;
        let now = self.clock.now();
        if !stored.challenge.is_live(now) {
            return Err(DomainError::InvalidToken);
        }
        let user = match self.store.find_user(stored.challenge.user_id).await? {
            Some(user) if user.is_active => user,
            _ => return Err(DomainError::InvalidToken),
        };
        let checked = self.check_within_budget(&user, &challenge_key(mfa_token), proof, now).await;
        let method = proof.method();
        let added = match checked {
            Ok(added) => added,
            Err(error) => {
                let exhausted = matches!(error, DomainError::InvalidMfaCode)
                    && stored.challenge.register_failure(now) == FailureOutcome::Exhausted;
                if !exhausted {
                    let left = (stored.challenge.expires_at - now).to_std().unwrap_or_default();
                    self.put_challenge(mfa_token, &stored, left).await?;
                }
                record(method, &user, &error);
                return Err(error);
            }
        };
        let assurance =
            Assurance::from_methods(&stored.challenge.amr, false).step_up(&[added.method], added.passkey_user_verified);
        metrics::counter!("mfa_verifications_total", "method" => method.as_str(), "outcome" => "success").increment(1);
        self.sessions.start(&user, client, assurance).await
    }

    /// Steps the signed-in session of `claims` up with a second factor: a new pair at `aal2`.
    /// Wrong codes count toward the account's cool-off, as at sign-in.
    #[tracing::instrument(name = "step up with a second factor", skip_all, fields(user_id = %claims.sub))]
    pub async fn step_up(&self, claims: &AccessClaims, proof: SecondFactorProof<'_>) -> Result<TokenPair, DomainError> {
        let user = self.accounts.active_user(claims.sub).await?;
        let now = self.clock.now();
        let checked = self.check_within_budget(&user, &step_up_key(claims.sid), proof, now).await;
        let added = checked.inspect_err(|error| record(proof.method(), &user, error))?;
        metrics::counter!("mfa_verifications_total", "method" => proof.method().as_str(), "outcome" => "success")
            .increment(1);
        self.sessions.step_up(&user, claims, &[added.method], added.passkey_user_verified).await
    }

    /// A wrong code spends a unit of the account's failed-login budget, like a wrong password.
    async fn check_within_budget(
        &self,
        user: &User,
        challenge: &str,
        proof: SecondFactorProof<'_>,
        now: DateTime<Utc>,
    ) -> Result<ProvenFactor, DomainError> {
        let check = self.check_proof(user, challenge, proof, now);
        let is_wrong_code = |error: &DomainError| matches!(error, DomainError::InvalidMfaCode);
        self.accounts.within_failure_budget(&Email::key_of(&user.email), check, is_wrong_code).await
    }

    /// `challenge` names where a passkey assertion's options were kept: with the mfa token at
    /// sign-in, with the session at a step-up.
    async fn check_proof(
        &self,
        user: &User,
        challenge: &str,
        proof: SecondFactorProof<'_>,
        now: DateTime<Utc>,
    ) -> Result<ProvenFactor, DomainError> {
        match proof {
            SecondFactorProof::Webauthn(credential) => {
                let passkeys = self.passkeys.as_ref().ok_or(DomainError::InvalidMfaCode)?;
                let user_verified = passkeys.check_second_factor(user, challenge, credential).await?;
                Ok(ProvenFactor { method: AuthMethod::Hwk, passkey_user_verified: user_verified })
            }
            SecondFactorProof::Totp(code) => self.check_totp(user.id, code, now).await,
            SecondFactorProof::RecoveryCode(code) => {
                if code.chars().count() > MAX_CODE_CHARS {
                    return Err(DomainError::InvalidMfaCode);
                }
                let hash = recovery::hash(user.id, code);
                if self.store.use_recovery_code(user.id, &hash, now).await? {
                    tracing::info!(target: "audit", event = "recovery_code_used", user_id = %user.id, outcome = "success", "a recovery code was spent");
                    Ok(ProvenFactor::one_time_code())
                } else {
                    Err(DomainError::InvalidMfaCode)
                }
            }
        }
    }

    /// A code of the confirmed factor, in the drift window, of a step later than the last one
    /// accepted; the step is spent with a compare-and-set, so a replay loses even in a race.
    async fn check_totp(&self, user_id: Uuid, code: &str, now: DateTime<Utc>) -> Result<ProvenFactor, DomainError> {
        let factor = self.store.find_totp(user_id).await?.filter(|factor| factor.confirmed_at.is_some());
        let Some(factor) = factor else { return Err(DomainError::InvalidMfaCode) };
        let secret = self.open_secret(user_id, &factor.sealed_secret)?;
        let Some(step) = totp::verify(&secret, code, now) else { return Err(DomainError::InvalidMfaCode) };
        let last = factor.last_used_step.and_then(|step| u64::try_from(step).ok());
        if !totp::accepts_step(last, step) || !self.store.use_totp_step(user_id, step_number(step)?).await? {
            return Err(DomainError::InvalidMfaCode);
        }
        Ok(ProvenFactor::one_time_code())
    }

    fn open_secret(&self, user_id: Uuid, sealed: &str) -> Result<TotpSecret, DomainError> {
        let bytes = self.secrets.open(sealed, user_id).map_err(internal)?;
        TotpSecret::from_bytes(bytes).ok_or_else(|| DomainError::Internal("stored TOTP secret is too short".into()))
    }

    async fn put_challenge(
        &self,
        token: &str,
        stored: &StoredChallenge,
        ttl: std::time::Duration,
    ) -> Result<(), DomainError> {
        let value = serde_json::to_string(stored).map_err(|error| DomainError::Internal(error.to_string()))?;
        Ok(self.pending.put(&challenge_key(token), &value, ttl).await?)
    }
}

impl SecondFactorProof<'_> {
    pub fn method(&self) -> SecondFactorMethod {
        match self {
            Self::Totp(_) => SecondFactorMethod::Totp,
            Self::RecoveryCode(_) => SecondFactorMethod::RecoveryCode,
            Self::Webauthn(_) => SecondFactorMethod::Webauthn,
        }
    }
}

/// Changing second factors needs `aal2` once the user has one (a session from before the
/// factor, or a stolen password, must not remove or replace it).
pub(super) async fn require_change_allowed(
    store: &dyn Store,
    user_id: Uuid,
    aal: Aal,
) -> Result<SecondFactors, DomainError> {
    let factors = store.second_factors(user_id).await?;
    if factors.any() && aal < Aal::Aal2 {
        return Err(DomainError::MfaRequired);
    }
    Ok(factors)
}

fn record(method: SecondFactorMethod, user: &User, error: &DomainError) {
    let outcome = match error {
        DomainError::InvalidMfaCode => "invalid_code",
        DomainError::RateLimited { .. } => "rate_limited",
        _ => "error",
    };
    metrics::counter!("mfa_verifications_total", "method" => method.as_str(), "outcome" => outcome).increment(1);
    tracing::info!(target: "audit", event = "mfa_verification_failed", user_id = %user.id, method = method.as_str(), outcome, "second factor refused");
}

/// The key of an mfa token's record: the token's SHA-256, so a dump of the cache holds none.
fn challenge_key(token: &str) -> String {
    crate::oauth::hashed_key("mfa-challenge", token)
}

fn step_up_key(session_id: Uuid) -> String {
    format!("mfa-step-up:{session_id}")
}

fn step_number(step: u64) -> Result<i64, DomainError> {
    i64::try_from(step).map_err(|_| DomainError::InvalidMfaCode)
}

fn internal(error: impl std::fmt::Display) -> DomainError {
    DomainError::Internal(format!("second factor secret: {error}"))
}
