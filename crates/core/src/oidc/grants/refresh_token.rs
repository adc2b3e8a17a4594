//! `refresh_token` (OAuth 2.1 §4.3): rotation with the same reuse rules as `/auth/refresh`,
//! for tokens of a session the client holds; a narrower scope may be asked for, never a wider.

use super::count;
use crate::error::DomainError;
use crate::oidc::service::{OidcService, PersonIssue, TokenResponse};
use crate::oidc::{Client, GrantType, OAuthError, Scopes};

impl OidcService {
    #[tracing::instrument(name = "refresh_token grant", skip_all, fields(client_id = %client.client_id))]
    pub async fn refresh(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&str>,
        resources: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        let result = self.rotate(client, refresh_token, scope, resources).await;
        count("refresh_token", if result.is_ok() { "issued" } else { "refused" });
        result
    }

    async fn rotate(
        &self,
        client: &Client,
        refresh_token: &str,
        scope: Option<&str>,
        resources: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::RefreshToken) {
            return Err(OAuthError::UnauthorizedClient);
        }
        // Scope and resources are checked before the token is spent, so a refused request costs
        // nothing.
        let held = self
            .sessions
            .find_by_refresh_token(refresh_token)
            .await?
            .and_then(|session| session.client)
            .filter(|held| held.client_id == client.client_id)
            .ok_or(OAuthError::InvalidGrant("unknown refresh token"))?;
        let granted = Scopes::parse(&held.scope).unwrap_or_default();
        let scopes = match scope {
            None => granted,
            Some(asked) => {
                let asked = Scopes::parse(asked).ok_or(OAuthError::InvalidScope)?;
                if asked.is_empty() || !asked.is_subset_of(&granted) {
                    return Err(OAuthError::InvalidScope);
                }
                asked
            }
        };
        let audience = client.audience_for(&held.resources, resources)?;
        let (user, session, successor) = match self.sessions.refresh_for_client(refresh_token, &client.client_id).await
        {
            Ok(rotated) => rotated,
            Err(DomainError::InvalidToken) => return Err(OAuthError::InvalidGrant("unknown refresh token")),
            Err(DomainError::TokenExpired) => return Err(OAuthError::InvalidGrant("the refresh token has expired")),
            Err(DomainError::TokenRevoked) => return Err(OAuthError::InvalidGrant("the grant was revoked")),
            Err(DomainError::RefreshTokenReused) => {
                return Err(OAuthError::InvalidGrant("the refresh token was used already; the grant is revoked"));
            }
            Err(other) => return Err(other.into()),
        };
        self.person_tokens(
            client,
            &user,
            &session,
            PersonIssue { scopes, audience, refresh_token: Some(successor), nonce: None },
        )
    }
}
