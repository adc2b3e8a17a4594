//! GitHub (an OAuth app, not OpenID Connect): the authorize page with PKCE S256, the code
//! exchange at `login/oauth/access_token` (errors arrive as HTTP 200 with an `error` field), the
//! user from the REST API's `/user`, and addresses from `/user/emails`, where only `verified`
//! ones count. Tokens posted by apps are first checked to belong to our app
//! (`POST /applications/{client_id}/token`), since any GitHub token reads `/user`.

use async_trait::async_trait;
use auth_core::oauth::{
    AppCredentials, AuthorizationRequest, CallbackParameters, ExternalProfile, IdentityProvider, PendingLogin,
    ProviderError,
};
use auth_core::redact::Secret;
use serde::Deserialize;

use super::{OAuthTokenAnswer, authorization_url, json_of, json_when_ok, required};

/// The REST API version this adapter was written against (GitHub's dated versioning).
const API_VERSION: &str = "2022-11-28";
const SCOPES: &str = "read:user user:email";

#[derive(Clone, Debug)]
pub struct GithubConfig {
    /// `https://github.com`: the authorize page and the token exchange.
    pub base_url: String,
    /// `https://api.github.com`: the REST API.
    pub api_url: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Whether a verified GitHub address may link to an existing account (`GITHUB_TRUST_EMAIL`).
    pub trust_email: bool,
}

pub struct GithubProvider {
    config: GithubConfig,
    http: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct User {
    id: u64,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Email {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

#[derive(Debug, Deserialize)]
struct TokenCheck {
    #[serde(default)]
    user: Option<User>,
}

/// The address an account may take: the primary one when verified, else the first verified one.
fn verified_address(emails: &[Email]) -> Option<&str> {
    let verified = || emails.iter().filter(|email| email.verified);
    verified().find(|email| email.primary).or_else(|| verified().next()).map(|email| email.email.as_str())
}

impl GithubProvider {
    pub fn new(config: GithubConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_url.trim_end_matches('/'))
    }

    fn api_request(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.header("Accept", "application/vnd.github+json").header("X-GitHub-Api-Version", API_VERSION)
    }

    async fn profile(&self, token: &str, expected_user: Option<u64>) -> Result<ExternalProfile, ProviderError> {
        let request = self.api_request(self.http.get(self.api("/user")).bearer_auth(token));
        let user: User = match json_when_ok(request, "GitHub /user").await? {
            Ok(user) => user,
            Err(status @ (401 | 403)) => return Err(ProviderError::Denied(format!("GitHub /user answered {status}"))),
            Err(status) => return Err(ProviderError::Failed(format!("GitHub /user answered {status}"))),
        };
        if expected_user.is_some_and(|expected| expected != user.id) {
            return Err(ProviderError::Failed("GitHub /user describes another user".into()));
        }
        let request = self.api_request(self.http.get(self.api("/user/emails")).bearer_auth(token));
        let emails: Vec<Email> = match json_when_ok(request, "GitHub /user/emails").await? {
            Ok(emails) => emails,
            // Without the `user:email` scope (an app's token may lack it) there are no addresses.
            Err(403 | 404) => Vec::new(),
            Err(status) => return Err(ProviderError::Failed(format!("GitHub /user/emails answered {status}"))),
        };
        let email = verified_address(&emails).map(str::to_owned);
        Ok(ExternalProfile {
            provider: "github".into(),
            subject: user.id.to_string(),
            email_verified_authoritative: self.config.trust_email && email.is_some(),
            email,
            name: user.name.filter(|name| !name.is_empty()).or(user.login),
        })
    }

    /// GitHub's "check a token": 200 only for a live token issued to this OAuth app.
    async fn check_token(&self, token: &str) -> Result<u64, ProviderError> {
        let url = self.api(&format!("/applications/{}/token", self.config.client_id));
        let request = self
            .api_request(self.http.post(url))
            .basic_auth(&self.config.client_id, Some(self.config.client_secret.expose()))
            .json(&serde_json::json!({ "access_token": token }));
        let check: TokenCheck = match json_when_ok(request, "GitHub token check").await? {
            Ok(check) => check,
            // 404: not a live token of this app; 401: our own credentials were refused.
            Err(status @ (401 | 404 | 422)) => {
                return Err(ProviderError::Denied(format!("GitHub token check answered {status}")));
            }
            Err(status) => return Err(ProviderError::Failed(format!("GitHub token check answered {status}"))),
        };
        check.user.map(|user| user.id).ok_or_else(|| ProviderError::Failed("GitHub token check names no user".into()))
    }
}

#[async_trait]
impl IdentityProvider for GithubProvider {
    fn name(&self) -> &str {
        "github"
    }

    fn display_name(&self) -> &str {
        "GitHub"
    }

    async fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<String, ProviderError> {
        let endpoint = format!("{}/login/oauth/authorize", self.config.base_url.trim_end_matches('/'));
        authorization_url(&endpoint, &self.config.client_id, request, SCOPES, false)
    }

    async fn finish(
        &self,
        callback: &CallbackParameters,
        pending: &PendingLogin,
    ) -> Result<ExternalProfile, ProviderError> {
        let code = required(&callback.code, "code")?;
        let form = [
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.expose()),
            ("code", code),
            ("redirect_uri", pending.redirect_uri.as_str()),
            ("code_verifier", pending.code_verifier.as_str()),
        ];
        let url = format!("{}/login/oauth/access_token", self.config.base_url.trim_end_matches('/'));
        let request = self.http.post(url).header("Accept", "application/json").form(&form);
        let (status, answer): (u16, OAuthTokenAnswer) = json_of(request, "GitHub code exchange").await?;
        // A refused code, secret or redirect URI is HTTP 200 with `error`.
        if let Some(error) = answer.error {
            let description = answer.error_description.unwrap_or_default();
            return Err(ProviderError::Denied(format!("GitHub code exchange: {error}: {description}")));
        }
        let token = answer
            .access_token
            .filter(|_| status == 200)
            .ok_or_else(|| ProviderError::Failed(format!("GitHub code exchange answered {status} without a token")))?;
        self.profile(&token, None).await
    }

    async fn profile_from_app(&self, credentials: &AppCredentials) -> Result<ExternalProfile, ProviderError> {
        let token = required(&credentials.access_token, "access_token")?;
        let user = self.check_token(token).await?;
        self.profile(token, Some(user)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(address: &str, primary: bool, verified: bool) -> Email {
        Email { email: address.into(), primary, verified }
    }

    #[test]
    fn only_verified_addresses_count_the_primary_first() {
        let emails = [
            email("old@example.com", false, true),
            email("primary@example.com", true, true),
            email("unproven@example.com", false, false),
        ];
        assert_eq!(verified_address(&emails), Some("primary@example.com"));
        let unverified_primary = [email("primary@example.com", true, false), email("other@example.com", false, true)];
        assert_eq!(verified_address(&unverified_primary), Some("other@example.com"));
        assert_eq!(verified_address(&[email("primary@example.com", true, false)]), None);
        assert_eq!(verified_address(&[]), None);
    }
}
