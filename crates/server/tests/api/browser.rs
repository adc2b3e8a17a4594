//! The hosted pages (/ui/) in a real browser: headless Chromium, driven by the scenarios of
//! tests/browser/ (playwright-core), against an instance on `http://localhost:<port>` (a
//! domain, so passkeys work) whose mail reaches a real SMTP receiver behind a "mailbox" the
//! scenarios read. A scenario keeps one browser context from its first step to its last.
//! Screenshots of every step stay in `target/browser-screenshots/<scenario>/`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use auth_service::Settings;
use auth_service::config::Secret;
use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use reqwest::StatusCode;
use serde::Deserialize;

use crate::gateway::{nginx_binary, shipped_config, start_nginx, start_upstream};
use crate::helpers::{Backend, TestApp, backends_required, free_port};
use crate::smtp::{SmtpReceiver, readable};

/// How long one scenario may take; a hung page must fail the test, not stall the run.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(240);

fn browser_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

fn chromium() -> String {
    std::env::var("AUTH_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

/// Whether Chromium, Node.js and playwright-core are installed. Outside CI a missing one skips
/// the test with the reason; under CI it fails it, so a green run cannot hide skipped pages.
fn browser_available() -> bool {
    let node_runs = std::process::Command::new("node").arg("--version").output().is_ok_and(|out| out.status.success());
    let missing: Vec<String> = [
        (Path::new(&chromium()).exists(), chromium()),
        (node_runs, "node".to_owned()),
        (
            browser_directory().join("node_modules/playwright-core").exists(),
            format!("{}/node_modules/playwright-core (npm ci)", browser_directory().display()),
        ),
    ]
    .into_iter()
    .filter(|(present, _)| !present)
    .map(|(_, what)| what)
    .collect();
    if missing.is_empty() {
        return true;
    }
    let missing = missing.join(", ");
    assert!(!backends_required(), "the browser tests need {missing}; scripts/test.sh installs them");
    eprintln!("skipping browser test: {missing} missing (scripts/test.sh installs them)");
    false
}

/// An instance the browser reaches as `http://localhost:<port>`, with its mail in a mailbox.
struct World {
    app: TestApp,
    public_url: String,
    mailbox_url: String,
}

impl World {
    async fn start(customize: impl FnOnce(&mut Settings)) -> Self {
        let smtp = Arc::new(SmtpReceiver::start().await);
        let port = free_port();
        let public_url = format!("http://localhost:{port}");
        let (public, mail) = (public_url.clone(), smtp.url());
        let app = TestApp::spawn_with(Backend::Sqlite, move |settings| {
            settings.service_port = port;
            settings.public_url = Some(public.clone());
            settings.webauthn_rp_id = Some("localhost".into());
            settings.webauthn_origins = vec![public];
            settings.smtp_url = Some(Secret::new(mail));
            settings.email_from = "auth <auth@example.com>".into();
            customize(settings);
        })
        .await;
        let mailbox_url = start_mailbox(smtp).await;
        Self { app, public_url, mailbox_url }
    }

    fn port(&self) -> u16 {
        self.app.address.rsplit(':').next().and_then(|port| port.parse().ok()).unwrap()
    }

    /// Runs `node run.mjs <scenario>` in `lang` and fails with its report unless it passed.
    async fn run(&self, scenario: &str, lang: &str, extra: &[(&str, String)]) {
        let screenshots = screenshot_directory(scenario, lang);
        let started = std::time::Instant::now();
        let run = tokio::process::Command::new("node")
            .current_dir(browser_directory())
            .args(["run.mjs", scenario])
            .env("AUTH_BROWSER_BASE_URL", &self.public_url)
            .env("AUTH_BROWSER_MAILBOX_URL", &self.mailbox_url)
            .env("AUTH_BROWSER_SCREENSHOTS", &screenshots)
            .env("AUTH_BROWSER_LANG", lang)
            .env("AUTH_BROWSER_CHROMIUM", chromium())
            .envs(extra.iter().map(|(name, value)| (*name, value.as_str())))
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(SCENARIO_TIMEOUT, run)
            .await
            .unwrap_or_else(|_| panic!("browser scenario {scenario} ({lang}) took over {SCENARIO_TIMEOUT:?}"))
            .expect("node runs");
        let report = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(
            output.status.success(),
            "browser scenario {scenario} ({lang}) failed; screenshots in {}\n{report}",
            screenshots.display()
        );
        println!("{report}browser scenario {scenario} ({lang}) took {:.1?}", started.elapsed());
    }
}

/// `target/browser-screenshots/<scenario>/`, emptied of an earlier run's `*-<lang>.png`.
fn screenshot_directory(scenario: &str, lang: &str) -> PathBuf {
    // The test binary is target/<profile>/deps/api-<hash>: three levels below target/.
    let executable = std::env::current_exe().unwrap();
    let target = executable.ancestors().nth(3).unwrap();
    let directory = target.join("browser-screenshots").join(scenario);
    std::fs::create_dir_all(&directory).unwrap();
    let suffix = format!("-{lang}.png");
    for entry in std::fs::read_dir(&directory).unwrap().flatten() {
        if entry.file_name().to_string_lossy().ends_with(&suffix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    directory
}

#[derive(Deserialize)]
struct MailQuery {
    to: String,
    containing: String,
}

/// The mailbox the scenarios poll: `GET /messages?to=ADDRESS&containing=PATH` answers the
/// newest mail to ADDRESS that mentions PATH as `{"links": [...]}`, or 404 while none has come.
async fn start_mailbox(smtp: Arc<SmtpReceiver>) -> String {
    async fn messages(
        State(smtp): State<Arc<SmtpReceiver>>,
        Query(query): Query<MailQuery>,
    ) -> axum::response::Response {
        match smtp.newest_to(&query.to, &query.containing) {
            Some(message) => axum::Json(serde_json::json!({ "links": links_in(&readable(&message)) })).into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
    serve(axum::Router::new().route("/messages", get(messages)).with_state(smtp)).await
}

/// Every distinct http(s) link in a decoded mail, text and HTML parts alike.
fn links_in(text: &str) -> Vec<String> {
    let mut links: Vec<String> = Vec::new();
    for (start, _) in text.match_indices("http") {
        let rest = &text[start..];
        if !(rest.starts_with("http://") || rest.starts_with("https://")) {
            continue;
        }
        let link: String =
            rest.chars().take_while(|character| !character.is_whitespace() && !"\"'<>".contains(*character)).collect();
        let link = link.replace("&amp;", "&");
        if !links.contains(&link) {
            links.push(link);
        }
    }
    links
}

/// Another site (127.0.0.1 is not the same site as localhost) whose page `GET /post?action=URL&…`
/// posts a form with the other query fields to URL as soon as it loads, as a hostile page would.
async fn start_other_site() -> String {
    async fn post(Query(fields): Query<Vec<(String, String)>>) -> Html<String> {
        let action = fields.iter().find(|(name, _)| name == "action").map(|(_, value)| value.as_str()).unwrap_or("");
        let inputs: String = fields
            .iter()
            .filter(|(name, _)| name != "action")
            .map(|(name, value)| format!(r#"<input type="hidden" name="{}" value="{}">"#, escape(name), escape(value)))
            .collect();
        Html(format!(
            r#"<!doctype html><title>another site</title><form method="post" action="{}">{inputs}</form><script>document.forms[0].submit()</script>"#,
            escape(action)
        ))
    }
    serve(axum::Router::new().route("/post", get(post))).await
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Serves `router` on a free 127.0.0.1 port for the rest of the test; answers its base URL.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://127.0.0.1:{port}")
}

/// Runs `scenario` in `lang` in a world of its own, unless the browser is missing (a skip).
async fn scenario_in_a_fresh_world(scenario: &str, lang: &str, customize: impl FnOnce(&mut Settings)) {
    if browser_available() {
        World::start(customize).await.run(scenario, lang, &[]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_english() {
    scenario_in_a_fresh_world("tour", "en", |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_in_russian() {
    scenario_in_a_fresh_world("tour", "ru", |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_is_confirmed_from_the_mail_then_signs_in_and_out() {
    // Required verification makes a sign-in before the confirmation show that opening the
    // link alone (a GET) confirmed nothing.
    scenario_in_a_fresh_world("register", "en", |settings| settings.require_email_verification = true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_replaced_from_the_mail() {
    scenario_in_a_fresh_world("reset", "en", |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_an_alert_and_the_session_cookie_is_out_of_reach_of_scripts() {
    scenario_in_a_fresh_world("signin", "en", |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_another_session_on_the_account_page_signs_that_device_out() {
    scenario_in_a_fresh_world("sessions", "en", |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_posted_from_another_site_are_refused() {
    if browser_available() {
        let other_site = start_other_site().await;
        World::start(|_| {}).await.run("cross-site", "en", &[("AUTH_BROWSER_OTHER_ORIGIN", other_site)]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_with_apple_comes_back_by_a_cross_site_form_post() {
    if !browser_available() {
        return;
    }
    // The stand-in is on 127.0.0.1, another site than localhost: its form POST back is
    // cross-site, as Apple's is, so only a SameSite=None binding cookie goes with it.
    let apple = crate::fakes::apple::start("registered below").await;
    let key = crate::oauth_apple::key_file(&apple.team_private_pem);
    let issuer = apple.base_url.clone();
    let world = World::start(move |settings| {
        settings.apple_client_id = Some(crate::fakes::apple::CLIENT_ID.into());
        settings.apple_team_id = Some(crate::fakes::apple::TEAM_ID.into());
        settings.apple_key_id = Some(crate::fakes::apple::KEY_ID.into());
        settings.apple_private_key_path = Some(key);
        settings.apple_issuer_url = issuer;
    })
    .await;
    apple.register_redirect_uri(&format!("{}/auth/oauth/apple/callback", world.public_url));
    world.run("apple", "en", &[("AUTH_BROWSER_APPLE_URL", apple.base_url.clone())]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_nginx_portal_sends_visitors_through_sign_in_and_back_to_the_app() {
    let Some(binary) = nginx_binary() else { return };
    if !browser_available() {
        return;
    }
    // nginx connects from 127.0.0.1 and tells the service the URL the visitor asked for.
    let world = World::start(|settings| {
        settings.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        // As the recipe says: the app's host is under COOKIE_DOMAIN, so the sign-in page may
        // send the visitor back there (the app is on another port of localhost).
        settings.cookie_domain = Some("localhost".into());
    })
    .await;
    let upstream = start_upstream().await;
    let nginx = start_nginx(&binary, &shipped_config("nginx-portal.conf", world.port(), upstream)).await;
    let app_url = format!("http://localhost:{}/orders", nginx.port);
    world.run("gateway", "en", &[("AUTH_BROWSER_APP_URL", app_url)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_is_enrolled_on_the_account_page_and_asked_for_at_sign_in() {
    if browser_available() {
        // Each run makes its own account, so the two languages share one world.
        let world = World::start(|_| {}).await;
        world.run("totp", "en", &[]).await;
        world.run("totp", "ru", &[]).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passkey_added_on_the_account_page_signs_in_without_a_password() {
    scenario_in_a_fresh_world("passkey", "en", |_| {}).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_console_finds_and_deactivates_a_user_in_both_languages() {
    if !browser_available() {
        return;
    }
    let world = World::start(|_| {}).await;
    let (admin, _) = crate::admin::signed_in_admin(&world.app).await;
    for lang in ["en", "ru"] {
        world.run("admin", lang, &[("AUTH_BROWSER_ADMIN_EMAIL", admin.clone())]).await;
    }
}

#[test]
fn links_are_found_in_text_and_html_parts() {
    let mail = "Open http://localhost:1/ui/verify-email?token=abc\n<a href=\"http://localhost:1/ui/verify-email?token=abc&amp;lang=ru\">";
    assert_eq!(
        links_in(mail),
        ["http://localhost:1/ui/verify-email?token=abc", "http://localhost:1/ui/verify-email?token=abc&lang=ru"]
    );
}
