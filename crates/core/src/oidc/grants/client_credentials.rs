//! `client_credentials` (OAuth 2.1 §4.2): a confidential client's own token, no person, no
//! refresh token. Its `sid` is the client's internal id, so deleting the client revokes it.

use super::count;
use crate::oidc::service::{OidcService, TokenResponse};
use crate::oidc::tokens::AccessGrant;
use crate::oidc::{Client, ClientKind, GrantType, OAuthError, Scopes};

impl OidcService {
    #[tracing::instrument(name = "client_credentials grant", skip_all, fields(client_id = %client.client_id))]
    /// `resources` are the request's RFC 8707 indicators, already parsed.
    pub async fn client_token(
        &self,
        client: &Client,
        scope: Option<&str>,
        resources: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        let result = self.machine_token(client, scope, resources);
        count("client_credentials", if result.is_ok() { "issued" } else { "refused" });
        result
    }

    fn machine_token(
        &self,
        client: &Client,
        scope: Option<&str>,
        resources: &[String],
    ) -> Result<TokenResponse, OAuthError> {
        if client.kind != ClientKind::Confidential || !client.allows_grant(GrantType::ClientCredentials) {
            return Err(OAuthError::UnauthorizedClient);
        }
        let registered = Scopes::from_list(&client.scopes);
        let scopes = match scope {
            None => registered,
            Some(asked) => {
                let asked = Scopes::parse(asked).ok_or(OAuthError::InvalidScope)?;
                if !asked.is_subset_of(&registered) {
                    return Err(OAuthError::InvalidScope);
                }
                asked
            }
        };
        let audience = client.audience_for(&[], resources)?;
        let (access_token, _) = self.tokens.issue_access(
            self.sessions.access_tokens().keys(),
            AccessGrant {
                sub: client.client_id.clone(),
                aud: audience,
                client_id: client.client_id.clone(),
                scope: scopes.to_string(),
                sid: client.id,
                auth_time: None,
                acr: None,
                amr: vec![],
            },
            self.clock.now(),
        )?;
        tracing::info!(target: "audit", event = "oauth_tokens_issued", grant = "client_credentials", client_id = %client.client_id, outcome = "success", "client token issued");
        Ok(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: self.tokens.access_ttl().num_seconds(),
            refresh_token: None,
            id_token: None,
            scope: scopes.to_string(),
        })
    }
}
