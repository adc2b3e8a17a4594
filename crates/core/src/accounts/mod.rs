//! Accounts: registration and password authentication.

pub mod admin;
mod email;
pub mod email_flows;
pub mod mailbox;
mod password;

use std::sync::Arc;

use uuid::Uuid;

pub use email::{Email, MAX_EMAIL_LENGTH, PLACEHOLDER_DOMAIN};
pub use password::{PasswordAlgorithm, PasswordHasher, Verified, check_password_rules};

use crate::clock::Clock;
use crate::error::DomainError;
use crate::model::{AccountDeletion, NewUser, Role, User, UserPatch, UserUpdate};
use crate::ports::{Quota, RateLimiter, Store};
use crate::redact::Secret;
use crate::sessions::SessionService;

const MAX_FULL_NAME_CHARS: usize = 200;

/// A registration request, as parsed from the wire.
#[derive(Clone, Debug)]
pub struct Registration {
    pub email: String,
    pub password: Secret,
    pub full_name: Option<String>,
}

/// Rules for accounts that do not depend on the transport.
#[derive(Debug, Clone, Copy)]
pub struct AccountPolicy {
    /// Password login of an unverified account is refused (`email_not_verified`).
    pub require_email_verification: bool,
    /// Failed logins allowed per account (known or not) before it cools off; `None`: no limit.
    pub login_failures: Option<Quota>,
    /// How recent the session's sign-in must be to delete an account that has no password to
    /// confirm with.
    pub reauthentication_window: chrono::Duration,
}

impl Default for AccountPolicy {
    fn default() -> Self {
        Self {
            require_email_verification: false,
            login_failures: None,
            reauthentication_window: chrono::Duration::minutes(5),
        }
    }
}

pub struct AccountService {
    store: Arc<dyn Store>,
    hasher: Arc<PasswordHasher>,
    sessions: Arc<SessionService>,
    limiter: Arc<dyn RateLimiter>,
    clock: Arc<dyn Clock>,
    policy: AccountPolicy,
}

impl AccountService {
    pub fn new(
        store: Arc<dyn Store>,
        hasher: Arc<PasswordHasher>,
        sessions: Arc<SessionService>,
        limiter: Arc<dyn RateLimiter>,
        clock: Arc<dyn Clock>,
        policy: AccountPolicy,
    ) -> Self {
        Self { store, hasher, sessions, limiter, clock, policy }
    }

    /// Changes the password after checking the current one; revokes the user's other sessions
    /// and outstanding reset links. A wrong current password counts toward the account's cool-off.
    #[tracing::instrument(name = "change password", skip_all, fields(%user_id))]
    pub async fn change_password(
        &self,
        user_id: Uuid,
        current_session: Uuid,
        current_password: &str,
        new_password: &str,
    ) -> Result<(), DomainError> {
        let user = self.active_user(user_id).await?;
        check_password_rules("new_password", new_password)?;
        self.confirm_password(&user, Some(current_password)).await?;
        let password_hash = self.hasher.hash(new_password).await?;
        let revocations =
            self.store.change_password(user_id, &password_hash, Some(current_session), self.clock.now()).await?;
        tracing::info!(target: "audit", event = "password_changed", %user_id, session_id = %current_session, revoked = revocations.len(), outcome = "success", "password changed");
        self.sessions.publish_revocations(&revocations).await;
        Ok(())
    }

    /// The user's own name change (the same rules as at registration).
    #[tracing::instrument(name = "rename account", skip_all, fields(%user_id))]
    pub async fn rename(&self, user_id: Uuid, full_name: Option<String>) -> Result<User, DomainError> {
        self.active_user(user_id).await?;
        let patch = UserPatch { full_name: Some(normalise_full_name(full_name)?), ..UserPatch::default() };
        match self.store.update_user(user_id, patch, self.clock.now()).await? {
            UserUpdate::Updated { user, .. } => {
                tracing::info!(target: "audit", event = "account_renamed", %user_id, outcome = "success", "name changed");
                Ok(user)
            }
            UserUpdate::NotFound | UserUpdate::LastAdmin => Err(DomainError::TokenRevoked),
        }
    }

    /// Deletes the account, its identities and sessions. Accounts with a password confirm with
    /// it (a wrong one counts toward the cool-off); accounts without one need a session signed
    /// in within the last few minutes (its sign-in time, which refreshing does not renew).
    #[tracing::instrument(name = "delete account", skip_all, fields(%user_id))]
    pub async fn delete(&self, user_id: Uuid, session_id: Uuid, password: Option<&str>) -> Result<(), DomainError> {
        let user = self.active_user(user_id).await?;
        self.confirm_identity(&user, session_id, password).await?;
        let revocations = match self.store.delete_user(user_id, self.clock.now()).await? {
            AccountDeletion::Deleted(revocations) => revocations,
            AccountDeletion::NotFound => return Err(DomainError::TokenRevoked),
            AccountDeletion::LastAdmin => return Err(DomainError::LastAdmin),
        };
        tracing::info!(target: "audit", event = "account_deleted", %user_id, revoked = revocations.len(), outcome = "success", "account deleted");
        self.sessions.publish_revocations(&revocations).await;
        Ok(())
    }

    /// Confirms a sensitive act of a signed-in user: with their password (a wrong one counts
    /// toward the cool-off), or, for accounts without one, by a sign-in of this session within
    /// the re-authentication window (its sign-in time, which refreshing does not renew).
    pub async fn confirm_identity(
        &self,
        user: &User,
        session_id: Uuid,
        password: Option<&str>,
    ) -> Result<(), DomainError> {
        if user.password_hash.is_some() {
            let password = password.ok_or_else(|| DomainError::invalid_field("password", "is required"))?;
            return self.confirm_password(user, Some(password)).await;
        }
        let session = self.store.find_session(session_id).await?.ok_or(DomainError::TokenRevoked)?;
        if self.clock.now() - session.created_at > self.policy.reauthentication_window {
            return Err(DomainError::InvalidCredentials);
        }
        Ok(())
    }

    /// Checks the signed-in user's password under the account's failed-login budget.
    async fn confirm_password(&self, user: &User, password: Option<&str>) -> Result<(), DomainError> {
        let key = Email::key_of(&user.email);
        let check = async {
            let (Some(stored), Some(password)) = (&user.password_hash, password) else {
                return Err(DomainError::InvalidCredentials);
            };
            match self.hasher.verify(password, stored).await? {
                Verified::Yes { .. } => Ok(()),
                Verified::No => Err(DomainError::InvalidCredentials),
            }
        };
        self.within_failure_budget(&key, check, is_wrong_password).await
    }

    /// Runs a password check against the account's failed-login budget. One unit is reserved
    /// before the check and given back unless the password was wrong, so concurrent guesses
    /// cannot all be judged before any of them is counted (across instances, through Redis).
    /// `is_failure` says which errors spend the unit (a wrong password, a wrong second-factor
    /// code): the two factors share one budget per account.
    pub async fn within_failure_budget<T>(
        &self,
        email_key: &str,
        check: impl std::future::Future<Output = Result<T, DomainError>>,
        is_failure: impl Fn(&DomainError) -> bool,
    ) -> Result<T, DomainError> {
        let Some(quota) = self.policy.login_failures else {
            return check.await;
        };
        let key = format!("login-failures:{email_key}");
        let reservation = self.limiter.check(&key, quota).await;
        if !reservation.allowed {
            return Err(DomainError::RateLimited { retry_after_seconds: reservation.retry_after.as_secs().max(1) });
        }
        let result = check.await;
        if !result.as_ref().is_err_and(&is_failure) {
            self.limiter.refund(&key, quota).await;
        }
        result
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    #[tracing::instrument(name = "register account", skip_all)]
    pub async fn register(&self, registration: Registration) -> Result<User, DomainError> {
        let mut problems = Vec::new();
        let email = Email::parse(&registration.email).map_err(|error| problems.extend(field_errors(error))).ok();
        if let Err(error) = check_password_rules("password", registration.password.expose()) {
            problems.extend(field_errors(error));
        }
        let full_name =
            normalise_full_name(registration.full_name).map_err(|error| problems.extend(field_errors(error)));
        let (Some(email), Ok(full_name), true) = (email, full_name, problems.is_empty()) else {
            return Err(DomainError::Validation(problems));
        };
        if email.is_reserved() {
            // Placeholder addresses of provider accounts live there; taking one would block
            // that provider user's sign-up.
            return Err(DomainError::invalid_field("email", "is in a reserved domain"));
        }
        let password_hash = self.hasher.hash(registration.password.expose()).await?;
        let user = self
            .store
            .create_user(NewUser {
                id: Uuid::new_v4(),
                email: email.address().to_owned(),
                email_key: email.key().to_owned(),
                full_name,
                role: Role::User,
                password_hash: Some(password_hash),
                email_verified: false,
                created_at: self.clock.now(),
            })
            .await?;
        tracing::info!(user_id = %user.id, "account registered");
        Ok(user)
    }

    /// Checks an email and password. Unknown emails, social-only accounts and wrong passwords
    /// all cost one hash verification and give the same error, and all count as failures of
    /// that email: past the quota, its password login cools off whatever the client address.
    #[tracing::instrument(name = "authenticate password", skip_all)]
    pub async fn authenticate(&self, email: &str, password: &str) -> Result<User, DomainError> {
        // No account can have such an address: refused before any look-up, hash or counter, so
        // failed-login keys stay bounded.
        if Email::check_length(email).is_err() {
            return Err(DomainError::InvalidCredentials);
        }
        let result = self
            .within_failure_budget(&Email::key_of(email), self.check_credentials(email, password), is_wrong_password)
            .await;
        let outcome = match &result {
            Ok(_) => "success",
            Err(DomainError::InvalidCredentials) => "invalid_credentials",
            Err(DomainError::AccountDisabled) => "account_disabled",
            Err(DomainError::EmailNotVerified) => "email_not_verified",
            Err(DomainError::RateLimited { .. }) => "rate_limited",
            Err(_) => "error",
        };
        metrics::counter!("logins_total", "outcome" => outcome).increment(1);
        if let Err(DomainError::InvalidCredentials | DomainError::AccountDisabled) = &result {
            tracing::info!(target: "audit", event = "login_failed", outcome, "password login refused");
        }
        result
    }

    async fn check_credentials(&self, email: &str, password: &str) -> Result<User, DomainError> {
        let user = match Email::parse(email) {
            Ok(email) => self.store.find_user_by_email(email.key()).await?,
            Err(_) => None,
        };
        let Some((user, stored_hash)) = user.and_then(|user| user.password_hash.clone().map(|hash| (user, hash)))
        else {
            self.hasher.verify_dummy(password).await?;
            return Err(DomainError::InvalidCredentials);
        };
        let Verified::Yes { needs_rehash } = self.hasher.verify(password, &stored_hash).await? else {
            return Err(DomainError::InvalidCredentials);
        };
        if !user.is_active {
            return Err(DomainError::AccountDisabled);
        }
        if self.policy.require_email_verification && !user.email_verified {
            return Err(DomainError::EmailNotVerified);
        }
        if needs_rehash {
            self.upgrade_hash(user.id, password).await;
        }
        Ok(user)
    }

    /// The account behind an access token; gone or disabled accounts are a revoked token.
    pub async fn active_user(&self, id: Uuid) -> Result<User, DomainError> {
        match self.store.find_user(id).await? {
            Some(user) if user.is_active => Ok(user),
            _ => Err(DomainError::TokenRevoked),
        }
    }

    /// Re-hashes with the configured algorithm. A failure only delays the upgrade.
    async fn upgrade_hash(&self, user_id: Uuid, password: &str) {
        let upgraded = match self.hasher.hash(password).await {
            Ok(hash) => self.store.set_password_hash(user_id, &hash, self.clock.now()).await.map_err(DomainError::from),
            Err(error) => Err(error),
        };
        match upgraded {
            Ok(()) => tracing::info!(%user_id, "password hash upgraded"),
            Err(error) => tracing::warn!(%user_id, %error, "password hash upgrade failed"),
        }
    }
}

fn is_wrong_password(error: &DomainError) -> bool {
    matches!(error, DomainError::InvalidCredentials)
}

fn field_errors(error: DomainError) -> Vec<crate::error::FieldError> {
    match error {
        DomainError::Validation(fields) => fields,
        _ => Vec::new(),
    }
}

pub(crate) fn normalise_full_name(full_name: Option<String>) -> Result<Option<String>, DomainError> {
    let Some(name) = full_name.map(|name| name.trim().to_owned()).filter(|name| !name.is_empty()) else {
        return Ok(None);
    };
    if name.chars().count() > MAX_FULL_NAME_CHARS {
        return Err(DomainError::invalid_field("full_name", "must be at most 200 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(DomainError::invalid_field("full_name", "must not contain control characters"));
    }
    Ok(Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_never_prints_its_password() {
        let registration =
            Registration { email: "a@example.com".into(), password: Secret::new("hunter2-hunter2"), full_name: None };
        let printed = format!("{registration:?}");
        assert!(printed.contains("a@example.com") && !printed.contains("hunter2"), "{printed}");
    }
}
