//! Telegram: its OpenID Connect login (`oauth.telegram.org`, the bot's id and secret from
//! @BotFather) through the OpenID Connect module, and its Login Widget, whose signed answer an
//! app posts to the app flow and which is checked with the bot token
//! (`auth_core::oauth::telegram_widget`). Telegram gives no email: accounts get the placeholder
//! address and link only by hand.

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::clock::Clock;
use auth_core::oauth::telegram_widget;
use auth_core::oauth::{
    AppCredentials, AuthorizationRequest, CallbackParameters, ExternalProfile, IdentityProvider, PendingLogin,
    ProviderError,
};
use auth_core::redact::Secret;
use jsonwebtoken::Algorithm;

use super::openid::{ClientAuthentication, ClientSecret, EmailTrust, OpenIdConfig, OpenIdProvider};

#[derive(Clone, Debug)]
pub struct TelegramConfig {
    /// `https://oauth.telegram.org`.
    pub issuer: String,
    /// The OpenID Connect client: the bot's id and its login secret.
    pub client: Option<(String, Secret)>,
    /// The bot token: the Login Widget's signing key.
    pub bot_token: Option<Secret>,
}

impl TelegramConfig {
    fn openid(&self) -> Option<OpenIdConfig> {
        let (client_id, client_secret) = self.client.clone()?;
        Some(OpenIdConfig {
            name: "telegram".into(),
            display_name: "Telegram".into(),
            issuer: self.issuer.trim_end_matches('/').to_owned(),
            issuer_aliases: Vec::new(),
            client_id,
            client_secret: ClientSecret::Fixed(client_secret),
            extra_client_ids: Vec::new(),
            scopes: "openid profile".into(),
            client_authentication: ClientAuthentication::Basic,
            algorithms: vec![Algorithm::RS256],
            email_trust: EmailTrust::Never,
            form_post: false,
            subject_from_id: true,
        })
    }
}

pub struct TelegramProvider {
    openid: Option<OpenIdProvider>,
    bot_token: Option<Secret>,
    clock: Arc<dyn Clock>,
}

impl TelegramProvider {
    pub fn new(config: TelegramConfig, http: reqwest::Client, clock: Arc<dyn Clock>) -> Self {
        let openid = config.openid().map(|openid| OpenIdProvider::new(openid, http));
        Self { openid, bot_token: config.bot_token, clock }
    }

    fn openid(&self) -> Result<&OpenIdProvider, ProviderError> {
        self.openid.as_ref().ok_or_else(|| {
            ProviderError::Denied("Telegram's OpenID Connect login needs TELEGRAM_CLIENT_ID and _SECRET".into())
        })
    }
}

#[async_trait]
impl IdentityProvider for TelegramProvider {
    fn name(&self) -> &str {
        "telegram"
    }

    fn display_name(&self) -> &str {
        "Telegram"
    }

    fn offers_browser_sign_in(&self) -> bool {
        self.openid.is_some()
    }

    async fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<String, ProviderError> {
        self.openid()?.authorization_url(request).await
    }

    async fn finish(
        &self,
        callback: &CallbackParameters,
        pending: &PendingLogin,
    ) -> Result<ExternalProfile, ProviderError> {
        self.openid()?.finish(callback, pending).await
    }

    async fn profile_from_app(&self, credentials: &AppCredentials) -> Result<ExternalProfile, ProviderError> {
        let Some(data) = &credentials.auth_data else {
            return self.openid()?.profile_from_app(credentials).await;
        };
        let bot_token = self
            .bot_token
            .as_ref()
            .ok_or_else(|| ProviderError::Denied("the Login Widget needs TELEGRAM_BOT_TOKEN".into()))?;
        let user = telegram_widget::verify(data, bot_token.expose(), self.clock.now())
            .map_err(|error| ProviderError::Denied(format!("Telegram widget: {error}")))?;
        Ok(ExternalProfile {
            provider: "telegram".into(),
            subject: user.id,
            email: None,
            email_verified_authoritative: false,
            name: user.name.or(user.username),
        })
    }
}
