//! Token validation for gateways (nginx `auth_request`, Traefik `forwardAuth`).

use auth_core::model::Role;
use auth_core::redact::Secret;
use auth_core::sessions::AccessClaims;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::error::{ApiError, Problem};
use super::extract::bearer_token;
use super::sessions::{PresentedToken, TOKEN_FIELD};
use super::state::AppState;
use crate::ui::cookies;
use crate::ui::portal::{Peer, login_url, original_url};
use auth_core::DomainError;
use auth_core::mfa::Aal;
use auth_core::oidc::{ClientAccessClaims, Scopes, is_access_token_type};

#[derive(Debug, Deserialize, IntoParams)]
pub struct ValidateQuery {
    /// Required role; a lower one answers 403 `insufficient_role`.
    #[param(example = "admin")]
    pub role: Option<String>,
    /// Required assurance level; a token below it answers 403 `mfa_required`.
    #[param(example = "aal2")]
    pub aal: Option<String>,
    /// Space-separated scopes an OAuth client's token must carry (403 `insufficient_scope`);
    /// the service's own tokens carry none.
    #[param(example = "orders:read")]
    pub scope: Option<String>,
    /// The audience the token must be for (403 `invalid_audience`): one of an OAuth client's
    /// token's `aud` values (its RFC 8707 resources), or the service's own `JWT_AUDIENCE`.
    #[param(example = "https://api.example.com")]
    pub audience: Option<String>,
    /// `1`: a browser without a live session (or below `aal`) is answered 302 to the login
    /// page, back to the URL it asked for (from a trusted proxy's headers).
    #[param(example = "1")]
    pub redirect: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ValidateRequest {
    #[schema(value_type = String)]
    pub token: Secret,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ValidateResponse {
    pub active: bool,
    pub sub: Uuid,
    pub sid: Uuid,
    pub email: String,
    #[schema(example = "user")]
    pub role: String,
    pub exp: i64,
    /// `aal1` or `aal2`.
    #[schema(example = "aal1")]
    pub aal: String,
    /// RFC 8176 methods of the sign-in (`pwd`, `otp`, `hwk`, `fed`).
    pub amr: Vec<String>,
}

/// Who a valid token speaks for: a person signed in here, or an OAuth client (for itself or
/// for a person).
enum Checked {
    Own(AccessClaims),
    Client(ClientAccessClaims),
}

fn check(state: &AppState, token: &str, query: &ValidateQuery) -> Result<Checked, ApiError> {
    let required = match query.role.as_deref() {
        None | Some("") => Role::User,
        Some(name) => Role::parse(name).ok_or_else(|| DomainError::invalid_field("role", "must be user or admin"))?,
    };
    let aal = match query.aal.as_deref() {
        None | Some("") => Aal::Aal1,
        Some(name) => name.parse().map_err(|_| DomainError::invalid_field("aal", "must be aal1 or aal2"))?,
    };
    let scopes = match query.scope.as_deref() {
        None => Scopes::default(),
        Some(text) => Scopes::parse(text).ok_or_else(|| DomainError::invalid_field("scope", "is not a scope list"))?,
    };
    let audience = query.audience.as_deref().filter(|audience| !audience.is_empty());
    let client_token =
        jsonwebtoken::decode_header(token).is_ok_and(|header| is_access_token_type(header.typ.as_deref()));
    match (&state.oidc, client_token) {
        (Some(oidc), true) => {
            let claims = oidc.authenticate_access(token)?;
            // OAuth tokens carry no role: only the plain `user` level can be asked of them.
            if required > Role::User {
                return Err(DomainError::InsufficientRole.into());
            }
            if claims.acr.unwrap_or_default() < aal {
                return Err(DomainError::MfaRequired.into());
            }
            if scopes.iter().any(|scope| !claims.has_scope(scope)) {
                return Err(DomainError::InsufficientScope.into());
            }
            if audience.is_some_and(|audience| !claims.aud.contains(audience)) {
                return Err(DomainError::WrongAudience.into());
            }
            Ok(Checked::Client(claims))
        }
        _ => {
            let claims = state.sessions.authorize(token, required, aal)?;
            if !scopes.is_empty() {
                return Err(DomainError::InsufficientScope.into());
            }
            if audience.is_some_and(|audience| claims.aud.as_deref() != Some(audience)) {
                return Err(DomainError::WrongAudience.into());
            }
            Ok(Checked::Own(claims))
        }
    }
}

/// The gateway headers and body for an OAuth client's token.
fn answer_client(claims: ClientAccessClaims) -> Response {
    let mut headers = HeaderMap::new();
    let mut pairs = vec![("x-auth-client-id", claims.client_id.clone()), ("x-auth-scopes", claims.scope.clone())];
    if let Some(acr) = claims.acr {
        pairs.push(("x-user-id", claims.sub.clone()));
        pairs.push(("x-user-aal", acr.as_str().to_owned()));
    }
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let body = serde_json::json!({
        "active": true,
        "sub": claims.sub,
        "sid": claims.sid,
        "client_id": claims.client_id,
        "scope": claims.scope,
        "aud": claims.aud,
        "exp": claims.exp,
        "aal": claims.acr.map(Aal::as_str),
        "amr": claims.amr.iter().map(|method| method.as_str()).collect::<Vec<_>>(),
    });
    (headers, Json(body)).into_response()
}

fn respond(checked: Checked) -> Response {
    match checked {
        Checked::Own(claims) => answer(claims),
        Checked::Client(claims) => answer_client(claims),
    }
}

fn answer(claims: AccessClaims) -> Response {
    let mut headers = HeaderMap::new();
    let pairs = [
        ("x-user-id", claims.sub.to_string()),
        ("x-user-email", claims.email.clone()),
        ("x-user-role", claims.role.as_str().to_owned()),
        ("x-user-aal", claims.aal.as_str().to_owned()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let body = ValidateResponse {
        active: true,
        sub: claims.sub,
        sid: claims.sid,
        email: claims.email,
        role: claims.role.as_str().to_owned(),
        exp: claims.exp,
        aal: claims.aal.as_str().to_owned(),
        amr: claims.amr.iter().map(|method| method.as_str().to_owned()).collect(),
    };
    (headers, Json(body)).into_response()
}

/// Validate an access token from `Authorization` or the body `{"token"}`.
#[utoipa::path(post, path = "/auth/validate", tag = "validation", params(ValidateQuery),
    request_body(content = Option<ValidateRequest>), security(("bearer" = [])),
    responses((status = 200, body = ValidateResponse, headers(("X-User-Id"), ("X-User-Email"), ("X-User-Role"), ("X-User-Aal"))),
              (status = 401, body = Problem, description = "invalid_token, token_expired or token_revoked"),
              (status = 403, body = Problem, description = "insufficient_role, mfa_required below `aal`, insufficient_scope, or invalid_audience"),
              (status = 503, body = Problem, description = "unavailable: the revocation log is not loaded yet")))]
pub async fn validate_post(
    State(state): State<AppState>,
    Query(query): Query<ValidateQuery>,
    PresentedToken(token): PresentedToken<TOKEN_FIELD>,
) -> Result<Response, ApiError> {
    Ok(respond(check(&state, &token, &query)?))
}

/// Validate the access token of `Authorization`, or else the browser session cookie
/// (forward-auth gateways; HEAD works too).
#[utoipa::path(get, path = "/auth/validate", tag = "validation", params(ValidateQuery), security(("bearer" = [])),
    responses((status = 200, body = ValidateResponse, headers(("X-User-Id"), ("X-User-Email"), ("X-User-Role"), ("X-User-Aal"))),
              (status = 302, description = "with `redirect=1`: to the login page"),
              (status = 401, body = Problem), (status = 403, body = Problem), (status = 503, body = Problem)))]
pub async fn validate_get(
    State(state): State<AppState>,
    Query(query): Query<ValidateQuery>,
    peer: Peer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let cookie = cookies::read(&headers, cookies::ACCESS);
    let token = bearer_token(&headers).or(cookie.as_deref());
    let checked = match token {
        Some(token) => check(&state, token, &query),
        None => Err(DomainError::InvalidToken.into()),
    };
    match checked {
        Ok(checked) => Ok(respond(checked)),
        Err(ApiError::Domain(error)) if query.redirect.as_deref() == Some("1") && sends_to_login(&error) => {
            let rd = original_url(&headers, &peer);
            let step_up = matches!(error, DomainError::MfaRequired);
            let location = login_url(&state.ui.public_url, rd.as_deref(), step_up);
            Ok((StatusCode::FOUND, [(header::LOCATION, location)]).into_response())
        }
        Err(error) => Err(error),
    }
}

/// Signing in (again, or with a second factor) cures these; a role does not come from it.
fn sends_to_login(error: &DomainError) -> bool {
    matches!(
        error,
        DomainError::InvalidToken | DomainError::TokenExpired | DomainError::TokenRevoked | DomainError::MfaRequired
    )
}
