//! `POST /auth/email/change`: a confirmation link to the new address, a notice to the old one,
//! and the change only when the link is used; over the real SMTP receiver, on both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::events::{Receiver, of_user, with_webhook};
use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, claims_of, unique_email};
use crate::on_both_backends;
use crate::smtp::{SmtpReceiver, token_in};

on_both_backends!(
    an_email_change_takes_effect_only_when_the_new_address_confirms_it,
    an_email_change_is_refused_for_a_taken_address_a_wrong_password_or_a_bad_address,
    an_address_taken_before_the_confirmation_is_refused_then_and_changes_nothing,
);

async fn app_with_mail(backend: Backend, webhook: Option<&str>) -> (TestApp, SmtpReceiver) {
    let smtp = SmtpReceiver::start().await;
    let url = smtp.url();
    let webhook = webhook.map(str::to_owned);
    let app = TestApp::spawn_with(backend, move |settings| {
        settings.smtp_url = Some(auth_service::config::Secret::new(url));
        settings.email_from = "auth <auth@example.com>".into();
        if let Some(webhook) = webhook {
            with_webhook(settings, &webhook);
        }
    })
    .await;
    (app, smtp)
}

async fn change(app: &TestApp, tokens: &Tokens, body: Value) -> reqwest::Response {
    app.client.post(app.url("/auth/email/change")).bearer_auth(&tokens.access).json(&body).send().await.unwrap()
}

async fn me(app: &TestApp, tokens: &Tokens) -> Value {
    app.get_bearer("/auth/me", &tokens.access).await.json().await.unwrap()
}

async fn an_email_change_takes_effect_only_when_the_new_address_confirms_it(backend: Backend) {
    let (receiver, url) = Receiver::start().await;
    let (app, smtp) = app_with_mail(backend, Some(&url)).await;
    let (old, tokens) = app.signed_in_user().await;
    let user_id = claims_of(&tokens.access)["sub"].as_str().unwrap().to_owned();
    let registration_link = token_in(&smtp.message_to(&old, "verify-email").await);
    let new = unique_email();

    let asked = change(&app, &tokens, json!({"new_email": new, "password": PASSWORD})).await;
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    let notice = smtp.message_to(&old, "asked to move it").await;
    assert!(!notice.contains("token="), "the notice to the old address carries no link");
    let token = token_in(&smtp.message_to(&new, "verify-email").await);

    // Nothing changes before the new address confirms.
    assert_eq!(me(&app, &tokens).await["email"], old.as_str());
    assert_eq!(app.login(&new, PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    Tokens::from(app.login(&old, PASSWORD).await).await;

    assert_eq!(app.post_json("/auth/email/verify", json!({"token": token})).await.status(), StatusCode::NO_CONTENT);
    let account = me(&app, &tokens).await;
    assert_eq!(account["email"], new.as_str());
    assert_eq!(account["email_verified"], true, "the link proved the new mailbox");
    Tokens::from(app.login(&new, PASSWORD).await).await;
    assert_eq!(app.login(&old, PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_problem(
        app.post_json("/auth/email/verify", json!({"token": token})).await,
        StatusCode::BAD_REQUEST,
        "invalid_email_token",
    )
    .await;
    // The link sent to the old address at registration can no longer verify anything.
    assert_problem(
        app.post_json("/auth/email/verify", json!({"token": registration_link})).await,
        StatusCode::BAD_REQUEST,
        "invalid_email_token",
    )
    .await;

    let events = receiver
        .wait_for("the change", |accepted| {
            of_user(accepted, &user_id).iter().any(|event| event["type"] == "user.updated")
        })
        .await;
    let updated = of_user(&events, &user_id).into_iter().find(|event| event["type"] == "user.updated").unwrap();
    assert_eq!(updated["data"]["changed"], json!(["email"]));
    assert_eq!(updated["data"]["email"], new.as_str());
}

async fn an_email_change_is_refused_for_a_taken_address_a_wrong_password_or_a_bad_address(backend: Backend) {
    let (app, smtp) = app_with_mail(backend, None).await;
    let (old, tokens) = app.signed_in_user().await;
    let (taken, _) = app.signed_in_user().await;

    assert_problem(
        change(&app, &tokens, json!({"new_email": taken.to_uppercase(), "password": PASSWORD})).await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    assert_problem(
        change(&app, &tokens, json!({"new_email": unique_email(), "password": "not the password"})).await,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    )
    .await;
    for (body, field) in [
        (json!({"new_email": unique_email()}), "password"),
        (json!({"new_email": "not-an-email", "password": PASSWORD}), "new_email"),
        (json!({"new_email": "vk-1@users.invalid", "password": PASSWORD}), "new_email"),
        (json!({"new_email": old.clone(), "password": PASSWORD}), "new_email"),
    ] {
        let problem =
            assert_problem(change(&app, &tokens, body).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
                .await;
        assert_eq!(problem["errors"][0]["field"], field, "{problem}");
    }
    let unauthenticated = app.post_json("/auth/email/change", json!({"new_email": unique_email()})).await;
    assert_problem(unauthenticated, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_eq!(me(&app, &tokens).await["email"], old.as_str(), "nothing changed");
    // Only the registration email went out: no notice for a refused change.
    smtp.message_to(&old, "verify-email").await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(smtp.count_to(&old), 1);
}

async fn an_address_taken_before_the_confirmation_is_refused_then_and_changes_nothing(backend: Backend) {
    let (app, smtp) = app_with_mail(backend, None).await;
    let (old, tokens) = app.signed_in_user().await;
    let new = unique_email();
    assert_eq!(
        change(&app, &tokens, json!({"new_email": new, "password": PASSWORD})).await.status(),
        StatusCode::ACCEPTED
    );
    let token = token_in(&smtp.message_to(&new, "verify-email").await);
    // Someone registers the address while the link waits.
    assert_eq!(app.register(&new, PASSWORD).await.status(), StatusCode::CREATED);
    assert_problem(
        app.post_json("/auth/email/verify", json!({"token": token})).await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    assert_eq!(me(&app, &tokens).await["email"], old.as_str());
}
