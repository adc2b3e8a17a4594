//! Administration of users (role `admin`).

use auth_core::DomainError;
use auth_core::events::DeadLetter;
use auth_core::model::{Role, UserPatch};
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::accounts::UserResponse;
use super::error::{ApiError, Problem};
use super::extract::{AdminUser, AppJson};
use super::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListUsersQuery {
    /// 1..=200, default 50.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Case-insensitive email prefix.
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserPageResponse {
    pub items: Vec<UserResponse>,
    /// Null on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateUserRequest {
    #[schema(example = "admin")]
    pub role: Option<String>,
    pub is_active: Option<bool>,
    /// `null` clears the name.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub full_name: Option<Option<String>>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A path id; anything that is not a UUID names nothing, so it is 404.
fn user_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| DomainError::NotFound.into())
}

/// List users, with cursor pagination and an email prefix filter.
#[utoipa::path(get, path = "/admin/users", tag = "admin", params(ListUsersQuery), security(("bearer" = [])),
    responses((status = 200, body = UserPageResponse), (status = 401, body = Problem),
              (status = 403, body = Problem, description = "insufficient_role")))]
pub async fn list_users(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Query(query): Query<ListUsersQuery>,
) -> Result<Json<UserPageResponse>, ApiError> {
    let limit = match query.limit.as_deref() {
        None | Some("") => None,
        Some(raw) => {
            Some(raw.parse::<u32>().map_err(|_| DomainError::invalid_field("limit", "must be between 1 and 200"))?)
        }
    };
    let page = state.admin.list(limit, query.cursor.as_deref(), query.email.as_deref()).await?;
    Ok(Json(UserPageResponse {
        items: page.items.into_iter().map(UserResponse::from).collect(),
        next_cursor: page.next_cursor.map(|id| id.to_string()),
    }))
}

/// One user.
#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin", params(("id" = Uuid, Path)), security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn get_user(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<UserResponse>, ApiError> {
    Ok(Json(state.admin.get(user_id(&id)?).await?.into()))
}

/// Change role, activity or name. Deactivating or demoting revokes the user's sessions.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", params(("id" = Uuid, Path)),
    request_body = UpdateUserRequest, security(("bearer" = [])),
    responses((status = 200, body = UserResponse), (status = 403, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "last_admin"), (status = 422, body = Problem)))]
pub async fn update_user(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<UpdateUserRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let id = user_id(&id)?;
    let role = match body.role.as_deref() {
        None => None,
        Some(name) => {
            Some(Role::parse(name).ok_or_else(|| DomainError::invalid_field("role", "must be user or admin"))?)
        }
    };
    let patch = UserPatch { role, is_active: body.is_active, full_name: body.full_name };
    Ok(Json(state.admin.update(admin.sub, id, patch).await?.into()))
}

/// Revoke every session of a user.
#[utoipa::path(post, path = "/admin/users/{id}/logout-all", tag = "admin", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn logout_user(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.logout_all(user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Remove a user's TOTP, recovery codes and passkeys (a lost device), and revoke their sessions.
#[utoipa::path(delete, path = "/admin/users/{id}/mfa", tag = "admin", params(("id" = Uuid, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn reset_second_factors(
    State(state): State<AppState>,
    AdminUser(admin): AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.mfa.reset(admin.sub, user_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ListDeadLettersQuery {
    /// 1..=200, default 50.
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeadLetterPageResponse {
    pub items: Vec<DeadLetter>,
    /// Null on the last page.
    pub next_cursor: Option<String>,
}

/// Dead-lettered user events, oldest first.
#[utoipa::path(get, path = "/admin/events/dead-letters", tag = "admin", params(ListDeadLettersQuery),
    security(("bearer" = [])),
    responses((status = 200, body = DeadLetterPageResponse), (status = 401, body = Problem),
              (status = 403, body = Problem, description = "insufficient_role"), (status = 422, body = Problem)))]
pub async fn list_dead_letters(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Query(query): Query<ListDeadLettersQuery>,
) -> Result<Json<DeadLetterPageResponse>, ApiError> {
    let limit = match query.limit.as_deref() {
        None | Some("") => None,
        Some(raw) => {
            Some(raw.parse::<u32>().map_err(|_| DomainError::invalid_field("limit", "must be between 1 and 200"))?)
        }
    };
    let page = state.admin.dead_letters(limit, query.cursor.as_deref()).await?;
    Ok(Json(DeadLetterPageResponse {
        items: page.items,
        next_cursor: page.next_cursor.map(|sequence| sequence.to_string()),
    }))
}

/// Put a dead-lettered event back in the delivery queue, with a fresh set of attempts.
#[utoipa::path(post, path = "/admin/events/{id}/retry", tag = "admin", params(("id" = Uuid, Path)),
    security(("bearer" = [])),
    responses((status = 202, description = "queued for delivery"), (status = 403, body = Problem),
              (status = 404, body = Problem, description = "no dead-lettered event with this id")))]
pub async fn retry_dead_letter(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.admin.retry_dead_letter(user_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED)
}
