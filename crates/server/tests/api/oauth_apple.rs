//! Sign in with Apple against the Apple stand-in (`fakes::apple`): the form-post callback and
//! its `SameSite=None` binding cookie, the ES256 client secret Apple verifies, the name that
//! arrives only on the first authorization, addresses authoritative only in Apple's domains, and
//! the iOS identity token in the app flow.

use std::sync::Arc;

use auth_core::clock::SystemClock;
use auth_service::Application;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fakes::apple::{self, Apple, AppleUser, CLIENT_ID, KEY_ID, TEAM_ID};
use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, free_port, fresh_settings};
use crate::oauth::{browser, location, me};
use crate::on_both_backends;

on_both_backends!(
    apple_signs_in_by_form_post_and_keeps_the_first_name,
    apple_refuses_a_bad_client_secret_and_a_form_from_another_browser,
    the_apple_app_flow_takes_the_ios_identity_token,
);

const IOS_BUNDLE_ID: &str = "com.example.ios";

struct World {
    app: TestApp,
    apple: Apple,
}

pub(crate) fn key_file(pem: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("auth-keys-apple-{}.p8", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, pem).unwrap();
    path
}

async fn settings_for(backend: Backend, apple: &Apple, port: u16, team_key_pem: &str) -> auth_service::Settings {
    let mut settings = fresh_settings(backend).await;
    settings.service_port = port;
    settings.public_url = Some(format!("http://127.0.0.1:{port}"));
    settings.apple_client_id = Some(CLIENT_ID.into());
    settings.apple_team_id = Some(TEAM_ID.into());
    settings.apple_key_id = Some(KEY_ID.into());
    settings.apple_private_key_path = Some(key_file(team_key_pem));
    settings.apple_extra_client_ids = vec![IOS_BUNDLE_ID.into()];
    settings.apple_issuer_url = apple.base_url.clone();
    settings
}

async fn world(backend: Backend) -> World {
    let port = free_port();
    let apple = apple::start(&format!("http://127.0.0.1:{port}/auth/oauth/apple/callback")).await;
    let settings = settings_for(backend, &apple, port, &apple.team_private_pem).await;
    World { app: TestApp::start(settings, backend).await, apple }
}

fn user(sub: &str, email: &str) -> AppleUser {
    AppleUser { sub: sub.into(), email: email.into(), first_name: "Ann".into(), last_name: "Apple".into() }
}

/// The page Apple answers with: its form's action and hidden fields.
fn form_of(page: &str) -> (String, Vec<(String, String)>) {
    let unescape =
        |value: &str| value.replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    let attribute = |tag: &str, name: &str| {
        let start = tag.find(&format!(r#"{name}=""#)).unwrap() + name.len() + 2;
        unescape(&tag[start..start + tag[start..].find('"').unwrap()])
    };
    let action = attribute(&page[page.find("<form").unwrap()..], "action");
    let fields = page.split("<input").skip(1).map(|tag| (attribute(tag, "name"), attribute(tag, "value"))).collect();
    (action, fields)
}

/// A browser signs in: authorize, Apple's page, and the form it posts back. Returns the
/// callback's answer, the binding cookie's header and the posted form (to replay).
async fn sign_in(app: &TestApp) -> (reqwest::Response, String, (String, Vec<(String, String)>)) {
    let browser = browser();
    let start = browser.get(app.url("/auth/oauth/apple/authorize")).send().await.unwrap();
    assert!(start.status().is_redirection(), "authorize redirects, got {}", start.status());
    let cookie = start.headers()["set-cookie"].to_str().unwrap().to_owned();
    let page = browser.get(location(&start)).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "Apple answers with its form-post page");
    let form = form_of(&page.text().await.unwrap());
    let answer = browser.post(&form.0).form(&form.1).send().await.unwrap();
    (answer, cookie, form)
}

async fn apple_signs_in_by_form_post_and_keeps_the_first_name(backend: Backend) {
    let world = world(backend).await;
    let app = &world.app;
    let page = app.client.get(app.url("/ui/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"id="social-apple""#) && page.contains("Continue with Apple"), "{page}");

    world.apple.sign_in_as(user("001.ann", "ann@icloud.com"));
    let (answer, cookie, form) = sign_in(app).await;
    // The cross-site form POST carries the binding only if it is SameSite=None.
    for attribute in ["SameSite=None", "Secure", "HttpOnly", "Path=/auth/oauth"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(form.1.iter().any(|(name, _)| name == "user"), "the first authorization shares the name");
    let ann = me(app, &Tokens::from(answer).await).await;
    assert_eq!(ann["email"], "ann@icloud.com", "an iCloud address is Apple's to vouch for");
    assert_eq!(ann["email_verified"], true);
    assert_eq!(ann["full_name"], "Ann Apple");
    assert_eq!(ann["providers"], json!(["apple"]));

    // The second time Apple sends no name; the account keeps the first one.
    let (again, _, form) = sign_in(app).await;
    assert!(!form.1.iter().any(|(name, _)| name == "user"));
    let again = me(app, &Tokens::from(again).await).await;
    assert_eq!((again["id"].clone(), again["full_name"].clone()), (ann["id"].clone(), json!("Ann Apple")));

    // Hide My Email: the relay address is Apple's, and unique to this app.
    world.apple.sign_in_as(user("001.relay", "x7k2@privaterelay.appleid.com"));
    let relay = me(app, &Tokens::from(sign_in(app).await.0).await).await;
    assert_eq!(relay["email"], "x7k2@privaterelay.appleid.com");

    // A verified address elsewhere is Apple's word, not the mailbox's: no link to an account.
    app.register("bob@example.org", PASSWORD).await;
    world.apple.sign_in_as(user("001.bob", "bob@example.org"));
    assert_problem(sign_in(app).await.0, StatusCode::CONFLICT, "email_taken").await;
}

async fn apple_refuses_a_bad_client_secret_and_a_form_from_another_browser(backend: Backend) {
    let world = world(backend).await;
    let app = &world.app;
    // The form, posted by another browser (no binding cookie), is refused; the state is spent.
    let victim = browser();
    let start = victim.get(app.url("/auth/oauth/apple/authorize")).send().await.unwrap();
    let page = victim.get(location(&start)).send().await.unwrap().text().await.unwrap();
    let (action, fields) = form_of(&page);
    let forged = browser().post(&action).form(&fields).send().await.unwrap();
    assert_problem(forged, StatusCode::BAD_REQUEST, "invalid_state").await;
    // The browser that started it finishes once; the same form posted again is refused.
    let user_browser = browser();
    let start = user_browser.get(app.url("/auth/oauth/apple/authorize")).send().await.unwrap();
    let page = user_browser.get(location(&start)).send().await.unwrap().text().await.unwrap();
    let (action, fields) = form_of(&page);
    Tokens::from(user_browser.post(&action).form(&fields).send().await.unwrap()).await;
    let replayed = user_browser.post(&action).form(&fields).send().await.unwrap();
    assert_problem(replayed, StatusCode::BAD_REQUEST, "invalid_state").await;

    // A client secret signed with another key, or naming another key id, is refused by Apple.
    let other_key = auth_core::sessions::keys::generate_key_pair(jsonwebtoken::Algorithm::ES256).unwrap();
    for (team_key, key_id) in [(Some(other_key.private_pem), KEY_ID), (None, "OTHERKEY12")] {
        let port = free_port();
        let apple = apple::start(&format!("http://127.0.0.1:{port}/auth/oauth/apple/callback")).await;
        let team_key = team_key.unwrap_or_else(|| apple.team_private_pem.clone());
        let mut settings = settings_for(backend, &apple, port, &team_key).await;
        settings.apple_key_id = Some(key_id.into());
        let misconfigured = TestApp::start(settings, backend).await;
        assert_problem(sign_in(&misconfigured).await.0, StatusCode::UNAUTHORIZED, "provider_denied").await;
    }

    // Configured without its key, the service does not start.
    let mut settings = settings_for(backend, &world.apple, free_port(), &world.apple.team_private_pem).await;
    settings.apple_private_key_path = None;
    let error = Application::build_with(settings, Arc::new(SystemClock)).await.err().expect("start-up refuses");
    assert!(error.to_string().contains("APPLE_PRIVATE_KEY_PATH"), "{error}");
}

async fn the_apple_app_flow_takes_the_ios_identity_token(backend: Backend) {
    let world = world(backend).await;
    let app = &world.app;
    let ios_user = user("001.ios", "ios@icloud.com");
    let token = world.apple.identity_token(&ios_user, IOS_BUNDLE_ID);
    let pair = Tokens::from(app.post_json("/auth/oauth/apple/token", json!({"id_token": token})).await).await;
    let profile: Value = me(app, &pair).await;
    assert_eq!(profile["email"], "ios@icloud.com");
    let foreign = world.apple.identity_token(&ios_user, "com.other.app");
    let refused = app.post_json("/auth/oauth/apple/token", json!({"id_token": foreign})).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "provider_denied").await;
}
