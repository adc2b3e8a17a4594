//! The JSON endpoints the pages' script calls for WebAuthn ceremonies: the same services as
//! `/auth/passkeys/*`, with the browser session in cookies and the CSRF token in a header.
//! Failures are problem JSON, which the script turns into the page's message.

use auth_core::DomainError;
use auth_core::mfa::SecondFactorProof;
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::http::accounts::client_info;
use crate::http::error::ApiError;
use crate::http::extract::{AppJson, ClientAddress};
use crate::http::state::AppState;
use crate::ui::{PageRequest, cookies};

#[derive(Debug, Deserialize)]
pub struct AssertionBody {
    #[serde(default)]
    challenge_id: String,
    credential: Value,
    rd: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct RegistrationBody {
    credential: Value,
    name: Option<String>,
}

fn checked(page: &PageRequest) -> Result<(), ApiError> {
    if page.csrf_ok(None) { Ok(()) } else { Err(ApiError::CsrfRefused) }
}

fn json_value(value: &impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|error| DomainError::Internal(format!("WebAuthn options: {error}")).into())
}

/// Signs the browser in and says where to go; the cookies ride on the JSON answer.
fn signed_in(mut page: PageRequest, pair: &auth_core::sessions::TokenPair, rd: Option<&str>) -> Response {
    page.sign_in(pair);
    let redirect = page.ui.destination(rd);
    page.json(json!({ "redirect": redirect }))
}

pub async fn login_options(State(state): State<AppState>, page: PageRequest) -> Result<Response, ApiError> {
    checked(&page)?;
    let started = state.passkeys.begin_login().await?;
    let mut options = json_value(&started.options)?;
    options["challenge_id"] = Value::String(started.challenge_id);
    Ok(Json(options).into_response())
}

pub async fn login(
    State(state): State<AppState>,
    address: ClientAddress,
    page: PageRequest,
    AppJson(body): AppJson<AssertionBody>,
) -> Result<Response, ApiError> {
    checked(&page)?;
    let client = client_info(&page.headers, address);
    let pair = state.passkeys.finish_login(&body.challenge_id, &body.credential.to_string(), client).await?;
    Ok(signed_in(page, &pair, body.rd.as_deref()))
}

pub async fn second_factor_options(State(state): State<AppState>, page: PageRequest) -> Result<Response, ApiError> {
    checked(&page)?;
    let mfa_token = page.cookie(cookies::MFA).ok_or(DomainError::InvalidToken)?;
    let options = state.mfa.webauthn_options(&mfa_token).await?;
    Ok(Json(json_value(&options)?).into_response())
}

pub async fn second_factor(
    State(state): State<AppState>,
    address: ClientAddress,
    page: PageRequest,
    AppJson(body): AppJson<AssertionBody>,
) -> Result<Response, ApiError> {
    checked(&page)?;
    let mfa_token = page.cookie(cookies::MFA).ok_or(DomainError::InvalidToken)?;
    let credential = body.credential.to_string();
    let client = client_info(&page.headers, address);
    let pair = state.mfa.verify(&mfa_token, SecondFactorProof::Webauthn(&credential), client).await?;
    Ok(signed_in(page, &pair, body.rd.as_deref()))
}

pub async fn registration_options(State(state): State<AppState>, mut page: PageRequest) -> Result<Response, ApiError> {
    checked(&page)?;
    let claims = page.signed_in(&state).await?.ok_or(DomainError::InvalidToken)?;
    let user = state.accounts.active_user(claims.sub).await?;
    let options = state.passkeys.begin_registration(&user, claims.aal).await?;
    Ok(page.json(json_value(&options)?))
}

pub async fn register(
    State(state): State<AppState>,
    mut page: PageRequest,
    AppJson(body): AppJson<RegistrationBody>,
) -> Result<Response, ApiError> {
    checked(&page)?;
    let claims = page.signed_in(&state).await?.ok_or(DomainError::InvalidToken)?;
    let name = body.name.as_deref().map(str::trim).filter(|name| !name.is_empty());
    state.passkeys.finish_registration(claims.sub, &body.credential.to_string(), name).await?;
    Ok(page.json(json!({ "redirect": "/ui/account" })))
}
