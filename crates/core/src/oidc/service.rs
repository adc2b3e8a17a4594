//! The provider service: what every grant and endpoint shares.

use std::sync::Arc;

use chrono::Duration;

use super::tokens::{AccessGrant, ClientAccessClaims, IdTokenClaims, ProviderTokens};
use super::{Audience, Client, OAuthError, Scopes, scope};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::mfa::Assurance;
use crate::model::{Session, User};
use crate::ports::{EphemeralStore, Store};
use crate::sessions::SessionService;

/// Lifetimes of what the provider hands out.
#[derive(Debug, Clone)]
pub struct OidcSettings {
    /// How long an authorization code can be redeemed (60 seconds by the contract).
    pub code_ttl: Duration,
    /// How long a rotated client secret keeps working (`CLIENT_SECRET_OVERLAP`).
    pub secret_overlap: Duration,
}

pub struct OidcService {
    pub(super) store: Arc<dyn Store>,
    pub(super) ephemeral: Arc<dyn EphemeralStore>,
    pub(super) sessions: Arc<SessionService>,
    pub(super) tokens: ProviderTokens,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) settings: OidcSettings,
}

/// What the token endpoint answers (RFC 6749 §5.1, OpenID Connect Core §3.1.3.3).
#[derive(Clone, serde::Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("TokenResponse").field("scope", &self.scope).finish_non_exhaustive()
    }
}

impl OidcService {
    pub fn new(
        store: Arc<dyn Store>,
        ephemeral: Arc<dyn EphemeralStore>,
        sessions: Arc<SessionService>,
        tokens: ProviderTokens,
        clock: Arc<dyn Clock>,
        settings: OidcSettings,
    ) -> Self {
        Self { store, ephemeral, sessions, tokens, clock, settings }
    }

    pub fn tokens(&self) -> &ProviderTokens {
        &self.tokens
    }

    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    pub fn issuer(&self) -> &str {
        self.tokens.issuer()
    }

    /// Checks an access token issued to an OAuth client, revocation included (the hot path:
    /// no database call).
    pub fn authenticate_access(&self, token: &str) -> Result<ClientAccessClaims, DomainError> {
        let claims = self.tokens.verify_access(self.sessions.access_tokens().keys(), token, self.clock.now())?;
        self.sessions.ensure_live(claims.sid)?;
        Ok(claims)
    }

    /// The tokens for a person's session held by `client`: an access token, the refresh token
    /// when the client may refresh, an ID token when `openid` was granted.
    pub(super) fn person_tokens(
        &self,
        client: &Client,
        user: &User,
        session: &Session,
        issue: PersonIssue,
    ) -> Result<TokenResponse, OAuthError> {
        let PersonIssue { scopes, audience, refresh_token, nonce } = issue;
        let scopes = &scopes;
        let now = self.clock.now();
        let auth_time = session.client.as_ref().map_or(session.created_at, |held| held.auth_time).timestamp();
        let (access_token, _) = self.tokens.issue_access(
            self.sessions.access_tokens().keys(),
            AccessGrant {
                sub: user.id.to_string(),
                aud: audience,
                client_id: client.client_id.clone(),
                scope: scopes.to_string(),
                sid: session.id,
                auth_time: Some(auth_time),
                acr: Some(session.assurance.aal),
                amr: session.assurance.amr.clone(),
            },
            now,
        )?;
        let id_token = if scopes.contains(scope::OPENID) {
            Some(self.tokens.issue_id_token(
                id_token_claims(client, user, session.id, &session.assurance, auth_time, nonce, scopes),
                Some(&access_token),
                now,
            )?)
        } else {
            None
        };
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.tokens.access_ttl().num_seconds(),
            refresh_token,
            id_token,
            scope: scopes.to_string(),
        })
    }
}

/// What a person's token response is for.
pub(super) struct PersonIssue {
    pub scopes: Scopes,
    pub audience: Audience,
    pub refresh_token: Option<String>,
    pub nonce: Option<String>,
}

/// The person's claims released for `scopes` (OpenID Connect Core §5.4).
pub(super) fn profile_claims(user: &User, scopes: &Scopes) -> (Option<String>, Option<bool>, Option<String>) {
    let email = scopes.contains(scope::EMAIL);
    (
        email.then(|| user.email.clone()),
        email.then_some(user.email_verified),
        if scopes.contains(scope::PROFILE) { user.full_name.clone() } else { None },
    )
}

fn id_token_claims(
    client: &Client,
    user: &User,
    sid: uuid::Uuid,
    assurance: &Assurance,
    auth_time: i64,
    nonce: Option<String>,
    scopes: &Scopes,
) -> IdTokenClaims {
    let (email, email_verified, name) = profile_claims(user, scopes);
    IdTokenClaims {
        iss: String::new(),
        sub: user.id.to_string(),
        aud: client.client_id.clone(),
        azp: client.client_id.clone(),
        exp: 0,
        iat: 0,
        auth_time,
        nonce,
        acr: assurance.aal,
        amr: assurance.amr.clone(),
        sid,
        at_hash: None,
        email,
        email_verified,
        name,
    }
}
