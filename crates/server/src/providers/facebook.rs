//! Facebook Login: the OAuth dialog, the code exchange on the Graph API, `debug_token` to check
//! that a user token was issued to our app, and `/me` for the profile.

use async_trait::async_trait;
use auth_core::oauth::{
    AppCredentials, AuthorizationRequest, CallbackParameters, ExternalProfile, IdentityProvider, PendingLogin,
    ProviderError,
};
use auth_core::redact::Secret;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use super::{authorization_url, json_of, required};

#[derive(Clone, Debug)]
pub struct FacebookConfig {
    pub dialog_url: String,
    pub graph_url: String,
    pub api_version: String,
    pub client_id: String,
    pub client_secret: Secret,
}

pub struct FacebookProvider {
    config: FacebookConfig,
    http: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct GraphError {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: i64,
}

/// No `Debug`: it holds the user's token.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    error: Option<GraphError>,
}

#[derive(Debug, Deserialize)]
struct DebugAnswer {
    #[serde(default)]
    data: Option<DebugData>,
    #[serde(default)]
    error: Option<GraphError>,
}

#[derive(Debug, Deserialize)]
struct DebugData {
    #[serde(default)]
    app_id: String,
    #[serde(default, rename = "type")]
    token_type: String,
    #[serde(default)]
    is_valid: bool,
    #[serde(default)]
    user_id: String,
}

#[derive(Debug, Deserialize)]
struct MeAnswer {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    error: Option<GraphError>,
}

/// Graph error codes that mean "this code or token is not good", not "Facebook is broken".
fn graph_failure(what: &str, error: GraphError) -> ProviderError {
    let message = format!("{what}: {} (code {})", error.message, error.code);
    if matches!(error.code, 1 | 100 | 101 | 190) {
        ProviderError::Denied(message)
    } else {
        ProviderError::Failed(message)
    }
}

impl FacebookProvider {
    pub fn new(config: FacebookConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }

    fn graph(&self, path: &str) -> String {
        format!("{}/{}{path}", self.config.graph_url.trim_end_matches('/'), self.config.api_version)
    }

    /// Checks that a user token belongs to our app, then reads the profile.
    async fn profile(&self, user_token: &str) -> Result<ExternalProfile, ProviderError> {
        let app_token = format!("{}|{}", self.config.client_id, self.config.client_secret.expose());
        let debug_url = format!("{}/debug_token", self.config.graph_url.trim_end_matches('/'));
        let query = [("input_token", user_token), ("access_token", app_token.as_str())];
        let (_, debug): (u16, DebugAnswer) =
            json_of(self.http.get(&debug_url).query(&query), "Facebook debug_token").await?;
        if let Some(error) = debug.error {
            return Err(graph_failure("debug_token", error));
        }
        let data = debug.data.ok_or_else(|| ProviderError::Failed("debug_token has no data".into()))?;
        if !data.is_valid
            || data.app_id != self.config.client_id
            || data.token_type != "USER"
            || data.user_id.is_empty()
        {
            return Err(ProviderError::Denied("the token is not a valid user token of this app".into()));
        }
        let proof = appsecret_proof(self.config.client_secret.expose(), user_token);
        let query = [("fields", "id,name,email"), ("access_token", user_token), ("appsecret_proof", proof.as_str())];
        let (_, me): (u16, MeAnswer) = json_of(self.http.get(self.graph("/me")).query(&query), "Facebook /me").await?;
        if let Some(error) = me.error {
            return Err(graph_failure("/me", error));
        }
        if me.id.as_deref() != Some(data.user_id.as_str()) {
            return Err(ProviderError::Failed("Facebook /me describes another user".into()));
        }
        Ok(ExternalProfile {
            provider: "facebook".into(),
            subject: data.user_id,
            email: me.email.filter(|email| !email.is_empty()),
            // Facebook gives no email_verified flag: never enough to link automatically.
            email_verified_authoritative: false,
            name: me.name,
        })
    }
}

/// HMAC-SHA256 of the user token under the app secret, hex: Graph's `appsecret_proof`.
fn appsecret_proof(secret: &str, token: &str) -> String {
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(token.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

#[async_trait]
impl IdentityProvider for FacebookProvider {
    fn name(&self) -> &str {
        "facebook"
    }

    fn display_name(&self) -> &str {
        "Facebook"
    }

    async fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<String, ProviderError> {
        let dialog =
            format!("{}/{}/dialog/oauth", self.config.dialog_url.trim_end_matches('/'), self.config.api_version);
        authorization_url(&dialog, &self.config.client_id, request, "email,public_profile", false)
    }

    async fn finish(
        &self,
        callback: &CallbackParameters,
        pending: &PendingLogin,
    ) -> Result<ExternalProfile, ProviderError> {
        let code = required(&callback.code, "code")?;
        let query = [
            ("client_id", self.config.client_id.as_str()),
            ("redirect_uri", pending.redirect_uri.as_str()),
            ("client_secret", self.config.client_secret.expose()),
            ("code", code),
            ("code_verifier", pending.code_verifier.as_str()),
        ];
        let (_, answer): (u16, TokenAnswer) =
            json_of(self.http.get(self.graph("/oauth/access_token")).query(&query), "Facebook code exchange").await?;
        if let Some(error) = answer.error {
            return Err(graph_failure("code exchange", error));
        }
        let token = answer.access_token.ok_or_else(|| ProviderError::Failed("Facebook gave no access_token".into()))?;
        self.profile(&token).await
    }

    async fn profile_from_app(&self, credentials: &AppCredentials) -> Result<ExternalProfile, ProviderError> {
        self.profile(required(&credentials.access_token, "access_token")?).await
    }
}
