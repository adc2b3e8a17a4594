//! Social sign-in end to end: Google against a real OpenID Provider (oidc-provider, started per
//! test), VK ID and Facebook against local stand-ins of their wire protocols.

use std::process::Stdio;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::events::{Receiver, of_user, types, with_webhook};
use crate::fakes::{self, FACEBOOK_CLIENT, FACEBOOK_SECRET, Fake, FakeUser, VK_CLIENT};
use crate::helpers::free_port;
use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, claims_of, fresh_settings};
use crate::on_both_backends;

on_both_backends!(
    google_sign_in_creates_then_finds_the_same_user,
    google_links_by_email_only_when_it_is_authoritative,
    a_user_links_and_unlinks_a_provider_from_their_account,
    social_sign_up_and_linking_emit_their_events,
    denied_consent_is_provider_denied,
    bad_replayed_and_expired_states_are_invalid_state,
    an_id_token_with_another_nonce_is_refused,
    redirect_to_must_be_on_the_allow_list_and_gets_the_pair_in_the_fragment,
    google_app_flow_verifies_the_id_token,
    an_unreachable_provider_is_a_bad_gateway,
    vk_sign_in_works_and_never_links_by_email,
    vk_app_flow_refuses_what_vk_would_refuse,
    facebook_sign_in_works_and_checks_the_app,
);

/// The oidc-provider stand-in, with a signing key the test also holds.
pub(crate) struct OpenIdProvider {
    pub issuer: String,
    pub port: u16,
    pub private_pem: String,
    _process: tokio::process::Child,
}

/// The one client a stand-in registers, and the key it signs ID tokens with.
pub(crate) struct StandinClient {
    pub client_id: &'static str,
    pub client_secret: &'static str,
    /// The registered `token_endpoint_auth_method`; oidc-provider refuses any other.
    pub auth_method: &'static str,
    pub algorithm: Algorithm,
    pub kid: &'static str,
    /// Start on this port (a restart with a rotated key keeps the issuer).
    pub port: Option<u16>,
}

impl StandinClient {
    /// Google's registration: the secret in the body, RS256.
    pub(crate) fn google() -> Self {
        Self {
            client_id: "google-client",
            client_secret: "google-secret",
            auth_method: "client_secret_post",
            algorithm: Algorithm::RS256,
            kid: "standin-key",
            port: None,
        }
    }
}

fn standin_directory() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-standin")
}

async fn start_openid_provider(redirect_uri: &str) -> OpenIdProvider {
    start_openid_provider_for(redirect_uri, &StandinClient::google()).await
}

pub(crate) async fn start_openid_provider_for(redirect_uri: &str, client: &StandinClient) -> OpenIdProvider {
    let directory = standin_directory();
    assert!(
        directory.join("node_modules/oidc-provider").exists(),
        "run `npm ci` in {} (scripts/test.sh does) so the OpenID Provider stand-in can start",
        directory.display()
    );
    let pair = auth_core::sessions::keys::generate_key_pair(client.algorithm).unwrap();
    let key_path = std::env::temp_dir().join(format!("standin-{}.pem", uuid::Uuid::new_v4().simple()));
    std::fs::write(&key_path, &pair.private_pem).unwrap();
    let port = client.port.unwrap_or_else(free_port);
    let mut process = tokio::process::Command::new("node")
        .current_dir(&directory)
        .args(["server.mjs", &port.to_string(), redirect_uri, key_path.to_str().unwrap()])
        .env("STANDIN_CLIENT_ID", client.client_id)
        .env("STANDIN_CLIENT_SECRET", client.client_secret)
        .env("STANDIN_AUTH_METHOD", client.auth_method)
        .env("STANDIN_ALG", format!("{:?}", client.algorithm))
        .env("STANDIN_KID", client.kid)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("ready") {
                return true;
            }
        }
        false
    })
    .await;
    assert!(matches!(ready, Ok(true)), "the OpenID Provider stand-in did not start");
    // Keep draining its output: a closed pipe would kill it on its next write.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    OpenIdProvider {
        issuer: format!("http://127.0.0.1:{port}"),
        port,
        private_pem: pair.private_pem,
        _process: process,
    }
}

impl OpenIdProvider {
    /// Stops the process and waits until its port is free.
    pub(crate) async fn stop(mut self) {
        self._process.kill().await.unwrap();
    }
}

/// An app on a known port (the providers must know its callback URL) with all three providers.
pub(crate) struct World {
    pub app: TestApp,
    pub google: OpenIdProvider,
    pub vk: Fake,
    pub facebook: Fake,
}

pub(crate) async fn world(backend: Backend, customize: impl FnOnce(&mut auth_service::Settings)) -> World {
    world_with_clock(backend, std::sync::Arc::new(auth_core::clock::SystemClock), customize).await
}

/// A world whose service reads `clock` (the providers keep the wall clock).
pub(crate) async fn world_with_clock(
    backend: Backend,
    clock: std::sync::Arc<dyn auth_core::clock::Clock>,
    customize: impl FnOnce(&mut auth_service::Settings),
) -> World {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let google = start_openid_provider(&format!("{base}/auth/oauth/google/callback")).await;
    let vk = fakes::start_vk(&format!("{base}/auth/oauth/vk/callback")).await;
    let facebook = fakes::start_facebook(&format!("{base}/auth/oauth/facebook/callback")).await;
    let mut settings = fresh_settings(backend).await;
    settings.service_port = port;
    settings.public_url = Some(base);
    settings.google_client_id = Some("google-client".into());
    settings.google_client_secret = Some(auth_service::config::Secret::new("google-secret"));
    settings.google_issuer_url = google.issuer.clone();
    settings.vk_client_id = Some(VK_CLIENT.into());
    settings.vk_id_base_url = vk.base_url.clone();
    settings.facebook_client_id = Some(FACEBOOK_CLIENT.into());
    settings.facebook_client_secret = Some(auth_service::config::Secret::new(FACEBOOK_SECRET));
    settings.facebook_graph_url = facebook.base_url.clone();
    settings.facebook_dialog_url = facebook.base_url.clone();
    settings.allowed_redirect_urls = vec!["https://app.example/signed-in".into()];
    customize(&mut settings);
    World { app: TestApp::start_with_clock(settings, clock).await, google, vk, facebook }
}

/// A browser: keeps cookies, follows no redirects by itself.
pub(crate) fn browser() -> reqwest::Client {
    reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

pub(crate) fn location(response: &reqwest::Response) -> String {
    let location = response.headers()["location"].to_str().unwrap();
    response.url().join(location).unwrap().to_string()
}

/// Follows the provider's redirects from `start` until they lead back to our callback.
pub(crate) async fn through_provider(browser: &reqwest::Client, app: &TestApp, start: String) -> String {
    let mut url = start;
    for _ in 0..10 {
        if url.starts_with(&app.address) {
            return url;
        }
        let response = browser.get(&url).send().await.unwrap();
        assert!(response.status().is_redirection(), "{url} answered {}", response.status());
        url = location(&response);
    }
    panic!("the provider never redirected back");
}

/// Runs a browser sign-in; `adjust` may edit the provider URL (as an attacker could).
pub(crate) async fn browser_sign_in_with(
    app: &TestApp,
    provider: &str,
    query: &str,
    adjust: impl FnOnce(String) -> String,
) -> reqwest::Response {
    let browser = browser();
    let start = browser.get(app.url(&format!("/auth/oauth/{provider}/authorize{query}"))).send().await.unwrap();
    assert!(start.status().is_redirection(), "authorize redirects, got {}", start.status());
    let callback = through_provider(&browser, app, adjust(location(&start))).await;
    browser.get(callback).send().await.unwrap()
}

pub(crate) async fn browser_sign_in(app: &TestApp, provider: &str, login_hint: &str) -> reqwest::Response {
    let hint = login_hint.to_owned();
    browser_sign_in_with(
        app,
        provider,
        "",
        move |url| if hint.is_empty() { url } else { format!("{url}&login_hint={hint}") },
    )
    .await
}

pub(crate) async fn me(app: &TestApp, tokens: &Tokens) -> Value {
    app.get_bearer("/auth/me", &tokens.access).await.json().await.unwrap()
}

/// Links `provider` to the account of `access` the way a browser does: the one-time URL from
/// `/link`, then the provider (`hint` is appended to the provider's URL), then the callback.
pub(crate) async fn link_in_browser(app: &TestApp, provider: &str, access: &str, hint: &str) -> reqwest::Response {
    let link = app.post_bearer(&format!("/auth/oauth/{provider}/link"), access).await;
    assert_eq!(link.status(), StatusCode::OK);
    let link: Value = link.json().await.unwrap();
    let url = link["authorization_url"].as_str().unwrap();
    assert!(url.starts_with(&app.address) && url.contains("link_ticket="), "{url}");
    let browser = browser();
    let start = browser.get(url).send().await.unwrap();
    assert!(start.status().is_redirection(), "the ticket starts the sign-in, got {}", start.status());
    let callback = through_provider(&browser, app, format!("{}{hint}", location(&start))).await;
    browser.get(callback).send().await.unwrap()
}

async fn google_sign_in_creates_then_finds_the_same_user(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    let providers: Value = app.client.get(app.url("/auth/providers")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        providers,
        json!([{"name": "facebook", "display_name": "Facebook"}, {"name": "google", "display_name": "Google"}, {"name": "vk", "display_name": "VK ID"}])
    );
    assert_problem(
        app.client.get(app.url("/auth/oauth/github/authorize")).send().await.unwrap(),
        StatusCode::NOT_FOUND,
        "unknown_provider",
    )
    .await;

    let first = Tokens::from(browser_sign_in(app, "google", "alice").await).await;
    let user = me(app, &first).await;
    assert_eq!(user["email"], "alice@gmail.com");
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["providers"], json!(["google"]));
    assert_eq!(user["full_name"], "Alice Gmail");

    let again = Tokens::from(browser_sign_in(app, "google", "alice").await).await;
    assert_eq!(me(app, &again).await["id"], user["id"]);
    // A social-only account has no password to log in with.
    assert_problem(app.login("alice@gmail.com", PASSWORD).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

async fn google_links_by_email_only_when_it_is_authoritative(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    // A password account on a Workspace address Google vouches for: linked automatically.
    let registered: Value = app.register("bob@corp.example", PASSWORD).await.json().await.unwrap();
    let squatter = Tokens::from(app.login("bob@corp.example", PASSWORD).await).await;
    let linked = Tokens::from(browser_sign_in(app, "google", "bob").await).await;
    let user = me(app, &linked).await;
    assert_eq!(user["id"], registered["id"]);
    assert_eq!(user["providers"], json!(["google"]), "the unverified password is dropped");
    assert_problem(app.validate(&squatter.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;

    // Verified, but Google is not authoritative for example.org: no link, 409.
    app.register("carol@example.org", PASSWORD).await;
    let clash =
        assert_problem(browser_sign_in(app, "google", "carol").await, StatusCode::CONFLICT, "email_taken").await;
    assert!(clash["detail"].as_str().unwrap().contains("/auth/oauth/google/link"));
    // Not verified at all: no link either.
    app.register("dave@gmail.com", PASSWORD).await;
    assert_problem(browser_sign_in(app, "google", "dave").await, StatusCode::CONFLICT, "email_taken").await;
    let carol = Tokens::from(app.login("carol@example.org", PASSWORD).await).await;
    assert_eq!(me(app, &carol).await["providers"], json!(["password"]), "nothing was linked");
}

async fn a_user_links_and_unlinks_a_provider_from_their_account(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    app.register("carol@example.org", PASSWORD).await;
    let carol = Tokens::from(app.login("carol@example.org", PASSWORD).await).await;

    Tokens::from(link_in_browser(app, "google", &carol.access, "&login_hint=carol").await).await;
    assert_eq!(me(app, &carol).await["providers"], json!(["password", "google"]));
    let via_google = Tokens::from(browser_sign_in(app, "google", "carol").await).await;
    assert_eq!(me(app, &via_google).await["id"], me(app, &carol).await["id"]);

    let unlink = |provider: &'static str, token: String| {
        app.client.delete(app.url(&format!("/auth/oauth/{provider}"))).bearer_auth(token).send()
    };
    assert_eq!(unlink("google", carol.access.clone()).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_problem(unlink("google", carol.access.clone()).await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let alice = Tokens::from(browser_sign_in(app, "google", "alice").await).await;
    assert_problem(unlink("google", alice.access.clone()).await.unwrap(), StatusCode::CONFLICT, "last_login_method")
        .await;
}

async fn social_sign_up_and_linking_emit_their_events(backend: Backend) {
    let (receiver, url) = Receiver::start().await;
    let world = world(backend, |settings| with_webhook(settings, &url)).await;
    let app = &world.app;
    app.register("carol@example.org", PASSWORD).await;
    let carol = Tokens::from(app.login("carol@example.org", PASSWORD).await).await;
    let carol_id = claims_of(&carol.access)["sub"].as_str().unwrap().to_owned();
    Tokens::from(link_in_browser(app, "google", &carol.access, "&login_hint=carol").await).await;
    let events = receiver.wait_for("the link", |accepted| of_user(accepted, &carol_id).len() >= 2).await;
    let carols = of_user(&events, &carol_id);
    assert_eq!(types(&carols), ["user.registered", "user.identity_linked"]);
    assert_eq!(carols[1]["data"], json!({"provider": "google"}));

    // A first social sign-in creates the account: registered, by the provider.
    let alice = Tokens::from(browser_sign_in(app, "google", "alice").await).await;
    let alice_id = claims_of(&alice.access)["sub"].as_str().unwrap().to_owned();
    let events = receiver.wait_for("the social sign-up", |accepted| !of_user(accepted, &alice_id).is_empty()).await;
    let alices = of_user(&events, &alice_id);
    assert_eq!(types(&alices), ["user.registered"]);
    assert_eq!(alices[0]["data"]["method"], "google");
    // Signing in again is not an event.
    Tokens::from(browser_sign_in(app, "google", "alice").await).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.accepted_for(&alice_id).len(), 1);
    assert_eq!(receiver.accepted_for(&carol_id).len(), 2);
}

async fn denied_consent_is_provider_denied(backend: Backend) {
    let world = world(backend, |_| {}).await;
    assert_problem(browser_sign_in(&world.app, "google", "deny").await, StatusCode::UNAUTHORIZED, "provider_denied")
        .await;
    world.vk.sign_in_as(FakeUser { id: "7".into(), email: None, name: "No".into(), deny: true });
    assert_problem(browser_sign_in(&world.app, "vk", "").await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    world.facebook.sign_in_as(FakeUser { id: "8".into(), email: None, name: "No".into(), deny: true });
    assert_problem(browser_sign_in(&world.app, "facebook", "").await, StatusCode::UNAUTHORIZED, "provider_denied")
        .await;
}

async fn bad_replayed_and_expired_states_are_invalid_state(backend: Backend) {
    let world = world(backend, |settings| settings.oauth_state_ttl = 1).await;
    let app = &world.app;
    let forged = app.client.get(app.url("/auth/oauth/google/callback?code=x&state=made-up")).send().await.unwrap();
    assert_problem(forged, StatusCode::BAD_REQUEST, "invalid_state").await;
    let missing = app.client.get(app.url("/auth/oauth/google/callback?code=x")).send().await.unwrap();
    assert_problem(missing, StatusCode::BAD_REQUEST, "invalid_state").await;

    let browser = browser();
    let start = browser.get(app.url("/auth/oauth/google/authorize")).send().await.unwrap();
    let callback = through_provider(&browser, app, format!("{}&login_hint=alice", location(&start))).await;
    Tokens::from(browser.get(&callback).send().await.unwrap()).await;
    assert_problem(browser.get(&callback).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_state").await;
    // A state is also bound to its provider (mix-up defence).
    let other = callback.replace("/oauth/google/", "/oauth/vk/");
    assert_problem(browser.get(&other).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_state").await;

    let start = browser.get(app.url("/auth/oauth/google/authorize")).send().await.unwrap();
    let callback = through_provider(&browser, app, format!("{}&login_hint=alice", location(&start))).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_problem(browser.get(&callback).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_state").await;
}

async fn an_id_token_with_another_nonce_is_refused(backend: Backend) {
    let world = world(backend, |_| {}).await;
    // The code is obtained for another nonce, as an injected code from another session would be.
    let response = browser_sign_in_with(&world.app, "google", "", |url| {
        let start = url.find("nonce=").unwrap() + "nonce=".len();
        let end = url[start..].find('&').map_or(url.len(), |offset| start + offset);
        format!("{}someone-elses-nonce{}&login_hint=alice", &url[..start], &url[end..])
    })
    .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "provider_denied").await;
}

async fn redirect_to_must_be_on_the_allow_list_and_gets_the_pair_in_the_fragment(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    let refused = app
        .client
        .get(app.url("/auth/oauth/google/authorize?redirect_to=https://evil.example/steal"))
        .send()
        .await
        .unwrap();
    assert_problem(refused, StatusCode::BAD_REQUEST, "invalid_redirect").await;

    let response = browser_sign_in_with(app, "google", "?redirect_to=https://app.example/signed-in", |url| {
        format!("{url}&login_hint=alice")
    })
    .await;
    assert!(response.status().is_redirection());
    let target = response.headers()["location"].to_str().unwrap().to_owned();
    let (base, fragment) = target.split_once('#').unwrap();
    assert_eq!(base, "https://app.example/signed-in");
    let fields: std::collections::HashMap<String, String> = serde_urlencoded::from_str(fragment).unwrap();
    assert_eq!(fields["token_type"], "Bearer");
    assert_eq!(fields["expires_in"], "900");
    assert_eq!(app.validate(&fields["access_token"]).await.status(), StatusCode::OK);
    Tokens::from(app.refresh(&fields["refresh_token"]).await).await;
}

fn mint_id_token(world: &World, key_pem: &str, kid: &str, claims: Value) -> String {
    mint_for(&world.google.issuer, "google-client", Algorithm::RS256, key_pem, kid, claims)
}

/// An ID token as `issuer` would sign it for `audience`; `claims` override the defaults.
pub(crate) fn mint_for(
    issuer: &str,
    audience: &str,
    algorithm: Algorithm,
    key_pem: &str,
    kid: &str,
    claims: Value,
) -> String {
    let mut full = json!({"iss": issuer, "aud": audience, "sub": "app-user", "email": "app@gmail.com",
                          "email_verified": true, "iat": chrono::Utc::now().timestamp(), "exp": chrono::Utc::now().timestamp() + 3600});
    for (name, value) in claims.as_object().unwrap() {
        full[name] = value.clone();
    }
    let header = Header { kid: Some(kid.into()), ..Header::new(algorithm) };
    let key = match algorithm {
        Algorithm::ES256 => EncodingKey::from_ec_pem(key_pem.as_bytes()).unwrap(),
        _ => EncodingKey::from_rsa_pem(key_pem.as_bytes()).unwrap(),
    };
    jsonwebtoken::encode(&header, &full, &key).unwrap()
}

async fn google_app_flow_verifies_the_id_token(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    let post = |id_token: String| app.post_json("/auth/oauth/google/token", json!({"id_token": id_token}));
    let key = world.google.private_pem.clone();

    let tokens = Tokens::from(post(mint_id_token(&world, &key, "standin-key", json!({}))).await).await;
    assert_eq!(me(app, &tokens).await["email"], "app@gmail.com");

    let now = chrono::Utc::now().timestamp();
    let expired = mint_id_token(&world, &key, "standin-key", json!({"iat": now - 7200, "exp": now - 3600}));
    assert_problem(post(expired).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let wrong_audience = mint_id_token(&world, &key, "standin-key", json!({"aud": "someone-elses-client"}));
    assert_problem(post(wrong_audience).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let wrong_issuer = mint_id_token(&world, &key, "standin-key", json!({"iss": "https://evil.example"}));
    assert_problem(post(wrong_issuer).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let stranger = auth_core::sessions::keys::generate_key_pair(Algorithm::RS256).unwrap().private_pem;
    let unknown_key = mint_id_token(&world, &stranger, "rotated-key", json!({}));
    assert_problem(post(unknown_key).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let forged_kid = mint_id_token(&world, &stranger, "standin-key", json!({}));
    assert_problem(post(forged_kid).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    assert_problem(post("not-a-jwt".into()).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
}

async fn an_unreachable_provider_is_a_bad_gateway(backend: Backend) {
    let world = world(backend, |settings| {
        settings.google_issuer_url = "http://127.0.0.1:1".into();
        settings.vk_id_base_url = "http://127.0.0.1:1".into();
    })
    .await;
    let app = &world.app;
    assert_problem(
        app.client.get(app.url("/auth/oauth/google/authorize")).send().await.unwrap(),
        StatusCode::BAD_GATEWAY,
        "provider_error",
    )
    .await;
    let vk = app
        .post_json(
            "/auth/oauth/vk/token",
            json!({"code": "c", "code_verifier": "v", "device_id": "d", "redirect_uri": "https://x"}),
        )
        .await;
    let body = assert_problem(vk, StatusCode::BAD_GATEWAY, "provider_error").await;
    assert!(!body.to_string().contains("127.0.0.1"), "the cause stays in the log");
}

async fn vk_sign_in_works_and_never_links_by_email(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    world.vk.sign_in_as(FakeUser {
        id: "5551".into(),
        email: Some("ivan@example.ru".into()),
        name: "Ivan".into(),
        deny: false,
    });
    let first = Tokens::from(browser_sign_in(app, "vk", "").await).await;
    let user = me(app, &first).await;
    // VK does not prove the mailbox: the account does not get the address (pre-hijacking).
    assert_eq!(user["email"], "vk-5551@users.invalid");
    assert_eq!(user["email_verified"], false);
    assert_eq!(user["providers"], json!(["vk"]));
    let again = Tokens::from(browser_sign_in(app, "vk", "").await).await;
    assert_eq!(me(app, &again).await["id"], user["id"]);

    app.register("olga@example.ru", PASSWORD).await;
    world.vk.sign_in_as(FakeUser {
        id: "5552".into(),
        email: Some("olga@example.ru".into()),
        name: "Olga".into(),
        deny: false,
    });
    assert_problem(browser_sign_in(app, "vk", "").await, StatusCode::CONFLICT, "email_taken").await;

    world.vk.sign_in_as(FakeUser { id: "5553".into(), email: None, name: "Anon".into(), deny: false });
    let no_email = Tokens::from(browser_sign_in(app, "vk", "").await).await;
    assert!(me(app, &no_email).await["email"].as_str().unwrap().ends_with("@users.invalid"));
}

async fn vk_app_flow_refuses_what_vk_would_refuse(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    let user = FakeUser { id: "777".into(), email: None, name: "Petr".into(), deny: false };
    let redirect_uri = "https://app.example/vk";
    let post = |code: &str, verifier: &str, device: &str, redirect: &str| {
        app.post_json(
            "/auth/oauth/vk/token",
            json!({"code": code, "code_verifier": verifier, "device_id": device, "redirect_uri": redirect}),
        )
    };

    let code = fakes::vk_app_code(
        &world.vk,
        user.clone(),
        "the-verifier-the-verifier-the-verifier-1234",
        "device-1",
        redirect_uri,
    );
    Tokens::from(post(&code, "the-verifier-the-verifier-the-verifier-1234", "device-1", redirect_uri).await).await;
    let replay = post(&code, "the-verifier-the-verifier-the-verifier-1234", "device-1", redirect_uri).await;
    assert_problem(replay, StatusCode::UNAUTHORIZED, "provider_denied").await;

    let code = fakes::vk_app_code(
        &world.vk,
        user.clone(),
        "the-verifier-the-verifier-the-verifier-1234",
        "device-1",
        redirect_uri,
    );
    assert_problem(
        post(&code, "a-wrong-verifier-a-wrong-verifier-a-wrong-v", "device-1", redirect_uri).await,
        StatusCode::UNAUTHORIZED,
        "provider_denied",
    )
    .await;
    let code = fakes::vk_app_code(
        &world.vk,
        user.clone(),
        "the-verifier-the-verifier-the-verifier-1234",
        "device-1",
        redirect_uri,
    );
    assert_problem(
        post(&code, "the-verifier-the-verifier-the-verifier-1234", "device-1", "https://evil.example/vk").await,
        StatusCode::UNAUTHORIZED,
        "provider_denied",
    )
    .await;
    let code =
        fakes::vk_app_code(&world.vk, user, "the-verifier-the-verifier-the-verifier-1234", "device-1", redirect_uri);
    assert_problem(
        post(&code, "the-verifier-the-verifier-the-verifier-1234", "device-2", redirect_uri).await,
        StatusCode::UNAUTHORIZED,
        "provider_denied",
    )
    .await;
    assert_problem(
        app.post_json("/auth/oauth/vk/token", json!({"code": "c"})).await,
        StatusCode::UNAUTHORIZED,
        "provider_denied",
    )
    .await;
}

async fn facebook_sign_in_works_and_checks_the_app(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    world.facebook.sign_in_as(FakeUser {
        id: "10001".into(),
        email: Some("fay@example.com".into()),
        name: "Fay".into(),
        deny: false,
    });
    let tokens = Tokens::from(browser_sign_in(app, "facebook", "").await).await;
    let user = me(app, &tokens).await;
    assert_eq!(user["providers"], json!(["facebook"]));
    assert_eq!(user["email"], "facebook-10001@users.invalid", "Facebook does not prove the mailbox");
    assert_eq!(user["email_verified"], false);

    let mobile =
        world.facebook.issue_token(FakeUser { id: "10001".into(), email: None, name: "Fay".into(), deny: false });
    let via_app =
        Tokens::from(app.post_json("/auth/oauth/facebook/token", json!({"access_token": mobile})).await).await;
    assert_eq!(me(app, &via_app).await["id"], user["id"]);
    let foreign = fakes::other_app_token(
        &world.facebook,
        FakeUser { id: "10002".into(), email: None, name: "X".into(), deny: false },
    );
    assert_problem(
        app.post_json("/auth/oauth/facebook/token", json!({"access_token": foreign})).await,
        StatusCode::UNAUTHORIZED,
        "provider_denied",
    )
    .await;

    // An instance configured with a wrong app secret: Facebook refuses it.
    let mut settings = fresh_settings(backend).await;
    settings.facebook_client_id = Some(FACEBOOK_CLIENT.into());
    settings.facebook_client_secret = Some(auth_service::config::Secret::new("not-the-secret"));
    settings.facebook_graph_url = world.facebook.base_url.clone();
    settings.facebook_dialog_url = world.facebook.base_url.clone();
    let misconfigured = TestApp::start(settings, backend).await;
    let token = world.facebook.issue_token(FakeUser { id: "10003".into(), email: None, name: "G".into(), deny: false });
    let refused = misconfigured.post_json("/auth/oauth/facebook/token", json!({"access_token": token})).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "provider_denied").await;
}
