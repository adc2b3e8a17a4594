//! Sign-in provider adapters: OpenID Connect (Google, and any provider by configuration), and
//! the OAuth 2.0 ones with their own profile APIs (VK ID, Facebook, GitHub, Yandex ID), and
//! Telegram (OpenID Connect and its signed Login Widget), and Sign in with Apple. Each
//! base URL is configurable so tests point them at local stand-ins.

mod apple;
mod facebook;
mod github;
mod google;
mod openid;
mod telegram;
mod vk;
mod yandex;

use std::time::Duration;

use auth_core::oauth::{AuthorizationRequest, ProviderError};
use serde::Deserialize;
use serde::de::DeserializeOwned;

pub use apple::{AppleConfig, AppleProvider};
pub use facebook::{FacebookConfig, FacebookProvider};
pub use github::{GithubConfig, GithubProvider};
pub use google::GoogleConfig;
pub use openid::{ClientAuthentication, ClientSecret, EmailTrust, OpenIdConfig, OpenIdProvider, signing_algorithm};
pub use telegram::{TelegramConfig, TelegramProvider};
pub use vk::{VkConfig, VkProvider};
pub use yandex::{YandexConfig, YandexProvider};

/// Provider calls never follow redirects and never wait long.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .user_agent("auth-service")
        .build()
}

/// An OAuth 2.0 token answer (RFC 6749 §5.1, §5.2), as the plain OAuth providers send it.
/// No `Debug`: it holds the user's token.
#[derive(Deserialize)]
struct OAuthTokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Sends a request and reads its JSON body, whatever the status: providers put errors there.
async fn json_of<T: DeserializeOwned>(request: reqwest::RequestBuilder, what: &str) -> Result<(u16, T), ProviderError> {
    let response = request.send().await.map_err(|error| transport_failure(what, error))?;
    let status = response.status().as_u16();
    let body = response.bytes().await.map_err(|error| transport_failure(what, error))?;
    let parsed = serde_json::from_slice(&body)
        .map_err(|error| ProviderError::Failed(format!("{what}: malformed answer (HTTP {status}): {error}")))?;
    Ok((status, parsed))
}

/// Sends a request: a 2xx answer's JSON body, or the status of any other answer (whose body
/// need not be JSON: profile APIs answer a bad token with plain text or nothing).
async fn json_when_ok<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<Result<T, u16>, ProviderError> {
    let response = request.send().await.map_err(|error| transport_failure(what, error))?;
    let status = response.status().as_u16();
    if !response.status().is_success() {
        return Ok(Err(status));
    }
    let body = response.bytes().await.map_err(|error| transport_failure(what, error))?;
    let parsed = serde_json::from_slice(&body)
        .map_err(|error| ProviderError::Failed(format!("{what}: malformed answer: {error}")))?;
    Ok(Ok(parsed))
}

/// The one way a reqwest error becomes a provider error. reqwest's message names the request
/// URL, whose query carries the app secret (`access_token=app_id|secret`) or the user's token,
/// and provider errors are logged: the URL is dropped here, for every provider.
fn transport_failure(what: &str, error: reqwest::Error) -> ProviderError {
    ProviderError::Failed(format!("{what}: {}", chain(&error.without_url())))
}

/// The authorization-code request every provider takes: PKCE S256 always, the OpenID nonce when
/// the provider speaks OpenID Connect (`with_nonce`), and the provider's scopes.
fn authorization_url(
    endpoint: &str,
    client_id: &str,
    request: &AuthorizationRequest<'_>,
    scope: &str,
    with_nonce: bool,
) -> Result<String, ProviderError> {
    let mut url = reqwest::Url::parse(endpoint)
        .map_err(|error| ProviderError::Failed(format!("authorization endpoint: {error}")))?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("scope", scope)
            .append_pair("state", request.state)
            .append_pair("code_challenge", request.code_challenge)
            .append_pair("code_challenge_method", "S256");
        if with_nonce {
            query.append_pair("nonce", request.nonce);
        }
    }
    Ok(url.into())
}

/// Whether `email` is a mailbox in one of `domains` (the mail domains a provider runs itself).
fn mailbox_in(email: &str, domains: &[&str]) -> bool {
    email.rsplit_once('@').is_some_and(|(_, domain)| domains.iter().any(|own| domain.eq_ignore_ascii_case(own)))
}

fn required<'a, T: AsRef<str>>(value: &'a Option<T>, what: &str) -> Result<&'a str, ProviderError> {
    value
        .as_ref()
        .map(AsRef::as_ref)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| ProviderError::Denied(format!("{what} is missing")))
}

/// An error with its causes, for the log ("error sending request" alone says little).
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::redact::Secret;

    #[tokio::test]
    async fn transport_failures_do_not_carry_the_url() {
        let client = http_client().unwrap();
        // Port 1 on the loopback refuses the connection.
        let request = client.get("http://127.0.0.1:1/debug_token?access_token=app%7Capp-secret&input_token=user-token");
        let ProviderError::Failed(message) = json_of::<serde_json::Value>(request, "debug_token").await.unwrap_err()
        else {
            panic!("a transport error is a provider failure");
        };
        assert!(message.starts_with("debug_token: "), "{message}");
        assert!(!message.contains("app-secret") && !message.contains("user-token"), "{message}");
    }

    #[test]
    fn provider_configs_print_no_client_secret() {
        let facebook = FacebookConfig {
            dialog_url: String::new(),
            graph_url: String::new(),
            api_version: String::new(),
            client_id: "app".into(),
            client_secret: Secret::new("fb-client-secret"),
        };
        let google = GoogleConfig {
            issuer: String::new(),
            client_id: "app".into(),
            client_secret: Secret::new("google-client-secret"),
            extra_client_ids: Vec::new(),
        };
        let vk = VkConfig {
            base_url: String::new(),
            client_id: "app".into(),
            client_secret: Some(Secret::new("vk-client-secret")),
        };
        let github = GithubConfig {
            base_url: String::new(),
            api_url: String::new(),
            client_id: "app".into(),
            client_secret: Secret::new("github-client-secret"),
            trust_email: false,
        };
        let yandex = YandexConfig {
            oauth_url: String::new(),
            login_url: String::new(),
            client_id: "app".into(),
            client_secret: Secret::new("yandex-client-secret"),
        };
        let telegram = TelegramConfig {
            issuer: String::new(),
            client: Some(("1234567890".into(), Secret::new("telegram-client-secret"))),
            bot_token: Some(Secret::new("1234567890:telegram-bot-token")),
        };
        let apple = AppleConfig {
            issuer: String::new(),
            client_id: "app".into(),
            team_id: "team".into(),
            key_id: "key".into(),
            private_key_pem: Secret::new("-----BEGIN PRIVATE KEY-----apple-client-secret"),
            extra_client_ids: Vec::new(),
        };
        let printed = format!("{facebook:?} {google:?} {vk:?} {github:?} {yandex:?} {telegram:?} {apple:?}");
        assert!(!printed.contains("client-secret") && !printed.contains("bot-token"), "{printed}");
    }
}
