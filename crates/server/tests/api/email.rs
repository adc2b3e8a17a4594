use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, unique_email};
use crate::on_both_backends;
use crate::smtp::{SmtpReceiver, token_in};

on_both_backends!(
    a_verification_link_received_by_smtp_verifies_the_email_once,
    a_password_reset_link_sets_the_password_and_revokes_every_session,
    expired_and_wrong_purpose_email_tokens_are_refused,
    forgot_password_answers_the_same_for_unknown_emails_and_sends_nothing,
    the_email_language_follows_accept_language,
    changing_the_password_revokes_the_other_sessions,
    unverified_accounts_cannot_log_in_when_verification_is_required,
    a_failing_smtp_server_never_slows_the_request,
    deleting_the_account_needs_the_password_and_kills_its_tokens,
);

async fn app_with_mail(backend: Backend) -> (TestApp, SmtpReceiver) {
    let smtp = SmtpReceiver::start().await;
    let url = smtp.url();
    let app = TestApp::spawn_with(backend, move |settings| {
        settings.smtp_url = Some(auth_service::config::Secret::new(url));
        settings.email_from = "auth <auth@example.com>".into();
        settings.public_url = Some("https://app.example.com".into());
    })
    .await;
    (app, smtp)
}

async fn forgot(app: &TestApp, email: &str) -> reqwest::Response {
    app.post_json("/auth/password/forgot", json!({"email": email})).await
}

async fn a_verification_link_received_by_smtp_verifies_the_email_once(backend: Backend) {
    let (app, smtp) = app_with_mail(backend).await;
    let (email, tokens) = app.signed_in_user().await;

    assert_eq!(app.post_bearer("/auth/email/verify/request", &tokens.access).await.status(), StatusCode::ACCEPTED);
    let message = smtp.message_to(&email, "verify-email").await;
    assert!(message.contains("multipart/alternative") && message.contains("text/html"), "{message}");
    assert!(crate::smtp::token_in(&message).len() >= 40);
    let token = token_in(&message);

    assert_eq!(app.post_json("/auth/email/verify", json!({"token": token})).await.status(), StatusCode::NO_CONTENT);
    let me: Value = app.get_bearer("/auth/me", &tokens.access).await.json().await.unwrap();
    assert_eq!(me["email_verified"], true);
    assert_problem(
        app.post_json("/auth/email/verify", json!({"token": token})).await,
        StatusCode::BAD_REQUEST,
        "invalid_email_token",
    )
    .await;
    assert_problem(
        app.post_json("/auth/email/verify", json!({"token": "made-up"})).await,
        StatusCode::BAD_REQUEST,
        "invalid_email_token",
    )
    .await;
}

async fn a_password_reset_link_sets_the_password_and_revokes_every_session(backend: Backend) {
    let (app, smtp) = app_with_mail(backend).await;
    let (email, tokens) = app.signed_in_user().await;

    assert_eq!(forgot(&app, &email).await.status(), StatusCode::ACCEPTED);
    let message = smtp.message_to(&email, "reset-password").await;
    assert!(
        message.contains("https://app.example.com/ui/reset-password?token")
            || message.contains("reset-password?token=3D")
    );
    let token = token_in(&message);
    let reset =
        app.post_json("/auth/password/reset", json!({"token": token, "new_password": "a brand new password"})).await;

    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert_problem(app.validate(&tokens.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_problem(app.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    Tokens::from(app.login(&email, "a brand new password").await).await;
    let again =
        app.post_json("/auth/password/reset", json!({"token": token, "new_password": "yet another password"})).await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_email_token").await;
}

async fn expired_and_wrong_purpose_email_tokens_are_refused(backend: Backend) {
    let (app, smtp) = app_with_mail(backend).await;
    let (email, _) = app.signed_in_user().await;
    let verification = token_in(&smtp.message_to(&email, "verify-email").await);

    let wrong_purpose =
        app.post_json("/auth/password/reset", json!({"token": verification, "new_password": "new password 123"})).await;
    assert_problem(wrong_purpose, StatusCode::BAD_REQUEST, "invalid_email_token").await;

    forgot(&app, &email).await;
    let reset = token_in(&smtp.message_to(&email, "reset-password").await);
    expire_email_tokens(&app.settings.database_url).await;
    let expired =
        app.post_json("/auth/password/reset", json!({"token": reset, "new_password": "new password 123"})).await;
    assert_problem(expired, StatusCode::BAD_REQUEST, "invalid_email_token").await;
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::OK, "nothing changed");
}

/// Moves every email token's expiry into the past (as an hour passing would).
async fn expire_email_tokens(database_url: &str) {
    if database_url.starts_with("sqlite") {
        let pool = sqlx::SqlitePool::connect(database_url).await.unwrap();
        sqlx::query("UPDATE email_tokens SET expires_at = 0").execute(&pool).await.unwrap();
    } else {
        let pool = sqlx::PgPool::connect(database_url).await.unwrap();
        sqlx::query("UPDATE email_tokens SET expires_at = now() - interval '1 second'").execute(&pool).await.unwrap();
    }
}

async fn forgot_password_answers_the_same_for_unknown_emails_and_sends_nothing(backend: Backend) {
    let (app, smtp) = app_with_mail(backend).await;
    let (email, _) = app.signed_in_user().await;
    let unknown = unique_email();
    let mut known_times = Vec::new();
    let mut unknown_times = Vec::new();
    for _ in 0..15 {
        let started = Instant::now();
        let known_response = forgot(&app, &email).await;
        known_times.push(started.elapsed());
        let started = Instant::now();
        let unknown_response = forgot(&app, &unknown).await;
        unknown_times.push(started.elapsed());
        assert_eq!(known_response.status(), StatusCode::ACCEPTED);
        assert_eq!(unknown_response.status(), StatusCode::ACCEPTED);
        assert_eq!(known_response.bytes().await.unwrap(), unknown_response.bytes().await.unwrap());
    }
    known_times.sort();
    unknown_times.sort();
    let (known, unknown_median) = (known_times[7].as_secs_f64(), unknown_times[7].as_secs_f64());
    // Both only enqueue work; the difference is scheduling noise around a millisecond.
    assert!((known - unknown_median).abs() < 0.005 || (known - unknown_median).abs() / known.max(unknown_median) < 0.2);
    smtp.message_to(&email, "reset-password").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.count_to(&unknown), 0);
}

async fn the_email_language_follows_accept_language(backend: Backend) {
    let (app, smtp) = app_with_mail(backend).await;
    let (email, _) = app.signed_in_user().await;
    app.client
        .post(app.url("/auth/password/forgot"))
        .header("accept-language", "ru-RU,ru;q=0.9,en;q=0.5")
        .json(&json!({"email": email}))
        .send()
        .await
        .unwrap();
    let message = smtp.message_to(&email, "reset-password").await;
    let subject = message.lines().find(|line| line.starts_with("Subject:")).unwrap();
    assert!(decode_subject(subject).contains("Сброс пароля"), "{subject}");
}

/// Decodes an RFC 2047 `=?utf-8?b?...?=` subject.
fn decode_subject(line: &str) -> String {
    use base64::Engine as _;
    let mut decoded = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("?b?").or_else(|| rest.find("?B?")) {
        let word = &rest[start + 3..];
        let end = word.find("?=").unwrap_or(word.len());
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&word[..end]) {
            decoded.push_str(&String::from_utf8_lossy(&bytes));
        }
        rest = &word[end..];
    }
    decoded
}

async fn changing_the_password_revokes_the_other_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, current) = app.signed_in_user().await;
    let other = Tokens::from(app.login(&email, PASSWORD).await).await;
    let change = |current_password: &str| {
        app.client
            .post(app.url("/auth/password/change"))
            .bearer_auth(&current.access)
            .json(&json!({"current_password": current_password, "new_password": "the next password"}))
            .send()
    };

    assert_problem(change("not my password").await.unwrap(), StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(app.validate(&other.access).await.status(), StatusCode::OK, "a wrong attempt changes nothing");
    assert_eq!(change(PASSWORD).await.unwrap().status(), StatusCode::NO_CONTENT);

    assert_problem(app.validate(&other.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(app.validate(&current.access).await.status(), StatusCode::OK);
    Tokens::from(app.login(&email, "the next password").await).await;
}

async fn unverified_accounts_cannot_log_in_when_verification_is_required(backend: Backend) {
    let smtp = SmtpReceiver::start().await;
    let url = smtp.url();
    let app = TestApp::spawn_with(backend, move |settings| {
        settings.smtp_url = Some(auth_service::config::Secret::new(url));
        settings.require_email_verification = true;
    })
    .await;
    let email = unique_email();
    app.register(&email, PASSWORD).await;

    assert_problem(app.login(&email, PASSWORD).await, StatusCode::FORBIDDEN, "email_not_verified").await;
    assert_problem(app.login(&email, "wrong password").await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    // Registration sent the verification link.
    let token = token_in(&smtp.message_to(&email, "verify-email").await);
    assert_eq!(app.post_json("/auth/email/verify", json!({"token": token})).await.status(), StatusCode::NO_CONTENT);
    Tokens::from(app.login(&email, PASSWORD).await).await;
}

async fn a_failing_smtp_server_never_slows_the_request(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.smtp_url = Some(auth_service::config::Secret::new("smtp://127.0.0.1:1".to_owned()));
    })
    .await;
    let (email, tokens) = app.signed_in_user().await;
    let started = Instant::now();
    assert_eq!(forgot(&app, &email).await.status(), StatusCode::ACCEPTED);
    assert_eq!(app.post_bearer("/auth/email/verify/request", &tokens.access).await.status(), StatusCode::ACCEPTED);
    assert!(started.elapsed() < Duration::from_millis(500), "took {:?}", started.elapsed());
}

async fn deleting_the_account_needs_the_password_and_kills_its_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, tokens) = app.signed_in_user().await;
    let delete = |password: &str| {
        app.client.delete(app.url("/auth/me")).bearer_auth(&tokens.access).json(&json!({"password": password})).send()
    };

    assert_problem(delete("not my password").await.unwrap(), StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(delete(PASSWORD).await.unwrap().status(), StatusCode::NO_CONTENT);

    assert_problem(app.validate(&tokens.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_problem(app.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_problem(app.login(&email, PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    assert_eq!(app.register(&email, PASSWORD).await.status(), StatusCode::CREATED, "the email is free again");
}
