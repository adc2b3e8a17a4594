//! Flows driven by emailed single-use tokens: email verification and password reset.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{Email, PasswordHasher, check_password_rules};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::model::{EmailTokenPurpose, NewEmailToken};
use crate::ports::{EmailKind, Mailer, OutgoingEmail, Store};
use crate::sessions::SessionService;

pub const VERIFY_TOKEN_TTL_HOURS: i64 = 24;
pub const RESET_TOKEN_TTL_HOURS: i64 = 1;
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
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    links: EmailLinks,
}

impl EmailFlows {
    pub fn new(
        store: Arc<dyn Store>,
        hasher: Arc<PasswordHasher>,
        sessions: Arc<SessionService>,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        links: EmailLinks,
    ) -> Self {
        Self { store, hasher, sessions, mailer, clock, links }
    }

    /// Sends a verification link to the signed-in user (nothing when already verified).
    #[tracing::instrument(name = "request email verification", skip(self, language))]
    pub async fn request_verification(&self, user_id: Uuid, language: &str) -> Result<(), DomainError> {
        let user = self.store.find_user(user_id).await?.ok_or(DomainError::TokenRevoked)?;
        if user.email_verified || Email::parse(&user.email).is_ok_and(|email| email.is_reserved()) {
            return Ok(());
        }
        let token =
            self.issue(user.id, EmailTokenPurpose::VerifyEmail, Duration::hours(VERIFY_TOKEN_TTL_HOURS)).await?;
        self.mailer.enqueue(OutgoingEmail {
            to: user.email,
            kind: EmailKind::VerifyEmail,
            language: language.to_owned(),
            link: format!("{}{token}", self.links.verify_email),
        });
        Ok(())
    }

    /// Spends a verification link. Proving the mailbox detaches identities attached before
    /// the proof and ends their sessions (`mailbox`).
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
            self.issue(user.id, EmailTokenPurpose::ResetPassword, Duration::hours(RESET_TOKEN_TTL_HOURS)).await?;
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
