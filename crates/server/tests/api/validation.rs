use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TEST_SECRET, TestApp, assert_problem, claims_of};
use crate::{on_both_backends, on_postgres};

on_both_backends!(
    a_valid_token_answers_claims_and_user_headers,
    the_token_may_come_in_the_body,
    get_and_head_serve_forward_auth_gateways,
    a_role_requirement_above_the_token_is_forbidden,
    missing_malformed_and_forged_tokens_are_invalid,
    an_expired_token_is_token_expired,
    a_token_from_the_future_or_another_issuer_is_invalid,
    the_audience_is_checked_when_configured,
);

on_postgres!(
    a_logout_on_one_instance_is_seen_by_another_within_a_second,
    a_revocation_survives_a_redis_flush_and_a_restart,
    validation_keeps_working_while_redis_is_down,
);

async fn a_valid_token_answers_claims_and_user_headers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, tokens) = app.signed_in_user().await;
    let claims = claims_of(&tokens.access);

    let response = app.validate(&tokens.access).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-user-id"], claims["sub"].as_str().unwrap());
    assert_eq!(response.headers()["x-user-email"], email.as_str());
    assert_eq!(response.headers()["x-user-role"], "user");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"active": true, "sub": claims["sub"], "sid": claims["sid"], "email": email, "role": "user", "exp": claims["exp"],
               "aal": "aal1", "amr": ["pwd"]})
    );
}

async fn the_token_may_come_in_the_body(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;
    let response = app.post_json("/auth/validate", json!({"token": tokens.access})).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_problem(
        app.post_json("/auth/validate", json!({"token": "nope"})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
}

async fn get_and_head_serve_forward_auth_gateways(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;

    let get = app.get_bearer("/auth/validate", &tokens.access).await;
    assert_eq!(get.status(), StatusCode::OK);
    assert!(get.headers().contains_key("x-user-id"));
    let head = app.client.head(app.url("/auth/validate")).bearer_auth(&tokens.access).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.headers().contains_key("x-user-role"));
    let anonymous = app.client.head(app.url("/auth/validate")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn a_role_requirement_above_the_token_is_forbidden(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;
    assert_problem(
        app.post_bearer("/auth/validate?role=admin", &tokens.access).await,
        StatusCode::FORBIDDEN,
        "insufficient_role",
    )
    .await;
    assert_eq!(app.post_bearer("/auth/validate?role=user", &tokens.access).await.status(), StatusCode::OK);
    assert_problem(
        app.get_bearer("/auth/validate?role=admin", &tokens.access).await,
        StatusCode::FORBIDDEN,
        "insufficient_role",
    )
    .await;
}

fn sign(claims: &Value, header: Header, secret: &[u8]) -> String {
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).unwrap()
}

async fn missing_malformed_and_forged_tokens_are_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;
    let claims = claims_of(&tokens.access);
    let parts: Vec<&str> = tokens.access.split('.').collect();
    let none_header = base64url(br#"{"alg":"none","typ":"JWT"}"#);
    let mut tampered_claims = claims.clone();
    tampered_claims["role"] = json!("admin");
    let tampered = format!("{}.{}.{}", parts[0], base64url(tampered_claims.to_string().as_bytes()), parts[2]);
    let mut refresh_typed = claims.clone();
    refresh_typed["type"] = json!("refresh");

    let forged = [
        format!("{none_header}.{}.", parts[1]),
        format!("{}.{}.", parts[0], parts[1]),
        tampered,
        sign(&claims, Header::new(Algorithm::HS256), b"another-secret-that-is-long-enough-too"),
        sign(&claims, Header::new(Algorithm::HS384), TEST_SECRET.as_bytes()),
        sign(
            &claims,
            Header { kid: Some("../../etc/passwd".into()), ..Header::new(Algorithm::HS256) },
            TEST_SECRET.as_bytes(),
        ),
        sign(&refresh_typed, Header::new(Algorithm::HS256), TEST_SECRET.as_bytes()),
        "not.a.jwt".into(),
        "%%%".into(),
        "a".repeat(60 * 1024),
    ];
    for token in forged {
        let response = app.client.post(app.url("/auth/validate")).json(&json!({"token": token})).send().await.unwrap();
        assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    let anonymous = app.client.post(app.url("/auth/validate")).send().await.unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let huge_header = format!("{}.{}.{}", parts[0], "a".repeat(100 * 1024), parts[2]);
    assert_problem(app.validate(&huge_header).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    // Our own HS256 signature over the same claims passes: the cases above fail for their flaw.
    assert_eq!(
        app.validate(&sign(&claims, Header::new(Algorithm::HS256), TEST_SECRET.as_bytes())).await.status(),
        StatusCode::OK
    );
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn an_expired_token_is_token_expired(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;
    let mut claims = claims_of(&tokens.access);
    let now = chrono::Utc::now().timestamp();
    claims["iat"] = json!(now - 1000);
    claims["exp"] = json!(now - 1);
    let expired = sign(&claims, Header::new(Algorithm::HS256), TEST_SECRET.as_bytes());
    assert_problem(app.validate(&expired).await, StatusCode::UNAUTHORIZED, "token_expired").await;
}

async fn a_token_from_the_future_or_another_issuer_is_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;
    let claims = claims_of(&tokens.access);
    let now = chrono::Utc::now().timestamp();
    let variants = [("iat", json!(now + 3600)), ("nbf", json!(now + 3600)), ("iss", json!("someone-else"))];
    for (claim, value) in variants {
        let mut changed = claims.clone();
        changed[claim] = value;
        changed["exp"] = json!(now + 7200);
        let token = sign(&changed, Header::new(Algorithm::HS256), TEST_SECRET.as_bytes());
        assert_problem(app.validate(&token).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
}

async fn the_audience_is_checked_when_configured(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.jwt_audience = Some("orders-api".into())).await;
    let (_, tokens) = app.signed_in_user().await;
    let mut claims = claims_of(&tokens.access);
    assert_eq!(claims["aud"], "orders-api");
    assert_eq!(app.validate(&tokens.access).await.status(), StatusCode::OK);
    claims["aud"] = json!("billing-api");
    let wrong = sign(&claims, Header::new(Algorithm::HS256), TEST_SECRET.as_bytes());
    assert_problem(app.validate(&wrong).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

/// Polls `/auth/validate` on `app` until it stops answering 200; returns how long it took.
async fn time_until_rejected(app: &TestApp, access_token: &str, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < limit {
        if app.validate(access_token).await.status() == StatusCode::UNAUTHORIZED {
            return Some(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

async fn a_logout_on_one_instance_is_seen_by_another_within_a_second() {
    let first = TestApp::spawn(Backend::Postgres).await;
    let second = TestApp::start(first.settings.clone(), Backend::Postgres).await;
    let (_, tokens) = first.signed_in_user().await;
    assert_eq!(second.validate(&tokens.access).await.status(), StatusCode::OK);

    assert_eq!(first.post_bearer("/auth/logout", &tokens.access).await.status(), StatusCode::NO_CONTENT);

    let seen_after = time_until_rejected(&second, &tokens.access, Duration::from_secs(3)).await;
    assert!(seen_after.is_some_and(|elapsed| elapsed < Duration::from_secs(1)), "seen after {seen_after:?}");
}

async fn a_revocation_survives_a_redis_flush_and_a_restart() {
    // A Redis database of its own, so flushing it disturbs no other test.
    let redis_url = format!("{}/15", std::env::var("TEST_REDIS_URL").unwrap().trim_end_matches('/'));
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.redis_url = Some(auth_service::config::Secret::new(redis_url.clone()));
    })
    .await;
    let (email, revoked) = app.signed_in_user().await;
    let kept = crate::helpers::Tokens::from(app.login(&email, crate::helpers::PASSWORD).await).await;
    app.post_bearer("/auth/logout", &revoked.access).await;

    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("FLUSHDB").query_async(&mut connection).await.unwrap();
    let settings = app.settings.clone();
    app.stop().await;
    let restarted = TestApp::start(settings, Backend::Postgres).await;

    assert_problem(restarted.validate(&revoked.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_problem(restarted.refresh(&revoked.refresh).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(restarted.validate(&kept.access).await.status(), StatusCode::OK, "nobody else is logged out");
    crate::helpers::Tokens::from(restarted.refresh(&kept.refresh).await).await;
}

async fn validation_keeps_working_while_redis_is_down() {
    let first = TestApp::spawn_with(Backend::Postgres, |settings| {
        // Nothing listens here: Redis is "down" for this pair of instances.
        settings.redis_url = Some(auth_service::config::Secret::new("redis://127.0.0.1:1".to_owned()));
    })
    .await;
    let second = TestApp::start(first.settings.clone(), Backend::Postgres).await;
    let (_, tokens) = first.signed_in_user().await;
    assert_eq!(second.validate(&tokens.access).await.status(), StatusCode::OK);

    assert_eq!(first.post_bearer("/auth/logout", &tokens.access).await.status(), StatusCode::NO_CONTENT);

    // The database poll carries the revocation to the other instance.
    let seen_after = time_until_rejected(&second, &tokens.access, Duration::from_secs(3)).await;
    assert!(seen_after.is_some_and(|elapsed| elapsed < Duration::from_secs(1)), "seen after {seen_after:?}");
}
