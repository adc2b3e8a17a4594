//! The errors of the provider endpoints, named as RFC 6749 §4.1.2.1 and §5.2 and OpenID Connect
//! Core §3.1.2.6 name them; the HTTP layer turns them into OAuth error JSON or redirect
//! parameters.

use crate::error::DomainError;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// Missing, repeated or malformed parameter; the text says which (never a secret).
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    #[error("invalid_client")]
    InvalidClient,
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    #[error("unauthorized_client")]
    UnauthorizedClient,
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    #[error("unsupported_response_type")]
    UnsupportedResponseType,
    #[error("unsupported_token_type")]
    UnsupportedTokenType,
    #[error("invalid_scope")]
    InvalidScope,
    /// A `resource` that is not an absolute URI, or not one the client may ask for (RFC 8707 §2).
    #[error("invalid_target")]
    InvalidTarget,
    #[error("access_denied")]
    AccessDenied,
    #[error("login_required")]
    LoginRequired,
    #[error("consent_required")]
    ConsentRequired,
    /// The bearer token of userinfo is missing, bad, expired or revoked (RFC 6750 §3.1).
    #[error("invalid_token")]
    InvalidToken,
    /// The token lacks `openid` (userinfo) or another scope asked for (RFC 6750 §3.1).
    #[error("insufficient_scope")]
    InsufficientScope,
    #[error(transparent)]
    Domain(#[from] DomainError),
}

impl OAuthError {
    /// The `error` value of the response.
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::InvalidClient => "invalid_client",
            OAuthError::InvalidGrant(_) => "invalid_grant",
            OAuthError::UnauthorizedClient => "unauthorized_client",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::UnsupportedResponseType => "unsupported_response_type",
            OAuthError::UnsupportedTokenType => "unsupported_token_type",
            OAuthError::InvalidScope => "invalid_scope",
            OAuthError::InvalidTarget => "invalid_target",
            OAuthError::AccessDenied => "access_denied",
            OAuthError::LoginRequired => "login_required",
            OAuthError::ConsentRequired => "consent_required",
            OAuthError::InvalidToken => "invalid_token",
            OAuthError::InsufficientScope => "insufficient_scope",
            OAuthError::Domain(_) => "server_error",
        }
    }

    /// The `error_description`, when there is something safe to say.
    pub fn description(&self) -> Option<&'static str> {
        match self {
            OAuthError::InvalidRequest(text) | OAuthError::InvalidGrant(text) => Some(text),
            _ => None,
        }
    }
}

impl From<crate::error::StoreError> for OAuthError {
    fn from(error: crate::error::StoreError) -> Self {
        OAuthError::Domain(error.into())
    }
}
