//! Accounts: register, login, me.

use auth_core::accounts::Registration;
use auth_core::mfa::Assurance;
use auth_core::model::User;
use auth_core::redact::Secret;
use auth_core::sessions::{ClientInfo, TokenPair};
use axum::body::Bytes;
use axum::extract::{Form, FromRequest, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::{Json, RequestExt};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::email::language_of;
use super::error::{ApiError, Problem};
use super::extract::{AppJson, AuthUser, ClientAddress, form_rejection, json_rejection, user_agent};
use super::mfa::sign_in_response;
use super::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "alice@example.com")]
    pub email: String,
    #[schema(value_type = String, example = "correct horse battery staple", min_length = 8, max_length = 128)]
    pub password: Secret,
    #[schema(example = "Alice Liddell")]
    pub full_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "alice@example.com")]
    pub email: String,
    #[schema(value_type = String)]
    pub password: Secret,
}

/// OAuth2 password form (`username` is the email), so the docs UI can sign in.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    pub username: String,
    pub password: Secret,
}

/// The user object of the contract; never a password hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    pub full_name: Option<String>,
    #[schema(example = "user")]
    pub role: String,
    pub is_active: bool,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
    /// `password` and the linked social providers.
    pub providers: Vec<String>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        let providers = user.providers();
        Self {
            id: user.id,
            email: user.email,
            full_name: user.full_name,
            role: user.role.as_str().to_owned(),
            is_active: user.is_active,
            email_verified: user.email_verified,
            created_at: user.created_at,
            providers,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenPairResponse {
    #[schema(value_type = String)]
    pub access_token: Secret,
    #[schema(value_type = String)]
    pub refresh_token: Secret,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Access-token lifetime in seconds.
    #[schema(example = 900)]
    pub expires_in: i64,
    /// Refresh-token lifetime in seconds.
    #[schema(example = 2_592_000)]
    pub refresh_expires_in: i64,
}

impl From<TokenPair> for TokenPairResponse {
    fn from(pair: TokenPair) -> Self {
        Self {
            access_token: Secret::new(pair.access_token),
            refresh_token: Secret::new(pair.refresh_token),
            token_type: "Bearer",
            expires_in: pair.expires_in,
            refresh_expires_in: pair.refresh_expires_in,
        }
    }
}

/// Credentials from a JSON body or an OAuth2 password form.
pub struct LoginCredentials {
    email: String,
    password: Secret,
}

impl<S: Send + Sync> FromRequest<S> for LoginCredentials {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let is_form = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            let Form(form) = request.extract::<Form<LoginForm>, _>().await.map_err(form_rejection)?;
            Ok(Self { email: form.username, password: form.password })
        } else {
            let axum::Json(body) = request.extract::<axum::Json<LoginRequest>, _>().await.map_err(json_rejection)?;
            Ok(Self { email: body.email, password: body.password })
        }
    }
}

pub fn client_info(headers: &HeaderMap, address: ClientAddress) -> ClientInfo {
    ClientInfo { user_agent: user_agent(headers), ip_address: address.0.map(|address| address.to_string()) }
}

/// Create an account.
#[utoipa::path(post, path = "/auth/register", tag = "accounts", request_body = RegisterRequest,
    responses((status = 201, body = UserResponse), (status = 409, body = Problem, description = "email_taken"),
              (status = 422, body = Problem, description = "validation_failed")))]
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppJson(body): AppJson<RegisterRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let registration = Registration { email: body.email, password: body.password, full_name: body.full_name };
    let user = state.accounts.register(registration).await?;
    // The welcome email carries the verification link; failing to queue it is not the
    // client's problem (they can ask again with /auth/email/verify/request).
    if let Err(error) = state.email_flows.request_verification(user.id, language_of(&headers)).await {
        tracing::warn!(%error, "verification email not queued");
    }
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Sign in with email and password (JSON, or the OAuth2 password form with `username`).
#[utoipa::path(post, path = "/auth/login", tag = "accounts",
    request_body(content((LoginRequest = "application/json"), (LoginRequest = "application/x-www-form-urlencoded"))),
    responses((status = 200, body = TokenPairResponse, description = "signed in; or, when the account has a second factor, `MfaRequiredResponse`"),
              (status = 401, body = Problem, description = "invalid_credentials"),
              (status = 403, body = Problem, description = "account_disabled or email_not_verified")))]
pub async fn login(
    State(state): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    credentials: LoginCredentials,
) -> Result<Response, ApiError> {
    let user = state.accounts.authenticate(&credentials.email, &credentials.password).await?;
    let step = state.mfa.after_first_factor(&user, Assurance::password(), client_info(&headers, address)).await?;
    Ok(sign_in_response(step))
}

/// The signed-in user.
#[utoipa::path(get, path = "/auth/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 401, body = Problem)))]
pub async fn me(State(state): State<AppState>, AuthUser(claims): AuthUser) -> Result<Json<UserResponse>, ApiError> {
    let user = state.accounts.active_user(claims.sub).await?;
    Ok(Json(user.into()))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct DeleteAccountRequest {
    /// Required for accounts that have a password.
    #[schema(value_type = Option<String>)]
    pub password: Option<Secret>,
}

/// Delete the signed-in account, its identities and sessions.
#[utoipa::path(delete, path = "/auth/me", tag = "accounts", request_body(content = Option<DeleteAccountRequest>),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem, description = "invalid_credentials or invalid_token")))]
pub async fn delete_me(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let password = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let request: DeleteAccountRequest = serde_json::from_slice(&body)
            .map_err(|_| ApiError::MalformedRequest("The request body is not valid JSON.".into()))?;
        request.password
    };
    state.accounts.delete(claims.sub, claims.sid, password.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
