use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, claims_of, unique_email};
use crate::on_both_backends;

on_both_backends!(
    registering_returns_the_user_object_without_secrets,
    emails_are_unique_case_insensitively_and_kept_as_typed,
    invalid_registrations_name_the_fields_and_change_nothing,
    a_body_that_is_not_json_is_a_malformed_request,
    login_returns_a_token_pair_with_the_contract_claims,
    login_accepts_the_oauth2_password_form,
    unknown_email_and_wrong_password_get_the_same_answer,
    unknown_email_and_wrong_password_take_comparable_time,
    me_requires_an_access_token,
    bytes_past_72_of_a_password_still_count,
    argon2id_is_selectable_and_bcrypt_hashes_are_upgraded_at_login,
    a_login_burst_does_not_stall_token_validation,
);

async fn registering_returns_the_user_object_without_secrets(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();

    let response = app
        .post_json("/auth/register", json!({"email": email, "password": PASSWORD, "full_name": "Alice Liddell"}))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], email);
    assert_eq!(user["full_name"], "Alice Liddell");
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_active"], true);
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["providers"], json!(["password"]));
    assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());
    assert!(chrono::DateTime::parse_from_rfc3339(user["created_at"].as_str().unwrap()).is_ok());
    let text = user.to_string();
    assert!(!text.contains("password_hash") && !text.contains("$2b$") && !text.contains(PASSWORD));
}

async fn emails_are_unique_case_insensitively_and_kept_as_typed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let local = uuid::Uuid::new_v4().simple().to_string();
    let typed = format!("  Alice.{local}@Example.COM ");

    let created: Value = app.register(&typed, PASSWORD).await.json().await.unwrap();
    let duplicate = app.register(&format!("alice.{local}@example.com"), PASSWORD).await;

    assert_eq!(created["email"], format!("Alice.{local}@Example.COM"));
    assert_problem(duplicate, StatusCode::CONFLICT, "email_taken").await;
    let login = app.login(&format!("ALICE.{local}@EXAMPLE.COM"), PASSWORD).await;
    assert_eq!(login.status(), StatusCode::OK);
}

async fn invalid_registrations_name_the_fields_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        (json!({"email": "not-an-email", "password": PASSWORD}), "email"),
        (json!({"email": unique_email(), "password": "short"}), "password"),
        (json!({"email": unique_email(), "password": "x".repeat(129)}), "password"),
        (json!({"password": PASSWORD}), "email"),
        (json!({"email": unique_email(), "password": 12345678}), "password"),
        (json!({"email": format!("{}@example.com", "a".repeat(10_000)), "password": PASSWORD}), "email"),
    ];
    for (body, field) in cases {
        let email = body["email"].as_str().map(str::to_owned);
        let problem = assert_problem(
            app.post_json("/auth/register", body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
        let fields: Vec<&str> =
            problem["errors"].as_array().unwrap().iter().map(|error| error["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&field), "{fields:?} should name {field}");
        if let Some(email) = email {
            assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::UNAUTHORIZED, "nothing was created");
        }
    }
    // 128 characters of a multi-byte letter is within the limit.
    assert_eq!(app.register(&unique_email(), &"é".repeat(128)).await.status(), StatusCode::CREATED);
}

async fn a_body_that_is_not_json_is_a_malformed_request(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let response = app
        .client
        .post(app.url("/auth/register"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_REQUEST, "malformed_request").await;
}

async fn login_returns_a_token_pair_with_the_contract_claims(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    let user: Value = app.register(&email, PASSWORD).await.json().await.unwrap();

    let response = app.login(&email, PASSWORD).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let pair: Value = response.json().await.unwrap();
    assert_eq!(pair["token_type"], "Bearer");
    assert_eq!(pair["expires_in"], 900);
    assert_eq!(pair["refresh_expires_in"], 2_592_000);
    let claims = claims_of(pair["access_token"].as_str().unwrap());
    assert_eq!(claims["iss"], "auth-service");
    assert_eq!(claims["sub"], user["id"]);
    assert_eq!(claims["type"], "access");
    assert_eq!(claims["email"], email);
    assert_eq!(claims["role"], "user");
    assert!(claims["sid"].is_string() && claims["jti"].is_string());
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 900);
    assert!(claims.get("aud").is_none());
    assert_ne!(pair["refresh_token"], pair["access_token"]);
}

async fn login_accepts_the_oauth2_password_form(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    let response = app
        .client
        .post(app.url("/auth/login"))
        .form(&[("username", email.as_str()), ("password", PASSWORD), ("grant_type", "password")])
        .send()
        .await
        .unwrap();

    Tokens::from(response).await;
}

async fn unknown_email_and_wrong_password_get_the_same_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    let wrong_password =
        assert_problem(app.login(&email, "wrong password!").await, StatusCode::UNAUTHORIZED, "invalid_credentials")
            .await;
    let unknown_email =
        assert_problem(app.login(&unique_email(), PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials")
            .await;

    assert_eq!(wrong_password, unknown_email);
}

async fn unknown_email_and_wrong_password_take_comparable_time(backend: Backend) {
    // A cost where hashing dominates the request, as it does in production.
    let app = TestApp::spawn_with(backend, |settings| settings.bcrypt_cost = 11).await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let mut known = Vec::new();
    let mut unknown = Vec::new();
    for round in 0..15 {
        let (first, second) = if round % 2 == 0 { (&mut known, &mut unknown) } else { (&mut unknown, &mut known) };
        let first_email = if round % 2 == 0 { email.clone() } else { unique_email() };
        let second_email = if round % 2 == 0 { unique_email() } else { email.clone() };
        first.push(timed_login(&app, &first_email).await);
        second.push(timed_login(&app, &second_email).await);
    }
    let (known, unknown) = (median(known), median(unknown));
    let gap = (known.as_secs_f64() - unknown.as_secs_f64()).abs() / known.as_secs_f64().max(unknown.as_secs_f64());
    assert!(gap < 0.2, "median login time differs by {:.0}% (known {known:?}, unknown {unknown:?})", gap * 100.0);
}

async fn timed_login(app: &TestApp, email: &str) -> Duration {
    let started = Instant::now();
    let response = app.login(email, "a wrong password").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    started.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn me_requires_an_access_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, tokens) = app.signed_in_user().await;

    let me: Value = app.get_bearer("/auth/me", &tokens.access).await.json().await.unwrap();
    assert_eq!(me["email"], email);

    assert_problem(app.get_bearer("/auth/me", &tokens.refresh).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    let anonymous = app.client.get(app.url("/auth/me")).send().await.unwrap();
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

async fn bytes_past_72_of_a_password_still_count(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();
    let prefix = "p".repeat(72);
    app.register(&email, &format!("{prefix}-the-real-ending")).await;

    assert_problem(
        app.login(&email, &format!("{prefix}-another-ending")).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    assert_eq!(app.login(&email, &format!("{prefix}-the-real-ending")).await.status(), StatusCode::OK);
}

async fn argon2id_is_selectable_and_bcrypt_hashes_are_upgraded_at_login(backend: Backend) {
    let bcrypt_app = TestApp::spawn(backend).await;
    let email = unique_email();
    bcrypt_app.register(&email, PASSWORD).await;
    let settings = bcrypt_app.settings.clone();
    bcrypt_app.stop().await;
    assert!(stored_hash(&settings.database_url, &email).await.starts_with("bcrypt-sha256$"));

    let argon_app =
        TestApp::start(auth_service::Settings { password_hash: "argon2id".into(), ..settings.clone() }, backend).await;
    assert_eq!(argon_app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    assert!(stored_hash(&settings.database_url, &email).await.starts_with("$argon2id$"));
    assert_eq!(argon_app.login(&email, PASSWORD).await.status(), StatusCode::OK);
    assert_eq!(argon_app.login(&email, "wrong password").await.status(), StatusCode::UNAUTHORIZED);

    let newcomer = unique_email();
    argon_app.register(&newcomer, PASSWORD).await;
    assert!(stored_hash(&settings.database_url, &newcomer).await.starts_with("$argon2id$"));
}

/// Reads a stored hash straight from the database (the API never shows it).
async fn stored_hash(database_url: &str, email: &str) -> String {
    let query = "SELECT password_hash FROM users WHERE email = $1";
    if database_url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
        sqlx::query_scalar(query).bind(email).fetch_one(&pool).await.unwrap()
    } else {
        let pool = sqlx::PgPool::connect(database_url).await.unwrap();
        sqlx::query_scalar(query).bind(email).fetch_one(&pool).await.unwrap()
    }
}

async fn a_login_burst_does_not_stall_token_validation(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.bcrypt_cost = 10).await;
    let (email, tokens) = app.signed_in_user().await;
    let burst: Vec<_> = (0..16)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/auth/login");
            let email = email.clone();
            tokio::spawn(
                async move { client.post(url).json(&json!({"email": email, "password": PASSWORD})).send().await },
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        assert_eq!(app.validate(&tokens.access).await.status(), StatusCode::OK);
        slowest = slowest.max(started.elapsed());
    }

    assert!(slowest < Duration::from_millis(250), "validation took {slowest:?} during a login burst");
    for login in burst {
        assert_eq!(login.await.unwrap().unwrap().status(), StatusCode::OK);
    }
}
