//! Flows driven by emailed single-use tokens: email verification, email change and password
//! reset.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{AccountService, Email, PasswordHasher, check_password_rules};
use crate::clock::Clock;
use crate::error::{DomainError, FieldError};
use crate::model::{EmailTokenPurpose, NewEmailToken};
use crate::ports::{EmailKind, Mailer, OutgoingEmail, Store};
use crate::sessions::SessionService;

pub const VERIFY_TOKEN_TTL_HOURS: i64 = 24;
pub const RESET_TOKEN_TTL_HOURS: i64 = 1;
pub const EMAIL_CHANGE_TOKEN_TTL_HOURS: i64 = 24;
const MAX_EMAIL_TOKEN_BYTES: usize = 128;

/// Where the links in emails lead: pages of the client application that POST the token back.
#[derive(Debug, Clone)]
pub struct EmailLinks {
    pub verify_email: String,
    pub reset_password: String,
}

pub struct EmailFlows {
    store: Arc<dyn Store>,
    hasher: Arc<PasswordHasher>,
    sessions: Arc<SessionService>,
    accounts: Arc<AccountService>,
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    links: EmailLinks,
}

/// What `request_email_change` needs from the request.
#[derive(Debug, Clone, Copy)]
pub struct EmailChangeRequest<'a> {
    pub user_id: Uuid,
    /// The session asking (for accounts without a password, its sign-in must be recent).
    pub session_id: Uuid,
    pub new_email: &'a str,
    pub password: Option<&'a str>,
    pub language: &'a str,
}

impl EmailFlows {
    pub fn new(
        store: Arc<dyn Store>,
        hasher: Arc<PasswordHasher>,
        sessions: Arc<SessionService>,
        accounts: Arc<AccountService>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        links: EmailLinks,
    ) -> Self {
        Self { store, hasher, sessions, accounts, mailer, clock, links }
    }

    /// Asks to move the signed-in account to `new_email`: a confirmation link goes to the new
    /// address, a notice to the old one; the address changes only when the link is used
    /// (`verify`). A taken address is `EmailTaken`, here and again at confirmation.
    #[tracing::instrument(name = "request email change", skip_all, fields(user_id = %request.user_id))]
    pub async fn request_email_change(&self, request: EmailChangeRequest<'_>) -> Result<(), DomainError> {
        let user = self.accounts.active_user(request.user_id).await?;
        let new_email = Email::parse(request.new_email).map_err(|error| match error {
            DomainError::Validation(fields) => DomainError::Validation(
                fields.into_iter().map(|field| FieldError::new("new_email", field.message)).collect(),
            ),
            other => other,
        })?;
        if new_email.is_reserved() {
            return Err(DomainError::invalid_field("new_email", "is in a reserved domain"));
        }
        if new_email.key() == Email::key_of(&user.email) {
            return Err(DomainError::invalid_field("new_email", "is the account's address already"));
        }
        // Who asks is confirmed before anything about the new address is told.
        self.accounts.confirm_identity(&user, request.session_id, request.password).await?;
        if self.store.find_user_by_email(new_email.key()).await?.is_some() {
            return Err(DomainError::EmailTaken);
        }
        let token = self
            .issue(
                user.id,
                EmailTokenPurpose::ChangeEmail,
                Duration::hours(EMAIL_CHANGE_TOKEN_TTL_HOURS),
                Some(new_email.address().to_owned()),
            )
            .await?;
        tracing::info!(target: "audit", event = "email_change_requested", user_id = %user.id, outcome = "confirmation_sent", "email change requested");
        self.mailer.enqueue(OutgoingEmail {
            to: new_email.address().to_owned(),
            kind: EmailKind::ConfirmEmailChange,
            language: request.language.to_owned(),
            link: format!("{}{token}", self.links.verify_email),
        });
        if !Email::parse(&user.email).is_ok_and(|old| old.is_reserved()) {
            self.mailer.enqueue(OutgoingEmail {
                to: user.email,
                kind: EmailKind::EmailChangeNotice,
                language: request.language.to_owned(),
                link: String::new(),
            });
        }
        Ok(())
    }

    /// Sends a verification link to the signed-in user (nothing when already verified).
    #[tracing::instrument(name = "request email verification", skip(self, language))]
    pub async fn request_verification(&self, user_id: Uuid, language: &str) -> Result<(), DomainError> {
        let user = self.store.find_user(user_id).await?.ok_or(DomainError::TokenRevoked)?;
        if user.email_verified || Email::parse(&user.email).is_ok_and(|email| email.is_reserved()) {
            return Ok(());
        }
        let token =
            self.issue(user.id, EmailTokenPurpose::VerifyEmail, Duration::hours(VERIFY_TOKEN_TTL_HOURS), None).await?;
        self.mailer.enqueue(OutgoingEmail {
            to: user.email,
            kind: EmailKind::VerifyEmail,
            language: language.to_owned(),
            link: format!("{}{token}", self.links.verify_email),
        });
        Ok(())
    }

    /// Spends a verification link, or the confirmation link of an email change (which moves
    /// the account to its new address). Proving the mailbox of an unproven address detaches
    /// identities attached before the proof and ends their sessions (`mailbox`).
    pub async fn verify(&self, token: &str) -> Result<(), DomainError> {
        let hash = token_hash(token)?;
        let (user_id, revocations) =
            self.store.verify_email(&hash, self.clock.now()).await?.ok_or(DomainError::InvalidEmailToken)?;
        tracing::info!(target: "audit", event = "email_verified", %user_id, revoked = revocations.len(), outcome = "success", "email verified");
        self.sessions.publish_revocations(&revocations).await;
        Ok(())
    }

    /// Starts a password reset. Returns at once whatever the email: the look-up and the email
    /// happen in the background, so the answer and its timing say nothing about the account.
    pub fn forgot(self: &Arc<Self>, email: &str, language: &str) {
        let flows = self.clone();
        let email = email.to_owned();
        let language = language.to_owned();
        tokio::spawn(async move {
            if let Err(error) = flows.send_reset(&email, &language).await {
                tracing::warn!(%error, "password reset email not sent");
            }
        });
    }

    async fn send_reset(&self, email: &str, language: &str) -> Result<(), DomainError> {
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        if email.is_reserved() {
            return Ok(());
        }
        let Some(user) = self.store.find_user_by_email(email.key()).await? else {
            return Ok(());
        };
        if !user.is_active {
            return Ok(());
        }
        let token =
            self.issue(user.id, EmailTokenPurpose::ResetPassword, Duration::hours(RESET_TOKEN_TTL_HOURS), None).await?;
        tracing::info!(user_id = %user.id, "password reset requested");
        self.mailer.enqueue(OutgoingEmail {
            to: user.email,
            kind: EmailKind::ResetPassword,
            language: language.to_owned(),
            link: format!("{}{token}", self.links.reset_password),
        });
        Ok(())
    }

    /// Sets a new password with a reset token and revokes every session of the account.
    #[tracing::instrument(name = "reset password", skip_all)]
    pub async fn reset(&self, token: &str, new_password: &str) -> Result<(), DomainError> {
        let hash = token_hash(token)?;
        check_password_rules("new_password", new_password)?;
        let password_hash = self.hasher.hash(new_password).await?;
        let (user_id, revocations) = self
            .store
            .reset_password(&hash, &password_hash, self.clock.now())
            .await?
            .ok_or(DomainError::InvalidEmailToken)?;
        tracing::info!(target: "audit", event = "password_reset", %user_id, revoked = revocations.len(), outcome = "success", "password reset");
        self.sessions.publish_revocations(&revocations).await;
        Ok(())
    }

    async fn issue(
        &self,
        user_id: Uuid,
        purpose: EmailTokenPurpose,
        lifetime: Duration,
        new_email: Option<String>,
    ) -> Result<String, DomainError> {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        let token = URL_SAFE_NO_PAD.encode(bytes);
        let now = self.clock.now();
        self.store
            .create_email_token(NewEmailToken {
                token_hash: Sha256::digest(token.as_bytes()).to_vec(),
                user_id,
                purpose,
                created_at: now,
                expires_at: now + lifetime,
                new_email,
            })
            .await?;
        Ok(token)
    }
}

fn token_hash(token: &str) -> Result<Vec<u8>, DomainError> {
    if token.is_empty() || token.len() > MAX_EMAIL_TOKEN_BYTES {
        return Err(DomainError::InvalidEmailToken);
    }
    Ok(Sha256::digest(token.as_bytes()).to_vec())
}

/// Picks `ru` when Russian is the client's first listed language, else `en`.
pub fn language_from_accept_language(header: Option<&str>) -> &'static str {
    let first = header.and_then(|value| value.split(',').next()).map(|tag| tag.trim().to_ascii_lowercase());
    match first {
        Some(tag) if tag == "ru" || tag.starts_with("ru-") || tag.starts_with("ru;") => "ru",
        _ => "en",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_is_chosen_only_when_it_comes_first() {
        assert_eq!(language_from_accept_language(Some("ru-RU,ru;q=0.9,en;q=0.8")), "ru");
        assert_eq!(language_from_accept_language(Some("en-US,ru;q=0.5")), "en");
        assert_eq!(language_from_accept_language(None), "en");
    }
}
