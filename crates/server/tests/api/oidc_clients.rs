//! The OpenID provider proven with relying-party libraries others certified or rely on:
//! openid-client (Node.js, OpenID Certified) and Authlib (Python). Each library does discovery,
//! checks the authorization response, redeems the code with PKCE and validates the ID token
//! itself; the scripts in `tests/oidc-clients` sign the person in on the hosted pages (with
//! and without a second factor), then use userinfo, refresh, introspection, revocation, logout
//! and `client_credentials`. Both backends.

use std::path::{Path, PathBuf};

use auth_core::mfa::TotpSecret;
use auth_core::mfa::totp::code_at;
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, backends_required, free_port, unique_email};
use crate::oidc::{REDIRECT, register_client};
use crate::on_both_backends;

on_both_backends!(openid_client_completes_every_flow, authlib_completes_every_flow);

const POST_LOGOUT: &str = "https://app.example.com/signed-out";

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc-clients")
}

/// What the scripts need to know: the provider, its clients and two people.
struct World {
    app: TestApp,
    env: Vec<(String, String)>,
}

async fn world(backend: Backend) -> World {
    let port = free_port();
    let app = TestApp::spawn_with(backend, move |settings| {
        settings.service_port = port;
        settings.public_url = Some(format!("http://127.0.0.1:{port}"));
    })
    .await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let web = register_client(
        &app,
        &admin.access,
        json!({"name": "Wiki", "type": "confidential", "redirect_uris": [REDIRECT], "post_logout_redirect_uris": [POST_LOGOUT],
               "grant_types": ["authorization_code", "refresh_token"], "scopes": ["openid", "email", "profile"], "first_party": true}),
    )
    .await;
    let service = register_client(
        &app,
        &admin.access,
        json!({"name": "Billing", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["orders:read"]}),
    )
    .await;
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
    let (mfa_email, secret) = person_with_totp(&app).await;
    let text = |value: &Value| value.as_str().unwrap().to_owned();
    let env = vec![
        ("ISSUER".into(), app.address.clone()),
        ("CLIENT_ID".into(), text(&web["client_id"])),
        ("CLIENT_SECRET".into(), text(&web["client_secret"])),
        ("SERVICE_ID".into(), text(&service["client_id"])),
        ("SERVICE_SECRET".into(), text(&service["client_secret"])),
        ("REDIRECT_URI".into(), REDIRECT.into()),
        ("POST_LOGOUT_URI".into(), POST_LOGOUT.into()),
        ("EMAIL".into(), email),
        ("PASSWORD".into(), PASSWORD.into()),
        ("MFA_EMAIL".into(), mfa_email),
        ("MFA_TOTP_SECRET".into(), secret),
    ];
    World { app, env }
}

/// An account with a confirmed TOTP factor. It is confirmed with the previous step's code (one
/// step of drift is accepted), so the script's code of the current step is still unspent.
async fn person_with_totp(app: &TestApp) -> (String, String) {
    let (email, tokens) = app.signed_in_user().await;
    let enrolment: Value = app.post_bearer("/auth/mfa/totp", &tokens.access).await.json().await.unwrap();
    let base32 = enrolment["secret"].as_str().unwrap().to_owned();
    let secret = TotpSecret::from_base32(&base32).unwrap();
    let code = code_at(&secret, Utc::now() - Duration::seconds(30)).unwrap();
    let confirmed = app
        .client
        .post(app.url("/auth/mfa/totp/confirm"))
        .bearer_auth(&tokens.access)
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(confirmed.status(), StatusCode::OK);
    (email, base32)
}

/// Runs a script and returns its findings; fails with its output unless it succeeded.
async fn run(program: &str, script: &str, world: &World) -> Value {
    let output = tokio::process::Command::new(program)
        .arg(scripts().join(script))
        .current_dir(scripts())
        .envs(world.env.iter().map(|(name, value)| (name.as_str(), value.as_str())))
        .output()
        .await
        .expect("the script runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("one JSON line of findings")
}

fn available(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(!backends_required(), "{what} is missing; scripts/test.sh installs it");
    eprintln!("skipping: {what} missing (scripts/test.sh installs it)");
    false
}

async fn openid_client_completes_every_flow(backend: Backend) {
    if !available(
        "tests/oidc-clients/node_modules/openid-client",
        scripts().join("node_modules/openid-client").exists(),
    ) {
        return;
    }
    let world = world(backend).await;
    let findings = run("node", "rp.mjs", &world).await;
    assert_eq!(findings["ok"], true);
    assert_eq!(findings["issuer"], world.app.address.as_str());
    assert_eq!(findings["mfa_acr"], "aal2");
    assert_eq!(findings["client_credentials"], "orders:read");
}

async fn authlib_completes_every_flow(backend: Backend) {
    let python = std::env::var("AUTH_TEST_EXAMPLES_PYTHON").unwrap_or_default();
    let has_authlib = !python.is_empty()
        && std::process::Command::new(&python)
            .args(["-c", "import authlib, requests"])
            .status()
            .is_ok_and(|status| status.success());
    if !available("Authlib in AUTH_TEST_EXAMPLES_PYTHON", has_authlib) {
        return;
    }
    let world = world(backend).await;
    let findings = run(&python, "rp.py", &world).await;
    assert_eq!(findings["ok"], true);
    assert_eq!(findings["reused_code"], "invalid_grant");
    assert_eq!(findings["mfa_acr"], "aal2");
    assert_eq!(findings["logged_out"], true);
    assert_eq!(findings["client_credentials"], "orders:read");
}
