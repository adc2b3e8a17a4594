//! Sessions: refresh, logout, listing and revoking.

use auth_core::DomainError;
use auth_core::redact::Secret;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::{Json, RequestExt};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::accounts::TokenPairResponse;
use super::error::{ApiError, Problem};
use super::extract::{AuthUser, bearer_token};
use super::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    #[schema(value_type = String)]
    pub refresh_token: Secret,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    pub id: Uuid,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    /// Whether this is the session of the token that asked.
    pub current: bool,
}

/// A token from `Authorization: Bearer`, or else from the JSON body field `FIELD`.
pub struct PresentedToken<const BODY_FIELD: char>(pub String);

/// Body field `refresh_token`.
pub const REFRESH_FIELD: char = 'r';
/// Body field `token`.
pub const TOKEN_FIELD: char = 't';

impl<const BODY_FIELD: char, S: Send + Sync> FromRequest<S> for PresentedToken<BODY_FIELD> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(token) = bearer_token(request.headers()) {
            return Ok(Self(token.to_owned()));
        }
        let body: Bytes = request.extract().await.map_err(|rejection: axum::extract::rejection::BytesRejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedRequest("The request body could not be read.".into())
            }
        })?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(DomainError::InvalidToken.into());
        }
        let value: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| ApiError::MalformedRequest("The request body is not valid JSON.".into()))?;
        let field = if BODY_FIELD == REFRESH_FIELD { "refresh_token" } else { "token" };
        match value.get(field).and_then(serde_json::Value::as_str) {
            Some(token) if !token.is_empty() => Ok(Self(token.to_owned())),
            _ => Err(DomainError::InvalidToken.into()),
        }
    }
}

/// Spend a refresh token for a new token pair (rotation with reuse detection).
#[utoipa::path(post, path = "/auth/refresh", tag = "sessions", request_body(content = Option<RefreshRequest>),
    security(("bearer" = [])),
    responses((status = 200, body = TokenPairResponse),
              (status = 401, body = Problem, description = "invalid_token, token_expired, token_revoked or refresh_token_reused")))]
pub async fn refresh(
    State(state): State<AppState>,
    PresentedToken(token): PresentedToken<REFRESH_FIELD>,
) -> Result<Json<TokenPairResponse>, ApiError> {
    let pair = state.sessions.refresh(&token).await?;
    Ok(Json(pair.into()))
}

/// Revoke the session of the presented refresh or access token.
#[utoipa::path(post, path = "/auth/logout", tag = "sessions", request_body(content = Option<RefreshRequest>),
    security(("bearer" = [])), responses((status = 204), (status = 401, body = Problem)))]
pub async fn logout(
    State(state): State<AppState>,
    PresentedToken(token): PresentedToken<REFRESH_FIELD>,
) -> Result<StatusCode, ApiError> {
    state.sessions.logout(&token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revoke every session of the signed-in user, this one included.
#[utoipa::path(post, path = "/auth/logout-all", tag = "sessions", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
pub async fn logout_all(State(state): State<AppState>, AuthUser(claims): AuthUser) -> Result<StatusCode, ApiError> {
    state.sessions.logout_all(claims.sub).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Active sessions of the signed-in user, newest first.
#[utoipa::path(get, path = "/auth/sessions", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = Vec<SessionResponse>), (status = 401, body = Problem)))]
pub async fn list_sessions(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Vec<SessionResponse>>, ApiError> {
    let sessions = state.sessions.list(claims.sub).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|session| SessionResponse {
                current: session.id == claims.sid,
                id: session.id,
                user_agent: session.user_agent,
                ip_address: session.ip_address,
                created_at: session.created_at,
                last_seen_at: session.last_seen_at,
            })
            .collect(),
    ))
}

/// Revoke one of the signed-in user's sessions; anyone else's is 404.
#[utoipa::path(delete, path = "/auth/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "session id")),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn revoke_session(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| DomainError::NotFound)?;
    state.sessions.revoke(claims.sub, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
