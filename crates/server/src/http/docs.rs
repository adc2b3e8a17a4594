//! The OpenAPI document, generated from the handlers, and the docs UIs served offline.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::{Config, SwaggerUi};

use super::oidc::{clients, discovery, endpoints, grants, token};
use super::state::AppState;
use super::{accounts, admin, email, error, meta, mfa, oauth, passkeys, sessions, validate};

#[derive(OpenApi)]
#[openapi(
    info(title = "auth-service", description = "Authentication and authorization: accounts, rotating refresh \
          sessions, token validation for gateways, and an OAuth 2.1 / OpenID Connect provider (its endpoints answer \
          OAuth error JSON as RFC 6749 fixes). Errors are RFC 9457 problem JSON with a stable `code`."),
    paths(
        accounts::register, accounts::login, accounts::me, accounts::delete_me,
        email::forgot_password, email::reset_password, email::change_password, email::request_verification,
        email::verify_email, email::change_email,
        oauth::list_providers, oauth::authorize, oauth::callback, oauth::form_callback, oauth::app_token, oauth::link, oauth::unlink,
        admin::list_users, admin::get_user, admin::update_user, admin::logout_user, admin::reset_second_factors,
        admin::list_dead_letters, admin::retry_dead_letter,
        sessions::refresh, sessions::logout, sessions::logout_all, sessions::list_sessions, sessions::revoke_session,
        validate::validate_post, validate::validate_get,
        mfa::status, mfa::begin_totp, mfa::confirm_totp, mfa::remove_totp, mfa::regenerate_recovery_codes, mfa::verify,
        passkeys::second_factor_options, passkeys::registration_options, passkeys::register, passkeys::list,
        passkeys::remove, passkeys::rename, passkeys::login_options, passkeys::login,
        meta::jwks, meta::live, meta::ready, meta::metrics,
        discovery::configuration, token::token, endpoints::userinfo, endpoints::introspect, endpoints::revoke,
        clients::create, clients::list, clients::get, clients::update, clients::remove, clients::rotate_secret,
        grants::list, grants::revoke,
    ),
    components(schemas(error::Problem, error::ProblemField)),
    modifiers(&BearerSecurity),
    tags((name = "accounts"), (name = "email"), (name = "admin"), (name = "social"), (name = "sessions"), (name = "mfa"), (name = "passkeys"), (name = "validation"), (name = "keys"), (name = "health"), (name = "openid")),
)]
pub struct ApiDoc;

struct BearerSecurity;

impl Modify for BearerSecurity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

const REDOC_PAGE: &str = include_str!("../../assets/redoc.html");
const REDOC_SCRIPT: &[u8] = include_bytes!("../../assets/vendor/redoc/redoc.standalone.js");

/// Content-Security-Policy for the docs pages: everything from this origin, nothing else.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
                        img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; \
                        frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    let swagger = SwaggerUi::new("/docs")
        .url("/openapi.json", ApiDoc::openapi())
        .config(Config::new(["/openapi.json"]).validator_url("none").persist_authorization(false));
    Router::new()
        .merge(swagger)
        .route("/redoc", get(redoc_page))
        .route("/assets/redoc.standalone.js", get(redoc_script))
        .layer(axum::middleware::map_response(docs_security_headers))
}

async fn redoc_page() -> Html<&'static str> {
    Html(REDOC_PAGE)
}

async fn redoc_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/javascript; charset=utf-8")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        REDOC_SCRIPT,
    )
        .into_response()
}

async fn docs_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(DOCS_CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}
