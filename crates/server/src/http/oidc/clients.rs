//! The client registry of the admin API (role `admin`, at the assurance its policy asks).

use auth_core::DomainError;
use auth_core::oidc::{Client, ClientKind, ClientPatch, ClientRegistration, GrantType};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use super::provider_or_404;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{AdminUser, AppJson};
use crate::http::state::AppState;

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateClientRequest {
    #[schema(example = "Grafana")]
    pub name: String,
    /// `public` or `confidential`.
    #[serde(rename = "type")]
    #[schema(example = "confidential")]
    pub kind: String,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Skips the consent page.
    #[serde(default)]
    pub first_party: bool,
    /// `aud` of its access tokens; default the client id.
    pub audience: Option<String>,
    /// RFC 8707 resource indicators (absolute URIs) it may ask tokens for with `resource`.
    #[serde(default)]
    pub resources: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateClientRequest {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    pub scopes: Option<Vec<String>>,
    pub first_party: Option<bool>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub audience: Option<Option<String>>,
    pub resources: Option<Vec<String>>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A client as the API shows it: never a secret, not even its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClientResponse {
    pub client_id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub audience: Option<String>,
    pub resources: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Only in the answer that created it or rotated it: shown once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

impl From<Client> for ClientResponse {
    fn from(client: Client) -> Self {
        Self {
            client_id: client.client_id,
            name: client.name,
            kind: client.kind.as_str().to_owned(),
            redirect_uris: client.redirect_uris,
            post_logout_redirect_uris: client.post_logout_redirect_uris,
            grant_types: client.grant_types.iter().map(|grant| grant.as_str().to_owned()).collect(),
            scopes: client.scopes,
            first_party: client.first_party,
            audience: client.audience,
            resources: client.resources,
            created_at: client.created_at,
            updated_at: client.updated_at,
            client_secret: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientSecretResponse {
    pub client_id: String,
    pub client_secret: String,
}

pub fn grant_types(names: &[String]) -> Result<Vec<GrantType>, DomainError> {
    names
        .iter()
        .map(|name| {
            GrantType::parse(name).ok_or_else(|| {
                DomainError::invalid_field("grant_types", "authorization_code, refresh_token or client_credentials")
            })
        })
        .collect()
}

pub fn client_kind(name: &str) -> Result<ClientKind, DomainError> {
    ClientKind::parse(name).ok_or_else(|| DomainError::invalid_field("type", "must be public or confidential"))
}

/// Register a client; a confidential one gets its secret in this answer only.
#[utoipa::path(post, path = "/admin/clients", tag = "admin", request_body = CreateClientRequest, security(("bearer" = [])),
    responses((status = 201, body = ClientResponse), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    AppJson(body): AppJson<CreateClientRequest>,
) -> Result<Response, ApiError> {
    let oidc = provider_or_404(&state)?;
    let registered = oidc
        .register_client(ClientRegistration {
            name: body.name,
            kind: client_kind(&body.kind)?,
            redirect_uris: body.redirect_uris,
            post_logout_redirect_uris: body.post_logout_redirect_uris,
            grant_types: grant_types(&body.grant_types)?,
            scopes: body.scopes,
            first_party: body.first_party,
            audience: body.audience,
            resources: body.resources,
        })
        .await?;
    let mut response = ClientResponse::from(registered.client);
    response.client_secret = registered.secret.map(|secret| secret.expose().to_owned());
    Ok((StatusCode::CREATED, Json(response)).into_response())
}

/// Every client.
#[utoipa::path(get, path = "/admin/clients", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<ClientResponse>), (status = 403, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
) -> Result<Json<Vec<ClientResponse>>, ApiError> {
    let oidc = provider_or_404(&state)?;
    Ok(Json(oidc.clients().await?.into_iter().map(ClientResponse::from).collect()))
}

/// One client.
#[utoipa::path(get, path = "/admin/clients/{id}", tag = "admin", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ClientResponse), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<ClientResponse>, ApiError> {
    let oidc = provider_or_404(&state)?;
    Ok(Json(oidc.client(&id).await?.into()))
}

/// Change a client; its type and secret are not changed here.
#[utoipa::path(patch, path = "/admin/clients/{id}", tag = "admin", params(("id" = String, Path)),
    request_body = UpdateClientRequest, security(("bearer" = [])),
    responses((status = 200, body = ClientResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<UpdateClientRequest>,
) -> Result<Json<ClientResponse>, ApiError> {
    let oidc = provider_or_404(&state)?;
    let patch = ClientPatch {
        name: body.name,
        redirect_uris: body.redirect_uris,
        post_logout_redirect_uris: body.post_logout_redirect_uris,
        grant_types: body.grant_types.as_deref().map(grant_types).transpose()?,
        scopes: body.scopes,
        first_party: body.first_party,
        audience: body.audience,
        resources: body.resources,
    };
    Ok(Json(oidc.update_client(&id, patch).await?.into()))
}

/// Delete a client: every token issued to it stops working within a second.
#[utoipa::path(delete, path = "/admin/clients/{id}", tag = "admin", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn remove(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let oidc = provider_or_404(&state)?;
    oidc.delete_client(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new secret, shown once; the old one keeps working for `CLIENT_SECRET_OVERLAP`.
#[utoipa::path(post, path = "/admin/clients/{id}/secret", tag = "admin", params(("id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ClientSecretResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    AdminUser(_admin): AdminUser,
    Path(id): Path<String>,
) -> Result<Json<ClientSecretResponse>, ApiError> {
    let oidc = provider_or_404(&state)?;
    let secret = oidc.rotate_client_secret(&id).await?;
    Ok(Json(ClientSecretResponse { client_id: id, client_secret: secret.expose().to_owned() }))
}
