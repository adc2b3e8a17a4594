//! One test per attack that the other modules do not already cover; SECURITY.md maps every
//! defence to the test that proves it.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{Backend, PASSWORD, TEST_SECRET, TestApp, Tokens, assert_problem, claims_of, unique_email};
use crate::{on_both_backends, on_postgres};

on_both_backends!(
    the_request_past_the_minute_budget_is_rate_limited,
    validation_and_health_are_not_rate_limited,
    a_forged_forwarded_header_from_an_untrusted_peer_buys_no_budget,
    a_trusted_proxy_forwards_the_client_address,
    ten_failed_logins_cool_an_account_off_from_any_address,
    unknown_emails_cool_off_the_same_way,
    register_takes_comparable_time_for_taken_and_free_emails,
    deeply_nested_json_is_refused_without_a_server_error,
    sql_and_script_payloads_in_emails_are_inert,
    control_characters_in_the_user_agent_are_not_stored,
    cors_is_off_by_default_and_an_allow_list_when_configured,
);

#[cfg(unix)]
#[tokio::test]
async fn a_new_sqlite_database_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = TestApp::spawn(Backend::Sqlite).await;
    // A write, so that the write-ahead log and its index exist too.
    app.signed_in_user().await;

    let database = app.settings.sqlite_path().unwrap();
    // SQLite gives -wal and -shm the mode of the database file.
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", database.display());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{path} holds password and token hashes: mode {mode:o}");
    }
}

#[tokio::test]
async fn a_token_without_aud_is_refused_when_an_audience_is_configured() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| settings.jwt_audience = Some("orders-api".into())).await;
    let (_, tokens) = app.signed_in_user().await;
    assert_eq!(app.validate(&tokens.access).await.status(), StatusCode::OK, "the issued token carries aud");
    let mut claims = claims_of(&tokens.access);
    claims.as_object_mut().unwrap().remove("aud");

    // Signed with our own key: only the missing audience is wrong (RFC 8725 §3.9).
    let no_audience = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .unwrap();

    assert_problem(app.validate(&no_audience).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

on_postgres!(two_instances_sharing_redis_share_one_budget, limits_fall_back_to_the_instance_when_redis_is_down);

/// A small budget: Redis refills one request every `60 / LIMIT` seconds on its own clock, and
/// with 100 a minute (0.6 s) a loaded machine could earn one back before the budget is spent.
const LIMIT: u32 = 20;

fn limited(settings: &mut auth_service::Settings) {
    settings.rate_limit_per_minute = LIMIT;
}

async fn the_request_past_the_minute_budget_is_rate_limited(backend: Backend) {
    // A clock that stands still: on SQLite no budget refills while the hundred requests run,
    // however slow the machine (Redis counts on its own clock).
    let clock = std::sync::Arc::new(auth_core::clock::FixedClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_with_clock(backend, clock, limited).await;
    for attempt in 0..LIMIT {
        let response = app.login("nobody@example.com", "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "request {attempt}");
        if attempt == 0 {
            assert_eq!(response.headers()["ratelimit-limit"], LIMIT.to_string());
            assert_eq!(response.headers()["ratelimit-remaining"], (LIMIT - 1).to_string());
        }
    }
    let refused = app.register(&unique_email(), PASSWORD).await;
    let retry_after: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after));
    assert_eq!(refused.headers()["ratelimit-remaining"], "0");
    assert_problem(refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

async fn validation_and_health_are_not_rate_limited(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.rate_limit_per_minute = 3).await;
    let (_, tokens) = app.signed_in_user().await;
    for _ in 0..10 {
        assert_eq!(app.validate(&tokens.access).await.status(), StatusCode::OK);
        assert_eq!(app.client.get(app.url("/health/live")).send().await.unwrap().status(), StatusCode::OK);
        assert_eq!(app.get_bearer("/auth/me", &tokens.access).await.status(), StatusCode::OK);
    }
    assert_eq!(app.login("x@example.com", "whatever!").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login("x@example.com", "whatever!").await.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn login_from(app: &TestApp, forwarded_for: &str) -> reqwest::Response {
    app.client
        .post(app.url("/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"email": "nobody@example.com", "password": "wrong password"}))
        .send()
        .await
        .unwrap()
}

async fn a_forged_forwarded_header_from_an_untrusted_peer_buys_no_budget(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.rate_limit_per_minute = 2).await;
    login_from(&app, "203.0.113.1").await;
    login_from(&app, "203.0.113.2").await;
    assert_problem(login_from(&app, "203.0.113.3").await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

async fn a_trusted_proxy_forwards_the_client_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.rate_limit_per_minute = 2;
        settings.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    login_from(&app, "203.0.113.1").await;
    login_from(&app, "203.0.113.1").await;
    assert_eq!(login_from(&app, "203.0.113.1").await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(login_from(&app, "198.51.100.7, 127.0.0.5").await.status(), StatusCode::UNAUTHORIZED, "its own budget");
    let (email, _) = app.signed_in_user().await;
    let tokens = Tokens::from(
        app.client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", "192.0.2.44")
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let sessions: Vec<Value> = app.get_bearer("/auth/sessions", &tokens.access).await.json().await.unwrap();
    assert_eq!(sessions[0]["ip_address"], "192.0.2.44");
}

async fn ten_failed_logins_cool_an_account_off_from_any_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.login_failure_limit = 10;
        settings.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let (email, _) = app.signed_in_user().await;
    let (bystander, _) = app.signed_in_user().await;
    for attempt in 0..10 {
        let response = app
            .client
            .post(app.url("/auth/login"))
            .header("x-forwarded-for", format!("198.51.100.{attempt}"))
            .json(&json!({"email": email, "password": "guess {attempt}"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }

    let correct = app.login(&email.to_uppercase(), PASSWORD).await;
    assert!(correct.headers().contains_key("retry-after"));
    assert_problem(correct, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(app.login(&bystander, PASSWORD).await.status(), StatusCode::OK, "other accounts are unaffected");
}

async fn unknown_emails_cool_off_the_same_way(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.login_failure_limit = 3).await;
    let unknown = unique_email();
    for _ in 0..3 {
        assert_eq!(app.login(&unknown, "guess").await.status(), StatusCode::UNAUTHORIZED);
    }
    let known_body = {
        let (email, _) = app.signed_in_user().await;
        for _ in 0..3 {
            app.login(&email, "guess").await;
        }
        assert_problem(app.login(&email, "guess").await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await
    };
    let unknown_body =
        assert_problem(app.login(&unknown, "guess").await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(known_body, unknown_body);
}

async fn register_takes_comparable_time_for_taken_and_free_emails(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.bcrypt_cost = 11).await;
    let (taken, _) = app.signed_in_user().await;
    let mut taken_times = Vec::new();
    let mut free_times = Vec::new();
    for _ in 0..12 {
        let started = Instant::now();
        assert_eq!(app.register(&taken, PASSWORD).await.status(), StatusCode::CONFLICT);
        taken_times.push(started.elapsed());
        let started = Instant::now();
        assert_eq!(app.register(&unique_email(), PASSWORD).await.status(), StatusCode::CREATED);
        free_times.push(started.elapsed());
    }
    taken_times.sort();
    free_times.sort();
    let (taken, free) = (taken_times[6].as_secs_f64(), free_times[6].as_secs_f64());
    assert!((taken - free).abs() / taken.max(free) < 0.2, "taken {taken:.4}s, free {free:.4}s");
}

async fn deeply_nested_json_is_refused_without_a_server_error(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Unknown fields are skipped recursively; the parser's depth limit stops the descent.
    let nested = format!("{{\"email\": \"a@b.co\", \"x\": {}1{}}}", "[".repeat(5000), "]".repeat(5000));
    let response = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body(nested)
        .send()
        .await
        .unwrap();
    // JSON, but not of the request's shape: a validation failure, never a server error.
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let wrong_shape = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let response = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body(wrong_shape)
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let not_json = app
        .client
        .post(app.url("/auth/login"))
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_problem(not_json, StatusCode::BAD_REQUEST, "malformed_request").await;
}

async fn sql_and_script_payloads_in_emails_are_inert(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for payload in ["x' OR '1'='1@example.com", "<script>alert(1)</script>@example.com", "a@b.c; DROP TABLE users"] {
        assert_problem(app.register(payload, PASSWORD).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            .await;
        assert_problem(app.login(payload, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    // A valid address full of SQL punctuation is stored and matched literally.
    let tricky = format!("o'neil--{}@example.com", uuid::Uuid::new_v4().simple());
    let user: Value = app.register(&tricky, PASSWORD).await.json().await.unwrap();
    assert_eq!(user["email"], tricky);
    Tokens::from(app.login(&tricky, PASSWORD).await).await;
    assert_eq!(app.login("o'neil--%@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
}

async fn control_characters_in_the_user_agent_are_not_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, _) = app.signed_in_user().await;
    // A raw request, since HTTP clients refuse to send such a header.
    let body = json!({"email": email, "password": PASSWORD}).to_string();
    let request = format!(
        "POST /auth/login HTTP/1.1\r\nHost: localhost\r\nUser-Agent: Evil\tAgent\u{7f}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let status_line = raw.lines().next().unwrap_or_default().to_owned();
    if status_line.contains(" 200 ") {
        let json_start = raw.find('{').unwrap();
        let pair: Value =
            serde_json::from_str(raw[json_start..].trim_end_matches(|character: char| character != '}')).unwrap();
        let sessions: Vec<Value> =
            app.get_bearer("/auth/sessions", pair["access_token"].as_str().unwrap()).await.json().await.unwrap();
        let stored = sessions[0]["user_agent"].as_str().unwrap();
        assert!(!stored.chars().any(char::is_control), "{stored:?}");
        assert_eq!(stored, "EvilAgent");
    } else {
        // The HTTP parser refused the header outright: nothing was stored either.
        assert!(status_line.contains(" 400 "), "{status_line}");
    }
}

async fn cors_is_off_by_default_and_an_allow_list_when_configured(backend: Backend) {
    let closed = TestApp::spawn(backend).await;
    let response =
        closed.client.get(closed.url("/health/live")).header("origin", "https://evil.example").send().await.unwrap();
    assert!(!response.headers().contains_key("access-control-allow-origin"));

    let open =
        TestApp::spawn_with(backend, |settings| settings.cors_allowed_origins = vec!["https://app.example".into()])
            .await;
    let preflight = |origin: &'static str| {
        open.client
            .request(reqwest::Method::OPTIONS, open.url("/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
    };
    let allowed = preflight("https://app.example").await.unwrap();
    assert_eq!(allowed.headers()["access-control-allow-origin"], "https://app.example");
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(!refused.headers().contains_key("access-control-allow-origin"));
}

async fn two_instances_sharing_redis_share_one_budget() {
    // Ten a minute: Redis counts on its own clock, and one unit comes back only every 6 s, far
    // longer than ten requests take on a busy machine (with 100, one came back every 0.6 s).
    let first = TestApp::spawn_with(Backend::Postgres, |settings| settings.rate_limit_per_minute = 10).await;
    let second = TestApp::start(first.settings.clone(), Backend::Postgres).await;
    for index in 0..10 {
        let app = if index % 2 == 0 { &first } else { &second };
        assert_eq!(app.login("nobody@example.com", "wrong password").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_problem(
        second.login("nobody@example.com", "wrong password").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert_problem(
        first.login("nobody@example.com", "wrong password").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
}

async fn limits_fall_back_to_the_instance_when_redis_is_down() {
    let app = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.rate_limit_per_minute = 5;
        settings.redis_url = Some(auth_service::config::Secret::new("redis://127.0.0.1:1".to_owned()));
    })
    .await;
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(app.login("nobody@example.com", "wrong password").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_problem(
        app.login("nobody@example.com", "wrong password").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(10), "a dead Redis costs at most its timeout per call");
}

/// The in-process cool-off runs on the service's clock: moving it past the window lets the
/// account in again, without sleeping (PostgreSQL + Redis counts on Redis' clock instead).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooled_off_account_is_let_in_again_once_the_window_has_passed() {
    let clock = std::sync::Arc::new(auth_core::clock::FixedClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_with_clock(Backend::Sqlite, clock.clone(), |settings| {
        settings.login_failure_limit = 3;
        settings.login_failure_window = 900;
    })
    .await;
    let (email, _) = app.signed_in_user().await;
    for _ in 0..3 {
        assert_eq!(app.login(&email, "guess").await.status(), StatusCode::UNAUTHORIZED);
    }
    assert_problem(app.login(&email, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    clock.advance(chrono::Duration::seconds(299));
    assert_problem(app.login(&email, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // One failure's worth of budget comes back every 300 s (900 s / 3).
    clock.advance(chrono::Duration::seconds(1));
    Tokens::from(app.login(&email, PASSWORD).await).await;
}
