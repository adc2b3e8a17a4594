//! Social sign-in: a two-step service (start: state, PKCE, nonce kept server-side; finish:
//! check the state, let the provider adapter exchange and verify, then link or create the
//! account) and the provider abstraction each adapter implements.

mod provider;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use provider::{
    AppCredentials, AuthorizationRequest, CallbackParameters, ExternalProfile, IdentityProvider, ProviderError,
};

use crate::accounts::Email;
use crate::clock::Clock;
use crate::error::DomainError;
use crate::events::RevocationReason;
use crate::model::{NewIdentity, NewUser, Role, User};
use crate::ports::{EphemeralStore, Store};
use crate::sessions::SessionService;

/// What is kept server-side between `start` and `finish`, keyed by `state`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub provider: String,
    pub code_verifier: String,
    pub nonce: String,
    pub redirect_uri: String,
    /// Where the browser goes afterwards, already checked against the allow-list.
    pub redirect_to: Option<String>,
    /// Set when a signed-in user links this provider to their account.
    pub link_user: Option<Uuid>,
}

/// A finished sign-in: the account, and where the browser should go.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub redirect_to: Option<String>,
}

/// Where sign-ins come back to and may go afterwards.
#[derive(Debug, Clone)]
pub struct OAuthSettings {
    /// Base of the per-provider callback URLs.
    pub public_url: String,
    /// Exact `redirect_to` values allowed after a browser sign-in.
    pub allowed_redirects: Vec<String>,
    /// How long a sign-in may take between the redirect to the provider and the callback.
    pub pending_ttl: Duration,
}

pub struct OAuthService {
    providers: HashMap<&'static str, Arc<dyn IdentityProvider>>,
    store: Arc<dyn Store>,
    pending: Arc<dyn EphemeralStore>,
    sessions: Arc<SessionService>,
    clock: Arc<dyn Clock>,
    settings: OAuthSettings,
}

impl OAuthService {
    pub fn new(
        providers: Vec<Arc<dyn IdentityProvider>>,
        store: Arc<dyn Store>,
        pending: Arc<dyn EphemeralStore>,
        sessions: Arc<SessionService>,
        clock: Arc<dyn Clock>,
        settings: OAuthSettings,
    ) -> Self {
        let providers = providers.into_iter().map(|provider| (provider.name(), provider)).collect();
        Self { providers, store, pending, sessions, clock, settings }
    }

    /// The configured providers, as `(name, display name)`, in a stable order.
    pub fn providers(&self) -> Vec<(&'static str, &'static str)> {
        let mut listed: Vec<_> =
            self.providers.values().map(|provider| (provider.name(), provider.display_name())).collect();
        listed.sort();
        listed
    }

    fn provider(&self, name: &str) -> Result<&Arc<dyn IdentityProvider>, DomainError> {
        self.providers.get(name).ok_or(DomainError::UnknownProvider)
    }

    /// Each provider has its own callback path: the mix-up defence of RFC 9700 §4.4.
    pub fn callback_url(&self, provider: &str) -> String {
        format!("{}/auth/oauth/{provider}/callback", self.settings.public_url)
    }

    /// Creates the pending login and returns the provider's authorization URL.
    pub async fn start(
        &self,
        provider_name: &str,
        redirect_to: Option<&str>,
        link_user: Option<Uuid>,
    ) -> Result<String, DomainError> {
        let provider = self.provider(provider_name)?;
        let redirect_to = match redirect_to.filter(|target| !target.is_empty()) {
            Some(target) if self.settings.allowed_redirects.iter().any(|allowed| allowed == target) => {
                Some(target.to_owned())
            }
            Some(_) => return Err(DomainError::InvalidRedirect),
            None => None,
        };
        let state = random_token();
        let pending = PendingLogin {
            provider: provider_name.to_owned(),
            code_verifier: random_token(),
            nonce: random_token(),
            redirect_uri: self.callback_url(provider_name),
            redirect_to,
            link_user,
        };
        let url = provider
            .authorization_url(&AuthorizationRequest {
                state: &state,
                code_challenge: &pkce_challenge(&pending.code_verifier),
                nonce: &pending.nonce,
                redirect_uri: &pending.redirect_uri,
            })
            .await
            .map_err(provider_failure)?;
        let value = serde_json::to_string(&pending).map_err(|error| DomainError::Internal(error.to_string()))?;
        self.pending.put(&pending_key(&state), &value, self.settings.pending_ttl).await?;
        Ok(url)
    }

    /// Completes a browser sign-in from the provider's callback.
    #[tracing::instrument(name = "oauth callback", skip_all, fields(provider = provider_name))]
    pub async fn finish(&self, provider_name: &str, callback: CallbackParameters) -> Result<SignedIn, DomainError> {
        let provider = self.provider(provider_name)?;
        let state = callback
            .state
            .as_deref()
            .filter(|state| !state.is_empty() && state.len() <= 256)
            .ok_or(DomainError::InvalidState)?;
        // Taken, not read: a state works once, whatever happens next.
        let pending = self.pending.take(&pending_key(state)).await?.ok_or(DomainError::InvalidState)?;
        let pending: PendingLogin = serde_json::from_str(&pending).map_err(|_| DomainError::InvalidState)?;
        if pending.provider != provider_name {
            return Err(DomainError::InvalidState);
        }
        if let Some(error) = &callback.error {
            tracing::info!(%error, "the provider or the user refused");
            return Err(DomainError::ProviderDenied);
        }
        let profile = provider.finish(&callback, &pending).await.map_err(provider_failure)?;
        let user = self.resolve(profile, pending.link_user).await?;
        Ok(SignedIn { user, redirect_to: pending.redirect_to })
    }

    /// Signs in with what a mobile or single-page app obtained from the provider itself.
    #[tracing::instrument(name = "oauth app token", skip_all, fields(provider = provider_name))]
    pub async fn sign_in_with_app_credentials(
        &self,
        provider_name: &str,
        credentials: AppCredentials,
    ) -> Result<User, DomainError> {
        let provider = self.provider(provider_name)?;
        let profile = provider.profile_from_app(&credentials).await.map_err(provider_failure)?;
        self.resolve(profile, None).await
    }

    /// Removes a provider from the user's account, if another way to sign in remains.
    pub async fn unlink(&self, user_id: Uuid, provider_name: &str) -> Result<(), DomainError> {
        self.provider(provider_name)?;
        let user = self.store.find_user(user_id).await?.ok_or(DomainError::TokenRevoked)?;
        if !user.identity_providers.iter().any(|linked| linked == provider_name) {
            return Err(DomainError::NotFound);
        }
        let remaining = user.providers().len();
        if remaining <= 1 {
            return Err(DomainError::LastLoginMethod);
        }
        self.store.unlink_identity(user_id, provider_name).await?;
        Ok(())
    }

    /// Finds, links or creates the account for a verified provider profile (oauth-providers.md §7.5).
    async fn resolve(&self, profile: ExternalProfile, link_user: Option<Uuid>) -> Result<User, DomainError> {
        if let Some(user) = self.store.find_user_by_identity(&profile.provider, &profile.subject).await? {
            if link_user.is_some_and(|id| id != user.id) {
                // That provider account already belongs to someone else.
                return Err(DomainError::EmailTaken);
            }
            return active(user);
        }
        let identity = NewIdentity {
            provider: profile.provider.clone(),
            subject: profile.subject.clone(),
            email: profile.email.clone(),
            created_at: self.clock.now(),
        };
        if let Some(user_id) = link_user {
            self.store.link_identity(user_id, identity, false).await?;
            tracing::info!(%user_id, provider = %profile.provider, "identity linked by its user");
            return active(self.store.find_user(user_id).await?.ok_or(DomainError::TokenRevoked)?);
        }
        let email = profile.email.as_deref().and_then(|email| Email::parse(email).ok());
        if let Some(email) = &email
            && let Some(existing) = self.store.find_user_by_email(email.key()).await?
        {
            if !profile.email_verified_authoritative {
                return Err(DomainError::EmailTakenLinkable { provider: profile.provider });
            }
            // The provider proved the mailbox. If the local account never did, whoever set its
            // password may not own the address: that password and its sessions go.
            let takeover_risk = !existing.email_verified;
            self.store.link_identity(existing.id, identity, takeover_risk).await?;
            if takeover_risk {
                self.sessions.revoke_all(existing.id, RevocationReason::IdentityTakeover).await?;
            }
            tracing::info!(user_id = %existing.id, provider = %profile.provider, "identity linked by verified email");
            return active(self.store.find_user(existing.id).await?.ok_or(DomainError::NotFound)?);
        }
        let (address, key) = match &email {
            Some(email) => (email.address().to_owned(), email.key().to_owned()),
            // Some providers share no email; the account gets a unique, undeliverable one.
            None => {
                let placeholder = format!("{}-{}@users.invalid", profile.provider, profile.subject);
                (placeholder.clone(), placeholder.to_lowercase())
            }
        };
        let user = self
            .store
            .create_user_with_identity(
                NewUser {
                    id: Uuid::new_v4(),
                    email: address,
                    email_key: key,
                    full_name: profile.name.clone(),
                    role: Role::User,
                    password_hash: None,
                    email_verified: email.is_some() && profile.email_verified_authoritative,
                    created_at: self.clock.now(),
                },
                identity,
            )
            .await?;
        tracing::info!(user_id = %user.id, provider = %profile.provider, "account created by social sign-in");
        Ok(user)
    }
}

fn active(user: User) -> Result<User, DomainError> {
    if user.is_active { Ok(user) } else { Err(DomainError::AccountDisabled) }
}

fn provider_failure(error: ProviderError) -> DomainError {
    match error {
        ProviderError::Denied(cause) => {
            tracing::info!(%cause, "provider refused the sign-in");
            DomainError::ProviderDenied
        }
        ProviderError::Failed(cause) => {
            tracing::warn!(%cause, "provider failed");
            DomainError::ProviderError
        }
    }
}

fn pending_key(state: &str) -> String {
    format!("oauth-state:{}", hex::encode(Sha256::digest(state.as_bytes())))
}

/// 256 random bits, base64url (43 characters: valid as state, nonce and PKCE verifier).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// RFC 7636 S256 challenge.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }
}
