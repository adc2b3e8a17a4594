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
/// JWKS, health, metrics.
pub mod meta;
/// Refresh, logout, sessions.
pub mod sessions;
/// Handler state.
pub mod state;
/// Gateway validation.
pub mod validate;

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tower::ServiceBuilder;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use self::error::{ApiError, InternalCause, problem_response};
use self::state::AppState;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Routing and transport limits.
#[derive(Debug, Clone, Copy)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

/// The account and session routes, mounted at their canonical paths.
fn auth_routes() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(accounts::register))
        .route("/auth/login", post(accounts::login))
        .route("/auth/me", get(accounts::me).delete(accounts::delete_me))
        .route("/auth/password/forgot", post(email::forgot_password))
        .route("/auth/password/reset", post(email::reset_password))
        .route("/auth/password/change", post(email::change_password))
        .route("/auth/email/verify/request", post(email::request_verification))
        .route("/auth/email/verify", post(email::verify_email))
        .route("/admin/users", get(admin::list_users))
        .route("/admin/users/{id}", get(admin::get_user).patch(admin::update_user))
        .route("/admin/users/{id}/logout-all", post(admin::logout_user))
        .route("/auth/refresh", post(sessions::refresh))
        .route("/auth/logout", post(sessions::logout))
        .route("/auth/logout-all", post(sessions::logout_all))
        .route("/auth/sessions", get(sessions::list_sessions))
        .route("/auth/sessions/{id}", delete(sessions::revoke_session))
        .route("/auth/validate", post(validate::validate_post).get(validate::validate_get))
}

/// The same handlers under the FastAPI service's layout, so its clients work unchanged.
fn compatibility_routes() -> Router<AppState> {
    Router::new()
        .route("/auth_api/v1/users/register", post(accounts::register))
        .route("/auth_api/v1/users/me", get(accounts::me))
        .route("/auth_api/v1/auth/login", post(accounts::login))
        .route("/auth_api/v1/auth/refresh", post(sessions::refresh))
        .route("/auth_api/v1/auth/logout", post(sessions::logout))
        .route("/auth_api/v1/auth/logout-all", post(sessions::logout_all))
        .route("/auth_api/v1/auth/sessions", get(sessions::list_sessions))
}

fn meta_routes() -> Router<AppState> {
    Router::new()
        .route("/.well-known/jwks.json", get(meta::jwks))
        .route("/health/live", get(meta::live))
        .route("/health/ready", get(meta::ready))
        .route("/metrics", get(meta::metrics))
}

pub fn router(state: AppState, settings: HttpSettings) -> Router {
    let no_store = SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let api = auth_routes()
        .merge(compatibility_routes())
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
            .layer(middleware::from_fn(observe))
            .layer(middleware::from_fn(problem_for_bare_errors))
            .layer(TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, settings.request_timeout)),
    )
    .with_state(state)
}

/// One span per request: request id, method, route. Never headers or bodies (they hold secrets).
fn request_span(request: &Request) -> tracing::Span {
    let request_id =
        request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
    tracing::info_span!("request", request_id, method = %request.method(), path = %request.uri().path())
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

/// Access log line and request metrics; logs internal causes of 5xx answers once, here.
async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let response = next.run(request).await;
    let route = response.extensions().get::<RouteLabel>().map_or("unmatched", |label| label.0.as_str()).to_owned();
    let latency = started.elapsed();
    let status = response.status().as_u16();
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(status, cause = %cause, "request failed on a dependency");
    }
    tracing::info!(status, latency_ms = latency.as_secs_f64() * 1000.0, "request served");
    let labels = [("method", method.to_string()), ("route", route), ("status", status.to_string())];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels).record(latency.as_secs_f64());
    response
}

/// Answers that axum or tower build themselves (405, 413, timeouts) get our problem format too.
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/problem+json"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem {
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
