//! The HTTP layer: routes, middleware, and the mapping of results to responses.

/// Register, login, me.
pub mod accounts;
/// User administration.
pub mod admin;
/// OpenAPI document and the offline docs UIs.
pub mod docs;
/// Email verification and password flows.
pub mod email;
/// The single failure → problem JSON mapping.
pub mod error;
/// Typed request inputs: JSON, bearer tokens, authenticated users, client address.
pub mod extract;
/// Per-client rate limits.
pub mod limits;
/// JWKS, health, metrics.
pub mod meta;
/// Second factors: TOTP, recovery codes, finishing an `mfa_required` sign-in.
pub mod mfa;
/// Social sign-in.
pub mod oauth;
/// The OpenID provider: discovery, authorize, token, userinfo, introspection, revocation,
/// logout, clients, grants.
pub mod oidc;
/// Passkeys (WebAuthn): registration, list, removal, discoverable sign-in, second-factor options.
pub mod passkeys;
/// Refresh, logout, sessions.
pub mod sessions;
/// Handler state.
pub mod state;
/// Gateway validation.
pub mod validate;

#[cfg(test)]
mod debug_redaction;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use self::error::{ApiError, InternalCause, problem_response};
use self::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Routing and transport limits.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub rate_limit_validate: bool,
    pub cors_allowed_origins: Vec<String>,
    pub ui_enabled: bool,
}

/// The public auth endpoints: anyone may call them, so each client has a budget.
fn public_auth_routes() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(accounts::register))
        .route("/auth/login", post(accounts::login))
        .route("/auth/refresh", post(sessions::refresh))
        .route("/auth/password/forgot", post(email::forgot_password))
        .route("/auth/password/reset", post(email::reset_password))
        .route("/auth/email/verify", post(email::verify_email))
        .route("/auth/oauth/{provider}/authorize", get(oauth::authorize))
        .route("/auth/oauth/{provider}/callback", get(oauth::callback).post(oauth::form_callback))
        .route("/auth/oauth/{provider}/token", post(oauth::app_token))
        .route("/auth/mfa/verify", post(mfa::verify))
        .route("/auth/mfa/webauthn/options", post(passkeys::second_factor_options))
        .route("/auth/passkeys/login/options", post(passkeys::login_options))
        .route("/auth/passkeys/login", post(passkeys::login))
        // The same handlers under the FastAPI service's layout, so its clients work unchanged.
        .route("/auth_api/v1/users/register", post(accounts::register))
        .route("/auth_api/v1/auth/login", post(accounts::login))
        .route("/auth_api/v1/auth/refresh", post(sessions::refresh))
}

/// Signed-in endpoints that check the current password: a stolen access token must not buy
/// unlimited guesses (nor fill the hashing queue), so they share the public endpoints' budget.
fn password_confirming_routes() -> Router<AppState> {
    Router::new()
        .route("/auth/me", delete(accounts::delete_me))
        .route("/auth/password/change", post(email::change_password))
        .route("/auth/email/change", post(email::change_email))
}

/// Endpoints for signed-in users and administrators.
fn signed_in_routes() -> Router<AppState> {
    Router::new()
        .route("/auth/me", get(accounts::me))
        .route("/auth/logout", post(sessions::logout))
        .route("/auth/logout-all", post(sessions::logout_all))
        .route("/auth/sessions", get(sessions::list_sessions))
        .route("/auth/sessions/{id}", delete(sessions::revoke_session))
        .route("/auth/email/verify/request", post(email::request_verification))
        .route("/auth/mfa", get(mfa::status))
        .route("/auth/mfa/totp", post(mfa::begin_totp).delete(mfa::remove_totp))
        .route("/auth/mfa/totp/confirm", post(mfa::confirm_totp))
        .route("/auth/mfa/recovery-codes", post(mfa::regenerate_recovery_codes))
        .route("/auth/passkeys", get(passkeys::list))
        .route("/auth/passkeys/{id}", delete(passkeys::remove).patch(passkeys::rename))
        .route("/auth/passkeys/register/options", post(passkeys::registration_options))
        .route("/auth/passkeys/register", post(passkeys::register))
        .route("/auth/oauth/{provider}/link", post(oauth::link))
        .route("/auth/oauth/{provider}", delete(oauth::unlink))
        .route("/admin/users", get(admin::list_users))
        .route("/admin/users/{id}", get(admin::get_user).patch(admin::update_user))
        .route("/admin/users/{id}/logout-all", post(admin::logout_user))
        .route("/admin/users/{id}/mfa", delete(admin::reset_second_factors))
        .route("/admin/events/dead-letters", get(admin::list_dead_letters))
        .route("/admin/events/{id}/retry", post(admin::retry_dead_letter))
        .route("/auth_api/v1/users/me", get(accounts::me))
        .route("/auth_api/v1/auth/logout", post(sessions::logout))
        .route("/auth_api/v1/auth/logout-all", post(sessions::logout_all))
        .route("/auth_api/v1/auth/sessions", get(sessions::list_sessions))
}

fn validation_routes() -> Router<AppState> {
    Router::new().route("/auth/validate", post(validate::validate_post).get(validate::validate_get))
}

fn meta_routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/jwks.json", get(meta::jwks))
        .route("/auth/providers", get(oauth::list_providers))
        .route("/health/live", get(meta::live))
        .route("/health/ready", get(meta::ready))
        .route("/metrics", get(meta::metrics))
}

pub fn router(state: AppState, settings: HttpSettings) -> Router {
    let limited = middleware::from_fn_with_state(state.clone(), limits::limit_per_client);
    let validation = if settings.rate_limit_validate {
        validation_routes().route_layer(limited.clone())
    } else {
        validation_routes()
    };
    let no_store = SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let (page_posts, pages) = crate::ui::routes(settings.ui_enabled);
    // axum refuses a route layer on a router without routes (UI_ENABLED=false).
    let page_posts = if settings.ui_enabled {
        page_posts.route_layer(middleware::from_fn_with_state(state.clone(), crate::ui::limit_per_client))
    } else {
        page_posts
    };
    let api = public_auth_routes()
        .merge(password_confirming_routes())
        .route_layer(limited)
        .merge(page_posts)
        .merge(pages)
        .merge(signed_in_routes())
        .merge(validation)
        .merge(oidc::routes(state.oidc.is_some(), settings.ui_enabled))
        .merge(meta_routes())
        .layer(no_store)
        .merge(docs::routes())
        .route_layer(middleware::from_fn(label_route))
        .fallback(|| async { ApiError::RouteNotFound })
        .layer(DefaultBodyLimit::max(settings.max_body_bytes));
    api.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(TraceLayer::new_for_http().make_span_with(request_span).on_response(()).on_request(()))
            .layer(middleware::from_fn_with_state(state.clone(), record_client_address))
            .layer(middleware::from_fn(observe))
            .layer(middleware::from_fn(problem_for_bare_errors))
            .layer(cors(&settings.cors_allowed_origins))
            .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, settings.request_timeout)),
    )
    .with_state(state)
}

/// CORS is off unless origins are listed; then only those origins, no wildcard.
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter(|origin| !origin.is_empty())
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return CorsLayer::new();
    }
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT_LANGUAGE, REQUEST_ID])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .max_age(Duration::from_secs(600))
}

/// One span per request: request id, method, route. Never headers or bodies (they hold secrets).
fn request_span(request: &Request) -> tracing::Span {
    let request_id =
        request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
    tracing::info_span!(
        "request",
        request_id,
        method = %request.method(),
        path = %request.uri().path(),
        client_address = tracing::field::Empty,
    )
}

/// The route template a request matched, for metric labels (never the raw path).
#[derive(Debug, Clone)]
struct RouteLabel(String);

async fn label_route(request: Request, next: Next) -> Response {
    let label = request.extensions().get::<MatchedPath>().map(|path| RouteLabel(path.as_str().to_owned()));
    let mut response = next.run(request).await;
    if let Some(label) = label {
        response.extensions_mut().insert(label);
    }
    response
}

/// Puts the client address (trusted proxies applied) on the request span, so every log line
/// of the request, audit lines included, says where it came from.
async fn record_client_address(
    axum::extract::State(_state): axum::extract::State<AppState>,
    address: extract::ClientAddress,
    request: Request,
    next: Next,
) -> Response {
    if let Some(address) = address.0 {
        tracing::Span::current().record("client_address", tracing::field::display(address));
    }
    next.run(request).await
}

/// Access log line and request metrics; logs internal causes of 5xx answers once, here.
async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let response = next.run(request).await;
    let route = response.extensions().get::<RouteLabel>().map_or("unmatched", |label| label.0.as_str()).to_owned();
    let latency = started.elapsed();
    let status = response.status().as_u16();
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(status, cause = %cause, "request failed on a dependency");
    }
    tracing::info!(status, latency_ms = latency.as_secs_f64() * 1000.0, "request served");
    let labels = [("method", method.to_owned()), ("route", route), ("status", status.to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(latency.as_secs_f64());
    response
}

/// The method as a metric label. Clients choose the method freely (`XAUDIT0`, `XAUDIT1`, ...)
/// and every label value is a series kept for the life of the process, so anything outside
/// the standard set shares one label.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Answers that axum or tower build themselves (405, 413, timeouts) get our problem format too.
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    // Problem JSON already, or a page that shows its own message (the hosted pages).
    let is_answered = response.headers().get(header::CONTENT_TYPE).is_some_and(|value| {
        value.as_bytes().starts_with(b"application/problem+json") || value.as_bytes().starts_with(b"text/html")
    });
    let is_oauth_error = response.extensions().get::<error::OAuthErrorBody>().is_some();
    if !(status.is_client_error() || status.is_server_error()) || is_answered || is_oauth_error {
        return response;
    }
    let replacement = match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed.into_response(),
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge.into_response(),
        StatusCode::NOT_FOUND => ApiError::RouteNotFound.into_response(),
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => {
            ApiError::Timeout.into_response()
        }
        status if status.is_server_error() => problem_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "The service is temporarily unavailable.".into(),
            None,
        ),
        status => problem_response(status, "malformed_request", "The request could not be processed.".into(), None),
    };
    let (mut parts, _) = response.into_parts();
    let (replacement_parts, body) = replacement.into_parts();
    parts.status = replacement_parts.status;
    for (name, value) in &replacement_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, body)
}
