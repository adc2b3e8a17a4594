//! Keys, health and metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::problem_response;
use super::state::AppState;

const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// The public keys tokens are signed with: the access-token keys (none for HS256) and the
/// OpenID provider's ID-token key.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "keys",
    responses((status = 200, description = "JWK set", content_type = "application/json")))]
pub async fn jwks(State(state): State<AppState>) -> Response {
    let mut keys = state.sessions.access_tokens().keys().jwks();
    if let Some(oidc) = &state.oidc {
        for key in oidc.tokens().id_keys().jwks().keys {
            if !keys.keys.iter().any(|known| known.common.key_id == key.common.key_id) {
                keys.keys.push(key);
            }
        }
    }
    let mut response = Json(keys).into_response();
    // Gateways may cache keys briefly; rotation keeps the old key published for a token lifetime.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}

/// 200 while the process serves.
#[utoipa::path(get, path = "/health/live", tag = "health", responses((status = 200)))]
pub async fn live() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// 200 when the database (and Redis, if configured) answer and the revocation log has been
/// loaded; else 503 naming what is missing.
#[utoipa::path(get, path = "/health/ready", tag = "health", responses((status = 200), (status = 503)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    let database = tokio::time::timeout(READINESS_TIMEOUT, state.store.ping()).await;
    let database_ok = matches!(database, Ok(Ok(())));
    let redis_ok = match &state.redis {
        None => None,
        Some(redis) => Some(matches!(tokio::time::timeout(READINESS_TIMEOUT, redis.ping()).await, Ok(Ok(())))),
    };
    // Without the log an instance cannot tell a revoked token from a live one (it refuses to
    // validate), so a load balancer must not send it traffic yet.
    let revocations_loaded = state.sessions.revocations().is_loaded();
    let status = |ok: bool| if ok { "ok" } else { "unavailable" };
    let mut checks = json!({"database": status(database_ok)});
    if let Some(redis_ok) = redis_ok {
        checks["redis"] = json!(status(redis_ok));
    }
    checks["revocations"] = json!(if revocations_loaded { "ok" } else { "loading" });
    if database_ok && redis_ok.unwrap_or(true) && revocations_loaded {
        return Json(json!({"status": "ready", "checks": checks})).into_response();
    }
    let failed: Vec<&str> = [(!database_ok).then_some("database"), (redis_ok == Some(false)).then_some("redis")]
        .into_iter()
        .flatten()
        .collect();
    let detail = match (failed.is_empty(), revocations_loaded) {
        (false, true) => format!("{} unavailable", failed.join(" and ")),
        (false, false) => format!("{} unavailable; revocation log not loaded yet", failed.join(" and ")),
        (true, _) => "revocation log not loaded yet".to_owned(),
    };
    let mut response = problem_response(StatusCode::SERVICE_UNAVAILABLE, "unavailable", detail.clone(), None);
    let body = json!({
        "type": "urn:auth-service:problem:unavailable",
        "title": "Service Unavailable",
        "status": 503,
        "detail": detail,
        "code": "unavailable",
        "checks": checks,
    });
    *response.body_mut() = axum::body::Body::from(body.to_string());
    response
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let (open, idle) = state.store.pool_state();
    metrics::gauge!("database_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("database_pool_connections", "state" => "in_use")
        .set(f64::from(open).max(idle as f64) - idle as f64);
    metrics::gauge!("revocations_in_memory").set(state.sessions.revocations().len() as f64);
    if let Some(redis) = &state.redis {
        metrics::gauge!("redis_revocation_subscription_up").set(if redis.is_subscribed() { 1.0 } else { 0.0 });
    }
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"))], state.metrics.render())
        .into_response()
}
