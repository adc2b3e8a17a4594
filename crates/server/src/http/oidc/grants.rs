//! The apps a person granted access to, and taking a grant back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::provider_or_404;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::AuthUser;
use crate::http::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct GrantResponse {
    pub client_id: String,
    /// The client's name; null if it was deleted meanwhile.
    pub client_name: Option<String>,
    pub scopes: Vec<String>,
    pub granted_at: chrono::DateTime<chrono::Utc>,
}

/// The apps the signed-in person granted.
#[utoipa::path(get, path = "/auth/grants", tag = "openid", security(("bearer" = [])),
    responses((status = 200, body = Vec<GrantResponse>), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Vec<GrantResponse>>, ApiError> {
    let oidc = provider_or_404(&state)?;
    let grants = oidc.grants(claims.sub).await?;
    Ok(Json(
        grants
            .into_iter()
            .map(|(grant, client)| GrantResponse {
                client_id: grant.client_id,
                client_name: client.map(|client| client.name),
                scopes: grant.scopes,
                granted_at: grant.granted_at,
            })
            .collect(),
    ))
}

/// Take a grant back: the app's sessions for this person end within a second.
#[utoipa::path(delete, path = "/auth/grants/{client_id}", tag = "openid", params(("client_id" = String, Path)),
    security(("bearer" = [])), responses((status = 204), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(client_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let oidc = provider_or_404(&state)?;
    oidc.revoke_grant(claims.sub, &client_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
