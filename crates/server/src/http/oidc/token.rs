//! `/oauth2/token`: authenticates the client, then hands the request to its grant.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

use super::{OAuthForm, authenticate_client, provider};
use crate::http::accounts::client_info;
use crate::http::error::oauth_error_response;
use crate::http::extract::ClientAddress;
use crate::http::state::AppState;
use auth_core::oidc::{OAuthError, TokenResponse};

/// The token endpoint (form body): `authorization_code`, `refresh_token`, `client_credentials`.
#[utoipa::path(post, path = "/oauth2/token", tag = "openid",
    request_body(content_type = "application/x-www-form-urlencoded", description = "RFC 6749 §4.1.3, §6, §4.4"),
    responses((status = 200, description = "tokens"), (status = 400, description = "OAuth error JSON"),
              (status = 401, description = "invalid_client")))]
pub async fn token(State(state): State<AppState>, address: ClientAddress, headers: HeaderMap, body: Bytes) -> Response {
    match issue(&state, address, &headers, &body).await {
        Ok(tokens) => {
            let mut response = Json(tokens).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
            response
        }
        Err(error) => oauth_error_response(&error),
    }
}

async fn issue(
    state: &AppState,
    address: ClientAddress,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenResponse, OAuthError> {
    let oidc = provider(state)?;
    let form = OAuthForm::parse(body)?;
    let grant_type = form.get("grant_type").ok_or(OAuthError::InvalidRequest("grant_type is required"))?;
    let client = authenticate_client(&oidc, headers, &form).await?;
    let resources = form.resources()?;
    match grant_type {
        "authorization_code" => {
            let code = form.get("code").ok_or(OAuthError::InvalidRequest("code is required"))?;
            oidc.redeem_code(
                &client,
                code,
                form.get("redirect_uri"),
                form.get("code_verifier"),
                &resources,
                client_info(headers, address),
            )
            .await
        }
        "refresh_token" => {
            let token = form.get("refresh_token").ok_or(OAuthError::InvalidRequest("refresh_token is required"))?;
            oidc.refresh(&client, token, form.get("scope"), &resources).await
        }
        "client_credentials" => oidc.client_token(&client, form.get("scope"), &resources).await,
        _ => Err(OAuthError::UnsupportedGrantType),
    }
}
