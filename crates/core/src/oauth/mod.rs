//! Social sign-in: a two-step service (start: state, PKCE, nonce kept server-side; finish:
//! check the state, let the provider adapter exchange and verify, then link or create the
//! account) and the provider abstraction each adapter implements.

mod provider;
pub mod telegram_widget;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

pub use provider::{
    AppCredentials, AuthorizationRequest, CallbackParameters, ExternalProfile, IdentityProvider, ProviderError,
};

use crate::accounts::Email;
use crate::clock::Clock;
use crate::error::DomainError;
use crate::model::{NewIdentity, NewUser, Role, User};
use crate::ports::{EphemeralStore, Store};
use crate::redact::Secret;
use crate::sessions::SessionService;

/// What is kept server-side between `start` and `finish`, keyed by `state`.
#[derive(Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    pub provider: String,
    pub code_verifier: String,
    pub nonce: String,
    pub redirect_uri: String,
    /// Where the browser goes afterwards, already checked (against the allow-list, or for the
    /// hosted pages by their destination rule).
    pub redirect_to: Option<String>,
    /// Started from the hosted pages: the session goes into the browser's cookies, not into
    /// a URL fragment.
    #[serde(default)]
    pub pages: bool,
    /// Set when a signed-in user links this provider to their account.
    pub link_user: Option<Uuid>,
    /// SHA-256 (hex) of the browser binding: only the browser that started the sign-in, which
    /// holds the binding in an HttpOnly cookie, can finish it (RFC 9700 §4.7).
    pub browser_hash: String,
}

/// The verifier and nonce are secrets of the sign-in: never in a log line.
impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PendingLogin")
            .field("provider", &self.provider)
            .field("code_verifier", &"[redacted]")
            .field("nonce", &"[redacted]")
            .field("redirect_uri", &self.redirect_uri)
            .field("redirect_to", &self.redirect_to)
            .field("link_user", &self.link_user)
            .finish_non_exhaustive()
    }
}

/// A started browser sign-in: where to send the browser, and the binding it must keep (in an
/// HttpOnly cookie) to finish.
#[derive(Clone)]
pub struct AuthorizationStart {
    pub url: String,
    pub browser_binding: String,
    /// The provider returns the browser by a cross-site form POST (Apple), which a
    /// `SameSite=Lax` binding cookie would not accompany.
    pub returns_by_form_post: bool,
}

/// A one-time permission, handed to a signed-in user, to start linking a provider from their
/// browser (the browser has no access token to prove who it is).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LinkTicket {
    provider: String,
    user_id: Uuid,
    redirect_to: Option<String>,
}

/// How long a link ticket may wait for the browser to redeem it.
pub const LINK_TICKET_TTL: Duration = Duration::from_secs(60);

/// A finished sign-in: the account, and where the browser should go.
#[derive(Debug)]
pub struct SignedIn {
    pub user: User,
    pub redirect_to: Option<String>,
    /// Started from the hosted pages ([`OAuthService::start_for_pages`]).
    pub pages: bool,
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
    providers: HashMap<String, Arc<dyn IdentityProvider>>,
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
        let providers = providers.into_iter().map(|provider| (provider.name().to_owned(), provider)).collect();
        Self { providers, store, pending, sessions, clock, settings }
    }

    /// The configured providers, as `(name, display name)`, in a stable order.
    pub fn providers(&self) -> Vec<(&str, &str)> {
        let mut listed: Vec<_> =
            self.providers.values().map(|provider| (provider.name(), provider.display_name())).collect();
        listed.sort();
        listed
    }

    /// The providers a browser can be sent to, as `(name, display name)`: the login page's buttons.
    pub fn browser_providers(&self) -> Vec<(&str, &str)> {
        let mut listed: Vec<_> = self
            .providers
            .values()
            .filter(|provider| provider.offers_browser_sign_in())
            .map(|provider| (provider.name(), provider.display_name()))
            .collect();
        listed.sort();
        listed
    }

    pub fn settings(&self) -> &OAuthSettings {
        &self.settings
    }

    fn provider(&self, name: &str) -> Result<&Arc<dyn IdentityProvider>, DomainError> {
        self.providers.get(name).ok_or(DomainError::UnknownProvider)
    }

    /// Each provider has its own callback path: the mix-up defence of RFC 9700 §4.4.
    pub fn callback_url(&self, provider: &str) -> String {
        format!("{}/auth/oauth/{provider}/callback", self.settings.public_url)
    }

    fn allowed_redirect(&self, redirect_to: Option<&str>) -> Result<Option<String>, DomainError> {
        match redirect_to.filter(|target| !target.is_empty()) {
            Some(target) if self.settings.allowed_redirects.iter().any(|allowed| allowed == target) => {
                Ok(Some(target.to_owned()))
            }
            Some(_) => Err(DomainError::InvalidRedirect),
            None => Ok(None),
        }
    }

    /// Creates the pending login, bound to the browser, and returns the provider's
    /// authorization URL. `browser` is the binding the browser already holds, if any (several
    /// sign-ins in one browser share it); otherwise a new one is made.
    pub async fn start(
        &self,
        provider_name: &str,
        redirect_to: Option<&str>,
        browser: Option<&str>,
    ) -> Result<AuthorizationStart, DomainError> {
        let redirect_to = self.allowed_redirect(redirect_to)?;
        self.begin(provider_name, redirect_to, None, browser, false).await
    }

    /// Starts a sign-in from the hosted pages: afterwards the browser is signed in with cookies
    /// and sent to `destination`, which the pages have already checked.
    pub async fn start_for_pages(
        &self,
        provider_name: &str,
        destination: String,
        browser: Option<&str>,
    ) -> Result<AuthorizationStart, DomainError> {
        self.begin(provider_name, Some(destination), None, browser, true).await
    }

    /// Hands a signed-in user a one-time ticket that their browser redeems at `/authorize`
    /// ([`Self::start_link`]) to link `provider_name` to their account.
    pub async fn issue_link_ticket(
        &self,
        user_id: Uuid,
        provider_name: &str,
        redirect_to: Option<&str>,
    ) -> Result<String, DomainError> {
        self.provider(provider_name)?;
        let ticket = LinkTicket {
            provider: provider_name.to_owned(),
            user_id,
            redirect_to: self.allowed_redirect(redirect_to)?,
        };
        let value = serde_json::to_string(&ticket).map_err(|error| DomainError::Internal(error.to_string()))?;
        let secret = random_token();
        self.pending.put(&link_ticket_key(&secret), &value, LINK_TICKET_TTL).await?;
        Ok(secret)
    }

    /// Starts linking `provider_name` to the account of a signed-in page session (the pages'
    /// CSRF check stands in for the ticket); afterwards the browser goes to `destination`.
    pub async fn start_link_for_pages(
        &self,
        provider_name: &str,
        user_id: Uuid,
        destination: String,
        browser: Option<&str>,
    ) -> Result<AuthorizationStart, DomainError> {
        self.begin(provider_name, Some(destination), Some(user_id), browser, true).await
    }

    /// Redeems a link ticket (once) and starts the browser's linking sign-in.
    pub async fn start_link(
        &self,
        provider_name: &str,
        ticket: &str,
        browser: Option<&str>,
    ) -> Result<AuthorizationStart, DomainError> {
        if ticket.is_empty() || ticket.len() > 256 {
            return Err(DomainError::InvalidState);
        }
        let stored = self.pending.take(&link_ticket_key(ticket)).await?.ok_or(DomainError::InvalidState)?;
        let ticket: LinkTicket = serde_json::from_str(&stored).map_err(|_| DomainError::InvalidState)?;
        if ticket.provider != provider_name {
            return Err(DomainError::InvalidState);
        }
        self.begin(provider_name, ticket.redirect_to, Some(ticket.user_id), browser, false).await
    }

    async fn begin(
        &self,
        provider_name: &str,
        redirect_to: Option<String>,
        link_user: Option<Uuid>,
        browser: Option<&str>,
        pages: bool,
    ) -> Result<AuthorizationStart, DomainError> {
        let provider = self.provider(provider_name)?;
        let browser_binding =
            browser.filter(|binding| is_well_formed_token(binding)).map_or_else(random_token, str::to_owned);
        let state = random_token();
        let pending = PendingLogin {
            provider: provider_name.to_owned(),
            code_verifier: random_token(),
            nonce: random_token(),
            redirect_uri: self.callback_url(provider_name),
            redirect_to,
            pages,
            link_user,
            browser_hash: hex::encode(Sha256::digest(browser_binding.as_bytes())),
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
        Ok(AuthorizationStart { url, browser_binding, returns_by_form_post: provider.returns_by_form_post() })
    }

    /// Completes a browser sign-in from the provider's callback, in the browser that started it.
    #[tracing::instrument(name = "oauth callback", skip_all, fields(provider = provider_name))]
    pub async fn finish(
        &self,
        provider_name: &str,
        callback: CallbackParameters,
        browser: Option<&str>,
    ) -> Result<SignedIn, DomainError> {
        let provider = self.provider(provider_name)?;
        let state = callback
            .state
            .as_ref()
            .map(Secret::expose)
            .filter(|state| !state.is_empty() && state.len() <= 256)
            .ok_or(DomainError::InvalidState)?;
        // Taken, not read: a state works once, whatever happens next.
        let pending = self.pending.take(&pending_key(state)).await?.ok_or(DomainError::InvalidState)?;
        let pending: PendingLogin = serde_json::from_str(&pending).map_err(|_| DomainError::InvalidState)?;
        if pending.provider != provider_name {
            return Err(DomainError::InvalidState);
        }
        // Another browser completing this state is login or link CSRF.
        let presented = hex::encode(Sha256::digest(browser.unwrap_or_default().as_bytes()));
        if browser.is_none() || !bool::from(presented.as_bytes().ct_eq(pending.browser_hash.as_bytes())) {
            tracing::info!(target: "audit", event = "oauth_state_foreign_browser", provider = provider_name, outcome = "refused", "sign-in finished by another browser than the one that started it");
            return Err(DomainError::InvalidState);
        }
        if let Some(error) = &callback.error {
            tracing::info!(%error, "the provider or the user refused");
            return Err(DomainError::ProviderDenied);
        }
        let profile = provider.finish(&callback, &pending).await.map_err(provider_failure)?;
        let user = self.resolve(profile, pending.link_user).await?;
        Ok(SignedIn { user, redirect_to: pending.redirect_to, pages: pending.pages })
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
        if !user.can_unlink_a_provider() {
            return Err(DomainError::LastLoginMethod);
        }
        self.store.unlink_identity(user_id, provider_name).await?;
        Ok(())
    }

    /// Finds, links or creates the account for a verified provider profile: look up by identity
    /// first; link by email only when the provider is authoritative for it; never give an account
    /// an address nobody proved (SECURITY.md, account pre-hijacking).
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
            tracing::info!(target: "audit", event = "identity_linked", %user_id, provider = %profile.provider, outcome = "success", "identity linked by its user");
            return active(self.store.find_user(user_id).await?.ok_or(DomainError::TokenRevoked)?);
        }
        let claimed = profile.email.as_deref().and_then(|email| Email::parse(email).ok());
        if let Some(email) = &claimed
            && let Some(existing) = self.store.find_user_by_email(email.key()).await?
        {
            if !profile.email_verified_authoritative {
                return Err(DomainError::EmailTakenLinkable { provider: profile.provider });
            }
            // The provider proved the mailbox. If the local account never did, whatever was
            // attached to it before (password, identities, sessions) goes (`mailbox`).
            let revocations = self.store.link_identity(existing.id, identity, true).await?;
            self.sessions.publish_revocations(&revocations).await;
            tracing::info!(target: "audit", event = "identity_linked", user_id = %existing.id, provider = %profile.provider, revoked = revocations.len(), outcome = "success", "identity linked by verified email");
            return active(self.store.find_user(existing.id).await?.ok_or(DomainError::NotFound)?);
        }
        // Only an address the provider proved becomes the account's; otherwise the account gets
        // a unique, undeliverable placeholder, and the claimed address stays on the identity.
        let proven = claimed.filter(|email| profile.email_verified_authoritative && !email.is_reserved());
        let email_verified = proven.is_some();
        let email = proven.unwrap_or_else(|| Email::placeholder(&profile.provider, &profile.subject));
        let user = self
            .store
            .create_user_with_identity(
                NewUser {
                    id: Uuid::new_v4(),
                    email: email.address().to_owned(),
                    email_key: email.key().to_owned(),
                    full_name: profile.name.clone(),
                    role: Role::User,
                    password_hash: None,
                    email_verified,
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
    hashed_key("oauth-state", state)
}

fn link_ticket_key(ticket: &str) -> String {
    hashed_key("oauth-link", ticket)
}

/// The ephemeral-store key of a one-time token: `prefix:` and the token's SHA-256, so a dump of
/// the cache holds no token that still works.
pub(crate) fn hashed_key(prefix: &str, token: &str) -> String {
    format!("{prefix}:{}", hex::encode(Sha256::digest(token.as_bytes())))
}

/// What [`random_token`] makes: 43 base64url characters.
fn is_well_formed_token(value: &str) -> bool {
    value.len() == 43 && value.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
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
