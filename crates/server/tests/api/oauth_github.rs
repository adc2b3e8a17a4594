//! GitHub sign-in against the GitHub stand-in (`fakes::github`): the OAuth app flow with PKCE,
//! addresses from `/user/emails` where only verified ones count, linking by address only when
//! `GITHUB_TRUST_EMAIL` is on, and the app flow's check that a token belongs to our app.

use auth_service::config::Secret;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fakes::github::{self, CLIENT_ID, CLIENT_SECRET, Github, GithubUser};
use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, free_port, fresh_settings};
use crate::oauth::{browser_sign_in, browser_sign_in_with, me};
use crate::on_both_backends;

on_both_backends!(
    github_sign_in_takes_only_a_verified_address,
    github_addresses_link_only_when_trusted,
    github_refuses_a_denial_a_wrong_secret_and_a_swapped_pkce_challenge,
    the_github_app_flow_takes_only_tokens_of_our_app,
);

struct World {
    app: TestApp,
    github: Github,
}

async fn world(backend: Backend, customize: impl FnOnce(&mut auth_service::Settings)) -> World {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let github = github::start(&format!("{base}/auth/oauth/github/callback")).await;
    let mut settings = fresh_settings(backend).await;
    settings.service_port = port;
    settings.public_url = Some(base);
    settings.github_client_id = Some(CLIENT_ID.into());
    settings.github_client_secret = Some(Secret::new(CLIENT_SECRET));
    settings.github_base_url = github.base_url.clone();
    settings.github_api_url = github.base_url.clone();
    customize(&mut settings);
    World { app: TestApp::start(settings, backend).await, github }
}

fn user(id: u64, emails: &[(&str, bool, bool)]) -> GithubUser {
    GithubUser {
        id,
        login: format!("user{id}"),
        name: Some(format!("User {id}")),
        emails: emails.iter().map(|(email, primary, verified)| ((*email).into(), *primary, *verified)).collect(),
        deny: false,
    }
}

async fn github_sign_in_takes_only_a_verified_address(backend: Backend) {
    let world = world(backend, |settings| settings.github_trust_email = true).await;
    let app = &world.app;
    let listed: Value = app.client.get(app.url("/auth/providers")).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed, json!([{"name": "github", "display_name": "GitHub"}]));
    let page = app.client.get(app.url("/ui/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"id="social-github""#) && page.contains("Continue with GitHub"), "{page}");

    // The primary address is unverified: the verified secondary one is the account's.
    world.github.sign_in_as(user(101, &[("ann@work.example", true, false), ("ann@home.example", false, true)]));
    let ann = Tokens::from(browser_sign_in(app, "github", "").await).await;
    let profile = me(app, &ann).await;
    assert_eq!(profile["email"], "ann@home.example");
    assert_eq!(profile["providers"], json!(["github"]));
    assert_eq!(profile["full_name"], "User 101");
    let again = Tokens::from(browser_sign_in(app, "github", "").await).await;
    assert_eq!(me(app, &again).await["id"], profile["id"], "the same GitHub id is the same account");

    // An account's address that GitHub holds unverified neither links nor clashes.
    let registered: Value = app.register("bob@example.com", PASSWORD).await.json().await.unwrap();
    world.github.sign_in_as(user(102, &[("bob@example.com", true, false)]));
    let bob = me(app, &Tokens::from(browser_sign_in(app, "github", "").await).await).await;
    assert_ne!(bob["id"], registered["id"]);
    assert_eq!(bob["email"], "github-102@users.invalid");

    // A verified address links to the account that has it (the provider is trusted here).
    let registered: Value = app.register("cyd@example.com", PASSWORD).await.json().await.unwrap();
    world.github.sign_in_as(user(103, &[("cyd@example.com", true, true)]));
    let cyd = me(app, &Tokens::from(browser_sign_in(app, "github", "").await).await).await;
    assert_eq!(cyd["id"], registered["id"]);
}

async fn github_addresses_link_only_when_trusted(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    app.register("dee@example.com", PASSWORD).await;
    world.github.sign_in_as(user(201, &[("dee@example.com", true, true)]));
    let clash = assert_problem(browser_sign_in(app, "github", "").await, StatusCode::CONFLICT, "email_taken").await;
    assert!(clash["detail"].as_str().unwrap().contains("/auth/oauth/github/link"), "{clash}");
    // A new account does not take an address GitHub vouches for without the operator's trust.
    world.github.sign_in_as(user(202, &[("eve@example.com", true, true)]));
    let eve = me(app, &Tokens::from(browser_sign_in(app, "github", "").await).await).await;
    assert_eq!(eve["email"], "github-202@users.invalid");
}

async fn github_refuses_a_denial_a_wrong_secret_and_a_swapped_pkce_challenge(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    world.github.sign_in_as(GithubUser { deny: true, ..user(301, &[]) });
    assert_problem(browser_sign_in(app, "github", "").await, StatusCode::UNAUTHORIZED, "provider_denied").await;

    // An attacker's challenge in place of ours: GitHub refuses our verifier at the exchange,
    // which it reports as HTTP 200 with `error`.
    world.github.sign_in_as(user(302, &[]));
    let swapped = browser_sign_in_with(app, "github", "", |url| {
        let url = url::Url::parse(&url).unwrap();
        let mut swapped = url.clone();
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        let mut query = swapped.query_pairs_mut();
        query.clear();
        for (name, value) in pairs {
            let value =
                if name == "code_challenge" { "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into() } else { value };
            query.append_pair(&name, &value);
        }
        drop(query);
        swapped.to_string()
    })
    .await;
    assert_problem(swapped, StatusCode::UNAUTHORIZED, "provider_denied").await;

    let mut settings = fresh_settings(backend).await;
    let port = free_port();
    settings.service_port = port;
    settings.public_url = Some(format!("http://127.0.0.1:{port}"));
    settings.github_client_id = Some(CLIENT_ID.into());
    settings.github_client_secret = Some(Secret::new("not-the-secret"));
    settings.github_base_url = world.github.base_url.clone();
    settings.github_api_url = world.github.base_url.clone();
    let misconfigured = TestApp::start(settings, backend).await;
    let token = world.github.issue_token(user(303, &[]), CLIENT_ID);
    let refused = misconfigured.post_json("/auth/oauth/github/token", json!({"access_token": token})).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "provider_denied").await;
}

async fn the_github_app_flow_takes_only_tokens_of_our_app(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    world.github.sign_in_as(user(401, &[("fay@example.com", true, true)]));
    let browser = me(app, &Tokens::from(browser_sign_in(app, "github", "").await).await).await;

    let token = world.github.issue_token(user(401, &[("fay@example.com", true, true)]), CLIENT_ID);
    let pair = Tokens::from(app.post_json("/auth/oauth/github/token", json!({"access_token": token})).await).await;
    assert_eq!(me(app, &pair).await["id"], browser["id"], "the app flow finds the same account");

    // Any GitHub token reads `/user`; only one issued to our app signs in.
    let foreign = world.github.issue_token(user(402, &[]), "Iv1.another-app");
    let refused = app.post_json("/auth/oauth/github/token", json!({"access_token": foreign})).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let unknown = app.post_json("/auth/oauth/github/token", json!({"access_token": "gho_made_up"})).await;
    assert_problem(unknown, StatusCode::UNAUTHORIZED, "provider_denied").await;
}
