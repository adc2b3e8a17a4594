//! Passkeys (WebAuthn): registration, the list, removal, discoverable sign-in, and the request
//! options for finishing an `mfa_required` sign-in with a passkey. Options and credentials are the
//! WebAuthn Level 3 JSON forms.

use auth_core::DomainError;
use auth_core::mfa::Passkey;
use auth_core::redact::Secret;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::accounts::{TokenPairResponse, client_info};
use super::error::{ApiError, Problem};
use super::extract::{AppJson, AuthUser, ClientAddress, bearer_token};
use super::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyResponse {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<Passkey> for PasskeyResponse {
    fn from(passkey: Passkey) -> Self {
        Self { id: passkey.id, name: passkey.name, created_at: passkey.created_at, last_used_at: passkey.last_used_at }
    }
}

/// `{"publicKey": ...}`: what `PublicKeyCredential.parseCreationOptionsFromJSON` or
/// `parseRequestOptionsFromJSON` takes.
#[derive(Debug, Serialize, ToSchema)]
#[schema(value_type = Object)]
#[serde(transparent)]
pub struct WebauthnOptions(serde_json::Value);

#[derive(Debug, Serialize, ToSchema)]
pub struct PasskeyLoginOptionsResponse {
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object)]
    pub public_key: serde_json::Value,
    /// Send it back with the assertion.
    pub challenge_id: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterPasskeyRequest {
    /// `PublicKeyCredential.toJSON()` of the new credential.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
    /// Shown in the list; default `Passkey`.
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PasskeyLoginRequest {
    pub challenge_id: String,
    /// `PublicKeyCredential.toJSON()` of the assertion.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct WebauthnOptionsRequest {
    /// The `mfa_token` of the sign-in to finish; without it, `Authorization: Bearer` asks for
    /// options to step that session up.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub mfa_token: Option<Secret>,
}

/// An empty body (`{}`) is all the discoverable sign-in asks for.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct PasskeyLoginOptionsRequest {}

/// Creation options for a new passkey of the signed-in user.
#[utoipa::path(post, path = "/auth/passkeys/register/options", tag = "passkeys", security(("bearer" = [])),
    responses((status = 200, body = WebauthnOptions), (status = 401, body = Problem),
              (status = 403, body = Problem, description = "mfa_required: the user has a second factor and the token is aal1")))]
pub async fn registration_options(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<WebauthnOptions>, ApiError> {
    let user = state.accounts.active_user(claims.sub).await?;
    let options = state.passkeys.begin_registration(&user, claims.aal).await?;
    Ok(Json(WebauthnOptions(to_value(&options)?)))
}

/// Keep the passkey the authenticator created.
#[utoipa::path(post, path = "/auth/passkeys/register", tag = "passkeys", request_body = RegisterPasskeyRequest,
    security(("bearer" = [])),
    responses((status = 201, body = PasskeyResponse),
              (status = 400, body = Problem, description = "invalid_passkey: bad attestation, challenge or origin"),
              (status = 401, body = Problem)))]
pub async fn register(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    AppJson(body): AppJson<RegisterPasskeyRequest>,
) -> Result<(StatusCode, Json<PasskeyResponse>), ApiError> {
    let credential = body.credential.to_string();
    let passkey = state.passkeys.finish_registration(claims.sub, &credential, body.name.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(passkey.into())))
}

/// The signed-in user's passkeys, oldest first.
#[utoipa::path(get, path = "/auth/passkeys", tag = "passkeys", security(("bearer" = [])),
    responses((status = 200, body = [PasskeyResponse]), (status = 401, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
) -> Result<Json<Vec<PasskeyResponse>>, ApiError> {
    let passkeys = state.passkeys.list(claims.sub).await?;
    Ok(Json(passkeys.into_iter().map(PasskeyResponse::from).collect()))
}

/// Remove one of the signed-in user's passkeys (needs an `aal2` token); anyone else's is 404.
#[utoipa::path(delete, path = "/auth/passkeys/{id}", tag = "passkeys", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "passkey id")),
    responses((status = 204), (status = 401, body = Problem), (status = 403, body = Problem, description = "mfa_required"),
              (status = 404, body = Problem)))]
pub async fn remove(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| DomainError::NotFound)?;
    state.passkeys.remove(claims.sub, id, claims.aal).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RenamePasskeyRequest {
    #[schema(example = "Work laptop")]
    pub name: String,
}

/// Rename one of your passkeys.
#[utoipa::path(patch, path = "/auth/passkeys/{id}", tag = "passkeys", params(("id" = Uuid, Path)),
    request_body = RenamePasskeyRequest, security(("bearer" = [])),
    responses((status = 200, body = PasskeyResponse), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn rename(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(id): Path<String>,
    AppJson(body): AppJson<RenamePasskeyRequest>,
) -> Result<Json<PasskeyResponse>, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| DomainError::NotFound)?;
    Ok(Json(state.passkeys.rename(claims.sub, id, &body.name).await?.into()))
}

/// Request options for signing in with a passkey, no email asked (discoverable credentials).
#[utoipa::path(post, path = "/auth/passkeys/login/options", tag = "passkeys", request_body = PasskeyLoginOptionsRequest,
    responses((status = 200, body = PasskeyLoginOptionsResponse)))]
pub async fn login_options(State(state): State<AppState>) -> Result<Json<PasskeyLoginOptionsResponse>, ApiError> {
    let started = state.passkeys.begin_login().await?;
    let mut options = to_value(&started.options)?;
    let public_key = options.get_mut("publicKey").map(serde_json::Value::take).unwrap_or_default();
    Ok(Json(PasskeyLoginOptionsResponse { public_key, challenge_id: started.challenge_id }))
}

/// Sign in with a passkey: a token pair, `aal2` when the authenticator verified its user.
#[utoipa::path(post, path = "/auth/passkeys/login", tag = "passkeys", request_body = PasskeyLoginRequest,
    responses((status = 200, body = TokenPairResponse),
              (status = 401, body = Problem, description = "invalid_credentials: unknown credential, bad signature, replayed challenge, wrong origin or a counter that went backwards")))]
pub async fn login(
    State(state): State<AppState>,
    address: ClientAddress,
    headers: HeaderMap,
    AppJson(body): AppJson<PasskeyLoginRequest>,
) -> Result<Json<TokenPairResponse>, ApiError> {
    let credential = body.credential.to_string();
    let pair = state.passkeys.finish_login(&body.challenge_id, &credential, client_info(&headers, address)).await?;
    Ok(Json(pair.into()))
}

/// Request options for finishing an `mfa_required` sign-in with one of the user's passkeys, or
/// (with `Authorization: Bearer` and no `mfa_token`) for stepping that session up.
#[utoipa::path(post, path = "/auth/mfa/webauthn/options", tag = "mfa", request_body = WebauthnOptionsRequest,
    responses((status = 200, body = WebauthnOptions),
              (status = 401, body = Problem, description = "invalid_token: unknown, expired or spent mfa_token"),
              (status = 409, body = Problem, description = "mfa_not_enabled: the user has no passkey"),
              (status = 422, body = Problem, description = "neither an mfa_token nor a bearer token")))]
pub async fn second_factor_options(
    State(state): State<AppState>,
    headers: HeaderMap,
    AppJson(body): AppJson<WebauthnOptionsRequest>,
) -> Result<Json<WebauthnOptions>, ApiError> {
    let options = match (body.mfa_token, bearer_token(&headers)) {
        (Some(mfa_token), _) => state.mfa.webauthn_options(&mfa_token).await?,
        (None, Some(access_token)) => {
            let claims = state.sessions.authenticate(access_token)?;
            state.mfa.webauthn_step_up_options(&claims).await?
        }
        (None, None) => return Err(DomainError::invalid_field("mfa_token", "is required").into()),
    };
    Ok(Json(WebauthnOptions(to_value(&options)?)))
}

fn to_value(options: &impl Serialize) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(options)
        .map_err(|error| ApiError::from(DomainError::Internal(format!("WebAuthn options: {error}"))))
}
