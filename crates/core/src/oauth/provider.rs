use async_trait::async_trait;
use serde::Deserialize;

use super::PendingLogin;

/// What the service sends the user to the provider with.
#[derive(Debug)]
pub struct AuthorizationRequest<'a> {
    pub state: &'a str,
    pub code_challenge: &'a str,
    pub nonce: &'a str,
    pub redirect_uri: &'a str,
}

/// The query of a provider's redirect back to us.
#[derive(Clone, Default, Deserialize)]
pub struct CallbackParameters {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    /// VK ID: the device the code was issued for.
    pub device_id: Option<String>,
}

impl std::fmt::Debug for CallbackParameters {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CallbackParameters")
            .field("state", &crate::redact::redacted_option(&self.state))
            .field("code", &crate::redact::redacted_option(&self.code))
            .field("error", &self.error)
            .field("device_id", &self.device_id)
            .finish()
    }
}

/// What a mobile or single-page app hands over after doing the provider step itself.
#[derive(Clone, Default, Deserialize)]
pub struct AppCredentials {
    /// Google Identity Services / One Tap.
    pub id_token: Option<String>,
    /// VK ID SDK.
    pub code: Option<String>,
    pub code_verifier: Option<String>,
    pub device_id: Option<String>,
    pub redirect_uri: Option<String>,
    /// Facebook SDK.
    pub access_token: Option<String>,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AppCredentials")
            .field("id_token", &crate::redact::redacted_option(&self.id_token))
            .field("code", &crate::redact::redacted_option(&self.code))
            .field("code_verifier", &crate::redact::redacted_option(&self.code_verifier))
            .field("device_id", &self.device_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("access_token", &crate::redact::redacted_option(&self.access_token))
            .finish()
    }
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
    fn name(&self) -> &'static str;
    fn display_name(&self) -> &'static str;
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
        let secret = || Some("s3cret-value".to_owned());
        let callback = CallbackParameters { state: secret(), code: secret(), error: None, device_id: None };
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
