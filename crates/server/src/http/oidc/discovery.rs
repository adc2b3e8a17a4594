//! OpenID Connect Discovery 1.0 and RFC 8414 metadata: every endpoint listed works.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::provider;
use crate::http::error::oauth_error_response;
use crate::http::state::AppState;

/// The provider's metadata.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "openid",
    responses((status = 200, description = "OpenID provider metadata (also at /.well-known/oauth-authorization-server)")))]
pub async fn configuration(State(state): State<AppState>) -> Response {
    let oidc = match provider(&state) {
        Ok(oidc) => oidc,
        Err(error) => return oauth_error_response(&error),
    };
    let base = &state.ui.public_url;
    let algorithm = format!("{:?}", oidc.tokens().id_keys().algorithm());
    let mut response = Json(json!({
        "issuer": oidc.issuer(),
        "authorization_endpoint": format!("{base}/oauth2/authorize"),
        "token_endpoint": format!("{base}/oauth2/token"),
        "userinfo_endpoint": format!("{base}/oauth2/userinfo"),
        "jwks_uri": format!("{base}/.well-known/jwks.json"),
        "introspection_endpoint": format!("{base}/oauth2/introspect"),
        "revocation_endpoint": format!("{base}/oauth2/revoke"),
        "end_session_endpoint": format!("{base}/oauth2/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [algorithm],
        "scopes_supported": ["openid", "profile", "email"],
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "email", "email_verified", "name"],
        "acr_values_supported": ["aal1", "aal2"],
        "prompt_values_supported": ["none", "login", "consent"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    }))
    .into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
