//! `authorization_code` (OAuth 2.1 §4.1.3): a code is redeemed once, by the client it was
//! issued to, with the redirect URI and the PKCE verifier it was bound to.

use super::count;
use crate::error::DomainError;
use crate::model::SessionClient;
use crate::oidc::authorization::{IssuedCode, code_key, redeemed_key};
use crate::oidc::service::{OidcService, PersonIssue, TokenResponse};
use crate::oidc::{Client, GrantType, OAuthError, Scopes, pkce};
use crate::sessions::ClientInfo;

/// How long a redeemed code is remembered, to revoke what it issued if it comes back.
const REDEEMED_MEMORY: std::time::Duration = std::time::Duration::from_secs(600);

impl OidcService {
    #[tracing::instrument(name = "authorization_code grant", skip_all, fields(client_id = %client.client_id))]
    pub async fn redeem_code(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        resources: &[String],
        info: ClientInfo,
    ) -> Result<TokenResponse, OAuthError> {
        let result = self.redeem(client, code, redirect_uri, code_verifier, resources, info).await;
        count("authorization_code", if result.is_ok() { "issued" } else { "refused" });
        result
    }

    async fn redeem(
        &self,
        client: &Client,
        code: &str,
        redirect_uri: Option<&str>,
        code_verifier: Option<&str>,
        resources: &[String],
        info: ClientInfo,
    ) -> Result<TokenResponse, OAuthError> {
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(OAuthError::UnauthorizedClient);
        }
        if code.is_empty() || code.len() > 256 {
            return Err(OAuthError::InvalidRequest("code is required"));
        }
        // Taken before any check: whatever goes wrong next, the code is spent.
        let Some(value) = self.ephemeral.take(&code_key(code)).await? else {
            return Err(self.replayed_code(code).await);
        };
        let issued: IssuedCode =
            serde_json::from_str(&value).map_err(|error| DomainError::Internal(format!("stored code: {error}")))?;
        if issued.client_id != client.client_id {
            tracing::warn!(target: "audit", event = "oauth_code_refused", client_id = %client.client_id, reason = "other_client", outcome = "failure", "authorization code of another client");
            return Err(OAuthError::InvalidGrant("the code was issued to another client"));
        }
        if redirect_uri != Some(issued.redirect_uri.as_str()) {
            tracing::warn!(target: "audit", event = "oauth_code_refused", client_id = %client.client_id, reason = "redirect_uri", outcome = "failure", "authorization code with another redirect_uri");
            return Err(OAuthError::InvalidGrant("redirect_uri does not match the authorization request"));
        }
        if !code_verifier.is_some_and(|verifier| pkce::verifier_matches(verifier, &issued.code_challenge)) {
            tracing::warn!(target: "audit", event = "oauth_code_refused", client_id = %client.client_id, reason = "pkce", outcome = "failure", "authorization code with a wrong or missing code_verifier");
            return Err(OAuthError::InvalidGrant("code_verifier does not match the code_challenge"));
        }
        let user = match self.store.find_user(issued.user_id).await? {
            Some(user) if user.is_active => user,
            _ => return Err(OAuthError::InvalidGrant("the account is no longer active")),
        };
        let scopes = Scopes::parse(&issued.scope).unwrap_or_default();
        let audience = client.audience_for(&issued.resources, resources)?;
        let (session, refresh_token) = self
            .sessions
            .start_for_client(
                &user,
                info,
                issued.assurance.clone(),
                SessionClient {
                    client_id: client.client_id.clone(),
                    scope: scopes.to_string(),
                    auth_time: issued.auth_time,
                    resources: issued.resources,
                },
            )
            .await?;
        self.ephemeral.put(&redeemed_key(code), &format!("{} {}", user.id, session.id), REDEEMED_MEMORY).await?;
        let refresh_token = client.allows_grant(GrantType::RefreshToken).then_some(refresh_token);
        tracing::info!(target: "audit", event = "oauth_tokens_issued", grant = "authorization_code", client_id = %client.client_id, user_id = %user.id, session_id = %session.id, outcome = "success", "tokens issued for an authorization code");
        self.person_tokens(
            client,
            &user,
            &session,
            PersonIssue { scopes, audience, refresh_token, nonce: issued.nonce },
        )
    }

    /// A code that is not live: if it was redeemed, whatever it issued is revoked.
    async fn replayed_code(&self, code: &str) -> OAuthError {
        match self.ephemeral.take(&redeemed_key(code)).await {
            Ok(Some(redeemed)) => {
                let mut parts = redeemed.split(' ').filter_map(|part| uuid::Uuid::parse_str(part).ok());
                if let (Some(user_id), Some(session_id)) = (parts.next(), parts.next()) {
                    tracing::warn!(target: "audit", event = "oauth_code_replayed", %user_id, %session_id, outcome = "session_revoked", "authorization code used twice: what it issued is revoked");
                    if let Err(error) = self.sessions.revoke(user_id, session_id).await
                        && !matches!(error, DomainError::NotFound)
                    {
                        return OAuthError::Domain(error);
                    }
                }
                OAuthError::InvalidGrant("the code was already used")
            }
            Ok(None) => OAuthError::InvalidGrant("the code is unknown or expired"),
            Err(error) => OAuthError::from(error),
        }
    }
}
