//! The endpoints around the tokens: userinfo (OpenID Connect Core §5.3), introspection
//! (RFC 7662), revocation (RFC 7009), RP-initiated logout, and a person's own grants.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::service::{OidcService, profile_claims};
use super::{Client, ClientKind, Grant, OAuthError, Scopes, is_access_token_type, scope};
use crate::error::DomainError;
use crate::sessions::RefreshTokens;

/// Where RP-initiated logout sends the browser.
#[derive(Debug)]
pub struct LogoutOutcome {
    /// A registered `post_logout_redirect_uri` with `state`, else the hosted "signed out" page.
    pub redirect_to: Option<String>,
}

/// Why a logout request cannot be followed: shown on a page, never redirected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoutRefused {
    BadIdTokenHint,
    UnknownClient,
    UnregisteredPostLogoutUri,
}

impl OidcService {
    /// The claims of the person a token acts for, as its scopes release them.
    pub async fn userinfo(&self, access_token: &str) -> Result<Value, OAuthError> {
        let claims = self.authenticate_access(access_token).map_err(|_| OAuthError::InvalidToken)?;
        if !claims.has_scope(scope::OPENID) {
            return Err(OAuthError::InsufficientScope);
        }
        let user_id = claims.user_id().ok_or(OAuthError::InsufficientScope)?;
        let user = match self.store.find_user(user_id).await? {
            Some(user) if user.is_active => user,
            _ => return Err(OAuthError::InvalidToken),
        };
        let scopes = Scopes::parse(&claims.scope).unwrap_or_default();
        let (email, email_verified, name) = profile_claims(&user, &scopes);
        let mut body = Map::new();
        body.insert("sub".into(), json!(user.id));
        if let Some(email) = email {
            body.insert("email".into(), json!(email));
            body.insert("email_verified".into(), json!(email_verified));
        }
        if scopes.contains(scope::PROFILE) {
            body.insert("name".into(), json!(name));
        }
        Ok(Value::Object(body))
    }

    /// RFC 7662 for a confidential client (a resource server): an access token of ours, or a
    /// refresh token of a session the caller holds. Anything else, and anything revoked or
    /// expired, is `{"active": false}`.
    pub async fn introspect(&self, caller: &Client, token: &str) -> Result<Value, OAuthError> {
        if caller.kind != ClientKind::Confidential {
            return Err(OAuthError::UnauthorizedClient);
        }
        let inactive = json!({ "active": false });
        if RefreshTokens::is_well_formed(token) {
            let now = self.clock.now();
            let session = self.sessions.find_live_by_refresh_token(token).await?;
            let held = session.as_ref().and_then(|session| session.client.as_ref().map(|held| (session, held)));
            return Ok(match held {
                Some((session, held))
                    if session.revoked_at.is_none()
                        && session.expires_at > now
                        && held.client_id == caller.client_id =>
                {
                    json!({
                        "active": true,
                        "token_type": "refresh_token",
                        "client_id": held.client_id,
                        "scope": held.scope,
                        "sub": session.user_id,
                        "sid": session.id,
                        "exp": session.expires_at.timestamp(),
                        "iss": self.issuer(),
                    })
                }
                _ => inactive,
            });
        }
        let header = jsonwebtoken::decode_header(token).ok();
        if !is_access_token_type(header.as_ref().and_then(|header| header.typ.as_deref())) {
            return Ok(inactive);
        }
        match self.authenticate_access(token) {
            Ok(claims) => {
                let mut body = json!({
                    "active": true,
                    "token_type": "Bearer",
                    "client_id": claims.client_id,
                    "scope": claims.scope,
                    "sub": claims.sub,
                    "aud": claims.aud,
                    "iss": claims.iss,
                    "exp": claims.exp,
                    "iat": claims.iat,
                    "jti": claims.jti,
                });
                if let Some(acr) = claims.acr {
                    body["acr"] = json!(acr);
                    body["sid"] = json!(claims.sid);
                    body["auth_time"] = json!(claims.auth_time);
                }
                Ok(body)
            }
            Err(DomainError::Unavailable(cause)) => Err(OAuthError::Domain(DomainError::Unavailable(cause))),
            Err(_) => Ok(inactive),
        }
    }

    /// RFC 7009: revokes the grant session a refresh or access token of `client` belongs to.
    /// Tokens that are unknown, foreign or already dead are answered as revoked (§2.2); a
    /// `client_credentials` access token cannot be revoked alone (`unsupported_token_type`).
    #[tracing::instrument(name = "revoke token", skip_all, fields(client_id = %client.client_id))]
    pub async fn revoke_token(&self, client: &Client, token: &str) -> Result<(), OAuthError> {
        let held_by_caller = if RefreshTokens::is_well_formed(token) {
            self.sessions
                .find_by_refresh_token(token)
                .await?
                .filter(|session| session.client.as_ref().is_some_and(|held| held.client_id == client.client_id))
                .map(|session| (session.user_id, session.id))
        } else {
            match self.tokens.verify_access(self.sessions.access_tokens().keys(), token, self.clock.now()) {
                Ok(claims) if claims.client_id == client.client_id => match claims.user_id() {
                    Some(user_id) => Some((user_id, claims.sid)),
                    None => return Err(OAuthError::UnsupportedTokenType),
                },
                _ => None,
            }
        };
        if let Some((user_id, session_id)) = held_by_caller {
            match self.sessions.revoke(user_id, session_id).await {
                Ok(()) | Err(DomainError::NotFound) => {}
                Err(error) => return Err(error.into()),
            }
            tracing::info!(target: "audit", event = "oauth_token_revoked", %user_id, %session_id, outcome = "session_revoked", "OAuth token revoked by its client");
        }
        Ok(())
    }

    /// OpenID RP-Initiated Logout 1.0 §2-3: ends the grant session the hint names and picks
    /// where to go; the caller also signs the browser out of the hosted pages.
    #[tracing::instrument(name = "rp logout", skip_all)]
    pub async fn logout(
        &self,
        id_token_hint: Option<&str>,
        client_id: Option<&str>,
        post_logout_redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> Result<LogoutOutcome, Result<LogoutRefused, OAuthError>> {
        let hint = match id_token_hint {
            Some(hint) => Some(self.tokens.verify_id_token_hint(hint).map_err(|_| Ok(LogoutRefused::BadIdTokenHint))?),
            None => None,
        };
        let client_id = match (&hint, client_id) {
            (Some(hint), Some(client_id)) if hint.aud != client_id => return Err(Ok(LogoutRefused::BadIdTokenHint)),
            (Some(hint), _) => Some(hint.aud.clone()),
            (None, client_id) => client_id.map(str::to_owned),
        };
        let redirect_to = match post_logout_redirect_uri {
            None => None,
            Some(uri) => {
                let client_id = client_id.as_deref().ok_or(Ok(LogoutRefused::UnknownClient))?;
                let client = self
                    .store
                    .find_client(client_id)
                    .await
                    .map_err(|error| Err(OAuthError::from(error)))?
                    .ok_or(Ok(LogoutRefused::UnknownClient))?;
                if !client.post_logout_uri_registered(uri) {
                    return Err(Ok(LogoutRefused::UnregisteredPostLogoutUri));
                }
                let mut url = url::Url::parse(uri).map_err(|_| Ok(LogoutRefused::UnregisteredPostLogoutUri))?;
                if let Some(state) = state {
                    url.query_pairs_mut().append_pair("state", state);
                }
                Some(url.to_string())
            }
        };
        if let Some(hint) = hint
            && let Ok(user_id) = Uuid::parse_str(&hint.sub)
        {
            match self.sessions.revoke(user_id, hint.sid).await {
                Ok(()) | Err(DomainError::NotFound) => {}
                Err(error) => return Err(Err(error.into())),
            }
            tracing::info!(target: "audit", event = "oauth_logout", %user_id, session_id = %hint.sid, client_id = %hint.aud, outcome = "session_revoked", "RP-initiated logout");
        }
        Ok(LogoutOutcome { redirect_to })
    }

    /// The apps a person has granted, with their names, newest first.
    pub async fn grants(&self, user_id: Uuid) -> Result<Vec<(Grant, Option<Client>)>, DomainError> {
        let grants = self.store.list_grants(user_id).await?;
        let mut named = Vec::with_capacity(grants.len());
        for grant in grants {
            let client = self.store.find_client(&grant.client_id).await?;
            named.push((grant, client));
        }
        Ok(named)
    }

    /// Withdraws a grant and ends every session the app holds for the person, on every instance.
    #[tracing::instrument(name = "revoke grant", skip(self))]
    pub async fn revoke_grant(&self, user_id: Uuid, client_id: &str) -> Result<(), DomainError> {
        let revocations =
            self.store.revoke_grant(user_id, client_id, self.clock.now()).await?.ok_or(DomainError::NotFound)?;
        tracing::info!(target: "audit", event = "oauth_grant_revoked", %user_id, %client_id, sessions = revocations.len(), outcome = "success", "grant revoked by its person");
        self.sessions.publish_revocations(&revocations).await;
        Ok(())
    }
}
