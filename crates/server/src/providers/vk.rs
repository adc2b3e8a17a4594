//! VK ID (id.vk.com): OAuth 2.1 with mandatory PKCE, the `device_id` from the callback on the
//! code exchange, and the user from `oauth2/user_info`. VK's ID token has no public key set,
//! so identity comes from the PKCE-bound back-channel answer (docs/providers.md, VK ID).

use async_trait::async_trait;
use auth_core::oauth::{
    AppCredentials, AuthorizationRequest, CallbackParameters, ExternalProfile, IdentityProvider, PendingLogin,
    ProviderError, random_token,
};
use auth_core::redact::Secret;
use serde::Deserialize;

use super::{authorization_url, json_of, required};

#[derive(Clone, Debug)]
pub struct VkConfig {
    pub base_url: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
}

pub struct VkProvider {
    config: VkConfig,
    http: reqwest::Client,
}

/// `user_id` is a number in the token answer and a string in `user_info`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum VkUserId {
    Number(u64),
    Text(String),
}

impl VkUserId {
    fn into_string(self) -> String {
        match self {
            VkUserId::Number(number) => number.to_string(),
            VkUserId::Text(text) => text,
        }
    }
}

/// No `Debug`: it holds the user's token.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    user_id: Option<VkUserId>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct UserInfoAnswer {
    #[serde(default)]
    user: Option<VkUser>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VkUser {
    user_id: VkUserId,
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

impl VkProvider {
    pub fn new(config: VkConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    async fn exchange(
        &self,
        code: &str,
        code_verifier: &str,
        device_id: &str,
        redirect_uri: &str,
    ) -> Result<ExternalProfile, ProviderError> {
        // VK echoes `state` in the answer; a different echo means an answer to someone else.
        let state = random_token();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", code_verifier),
            ("client_id", self.config.client_id.as_str()),
            ("device_id", device_id),
            ("redirect_uri", redirect_uri),
            ("state", state.as_str()),
        ];
        if let Some(secret) = &self.config.client_secret {
            form.push(("client_secret", secret.expose()));
        }
        let (status, answer): (u16, TokenAnswer) =
            json_of(self.http.post(self.endpoint("/oauth2/auth")).form(&form), "VK code exchange").await?;
        // VK signals failure by an `error` field, whatever the HTTP status.
        if let Some(error) = answer.error {
            return Err(ProviderError::Denied(format!("VK refused the code: {error}")));
        }
        if answer.state.as_deref() != Some(state.as_str()) {
            return Err(ProviderError::Failed(format!("VK answered (HTTP {status}) with another state")));
        }
        let access_token =
            answer.access_token.ok_or_else(|| ProviderError::Failed("VK gave no access_token".into()))?;
        let token_user = answer.user_id.map(VkUserId::into_string);
        let form = [("client_id", self.config.client_id.as_str()), ("access_token", access_token.as_str())];
        let (_, info): (u16, UserInfoAnswer) =
            json_of(self.http.post(self.endpoint("/oauth2/user_info")).form(&form), "VK user_info").await?;
        if let Some(error) = info.error {
            return Err(ProviderError::Failed(format!("VK user_info failed: {error}")));
        }
        let user = info.user.ok_or_else(|| ProviderError::Failed("VK user_info has no user".into()))?;
        let subject = user.user_id.into_string();
        if token_user.as_ref().is_some_and(|token_user| *token_user != subject) {
            return Err(ProviderError::Failed("VK user_info describes another user".into()));
        }
        let name = [user.first_name, user.last_name].into_iter().flatten().collect::<Vec<_>>().join(" ");
        Ok(ExternalProfile {
            provider: "vk".into(),
            subject,
            email: user.email.filter(|email| !email.is_empty()),
            // VK documents no email verification: never enough to link automatically.
            email_verified_authoritative: false,
            name: (!name.trim().is_empty()).then(|| name.trim().to_owned()),
        })
    }
}

#[async_trait]
impl IdentityProvider for VkProvider {
    fn name(&self) -> &str {
        "vk"
    }

    fn display_name(&self) -> &str {
        "VK ID"
    }

    async fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<String, ProviderError> {
        authorization_url(
            &self.endpoint("/authorize"),
            &self.config.client_id,
            request,
            "vkid.personal_info email",
            false,
        )
    }

    async fn finish(
        &self,
        callback: &CallbackParameters,
        pending: &PendingLogin,
    ) -> Result<ExternalProfile, ProviderError> {
        let code = required(&callback.code, "code")?;
        let device_id = required(&callback.device_id, "device_id")?;
        self.exchange(code, &pending.code_verifier, device_id, &pending.redirect_uri).await
    }

    async fn profile_from_app(&self, credentials: &AppCredentials) -> Result<ExternalProfile, ProviderError> {
        self.exchange(
            required(&credentials.code, "code")?,
            required(&credentials.code_verifier, "code_verifier")?,
            required(&credentials.device_id, "device_id")?,
            required(&credentials.redirect_uri, "redirect_uri")?,
        )
        .await
    }
}
