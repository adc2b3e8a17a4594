//! Email verification, password reset and password change.

use auth_core::accounts::email_flows::{EmailChangeRequest, language_from_accept_language};
use auth_core::redact::Secret;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::{ApiError, Problem};
use super::extract::{AppJson, AuthUser};
use super::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct ForgotPasswordRequest {
    pub email: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResetPasswordRequest {
    #[schema(value_type = String)]
    pub token: Secret,
    #[schema(value_type = String)]
    pub new_password: Secret,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    #[schema(value_type = String)]
    pub current_password: Secret,
    #[schema(value_type = String)]
    pub new_password: Secret,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct VerifyEmailRequest {
    #[schema(value_type = String)]
    pub token: Secret,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangeEmailRequest {
    #[schema(example = "alice@new.example")]
    pub new_email: String,
    /// Required for accounts that have a password.
    #[schema(value_type = Option<String>)]
    pub password: Option<Secret>,
}

pub fn language_of(headers: &HeaderMap) -> &'static str {
    language_from_accept_language(headers.get(header::ACCEPT_LANGUAGE).and_then(|value| value.to_str().ok()))
}

/// Email a password-reset link. Always 202, in the same time, whether or not the account exists.
#[utoipa::path(post, path = "/auth/password/forgot", tag = "email", request_body = ForgotPasswordRequest,
    responses((status = 202)))]
pub async fn forgot_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppJson(body): AppJson<ForgotPasswordRequest>,
) -> StatusCode {
    state.email_flows.forgot(&body.email, language_of(&headers));
    StatusCode::ACCEPTED
}

/// Set a new password with the emailed token; every session of the account is revoked.
#[utoipa::path(post, path = "/auth/password/reset", tag = "email", request_body = ResetPasswordRequest,
    responses((status = 204), (status = 400, body = Problem, description = "invalid_email_token"),
              (status = 422, body = Problem)))]
pub async fn reset_password(
    State(state): State<AppState>,
    AppJson(body): AppJson<ResetPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state.email_flows.reset(&body.token, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Change the password; the user's other sessions are revoked.
#[utoipa::path(post, path = "/auth/password/change", tag = "email", request_body = ChangePasswordRequest,
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem, description = "invalid_credentials"),
              (status = 422, body = Problem)))]
pub async fn change_password(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    AppJson(body): AppJson<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state.accounts.change_password(claims.sub, claims.sid, &body.current_password, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Move the signed-in account to another address: a confirmation link goes to the new address
/// and a notice to the old one; the address changes when the link is used (`/auth/email/verify`).
#[utoipa::path(post, path = "/auth/email/change", tag = "email", request_body = ChangeEmailRequest,
    security(("bearer" = [])),
    responses((status = 202), (status = 401, body = Problem, description = "invalid_credentials or invalid_token"),
              (status = 409, body = Problem, description = "email_taken"), (status = 422, body = Problem),
              (status = 429, body = Problem, description = "rate_limited")))]
pub async fn change_email(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    headers: HeaderMap,
    AppJson(body): AppJson<ChangeEmailRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .email_flows
        .request_email_change(EmailChangeRequest {
            user_id: claims.sub,
            session_id: claims.sid,
            new_email: &body.new_email,
            password: body.password.as_deref(),
            language: language_of(&headers),
        })
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Email a verification link to the signed-in user.
#[utoipa::path(post, path = "/auth/email/verify/request", tag = "email", security(("bearer" = [])),
    responses((status = 202), (status = 401, body = Problem)))]
pub async fn request_verification(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    state.email_flows.request_verification(claims.sub, language_of(&headers)).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Confirm an email address with the emailed token (a verification link, or the confirmation
/// of an email change).
#[utoipa::path(post, path = "/auth/email/verify", tag = "email", request_body = VerifyEmailRequest,
    responses((status = 204), (status = 400, body = Problem, description = "invalid_email_token"),
              (status = 409, body = Problem, description = "email_taken: the new address was taken since the change was asked")))]
pub async fn verify_email(
    State(state): State<AppState>,
    AppJson(body): AppJson<VerifyEmailRequest>,
) -> Result<StatusCode, ApiError> {
    state.email_flows.verify(&body.token).await?;
    Ok(StatusCode::NO_CONTENT)
}
