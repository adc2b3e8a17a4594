//! The OpenID provider over HTTP: discovery, the authorization endpoint (through the hosted
//! pages), the token endpoint, userinfo, introspection, revocation, RP-initiated logout, the
//! client registry of the admin API and a person's grants. Handlers parse and call
//! `auth_core::oidc`; the rules are there.

pub mod clients;
pub mod discovery;
pub mod endpoints;
pub mod grants;
pub mod token;

use std::sync::Arc;

use auth_core::oidc::{Client, OAuthError, OidcService};
use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::{delete, get, post};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::state::AppState;

/// The provider's routes; none when it is off.
pub fn routes(enabled: bool, pages: bool) -> Router<AppState> {
    if !enabled {
        return Router::new();
    }
    let router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery::configuration))
        .route("/.well-known/oauth-authorization-server", get(discovery::configuration))
        .route("/oauth2/token", post(token::token))
        .route("/oauth2/userinfo", get(endpoints::userinfo).post(endpoints::userinfo))
        .route("/oauth2/introspect", post(endpoints::introspect))
        .route("/oauth2/revoke", post(endpoints::revoke))
        .route("/admin/clients", post(clients::create).get(clients::list))
        .route("/admin/clients/{id}", get(clients::get).patch(clients::update).delete(clients::remove))
        .route("/admin/clients/{id}/secret", post(clients::rotate_secret))
        .route("/auth/grants", get(grants::list))
        .route("/auth/grants/{client_id}", delete(grants::revoke));
    // Signing a person in needs the hosted pages.
    if pages {
        router
            .route("/oauth2/authorize", get(crate::ui::pages::authorize::authorize))
            .route("/ui/consent", post(crate::ui::pages::authorize::consent))
            .route("/oauth2/logout", get(endpoints::logout).post(endpoints::logout_form))
    } else {
        router
    }
}

/// The provider, or 404 when it is off (its routes are not even mounted then).
pub(crate) fn provider(state: &AppState) -> Result<Arc<OidcService>, OAuthError> {
    state.oidc.clone().ok_or(OAuthError::Domain(auth_core::DomainError::NotFound))
}

/// The provider for the JSON API's handlers (problem JSON 404 when it is off).
pub(crate) fn provider_or_404(state: &AppState) -> Result<Arc<OidcService>, super::error::ApiError> {
    state.oidc.clone().ok_or(super::error::ApiError::RouteNotFound)
}

/// Form parameters as sent, each allowed once (RFC 6749 §3.2) except `resource` (RFC 8707 §2).
pub(crate) struct OAuthForm(Vec<(String, String)>);

impl OAuthForm {
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(body).map(|(name, value)| (name.into_owned(), value.into_owned())).collect();
        for (index, (name, _)) in pairs.iter().enumerate() {
            if name != "resource" && pairs[..index].iter().any(|(earlier, _)| earlier == name) {
                return Err(OAuthError::InvalidRequest("a parameter was given more than once"));
            }
        }
        Ok(Self(pairs))
    }

    /// The RFC 8707 resource indicators, checked.
    pub fn resources(&self) -> Result<Vec<String>, OAuthError> {
        auth_core::oidc::requested_resources(
            self.0.iter().filter(|(name, _)| name == "resource").map(|(_, value)| value.as_str()),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).filter(|value| !value.is_empty())
    }
}

/// RFC 6749 §2.3.1 and OAuth 2.1 §2.4: `client_secret_basic` (the `Authorization` header, its
/// parts form-urlencoded), `client_secret_post`, or `none` (a public client naming itself);
/// more than one method at once is refused.
pub(crate) async fn authenticate_client(
    oidc: &OidcService,
    headers: &HeaderMap,
    form: &OAuthForm,
) -> Result<Client, OAuthError> {
    let basic = match headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()) {
        Some(value) => match value.split_once(' ') {
            Some((scheme, encoded)) if scheme.eq_ignore_ascii_case("basic") => {
                let decoded = STANDARD.decode(encoded.trim()).map_err(|_| OAuthError::InvalidClient)?;
                let text = String::from_utf8(decoded).map_err(|_| OAuthError::InvalidClient)?;
                let (id, secret) = text.split_once(':').ok_or(OAuthError::InvalidClient)?;
                let unescape = |part: &str| {
                    url::form_urlencoded::parse(format!("x={part}").as_bytes())
                        .next()
                        .map(|(_, value)| value.into_owned())
                        .unwrap_or_default()
                };
                Some((unescape(id), unescape(secret)))
            }
            _ => None,
        },
        None => None,
    };
    match (basic, form.get("client_id"), form.get("client_secret")) {
        (Some(_), _, Some(_)) => Err(OAuthError::InvalidRequest("use one client authentication method")),
        (Some((id, _)), Some(named), None) if id != named => Err(OAuthError::InvalidClient),
        (Some((id, secret)), _, None) => oidc.authenticate_client(&id, Some(&secret)).await,
        (None, Some(id), secret) => oidc.authenticate_client(id, secret).await,
        (None, None, _) => Err(OAuthError::InvalidClient),
    }
}
