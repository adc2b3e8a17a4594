use async_trait::async_trait;
use serde::Deserialize;

use super::PendingLogin;
use crate::redact::Secret;

/// What the service sends the user to the provider with.
#[derive(Debug)]
pub struct AuthorizationRequest<'a> {
    pub state: &'a str,
    pub code_challenge: &'a str,
    pub nonce: &'a str,
    pub redirect_uri: &'a str,
}

/// The query of a provider's redirect back to us.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams, utoipa::ToSchema))]
pub struct CallbackParameters {
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>), schema(value_type = Option<String>))]
    pub state: Option<Secret>,
    #[cfg_attr(feature = "openapi", param(value_type = Option<String>), schema(value_type = Option<String>))]
    pub code: Option<Secret>,
    pub error: Option<String>,
    /// VK ID only: the device the code was issued for.
    pub device_id: Option<String>,
    /// RFC 9207: the issuer of the authorization response, checked by OpenID Connect providers
    /// that announce it (the mix-up defence).
    pub iss: Option<String>,
    /// Apple only, on the first authorization: `{"name": {"firstName", "lastName"}, "email"}`.
    /// Unsigned (the browser posts it): good for a display name, never for an identity.
    pub user: Option<String>,
}

/// What a mobile or single-page app hands over after doing the provider step itself.
/// Google: `{"id_token"}`; VK ID: `{"code", "code_verifier", "device_id", "redirect_uri"}`;
/// Facebook, GitHub and Yandex ID: `{"access_token"}`; Telegram: `{"auth_data"}` from its Login
/// Widget, or `{"id_token"}` from its OpenID Connect login.
#[derive(Clone, Debug, Default, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppCredentials {
    /// Google Identity Services / One Tap.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub id_token: Option<Secret>,
    /// VK ID SDK.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub code: Option<Secret>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub code_verifier: Option<Secret>,
    pub device_id: Option<String>,
    pub redirect_uri: Option<String>,
    /// Facebook SDK, Yandex ID SDK, or a GitHub token from the app's own OAuth flow.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub access_token: Option<Secret>,
    /// Telegram Login Widget: the user object its `data-onauth` callback receives, as it came
    /// (`id`, `first_name`, `last_name`, `username`, `photo_url`, `auth_date`, `hash`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub auth_data: Option<std::collections::BTreeMap<String, serde_json::Value>>,
}

/// A provider's account, normalised. Identified by `(provider, subject)`, never by email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalProfile {
    pub provider: String,
    pub subject: String,
    pub email: Option<String>,
    /// The provider says the email is verified *and* it is authoritative for that mailbox.
    pub email_verified_authoritative: bool,
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The user or the provider said no, or what the provider gave failed verification.
    #[error("denied: {0}")]
    Denied(String),
    /// The provider could not be reached or answered something malformed.
    #[error("provider failure: {0}")]
    Failed(String),
}

/// One sign-in provider. Adapters live outside the domain (they speak HTTP).
#[async_trait]
pub trait IdentityProvider: Send + Sync {
    /// The path segment (`/auth/oauth/{name}/…`) and the `provider` of its identities.
    fn name(&self) -> &str;
    fn display_name(&self) -> &str;
    /// Whether the browser flow (`/authorize`) is set up; a provider may be configured for the
    /// app flow alone (Telegram with only its bot token), and then has no button on the pages.
    fn offers_browser_sign_in(&self) -> bool {
        true
    }
    /// Whether the provider sends the browser back with a form POST (`response_mode=form_post`).
    fn returns_by_form_post(&self) -> bool {
        false
    }
    async fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<String, ProviderError>;
    /// Exchanges the callback's code and returns the verified profile.
    async fn finish(
        &self,
        callback: &CallbackParameters,
        pending: &PendingLogin,
    ) -> Result<ExternalProfile, ProviderError>;
    async fn profile_from_app(&self, credentials: &AppCredentials) -> Result<ExternalProfile, ProviderError>;
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn callback_parameters_and_app_credentials_print_no_secret() {
        let secret = || Some(Secret::new("s3cret-value"));
        let callback = CallbackParameters { state: secret(), code: secret(), ..CallbackParameters::default() };
        let credentials = AppCredentials {
            id_token: secret(),
            code: secret(),
            code_verifier: secret(),
            access_token: secret(),
            ..AppCredentials::default()
        };
        for printed in [format!("{callback:?}"), format!("{credentials:?}")] {
            assert!(!printed.contains("s3cret-value") && printed.contains("[redacted]"), "{printed}");
        }
    }
}
