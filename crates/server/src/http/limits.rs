//! Per-client rate limiting of the public auth endpoints, shared by every instance through
//! Redis when it is configured.

use auth_core::ports::RateDecision;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::extract::ClientAddress;
use super::state::AppState;
use auth_core::DomainError;

/// Spends one unit of the client's budget, or answers 429 `rate_limited`.
pub async fn limit_per_client(
    State(state): State<AppState>,
    address: ClientAddress,
    request: Request,
    next: Next,
) -> Response {
    let Some(decision) = spend_client_budget(&state, address).await else {
        return next.run(request).await;
    };
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        ApiError::from(DomainError::RateLimited { retry_after_seconds: seconds(decision.retry_after) }).into_response()
    };
    add_rate_limit_headers(response.headers_mut(), &decision);
    response
}

/// Spends one unit of the client's budget; `None` when per-client limits are off. The JSON API
/// and the hosted pages' forms share the budget.
pub async fn spend_client_budget(state: &AppState, address: ClientAddress) -> Option<RateDecision> {
    let quota = state.client_quota?;
    let client = address.0.map_or_else(|| "unknown".to_owned(), |address| address.to_string());
    let decision = state.limiter.check(&format!("client:{client}"), quota).await;
    if !decision.allowed {
        metrics::counter!("rate_limited_requests_total").increment(1);
    }
    Some(decision)
}

pub fn seconds(duration: std::time::Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

/// `RateLimit-*` headers (IETF draft "RateLimit header fields for HTTP").
pub fn add_rate_limit_headers(headers: &mut HeaderMap, decision: &RateDecision) {
    let values = [
        ("ratelimit-limit", decision.limit.to_string()),
        ("ratelimit-remaining", decision.remaining.to_string()),
        ("ratelimit-reset", seconds(decision.reset_after).to_string()),
    ];
    for (name, value) in values {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}
