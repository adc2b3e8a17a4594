//! Social sign-in: providers list, browser flow (authorize → callback), app flow, linking.

use auth_core::oauth::{AppCredentials, CallbackParameters};
use auth_core::sessions::TokenPair;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::accounts::{TokenPairResponse, client_info};
use super::error::{ApiError, Problem};
use super::extract::{AppJson, AuthUser, ClientAddress};
use super::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderResponse {
    #[schema(example = "google")]
    pub name: String,
    #[schema(example = "Google")]
    pub display_name: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuthorizeQuery {
    /// Where to send the browser afterwards; must be on ALLOWED_REDIRECT_URLS.
    pub redirect_to: Option<String>,
}

#[derive(Deserialize, IntoParams)]
pub struct CallbackQuery {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    /// VK ID only.
    pub device_id: Option<String>,
}

impl std::fmt::Debug for CallbackQuery {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("CallbackQuery")
            .field("state", &auth_core::redact::redacted_option(&self.state))
            .field("code", &auth_core::redact::redacted_option(&self.code))
            .field("error", &self.error)
            .field("device_id", &self.device_id)
            .finish()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkResponse {
    /// Send the signed-in user's browser here; the callback links the provider to their account.
    pub authorization_url: String,
}

/// Google: `{"id_token"}`; VK ID: `{"code", "code_verifier", "device_id", "redirect_uri"}`;
/// Facebook: `{"access_token"}`.
#[derive(Deserialize, ToSchema)]
pub struct AppTokenRequest {
    pub id_token: Option<String>,
    pub code: Option<String>,
    pub code_verifier: Option<String>,
    pub device_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub access_token: Option<String>,
}

impl std::fmt::Debug for AppTokenRequest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("AppTokenRequest")
            .field("id_token", &auth_core::redact::redacted_option(&self.id_token))
            .field("code", &auth_core::redact::redacted_option(&self.code))
            .field("code_verifier", &auth_core::redact::redacted_option(&self.code_verifier))
            .field("device_id", &self.device_id)
            .field("redirect_uri", &self.redirect_uri)
            .field("access_token", &auth_core::redact::redacted_option(&self.access_token))
            .finish()
    }
}

/// The configured sign-in providers.
#[utoipa::path(get, path = "/auth/providers", tag = "social", responses((status = 200, body = Vec<ProviderResponse>)))]
pub async fn list_providers(State(state): State<AppState>) -> Json<Vec<ProviderResponse>> {
    Json(
        state
            .oauth
            .providers()
            .into_iter()
            .map(|(name, display_name)| ProviderResponse { name: name.into(), display_name: display_name.into() })
            .collect(),
    )
}

/// Start a browser sign-in: 302 to the provider.
#[utoipa::path(get, path = "/auth/oauth/{provider}/authorize", tag = "social",
    params(("provider" = String, Path, description = "google, vk or facebook"), AuthorizeQuery),
    responses((status = 302, description = "to the provider"), (status = 400, body = Problem, description = "invalid_redirect"),
              (status = 404, body = Problem, description = "unknown_provider"), (status = 502, body = Problem)))]
pub async fn authorize(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<AuthorizeQuery>,
) -> Result<Response, ApiError> {
    let url = state.oauth.start(&provider, query.redirect_to.as_deref(), None).await?;
    Ok(Redirect::to(&url).into_response())
}

/// The provider's redirect back: a token pair as JSON, or a 302 to `redirect_to` with the pair
/// in the URL fragment.
#[utoipa::path(get, path = "/auth/oauth/{provider}/callback", tag = "social",
    params(("provider" = String, Path), CallbackQuery),
    responses((status = 200, body = TokenPairResponse), (status = 302, description = "to redirect_to, pair in the fragment"),
              (status = 400, body = Problem, description = "invalid_state"), (status = 401, body = Problem, description = "provider_denied"),
              (status = 409, body = Problem, description = "email_taken"), (status = 502, body = Problem, description = "provider_error")))]
pub async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<CallbackQuery>,
    address: ClientAddress,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let parameters =
        CallbackParameters { state: query.state, code: query.code, error: query.error, device_id: query.device_id };
    let signed_in = state.oauth.finish(&provider, parameters).await?;
    let pair = state.sessions.start(&signed_in.user, client_info(&headers, address)).await?;
    let mut response = match signed_in.redirect_to {
        Some(target) => Redirect::to(&format!("{target}#{}", fragment(&pair))).into_response(),
        None => Json(TokenPairResponse::from(pair)).into_response(),
    };
    // The callback URL carried a code: keep it out of Referer headers (RFC 9700 §4.2).
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

fn fragment(pair: &TokenPair) -> String {
    format!(
        "access_token={}&refresh_token={}&expires_in={}&refresh_expires_in={}&token_type=Bearer",
        pair.access_token, pair.refresh_token, pair.expires_in, pair.refresh_expires_in
    )
}

/// Sign in with what a mobile or single-page app got from the provider itself.
#[utoipa::path(post, path = "/auth/oauth/{provider}/token", tag = "social", params(("provider" = String, Path)),
    request_body = AppTokenRequest,
    responses((status = 200, body = TokenPairResponse), (status = 401, body = Problem, description = "provider_denied"),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 502, body = Problem)))]
pub async fn app_token(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    address: ClientAddress,
    headers: HeaderMap,
    AppJson(body): AppJson<AppTokenRequest>,
) -> Result<Json<TokenPairResponse>, ApiError> {
    let credentials = AppCredentials {
        id_token: body.id_token,
        code: body.code,
        code_verifier: body.code_verifier,
        device_id: body.device_id,
        redirect_uri: body.redirect_uri,
        access_token: body.access_token,
    };
    let user = state.oauth.sign_in_with_app_credentials(&provider, credentials).await?;
    let pair = state.sessions.start(&user, client_info(&headers, address)).await?;
    Ok(Json(pair.into()))
}

/// Link a provider to the signed-in account: returns the URL to send the browser to.
#[utoipa::path(post, path = "/auth/oauth/{provider}/link", tag = "social", params(("provider" = String, Path)),
    security(("bearer" = [])),
    responses((status = 200, body = LinkResponse), (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn link(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(provider): Path<String>,
    Query(query): Query<AuthorizeQuery>,
) -> Result<Json<LinkResponse>, ApiError> {
    let authorization_url = state.oauth.start(&provider, query.redirect_to.as_deref(), Some(claims.sub)).await?;
    Ok(Json(LinkResponse { authorization_url }))
}

/// Unlink a provider, as long as another way to sign in remains.
#[utoipa::path(delete, path = "/auth/oauth/{provider}", tag = "social", params(("provider" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "last_login_method")))]
pub async fn unlink(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(provider): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.oauth.unlink(claims.sub, &provider).await?;
    Ok(StatusCode::NO_CONTENT)
}
