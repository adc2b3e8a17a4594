//! Yandex ID (OAuth 2.0, not OpenID Connect): `oauth.yandex.ru/authorize` with PKCE S256, the
//! code exchange at `/token` with HTTP Basic client authentication, and the profile from
//! `login.yandex.ru/info` with `Authorization: OAuth <token>`. The `client_id` that `/info`
//! reports must be ours: a token minted for another app must not sign anyone in (the app flow).

use async_trait::async_trait;
use auth_core::oauth::{
    AppCredentials, AuthorizationRequest, CallbackParameters, ExternalProfile, IdentityProvider, PendingLogin,
    ProviderError,
};
use auth_core::redact::Secret;
use serde::Deserialize;

use super::{OAuthTokenAnswer, authorization_url, json_of, json_when_ok, mailbox_in, required};

const SCOPES: &str = "login:info login:email";

/// The mail domains Yandex itself runs: for these, Yandex ID owns the mailbox.
const YANDEX_MAIL_DOMAINS: &[&str] =
    &["yandex.ru", "ya.ru", "yandex.com", "yandex.by", "yandex.kz", "yandex.ua", "yandex.com.tr", "narod.ru"];

#[derive(Clone, Debug)]
pub struct YandexConfig {
    /// `https://oauth.yandex.ru`: authorize and token.
    pub oauth_url: String,
    /// `https://login.yandex.ru`: the profile (`/info`).
    pub login_url: String,
    pub client_id: String,
    pub client_secret: Secret,
}

pub struct YandexProvider {
    config: YandexConfig,
    http: reqwest::Client,
}

#[derive(Debug, Deserialize)]
struct Info {
    id: String,
    client_id: String,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    default_email: Option<String>,
    #[serde(default)]
    real_name: Option<String>,
    #[serde(default)]
    display_name: Option<String>,
}

/// Yandex returns no `email_verified`: only its own mailboxes are its to vouch for.
fn is_yandex_mailbox(email: &str) -> bool {
    mailbox_in(email, YANDEX_MAIL_DOMAINS)
}

impl YandexProvider {
    pub fn new(config: YandexConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }

    fn oauth(&self, path: &str) -> String {
        format!("{}{path}", self.config.oauth_url.trim_end_matches('/'))
    }

    async fn profile(&self, token: &str) -> Result<ExternalProfile, ProviderError> {
        let url = format!("{}/info?format=json", self.config.login_url.trim_end_matches('/'));
        // The token in the header, never in the query (Yandex calls that the insecure method).
        let request = self.http.get(url).header("Authorization", format!("OAuth {token}"));
        let info: Info = match json_when_ok(request, "Yandex /info").await? {
            Ok(info) => info,
            Err(status @ (400 | 401 | 403)) => {
                return Err(ProviderError::Denied(format!("Yandex /info answered {status}")));
            }
            Err(status) => return Err(ProviderError::Failed(format!("Yandex /info answered {status}"))),
        };
        if info.client_id != self.config.client_id {
            return Err(ProviderError::Denied("the token was issued to another Yandex app".into()));
        }
        let email = info.default_email.filter(|email| !email.is_empty());
        Ok(ExternalProfile {
            provider: "yandex".into(),
            subject: info.id,
            email_verified_authoritative: email.as_deref().is_some_and(is_yandex_mailbox),
            email,
            name: info.real_name.or(info.display_name).or(info.login).filter(|name| !name.is_empty()),
        })
    }
}

#[async_trait]
impl IdentityProvider for YandexProvider {
    fn name(&self) -> &str {
        "yandex"
    }

    fn display_name(&self) -> &str {
        "Yandex ID"
    }

    async fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<String, ProviderError> {
        authorization_url(&self.oauth("/authorize"), &self.config.client_id, request, SCOPES, false)
    }

    async fn finish(
        &self,
        callback: &CallbackParameters,
        pending: &PendingLogin,
    ) -> Result<ExternalProfile, ProviderError> {
        let code = required(&callback.code, "code")?;
        let form =
            [("grant_type", "authorization_code"), ("code", code), ("code_verifier", pending.code_verifier.as_str())];
        let request = self
            .http
            .post(self.oauth("/token"))
            .basic_auth(&self.config.client_id, Some(self.config.client_secret.expose()))
            .form(&form);
        let (status, answer): (u16, OAuthTokenAnswer) = json_of(request, "Yandex code exchange").await?;
        match (status, answer.access_token, answer.error) {
            (200, Some(token), None) => self.profile(&token).await,
            (400 | 401, _, Some(error)) => {
                let description = answer.error_description.unwrap_or_default();
                Err(ProviderError::Denied(format!("Yandex code exchange: {error}: {description}")))
            }
            (status, _, error) => {
                Err(ProviderError::Failed(format!("Yandex code exchange answered {status} ({error:?})")))
            }
        }
    }

    async fn profile_from_app(&self, credentials: &AppCredentials) -> Result<ExternalProfile, ProviderError> {
        self.profile(required(&credentials.access_token, "access_token")?).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_yandex_mailboxes_are_authoritative() {
        assert!(is_yandex_mailbox("ivan@yandex.ru"));
        assert!(is_yandex_mailbox("ivan@YA.RU"));
        assert!(is_yandex_mailbox("ivan@yandex.com.tr"));
        assert!(!is_yandex_mailbox("ivan@gmail.com"));
        assert!(!is_yandex_mailbox("ivan@notyandex.ru"));
        assert!(!is_yandex_mailbox("ivan@yandex.ru.example.com"));
        assert!(!is_yandex_mailbox("yandex.ru"));
    }
}
