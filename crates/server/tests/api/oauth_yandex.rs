//! Yandex ID sign-in against the Yandex stand-in (`fakes::yandex`): the code flow with PKCE and
//! HTTP Basic client authentication, `/info` with the `OAuth` header, addresses that link only
//! for Yandex's own mailboxes, and the app flow's check of the token's `client_id`.

use auth_service::config::Secret;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fakes::FakeUser;
use crate::fakes::yandex::{self, CLIENT_ID, CLIENT_SECRET, Yandex};
use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, free_port, fresh_settings};
use crate::oauth::{browser_sign_in, browser_sign_in_with, me};
use crate::on_both_backends;

on_both_backends!(
    yandex_sign_in_links_only_yandex_mailboxes,
    yandex_refuses_a_denial_a_wrong_secret_and_a_swapped_pkce_challenge,
    the_yandex_app_flow_takes_only_tokens_of_our_app,
);

struct World {
    app: TestApp,
    yandex: Yandex,
}

fn settings_for(settings: &mut auth_service::Settings, yandex: &Yandex, port: u16, secret: &str) {
    settings.service_port = port;
    settings.public_url = Some(format!("http://127.0.0.1:{port}"));
    settings.yandex_client_id = Some(CLIENT_ID.into());
    settings.yandex_client_secret = Some(Secret::new(secret));
    settings.yandex_oauth_url = yandex.base_url.clone();
    settings.yandex_login_url = yandex.base_url.clone();
}

async fn world(backend: Backend) -> World {
    let port = free_port();
    let yandex = yandex::start(&format!("http://127.0.0.1:{port}/auth/oauth/yandex/callback")).await;
    let mut settings = fresh_settings(backend).await;
    settings_for(&mut settings, &yandex, port, CLIENT_SECRET);
    World { app: TestApp::start(settings, backend).await, yandex }
}

fn user(id: &str, email: Option<&str>) -> FakeUser {
    FakeUser { id: id.into(), email: email.map(Into::into), name: "Ivan Petrov".into(), deny: false }
}

async fn yandex_sign_in_links_only_yandex_mailboxes(backend: Backend) {
    let world = world(backend).await;
    let app = &world.app;
    let listed: Value = app.client.get(app.url("/auth/providers")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!([{"name": "yandex", "display_name": "Yandex ID"}]));
    let page = app.client.get(app.url("/ui/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"id="social-yandex""#) && page.contains("Continue with Yandex ID"), "{page}");

    // A Yandex mailbox is Yandex's to vouch for: the account gets it, verified.
    world.yandex.sign_in_as(user("1130000000000001", Some("ivan@yandex.ru")));
    let ivan = me(app, &Tokens::from(browser_sign_in(app, "yandex", "").await).await).await;
    assert_eq!(ivan["email"], "ivan@yandex.ru");
    assert_eq!(ivan["email_verified"], true);
    assert_eq!(ivan["providers"], json!(["yandex"]));
    assert_eq!(ivan["full_name"], "Ivan Petrov");
    let again = me(app, &Tokens::from(browser_sign_in(app, "yandex", "").await).await).await;
    assert_eq!(again["id"], ivan["id"]);

    // ... and links to the password account that has it.
    let registered: Value = app.register("olga@ya.ru", PASSWORD).await.json().await.unwrap();
    world.yandex.sign_in_as(user("1130000000000002", Some("olga@ya.ru")));
    let olga = me(app, &Tokens::from(browser_sign_in(app, "yandex", "").await).await).await;
    assert_eq!(olga["id"], registered["id"]);

    // An address elsewhere is only what the user told Yandex: no link, no address.
    app.register("petr@gmail.com", PASSWORD).await;
    world.yandex.sign_in_as(user("1130000000000003", Some("petr@gmail.com")));
    assert_problem(browser_sign_in(app, "yandex", "").await, StatusCode::CONFLICT, "email_taken").await;
    world.yandex.sign_in_as(user("1130000000000004", Some("anna@mail.example")));
    let anna = me(app, &Tokens::from(browser_sign_in(app, "yandex", "").await).await).await;
    assert_eq!(anna["email"], "yandex-1130000000000004@users.invalid");
}

async fn yandex_refuses_a_denial_a_wrong_secret_and_a_swapped_pkce_challenge(backend: Backend) {
    let world = world(backend).await;
    let app = &world.app;
    world.yandex.sign_in_as(FakeUser { deny: true, ..user("1", None) });
    assert_problem(browser_sign_in(app, "yandex", "").await, StatusCode::UNAUTHORIZED, "provider_denied").await;

    world.yandex.sign_in_as(user("2", None));
    let swapped = browser_sign_in_with(app, "yandex", "", |url| {
        let challenge = url.split("code_challenge=").nth(1).unwrap().split('&').next().unwrap().to_owned();
        url.replace(&challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    })
    .await;
    assert_problem(swapped, StatusCode::UNAUTHORIZED, "provider_denied").await;

    // Yandex refuses a wrong client secret at the exchange.
    let port = free_port();
    let other = yandex::start(&format!("http://127.0.0.1:{port}/auth/oauth/yandex/callback")).await;
    let mut settings = fresh_settings(backend).await;
    settings_for(&mut settings, &other, port, "not-the-secret");
    let misconfigured = TestApp::start(settings, backend).await;
    other.sign_in_as(user("3", None));
    assert_problem(browser_sign_in(&misconfigured, "yandex", "").await, StatusCode::UNAUTHORIZED, "provider_denied")
        .await;
}

async fn the_yandex_app_flow_takes_only_tokens_of_our_app(backend: Backend) {
    let world = world(backend).await;
    let app = &world.app;
    let token = world.yandex.issue_token(user("1130000000000009", Some("ivan@yandex.ru")), CLIENT_ID);
    let pair = Tokens::from(app.post_json("/auth/oauth/yandex/token", json!({"access_token": token})).await).await;
    let ivan = me(app, &pair).await;
    assert_eq!(ivan["email"], "ivan@yandex.ru");
    world.yandex.sign_in_as(user("1130000000000009", Some("ivan@yandex.ru")));
    let browser = me(app, &Tokens::from(browser_sign_in(app, "yandex", "").await).await).await;
    assert_eq!(browser["id"], ivan["id"], "the browser finds the app flow's account");

    // A token the SDK minted for another app reads `/info` but must not sign in here.
    let foreign = world.yandex.issue_token(user("1130000000000010", None), "another-app");
    let refused = app.post_json("/auth/oauth/yandex/token", json!({"access_token": foreign})).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let unknown = app.post_json("/auth/oauth/yandex/token", json!({"access_token": "y0_made_up"})).await;
    assert_problem(unknown, StatusCode::UNAUTHORIZED, "provider_denied").await;
}
