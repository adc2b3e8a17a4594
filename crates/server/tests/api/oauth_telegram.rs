//! Telegram: its OpenID Connect login against the real OpenID Provider stand-in (registered as
//! Telegram registers a bot: the bot id as client id, HTTP Basic, RS256), and the Login Widget's
//! answer signed as Telegram signs it, with the bot token, posted to the app flow.

use std::collections::BTreeMap;
use std::sync::Arc;

use auth_core::clock::{Clock, FixedClock};
use auth_core::oauth::telegram_widget;
use auth_service::config::Secret;
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, Tokens, assert_problem, free_port, fresh_settings};
use crate::oauth::{OpenIdProvider, StandinClient, browser_sign_in, me, mint_for, start_openid_provider_for};
use crate::on_both_backends;

on_both_backends!(
    the_openid_login_and_the_widget_find_the_same_telegram_account,
    a_widget_answer_must_be_signed_by_our_bot_and_fresh,
    with_only_a_bot_token_telegram_is_for_apps_and_has_no_button,
);

const BOT_TOKEN: &str = "1234567890:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw";

const TELEGRAM: StandinClient = StandinClient {
    client_id: "1234567890",
    client_secret: "tg-login-secret",
    auth_method: "client_secret_basic",
    algorithm: Algorithm::RS256,
    kid: "tg-key",
    port: None,
};

struct World {
    app: TestApp,
    telegram: OpenIdProvider,
    clock: Arc<FixedClock>,
}

async fn world(backend: Backend, with_openid: bool) -> World {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let telegram = start_openid_provider_for(&format!("{base}/auth/oauth/telegram/callback"), &TELEGRAM).await;
    let mut settings = fresh_settings(backend).await;
    settings.service_port = port;
    settings.public_url = Some(base);
    settings.telegram_bot_token = Some(Secret::new(BOT_TOKEN));
    if with_openid {
        settings.telegram_client_id = Some(TELEGRAM.client_id.into());
        settings.telegram_client_secret = Some(Secret::new(TELEGRAM.client_secret));
        settings.telegram_issuer_url = telegram.issuer.clone();
    }
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let app = TestApp::start_with_clock(settings, clock.clone()).await;
    World { app, telegram, clock }
}

/// The widget's answer for `id`, signed with `bot_token` at `auth_date`.
fn widget(id: u64, auth_date: i64, bot_token: &str) -> BTreeMap<String, Value> {
    let mut data: BTreeMap<String, Value> = serde_json::from_value(json!({
        "id": id, "first_name": "Pavel", "last_name": "Durov", "username": "durov",
        "photo_url": "https://t.me/i/userpic/320/durov.jpg", "auth_date": auth_date,
    }))
    .unwrap();
    let hash = telegram_widget::sign(&data, bot_token).unwrap();
    data.insert("hash".into(), json!(hash));
    data
}

async fn post_widget(app: &TestApp, data: &BTreeMap<String, Value>) -> reqwest::Response {
    app.post_json("/auth/oauth/telegram/token", json!({ "auth_data": data })).await
}

async fn the_openid_login_and_the_widget_find_the_same_telegram_account(backend: Backend) {
    let world = world(backend, true).await;
    let app = &world.app;
    let listed: Value = app.client.get(app.url("/auth/providers")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!([{"name": "telegram", "display_name": "Telegram"}]));
    let page = app.client.get(app.url("/ui/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"id="social-telegram""#) && page.contains("Continue with Telegram"), "{page}");

    // The user id is the subject; Telegram has no email, so the account gets the placeholder.
    let browser = me(app, &Tokens::from(browser_sign_in(app, "telegram", "424242").await).await).await;
    assert_eq!(browser["email"], "telegram-424242@users.invalid");
    assert_eq!(browser["providers"], json!(["telegram"]));

    let now = world.clock.now().timestamp();
    let via_widget = Tokens::from(post_widget(app, &widget(424242, now - 5, BOT_TOKEN)).await).await;
    let widget_user = me(app, &via_widget).await;
    assert_eq!(widget_user["id"], browser["id"], "the widget's id is the same Telegram identity");
    assert_eq!(widget_user["full_name"], "424242", "the first sign-in named the account");

    // The ID token the Telegram Login library hands a front-end works in the app flow, too.
    let id_token = mint_for(
        &world.telegram.issuer,
        TELEGRAM.client_id,
        Algorithm::RS256,
        &world.telegram.private_pem,
        TELEGRAM.kid,
        json!({"sub": "opaque", "id": 424242}),
    );
    let via_id_token =
        Tokens::from(app.post_json("/auth/oauth/telegram/token", json!({"id_token": id_token})).await).await;
    assert_eq!(me(app, &via_id_token).await["id"], browser["id"], "an `id` claim wins over `sub`");
}

async fn a_widget_answer_must_be_signed_by_our_bot_and_fresh(backend: Backend) {
    let world = world(backend, true).await;
    let app = &world.app;
    let now = world.clock.now().timestamp();
    let good = widget(777, now, BOT_TOKEN);

    let mut tampered = good.clone();
    tampered.insert("id".into(), json!(778));
    assert_problem(post_widget(app, &tampered).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let other_bot = widget(777, now, "987654321:another-bots-token");
    assert_problem(post_widget(app, &other_bot).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let mut unsigned = good.clone();
    unsigned.remove("hash");
    assert_problem(post_widget(app, &unsigned).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let stale = widget(777, now - telegram_widget::MAX_AGE_SECONDS - 1, BOT_TOKEN);
    assert_problem(post_widget(app, &stale).await, StatusCode::UNAUTHORIZED, "provider_denied").await;

    Tokens::from(post_widget(app, &good).await).await;
    // The same answer, captured and replayed eleven minutes later, is refused.
    world.clock.advance(chrono::Duration::minutes(11));
    assert_problem(post_widget(app, &good).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
}

async fn with_only_a_bot_token_telegram_is_for_apps_and_has_no_button(backend: Backend) {
    let world = world(backend, false).await;
    let app = &world.app;
    let listed: Value = app.client.get(app.url("/auth/providers")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!([{"name": "telegram", "display_name": "Telegram"}]));
    let page = app.client.get(app.url("/ui/login")).send().await.unwrap().text().await.unwrap();
    assert!(!page.contains(r#"id="social-telegram""#), "no button without the OpenID Connect login");
    let now = world.clock.now().timestamp();
    let user = me(app, &Tokens::from(post_widget(app, &widget(31337, now, BOT_TOKEN)).await).await).await;
    assert_eq!(user["email"], "telegram-31337@users.invalid");
    assert_eq!(user["full_name"], "Pavel Durov");
    let authorize = app.client.get(app.url("/auth/oauth/telegram/authorize")).send().await.unwrap();
    assert_problem(authorize, StatusCode::UNAUTHORIZED, "provider_denied").await;
}
