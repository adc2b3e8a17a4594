use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    health_endpoints_answer_and_readiness_names_its_checks,
    every_response_carries_a_request_id,
    unknown_routes_wrong_methods_and_large_bodies_are_problem_json,
    metrics_count_requests_by_route_and_status,
);

#[tokio::test]
async fn custom_methods_share_one_metric_label() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for index in 0..3 {
        let method = reqwest::Method::from_bytes(format!("XAUDIT{index}").as_bytes()).unwrap();
        app.client.request(method.clone(), app.url("/health/live")).send().await.unwrap();
        app.client.request(method, app.url("/no/such/route")).send().await.unwrap();
    }

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();

    // Each distinct label value is a new series kept forever: clients must not choose them.
    assert!(!metrics.contains("XAUDIT"), "{metrics}");
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    assert!(metrics.contains(r#"route="unmatched""#), "{metrics}");
}

async fn health_endpoints_answer_and_readiness_names_its_checks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_eq!(app.client.get(app.url("/health/live")).send().await.unwrap().status(), StatusCode::OK);
    let ready: Value = app.client.get(app.url("/health/ready")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["checks"]["database"], "ok");
    if backend == Backend::Postgres {
        assert_eq!(ready["checks"]["redis"], "ok");
    }
}

async fn every_response_carries_a_request_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let generated = app.client.get(app.url("/health/live")).send().await.unwrap();
    assert!(!generated.headers()["x-request-id"].is_empty());
    let echoed = app.client.get(app.url("/nope")).header("x-request-id", "trace-42").send().await.unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-42");
}

async fn unknown_routes_wrong_methods_and_large_bodies_are_problem_json(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    assert_problem(app.client.get(app.url("/no/such/route")).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found")
        .await;
    assert_problem(
        app.client.get(app.url("/auth/login")).send().await.unwrap(),
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
    let huge = json!({"email": "a@example.com", "password": "x".repeat(1024 * 1024)});
    assert_problem(app.post_json("/auth/register", huge).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        .await;
    let huge_login = json!({"email": "a@example.com", "password": "x".repeat(70 * 1024)});
    assert_problem(app.post_json("/auth/login", huge_login).await, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large")
        .await;
}

async fn metrics_count_requests_by_route_and_status(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.client.get(app.url("/health/live")).send().await.unwrap();
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
    assert!(metrics.contains("route=\"/health/live\""), "{metrics}");
    for family in ["http_request_duration_seconds", "database_pool_connections", "revocations_in_memory"] {
        assert!(metrics.contains(family), "{family} is exported");
    }
}

#[tokio::test]
async fn readiness_names_the_database_when_it_is_down() {
    let app = TestApp::spawn_with(Backend::Sqlite, |_| {}).await;
    let mut settings = app.settings.clone();
    settings.database_url = "postgres://nobody@127.0.0.1:1/none".into();
    settings.auto_migrate = false;
    let broken = TestApp::start(settings, Backend::Postgres).await;
    let response = broken.client.get(broken.url("/health/ready")).send().await.unwrap();
    let body = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(body["checks"]["database"], "unavailable");
    // Requests that need the database answer 503, never 500.
    assert_problem(
        broken.login("a@example.com", "whatever-password").await,
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
}

#[tokio::test]
async fn readiness_names_redis_when_it_is_down() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.redis_url = Some(auth_service::config::Secret::new("redis://127.0.0.1:1".to_owned()));
    })
    .await;
    let response = app.client.get(app.url("/health/ready")).send().await.unwrap();
    let body = assert_problem(response, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_eq!(body["checks"]["redis"], "unavailable");
    assert_eq!(body["checks"]["database"], "ok");
}

#[tokio::test]
async fn the_openapi_document_lists_every_endpoint_and_the_docs_render_offline() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let document: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/auth/register",
        "/auth/login",
        "/auth/me",
        "/auth/refresh",
        "/auth/logout",
        "/auth/logout-all",
        "/auth/sessions",
        "/auth/sessions/{id}",
        "/auth/validate",
        "/.well-known/jwks.json",
        "/health/live",
        "/health/ready",
        "/metrics",
    ] {
        assert!(document["paths"].get(path).is_some(), "{path} is documented");
    }
    for page in ["/docs/", "/redoc"] {
        let response = app.client.get(app.url(page)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        assert!(response.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'self'"));
        let html = response.text().await.unwrap();
        assert!(!html.contains("https://"), "{page} references nothing outside this origin");
    }
    let script = app.client.get(app.url("/assets/redoc.standalone.js")).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(script.bytes().await.unwrap().len() > 100_000, "ReDoc is vendored");
}
