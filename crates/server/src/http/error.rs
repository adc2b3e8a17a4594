//! The one place where failures become HTTP: status, stable `code`, headers, problem JSON
//! (RFC 9457). Internal causes travel to the log as a response extension, never to the client.

use auth_core::DomainError;
use auth_core::error::FieldError;
use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Every failure an endpoint can answer with.
#[derive(Debug)]
pub enum ApiError {
    /// Whatever the domain decided (see [`status_and_code`] for the mapping).
    Domain(DomainError),
    /// 400 `malformed_request`: the body is not JSON (or form) at all.
    MalformedRequest(String),
    /// 413 `payload_too_large`.
    PayloadTooLarge,
    /// 404 `not_found`: no such route.
    RouteNotFound,
    /// 405 `method_not_allowed`.
    MethodNotAllowed,
    /// 503 `unavailable`: the request ran past its deadline.
    Timeout,
    /// 403 `csrf_refused`: a cookie-authenticated request without this browser's token, or
    /// from another origin.
    CsrfRefused,
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        Self::Domain(error)
    }
}

/// Problem JSON body as documented in the OpenAPI document.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable error code.
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<ProblemField>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemField {
    pub field: String,
    pub message: String,
}

/// The cause of a 5xx, for the logging middleware.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

/// The status and error code of a failure, for the hosted pages (which show the code's message
/// in the page's language instead of problem JSON).
pub fn page_status(error: &DomainError) -> (StatusCode, &'static str) {
    let (status, code, _) = status_and_code(error);
    (status, code)
}

/// Status, code and a client-safe detail for every domain failure.
fn status_and_code(error: &DomainError) -> (StatusCode, &'static str, &'static str) {
    match error {
        DomainError::Validation(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", "The request is not valid.")
        }
        DomainError::EmailTaken => (StatusCode::CONFLICT, "email_taken", "An account with this email already exists."),
        DomainError::InvalidCredentials => {
            (StatusCode::UNAUTHORIZED, "invalid_credentials", "The email or password is incorrect.")
        }
        DomainError::AccountDisabled => (StatusCode::FORBIDDEN, "account_disabled", "This account is disabled."),
        DomainError::SignInSuperseded => (
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "The account's credentials changed during sign-in; sign in again.",
        ),
        DomainError::EmailNotVerified => {
            (StatusCode::FORBIDDEN, "email_not_verified", "The email address of this account is not verified.")
        }
        DomainError::InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token", "The token is missing or not valid."),
        DomainError::TokenExpired => (StatusCode::UNAUTHORIZED, "token_expired", "The token has expired."),
        DomainError::TokenRevoked => (StatusCode::UNAUTHORIZED, "token_revoked", "The token has been revoked."),
        DomainError::RefreshTokenReused => (
            StatusCode::UNAUTHORIZED,
            "refresh_token_reused",
            "This refresh token was already used; the session has been revoked.",
        ),
        DomainError::LastAdmin => (StatusCode::CONFLICT, "last_admin", "This would leave no active administrator."),
        DomainError::InvalidEmailToken => {
            (StatusCode::BAD_REQUEST, "invalid_email_token", "The link is unknown, expired or already used.")
        }
        DomainError::UnknownProvider => {
            (StatusCode::NOT_FOUND, "unknown_provider", "No such sign-in provider is configured.")
        }
        DomainError::InvalidRedirect => {
            (StatusCode::BAD_REQUEST, "invalid_redirect", "redirect_to is not on the allow-list.")
        }
        DomainError::InvalidState => {
            (StatusCode::BAD_REQUEST, "invalid_state", "The sign-in state is unknown, expired or already used.")
        }
        DomainError::ProviderDenied => {
            (StatusCode::UNAUTHORIZED, "provider_denied", "The provider did not confirm the sign-in.")
        }
        DomainError::ProviderError => (
            StatusCode::BAD_GATEWAY,
            "provider_error",
            "The sign-in provider could not be reached or answered wrongly.",
        ),
        DomainError::EmailTakenLinkable { .. } => {
            (StatusCode::CONFLICT, "email_taken", "An account with this email already exists.")
        }
        DomainError::LastLoginMethod => {
            (StatusCode::CONFLICT, "last_login_method", "This is the account's last way to sign in.")
        }
        DomainError::InsufficientScope => {
            (StatusCode::FORBIDDEN, "insufficient_scope", "The token does not carry the scope required.")
        }
        DomainError::WrongAudience => {
            (StatusCode::FORBIDDEN, "invalid_audience", "The token is not meant for this audience.")
        }
        DomainError::InsufficientRole => {
            (StatusCode::FORBIDDEN, "insufficient_role", "Your role does not allow this request.")
        }
        DomainError::MfaRequired => {
            (StatusCode::FORBIDDEN, "mfa_required", "This request needs a sign-in with a second factor.")
        }
        DomainError::InvalidMfaCode => {
            (StatusCode::UNAUTHORIZED, "invalid_mfa_code", "The second-factor code is not valid.")
        }
        DomainError::InvalidPasskey => (
            StatusCode::BAD_REQUEST,
            "invalid_passkey",
            "The passkey could not be verified; start the registration again.",
        ),
        DomainError::MfaAlreadyEnabled => {
            (StatusCode::CONFLICT, "mfa_already_enabled", "An authenticator app is set up already; remove it first.")
        }
        DomainError::MfaNotEnabled => (StatusCode::CONFLICT, "mfa_not_enabled", "No second factor is set up."),
        DomainError::NotFound => (StatusCode::NOT_FOUND, "not_found", "No such resource."),
        DomainError::RateLimited { .. } => {
            (StatusCode::TOO_MANY_REQUESTS, "rate_limited", "Too many requests; try again later.")
        }
        DomainError::Overloaded => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "The service is busy; try again shortly.")
        }
        DomainError::Unavailable(_) | DomainError::Internal(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "The service is temporarily unavailable.")
        }
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            ApiError::Domain(DomainError::EmailTakenLinkable { provider }) => (
                StatusCode::CONFLICT,
                "email_taken",
                format!(
                    "An account with this email already exists. Sign in to it, then link {provider} with \
                     POST /auth/oauth/{provider}/link."
                ),
            ),
            ApiError::Domain(error) => {
                let (status, code, detail) = status_and_code(error);
                (status, code, detail.to_owned())
            }
            ApiError::MalformedRequest(detail) => (StatusCode::BAD_REQUEST, "malformed_request", detail.clone()),
            ApiError::PayloadTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "The request body is too large.".into())
            }
            ApiError::RouteNotFound => (StatusCode::NOT_FOUND, "not_found", "No such resource.".into()),
            ApiError::MethodNotAllowed => {
                (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "This method is not allowed here.".into())
            }
            ApiError::Timeout => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", "The request took too long.".into()),
            ApiError::CsrfRefused => (
                StatusCode::FORBIDDEN,
                "csrf_refused",
                "The request did not carry this page's token or came from another origin.".into(),
            ),
        }
    }
}

/// Builds a problem response; also used by middleware for answers axum makes itself.
pub fn problem_response(status: StatusCode, code: &str, detail: String, errors: Option<Vec<ProblemField>>) -> Response {
    let title = status.canonical_reason().unwrap_or("Error").to_owned();
    let body = Problem {
        problem_type: format!("urn:auth-service:problem:{code}"),
        title,
        status: status.as_u16(),
        detail,
        code: code.to_owned(),
        errors,
    };
    let mut response = (status, Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        let challenge = match code {
            "invalid_credentials" => "Bearer",
            _ => "Bearer error=\"invalid_token\"",
        };
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, detail) = self.parts();
        let errors = match &self {
            ApiError::Domain(DomainError::Validation(fields)) => Some(fields.iter().map(problem_field).collect()),
            _ => None,
        };
        let mut response = problem_response(status, code, detail, errors);
        if let ApiError::Domain(DomainError::RateLimited { retry_after_seconds }) = &self
            && let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if let ApiError::Domain(DomainError::Unavailable(cause) | DomainError::Internal(cause)) = &self {
            response.extensions_mut().insert(InternalCause(cause.clone()));
        }
        response
    }
}

fn problem_field(field: &FieldError) -> ProblemField {
    ProblemField { field: field.field.clone(), message: field.message.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_error_maps_to_the_contract_status_and_code() {
        let cases = [
            (DomainError::Validation(vec![]), 422, "validation_failed"),
            (DomainError::EmailTaken, 409, "email_taken"),
            (DomainError::InvalidCredentials, 401, "invalid_credentials"),
            (DomainError::AccountDisabled, 403, "account_disabled"),
            (DomainError::EmailNotVerified, 403, "email_not_verified"),
            (DomainError::InvalidToken, 401, "invalid_token"),
            (DomainError::TokenExpired, 401, "token_expired"),
            (DomainError::TokenRevoked, 401, "token_revoked"),
            (DomainError::RefreshTokenReused, 401, "refresh_token_reused"),
            (DomainError::InsufficientRole, 403, "insufficient_role"),
            (DomainError::InsufficientScope, 403, "insufficient_scope"),
            (DomainError::WrongAudience, 403, "invalid_audience"),
            (DomainError::MfaRequired, 403, "mfa_required"),
            (DomainError::InvalidMfaCode, 401, "invalid_mfa_code"),
            (DomainError::InvalidPasskey, 400, "invalid_passkey"),
            (DomainError::MfaAlreadyEnabled, 409, "mfa_already_enabled"),
            (DomainError::MfaNotEnabled, 409, "mfa_not_enabled"),
            (DomainError::LastAdmin, 409, "last_admin"),
            (DomainError::InvalidEmailToken, 400, "invalid_email_token"),
            (DomainError::NotFound, 404, "not_found"),
            (DomainError::UnknownProvider, 404, "unknown_provider"),
            (DomainError::InvalidRedirect, 400, "invalid_redirect"),
            (DomainError::InvalidState, 400, "invalid_state"),
            (DomainError::ProviderDenied, 401, "provider_denied"),
            (DomainError::ProviderError, 502, "provider_error"),
            (DomainError::EmailTakenLinkable { provider: "vk".into() }, 409, "email_taken"),
            (DomainError::LastLoginMethod, 409, "last_login_method"),
            (DomainError::RateLimited { retry_after_seconds: 3 }, 429, "rate_limited"),
            (DomainError::Overloaded, 503, "unavailable"),
            (DomainError::Unavailable("db down".into()), 503, "unavailable"),
            (DomainError::Internal("bug".into()), 503, "unavailable"),
        ];
        for (error, status, code) in cases {
            let (actual_status, actual_code, detail) = status_and_code(&error);
            assert_eq!((actual_status.as_u16(), actual_code), (status, code), "{error:?}");
            assert!(!detail.contains("db down") && !detail.contains("bug"));
        }
    }

    #[test]
    fn internal_causes_stay_out_of_the_body_but_reach_the_log() {
        let response =
            ApiError::from(DomainError::Unavailable("connection refused to 10.0.0.5".into())).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/problem+json");
        assert!(response.extensions().get::<InternalCause>().is_some());
    }
}

/// Marks an OAuth error JSON answer, which RFC 6749 fixes, so it is not turned into problem JSON.
#[derive(Debug, Clone, Copy)]
pub struct OAuthErrorBody;

/// The OAuth error JSON of the token, introspection and revocation endpoints (RFC 6749 §5.2)
/// and the bearer-token errors of userinfo (RFC 6750 §3.1).
pub fn oauth_error_response(error: &auth_core::oidc::OAuthError) -> Response {
    use auth_core::oidc::OAuthError;
    if let OAuthError::Domain(domain) = error {
        return ApiError::Domain(clone_for_response(domain)).into_response();
    }
    let status = match error {
        OAuthError::InvalidClient | OAuthError::InvalidToken => StatusCode::UNAUTHORIZED,
        OAuthError::InsufficientScope => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut body = serde_json::json!({ "error": error.code() });
    if let Some(description) = error.description() {
        body["error_description"] = serde_json::Value::from(description);
    }
    let mut response = (status, Json(body)).into_response();
    response.extensions_mut().insert(OAuthErrorBody);
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    let challenge = match error {
        OAuthError::InvalidClient => Some("Basic realm=\"oauth2\""),
        OAuthError::InvalidToken => Some("Bearer error=\"invalid_token\""),
        OAuthError::InsufficientScope => Some("Bearer error=\"insufficient_scope\""),
        _ => None,
    };
    if let Some(challenge) = challenge {
        headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    response
}

/// The dependency failures an OAuth endpoint can meet keep their problem-JSON answer (503 and
/// its `Retry-After`); anything else is internal.
fn clone_for_response(error: &DomainError) -> DomainError {
    match error {
        DomainError::Unavailable(cause) => DomainError::Unavailable(cause.clone()),
        DomainError::Overloaded => DomainError::Overloaded,
        other => DomainError::Internal(other.to_string()),
    }
}
