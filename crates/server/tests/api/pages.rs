//! The hosted pages through HTTP: sign-in that sets only HttpOnly cookies and opens an ordinary
//! session, CSRF refusals that change nothing, `rd` kept to allowed destinations, the gateway
//! portal (cookie and `?redirect=1`), email links that lead to pages a scanner cannot spend,
//! the second-factor step, languages, and no user enumeration. Both backends.

pub mod browser;

use std::sync::Arc;

use auth_core::clock::{Clock, FixedClock};
use auth_core::mfa::TotpSecret;
use auth_core::mfa::totp::code_at;
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::Value;

use self::browser::Browser;
use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, claims_of, free_port, unique_email};
use crate::on_both_backends;
use crate::smtp::{SmtpReceiver, token_in};

on_both_backends!(
    signing_in_on_the_page_sets_only_http_only_cookies_for_an_ordinary_session,
    forms_without_the_token_or_from_another_origin_are_refused_and_change_nothing,
    rd_leads_only_to_allowed_destinations,
    the_portal_takes_the_cookie_and_redirects_to_login_with_the_original_url,
    email_links_lead_to_pages_and_opening_them_spends_nothing,
    a_forgotten_password_is_reset_on_the_pages,
    the_second_factor_step_finishes_the_sign_in_at_aal2,
    totp_is_enrolled_on_the_account_page_and_the_recovery_codes_shown_once,
    an_expired_access_cookie_is_renewed_with_the_refresh_cookie,
    logout_and_revoking_a_session_on_the_account_page_end_them,
    the_pages_tell_nobody_which_emails_have_accounts,
    wrong_passwords_on_the_page_reach_the_same_cool_off,
    the_page_forms_spend_the_per_client_budget_of_the_api,
    social_sign_in_from_the_login_page_ends_in_cookies_or_a_page_saying_why_not,
    the_account_page_renames_changes_the_password_and_deletes,
    the_account_page_changes_the_email_through_a_confirmation,
    the_account_page_links_and_unlinks_a_provider,
    the_language_follows_the_browser_then_the_remembered_choice,
    with_ui_disabled_there_are_no_pages,
    the_admin_console_finds_a_user_and_deactivates_them,
    an_admin_below_the_required_assurance_is_sent_to_the_second_factor,
);

/// An instance whose `PUBLIC_URL` is its own address (the pages check origins against it).
async fn spawn(backend: Backend, customize: impl FnOnce(&mut auth_service::Settings)) -> TestApp {
    let port = free_port();
    TestApp::spawn_with(backend, move |settings| {
        settings.service_port = port;
        settings.public_url = Some(format!("http://127.0.0.1:{port}"));
        customize(settings);
    })
    .await
}

async fn spawn_with_mail(backend: Backend) -> (TestApp, SmtpReceiver) {
    let smtp = SmtpReceiver::start().await;
    let url = smtp.url();
    let app = spawn(backend, move |settings| settings.smtp_url = Some(auth_service::config::Secret::new(url))).await;
    (app, smtp)
}

async fn registered(app: &TestApp) -> String {
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
    email
}

async fn signing_in_on_the_page_sets_only_http_only_cookies_for_an_ordinary_session(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let email = registered(&app).await;
    let mut browser = Browser::new(&app);
    let answer = browser.sign_in(&email, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    assert_eq!(answer.location.as_deref(), Some(app.url("/ui/account").as_str()));
    for name in ["auth_access", "auth_refresh"] {
        let line = answer.set_cookie(name).unwrap_or_else(|| panic!("{name} set: {:?}", answer.set_cookies));
        assert!(line.contains("HttpOnly") && line.contains("SameSite=Lax"), "{line}");
        assert!(!line.contains("Secure"), "plain http: {line}");
    }
    assert!(answer.set_cookie("auth_refresh").unwrap().contains("Path=/ui"), "only the pages see the refresh token");
    assert!(!answer.body.contains(&browser.cookies["auth_access"]), "no token in the page");

    let account = browser.get("/ui/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.has(&format!("id=\"account-email\">{email}<")), "{}", account.body);
    assert!(account.has("<title>Your account · auth-service</title>"), "the title is the heading alone");
    assert_eq!(account.body.matches("id=\"delete-form\"").count(), 1, "each section once");
    // An ordinary session: listed by the API, aal1 with the password.
    let access = browser.cookies["auth_access"].clone();
    let claims = claims_of(&access);
    assert_eq!((claims["aal"].as_str(), claims["amr"].clone()), (Some("aal1"), serde_json::json!(["pwd"])));
    let sessions: Value = app.get_bearer("/auth/sessions", &access).await.json().await.unwrap();
    assert_eq!(sessions.as_array().unwrap().len(), 1, "{sessions}");
    assert!(account.has(&format!("data-session-id=\"{}\" data-current", claims["sid"].as_str().unwrap())));
}

async fn forms_without_the_token_or_from_another_origin_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let email = registered(&app).await;
    let mut browser = Browser::new(&app);
    browser.get("/ui/login").await;
    let csrf = browser.csrf();

    let without = browser.post_form("/ui/login", &[("email", &email), ("password", PASSWORD)]).await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);
    assert!(without.set_cookie("auth_access").is_none());
    let forged = browser.post_form("/ui/login", &[("email", &email), ("password", PASSWORD), ("csrf", "AAAA")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let mut stranger = Browser::new(&app);
    stranger.get("/ui/login").await;
    let someone_elses =
        browser.post_form("/ui/login", &[("email", &email), ("password", PASSWORD), ("csrf", &stranger.csrf())]).await;
    assert_eq!(someone_elses.status, StatusCode::FORBIDDEN, "a token is bound to its browser");
    browser.origin = "https://evil.test".into();
    let cross_site =
        browser.post_form("/ui/login", &[("email", &email), ("password", PASSWORD), ("csrf", &csrf)]).await;
    assert_eq!(cross_site.status, StatusCode::FORBIDDEN);
    assert!(cross_site.set_cookie("auth_access").is_none());

    // Signed in, a cross-site logout or revocation leaves the session alive.
    browser.origin = app.address.clone();
    assert_eq!(browser.sign_in(&email, PASSWORD).await.status, StatusCode::SEE_OTHER);
    let access = browser.cookies["auth_access"].clone();
    browser.origin = "https://evil.test".into();
    let csrf = browser.csrf();
    assert_eq!(browser.post_form("/ui/logout", &[("csrf", &csrf)]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(browser.post_form("/ui/account/logout-all", &[("csrf", &csrf)]).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.validate(&access).await.status(), StatusCode::OK, "still signed in");
    // The pages' script endpoints check the header token the same way.
    let script = app
        .client
        .post(app.url("/ui/passkeys/login/options"))
        .header("cookie", format!("auth_csrf={}", browser.cookies["auth_csrf"]))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(script, StatusCode::FORBIDDEN, "csrf_refused").await;
}

async fn rd_leads_only_to_allowed_destinations(backend: Backend) {
    let app = spawn(backend, |settings| {
        settings.cookie_domain = Some(".apps.test".into());
        settings.allowed_redirect_urls = vec!["https://partner.test/back".into()];
    })
    .await;
    let email = registered(&app).await;
    for (rd, expected) in [
        ("https://evil.test/", app.url("/ui/account")),
        ("//evil.test/", app.url("/ui/account")),
        ("/ui/account?tab=sessions", app.url("/ui/account?tab=sessions")),
        ("http://grafana.apps.test/d/1", "http://grafana.apps.test/d/1".to_owned()),
        ("https://partner.test/back", "https://partner.test/back".into()),
        ("https://partner.test/back/more", app.url("/ui/account")),
    ] {
        let mut browser = Browser::new(&app);
        browser.get(&format!("/ui/login?rd={}", urlencode(rd))).await;
        let answer = browser.submit("/ui/login", &[("email", &email), ("password", PASSWORD), ("rd", rd)]).await;
        assert_eq!(answer.location.as_deref(), Some(expected.as_str()), "rd {rd}");
        // Signed in already, the login page sends the browser on by the same rule.
        let again = browser.get(&format!("/ui/login?rd={}", urlencode(rd))).await;
        assert_eq!(again.location.as_deref(), Some(expected.as_str()), "rd {rd}, signed in");
    }
    let mut browser = Browser::new(&app);
    let answer = browser.sign_in(&email, PASSWORD).await;
    let access = answer.set_cookie("auth_access").unwrap();
    assert!(access.contains("Domain=apps.test") && access.contains("Path=/;"), "{access}");
    assert!(!answer.set_cookie("auth_refresh").unwrap().contains("Domain"), "the refresh cookie stays host-only");
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

async fn the_portal_takes_the_cookie_and_redirects_to_login_with_the_original_url(backend: Backend) {
    let app = spawn(backend, |settings| settings.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let email = registered(&app).await;
    let mut browser = Browser::new(&app);
    let original = [("x-original-url", "https://app.example.test/reports?q=1")];

    assert_problem(
        app.client.get(app.url("/auth/validate")).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "invalid_token",
    )
    .await;
    let closed = browser.get_with("/auth/validate?redirect=1", &original).await;
    assert_eq!(closed.status, StatusCode::FOUND);
    let login = format!("{}?rd={}", app.url("/ui/login"), urlencode("https://app.example.test/reports?q=1"));
    assert_eq!(closed.location.as_deref(), Some(login.as_str()));
    let traefik =
        [("x-forwarded-proto", "https"), ("x-forwarded-host", "app.example.test"), ("x-forwarded-uri", "/reports?q=1")];
    assert_eq!(browser.get_with("/auth/validate?redirect=1", &traefik).await.location.as_deref(), Some(login.as_str()));

    browser.sign_in(&email, PASSWORD).await;
    let open = browser.get_with("/auth/validate?redirect=1", &original).await;
    assert_eq!(open.status, StatusCode::OK, "{}", open.body);
    let body: Value = serde_json::from_str(&open.body).unwrap();
    assert_eq!(body["email"], email.as_str());
    // The route needs a second factor this session lacks: to the login page, asking for it.
    let stronger = browser.get_with("/auth/validate?redirect=1&aal=aal2", &original).await;
    assert_eq!(stronger.location.as_deref(), Some(format!("{login}&aal=aal2").as_str()));
    // A role is not cured by signing in: 403, no redirect.
    let admin_only = browser.get_with("/auth/validate?redirect=1&role=admin", &original).await;
    assert_eq!(admin_only.status, StatusCode::FORBIDDEN);
    // A bearer token still wins over the cookie.
    let other = Tokens::from(app.login(&registered(&app).await, PASSWORD).await).await;
    let by_header = app
        .client
        .get(app.url("/auth/validate"))
        .bearer_auth(&other.access)
        .header("cookie", format!("auth_access={}", browser.cookies["auth_access"]))
        .send()
        .await
        .unwrap();
    assert_eq!(by_header.headers()["x-user-id"], claims_of(&other.access)["sub"].as_str().unwrap());
}

async fn email_links_lead_to_pages_and_opening_them_spends_nothing(backend: Backend) {
    let (app, smtp) = spawn_with_mail(backend).await;
    let email = unique_email();
    let mut browser = Browser::new(&app);
    browser.get("/ui/register").await;
    let sent = browser.submit("/ui/register", &[("email", &email), ("password", PASSWORD), ("name", "Ada")]).await;
    assert_eq!(sent.status, StatusCode::OK);
    assert!(sent.has("id=\"register-sent\""), "{}", sent.body);
    let message = smtp.message_to(&email, "verify-email").await;
    let readable = crate::smtp::readable(&message);
    assert!(readable.contains(&format!("{}?token=", app.url("/ui/verify-email"))), "{readable}");
    let token = token_in(&message);

    // A mail scanner opening the link twice spends nothing.
    for _ in 0..2 {
        let opened = Browser::new(&app).get(&format!("/ui/verify-email?token={token}")).await;
        assert_eq!(opened.status, StatusCode::OK);
        assert!(opened.has("id=\"verify-form\""));
    }
    let tokens = Tokens::from(app.login(&email, PASSWORD).await).await;
    let me: Value = app.get_bearer("/auth/me", &tokens.access).await.json().await.unwrap();
    assert_eq!(me["email_verified"], false);

    browser.get(&format!("/ui/verify-email?token={token}")).await;
    let done = browser.submit("/ui/verify-email", &[("token", &token)]).await;
    assert!(done.has("id=\"verify-done\""), "{}", done.body);
    let me: Value = app.get_bearer("/auth/me", &tokens.access).await.json().await.unwrap();
    assert_eq!((me["email_verified"].as_bool(), me["full_name"].as_str()), (Some(true), Some("Ada")));
    let again = browser.submit("/ui/verify-email", &[("token", &token)]).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.has("role=\"alert\""), "a clear message: {}", again.body);
}

async fn a_forgotten_password_is_reset_on_the_pages(backend: Backend) {
    let (app, smtp) = spawn_with_mail(backend).await;
    let email = registered(&app).await;
    let mut browser = Browser::new(&app);
    browser.get("/ui/forgot-password").await;
    let sent = browser.submit("/ui/forgot-password", &[("email", &email)]).await;
    assert!(sent.has("id=\"forgot-sent\""));
    let message = smtp.message_to(&email, "reset-password").await;
    assert!(crate::smtp::readable(&message).contains(&format!("{}?token=", app.url("/ui/reset-password"))));
    let token = token_in(&message);
    let form = browser.get(&format!("/ui/reset-password?token={token}")).await;
    assert!(form.has("id=\"reset-form\""));
    let done = browser.submit("/ui/reset-password", &[("token", &token), ("password", "a brand new password")]).await;
    assert!(done.has("id=\"reset-done\""), "{}", done.body);
    assert_eq!(browser.sign_in(&email, PASSWORD).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(browser.sign_in(&email, "a brand new password").await.status, StatusCode::SEE_OTHER);
}

/// A user with a confirmed TOTP factor, on a clock the test moves.
async fn with_totp(backend: Backend) -> (TestApp, Arc<FixedClock>, String, TotpSecret) {
    let start = Utc::now().timestamp() / 30 * 30 + 15;
    let clock = Arc::new(FixedClock::new(chrono::DateTime::from_timestamp(start, 0).unwrap()));
    let port = free_port();
    let app = TestApp::spawn_with_clock(backend, clock.clone(), move |settings| {
        settings.service_port = port;
        settings.public_url = Some(format!("http://127.0.0.1:{port}"));
    })
    .await;
    let (email, tokens) = app.signed_in_user().await;
    let enrolment: Value = app.post_bearer("/auth/mfa/totp", &tokens.access).await.json().await.unwrap();
    let secret = TotpSecret::from_base32(enrolment["secret"].as_str().unwrap()).unwrap();
    let code = code_at(&secret, clock.now()).unwrap();
    let confirm = app
        .client
        .post(app.url("/auth/mfa/totp/confirm"))
        .bearer_auth(&tokens.access)
        .json(&serde_json::json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(confirm.status(), StatusCode::OK);
    clock.advance(Duration::seconds(30));
    (app, clock, email, secret)
}

async fn the_second_factor_step_finishes_the_sign_in_at_aal2(backend: Backend) {
    let (app, clock, email, secret) = with_totp(backend).await;
    let mut browser = Browser::new(&app);
    let step = browser.sign_in(&email, PASSWORD).await;
    assert_eq!(step.status, StatusCode::OK);
    assert!(step.has("id=\"mfa-form\""), "{}", step.body);
    assert!(step.set_cookie("auth_access").is_none(), "no session before the second factor");
    assert!(step.set_cookie("auth_mfa").unwrap().contains("HttpOnly"));
    let wrong = browser.submit("/ui/login/mfa", &[("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.has("role=\"alert\"") && wrong.has("id=\"mfa-form\""));
    let code = code_at(&secret, clock.now()).unwrap();
    let done = browser.submit("/ui/login/mfa", &[("code", &code)]).await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    assert_eq!(claims_of(&browser.cookies["auth_access"])["aal"], "aal2");
    assert!(!browser.cookies.contains_key("auth_mfa"), "the mfa token cookie is cleared");

    // A gateway route at aal2 lets this browser through; an aal1 browser is asked to step up.
    let open = browser.get("/auth/validate?aal=aal2").await;
    assert_eq!(open.status, StatusCode::OK);
    let mut second = Browser::new(&app);
    second.sign_in(&email, PASSWORD).await;
    let recovery_step = second.submit("/ui/login/mfa", &[("code", "not-a-recovery-code")]).await;
    assert_eq!(recovery_step.status, StatusCode::UNAUTHORIZED);
}

async fn totp_is_enrolled_on_the_account_page_and_the_recovery_codes_shown_once(backend: Backend) {
    let start = Utc::now().timestamp() / 30 * 30 + 15;
    let clock = Arc::new(FixedClock::new(chrono::DateTime::from_timestamp(start, 0).unwrap()));
    let port = free_port();
    let app = TestApp::spawn_with_clock(backend, clock.clone(), move |settings| {
        settings.service_port = port;
        settings.public_url = Some(format!("http://127.0.0.1:{port}"));
    })
    .await;
    let email = registered(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email, PASSWORD).await;
    browser.get("/ui/account").await;
    let enrolment = browser.submit("/ui/account/totp", &[]).await;
    assert_eq!(enrolment.status, StatusCode::OK);
    assert!(enrolment.has("<svg"), "a QR code");
    let marker = "id=\"totp-secret\" class=\"secret\">";
    let start = enrolment.body.find(marker).unwrap() + marker.len();
    let secret = &enrolment.body[start..start + enrolment.body[start..].find('<').unwrap()];
    let secret = TotpSecret::from_base32(secret).unwrap();
    let wrong = browser.submit("/ui/account/totp/confirm", &[("code", "000000")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let code = code_at(&secret, clock.now()).unwrap();
    let codes = browser.submit("/ui/account/totp/confirm", &[("code", &code)]).await;
    assert_eq!(codes.status, StatusCode::OK, "{}", codes.body);
    assert_eq!(codes.body.matches("<li><code>").count(), 10, "ten recovery codes");
    let account = browser.get("/ui/account").await;
    assert!(!account.has("id=\"totp-enrol-form\"") && !account.has("<li><code>"), "shown once");

    // This session is still aal1; a route at aal2 sends it to the step-up form, and a code lifts it.
    let asked = browser.get("/auth/validate?aal=aal2&redirect=1").await;
    assert_eq!(asked.status, StatusCode::FOUND);
    let step = browser.get("/ui/login?rd=%2Fui%2Faccount&aal=aal2").await;
    assert!(step.has("id=\"mfa-form\""), "{}", step.body);
    clock.advance(Duration::seconds(30));
    let code = code_at(&secret, clock.now()).unwrap();
    let stepped = browser.submit("/ui/login/step-up", &[("code", &code), ("rd", "/ui/account")]).await;
    assert_eq!(stepped.status, StatusCode::SEE_OTHER, "{}", stepped.body);
    assert_eq!(claims_of(&browser.cookies["auth_access"])["aal"], "aal2");
    assert_eq!(browser.get("/auth/validate?aal=aal2").await.status, StatusCode::OK);
}

async fn an_expired_access_cookie_is_renewed_with_the_refresh_cookie(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let email = registered(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email, PASSWORD).await;
    let first_refresh = browser.cookies["auth_refresh"].clone();
    browser.cookies.remove("auth_access");
    let account = browser.get("/ui/account").await;
    assert_eq!(account.status, StatusCode::OK, "renewed: {:?}", account.location);
    assert!(account.set_cookie("auth_access").is_some() && account.set_cookie("auth_refresh").is_some());
    assert_ne!(browser.cookies["auth_refresh"], first_refresh, "rotated");
    // Only a reused refresh cookie: the browser is sent to sign in and its cookies cleared.
    let mut stale = Browser::new(&app);
    stale.cookies.insert("auth_refresh".into(), "not-a-refresh-token".into());
    let answer = stale.get("/ui/account").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location.as_deref(), Some("/ui/login?rd=%2Fui%2Faccount"));
    assert!(!stale.cookies.contains_key("auth_refresh"));
}

async fn logout_and_revoking_a_session_on_the_account_page_end_them(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let email = registered(&app).await;
    let other = Tokens::from(app.login(&email, PASSWORD).await).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email, PASSWORD).await;
    let account = browser.get("/ui/account").await;
    let other_sid = claims_of(&other.access)["sid"].as_str().unwrap().to_owned();
    assert!(account.has(&format!("data-session-id=\"{other_sid}\"")));
    let revoked = browser.submit(&format!("/ui/account/sessions/{other_sid}/revoke"), &[]).await;
    assert_eq!(revoked.location.as_deref(), Some("/ui/account"));
    assert_problem(app.validate(&other.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;

    let access = browser.cookies["auth_access"].clone();
    let out = browser.submit("/ui/logout", &[]).await;
    assert_eq!(out.location.as_deref(), Some("/ui/login"));
    assert!(!browser.cookies.contains_key("auth_access") && !browser.cookies.contains_key("auth_refresh"));
    assert_problem(app.validate(&access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(browser.get("/ui/account").await.status, StatusCode::SEE_OTHER);
}

async fn the_pages_tell_nobody_which_emails_have_accounts(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let email = registered(&app).await;
    let mut browser = Browser::new(&app);
    browser.get("/ui/register").await;
    let taken = browser.submit("/ui/register", &[("email", &email), ("password", PASSWORD)]).await;
    let fresh = browser.submit("/ui/register", &[("email", &unique_email()), ("password", PASSWORD)]).await;
    assert_eq!((taken.status, fresh.status), (StatusCode::OK, StatusCode::OK));
    assert_eq!(strip_csrf(&taken.body), strip_csrf(&fresh.body));
    let unknown = browser.sign_in(&unique_email(), PASSWORD).await;
    let wrong = browser.sign_in(&email, "not the password").await;
    assert_eq!((unknown.status, wrong.status), (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED));
    let alert = |body: &str| body[body.find("role=\"alert\"").unwrap()..].split('<').next().unwrap().to_owned();
    assert_eq!(alert(&unknown.body), alert(&wrong.body));
    browser.get("/ui/forgot-password").await;
    let known = browser.submit("/ui/forgot-password", &[("email", &email)]).await;
    let nobody = browser.submit("/ui/forgot-password", &[("email", &unique_email())]).await;
    assert_eq!(strip_csrf(&known.body), strip_csrf(&nobody.body));
}

fn strip_csrf(body: &str) -> String {
    body.lines().filter(|line| !line.contains("csrf")).collect::<Vec<_>>().join("\n")
}

async fn wrong_passwords_on_the_page_reach_the_same_cool_off(backend: Backend) {
    let app = spawn(backend, |settings| settings.login_failure_limit = 3).await;
    let email = registered(&app).await;
    let mut browser = Browser::new(&app);
    for _ in 0..3 {
        assert_eq!(browser.sign_in(&email, "wrong password").await.status, StatusCode::UNAUTHORIZED);
    }
    let cooling = browser.sign_in(&email, PASSWORD).await;
    assert_eq!(cooling.status, StatusCode::TOO_MANY_REQUESTS, "{}", cooling.body);
    assert!(cooling.has("role=\"alert\""));
    // The JSON API sees the same account cooling off.
    assert_eq!(app.login(&email, PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn the_language_follows_the_browser_then_the_remembered_choice(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let mut browser = Browser::new(&app);
    let english = browser.get("/ui/login").await;
    assert!(english.has("<html lang=\"en\">") && english.has("Sign in"));
    let russian = browser.get_with("/ui/login", &[("accept-language", "ru-RU,ru;q=0.9")]).await;
    assert!(russian.has("<html lang=\"ru\">") && russian.has("Вход"), "{}", russian.body);
    let chosen = browser.get("/ui/reset-password?token=abc&lang=ru").await;
    assert!(chosen.has("<html lang=\"ru\">"));
    assert!(chosen.has("reset-password?token=abc&amp;lang=en\""), "the switch keeps the token: {}", chosen.body);
    let remembered = browser.get("/ui/login").await;
    assert!(remembered.has("<html lang=\"ru\">"), "remembered without the query");
}

async fn with_ui_disabled_there_are_no_pages(backend: Backend) {
    let app = spawn(backend, |settings| settings.ui_enabled = false).await;
    assert_problem(app.client.get(app.url("/ui/login")).send().await.unwrap(), StatusCode::NOT_FOUND, "not_found")
        .await;
}

async fn the_admin_console_finds_a_user_and_deactivates_them(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let (admin_email, _) = crate::admin::signed_in_admin(&app).await;
    let user_email = registered(&app).await;
    let user_tokens = Tokens::from(app.login(&user_email, PASSWORD).await).await;
    let id = claims_of(&user_tokens.access)["sub"].as_str().unwrap().to_owned();

    let mut user = Browser::new(&app);
    user.sign_in(&user_email, PASSWORD).await;
    assert_eq!(user.get("/ui/admin").await.status, StatusCode::FORBIDDEN);
    assert_eq!(user.get(&format!("/ui/admin/users/{id}")).await.status, StatusCode::FORBIDDEN);

    let mut admin = Browser::new(&app);
    admin.sign_in(&admin_email, PASSWORD).await;
    assert!(admin.get("/ui/account").await.has("id=\"admin-link\""));
    let found = admin.get(&format!("/ui/admin?q={}", urlencode(&user_email[..12]))).await;
    assert_eq!(found.status, StatusCode::OK);
    assert!(found.has(&format!("/ui/admin/users/{id}\">{user_email}<")), "{}", found.body);
    assert!(!found.has(&admin_email), "the search narrows by email");
    let detail = admin.get(&format!("/ui/admin/users/{id}")).await;
    assert!(detail.has(&format!("id=\"admin-user-email\">{user_email}<")));
    assert_eq!(admin.get(&format!("/ui/admin/users/{}", uuid::Uuid::new_v4())).await.status, StatusCode::NOT_FOUND);

    let off = admin.submit(&format!("/ui/admin/users/{id}/active"), &[("active", "false")]).await;
    assert_eq!(off.location.as_deref(), Some(format!("/ui/admin/users/{id}").as_str()));
    assert_problem(app.validate(&user_tokens.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(app.login(&user_email, PASSWORD).await.status(), StatusCode::FORBIDDEN, "deactivated");
    assert!(admin.get(&format!("/ui/admin/users/{id}")).await.has("id=\"admin-user-state\">deactivated<"));
    let on = admin.submit(&format!("/ui/admin/users/{id}/active"), &[("active", "true")]).await;
    assert_eq!(on.status, StatusCode::SEE_OTHER);
    let promoted = admin.submit(&format!("/ui/admin/users/{id}/role"), &[("role", "admin")]).await;
    assert_eq!(promoted.status, StatusCode::SEE_OTHER);
    assert!(admin.get(&format!("/ui/admin/users/{id}")).await.has("id=\"admin-user-role\">admin<"));
    let again = Tokens::from(app.login(&user_email, PASSWORD).await).await;
    let out = admin.submit(&format!("/ui/admin/users/{id}/logout-all"), &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_problem(app.validate(&again.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let reset = admin.submit(&format!("/ui/admin/users/{id}/mfa-reset"), &[]).await;
    assert_eq!(reset.status, StatusCode::SEE_OTHER);
    let bad_role = admin.submit(&format!("/ui/admin/users/{id}/role"), &[("role", "root")]).await;
    assert_eq!(bad_role.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad_role.has("role=\"alert\""));
}

async fn an_admin_below_the_required_assurance_is_sent_to_the_second_factor(backend: Backend) {
    let app = spawn(backend, |settings| settings.mfa_required_roles = vec![auth_core::model::Role::Admin]).await;
    let (admin_email, _) = crate::admin::signed_in_admin(&app).await;
    let mut admin = Browser::new(&app);
    admin.sign_in(&admin_email, PASSWORD).await;
    let asked = admin.get("/ui/admin").await;
    assert_eq!(asked.location.as_deref(), Some("/ui/login?rd=%2Fui%2Fadmin&aal=aal2"));
    // Without a second factor there is nothing to step up with: the page says what to do.
    let step = admin.get("/ui/login?rd=%2Fui%2Fadmin&aal=aal2").await;
    assert_eq!(step.status, StatusCode::FORBIDDEN);
    assert!(step.has("id=\"needs-second-factor\""), "{}", step.body);
}

async fn the_page_forms_spend_the_per_client_budget_of_the_api(backend: Backend) {
    let app = spawn(backend, |settings| settings.rate_limit_per_minute = 3).await;
    let mut browser = Browser::new(&app);
    browser.get("/ui/login").await;
    for _ in 0..2 {
        let answer = browser.submit("/ui/login", &[("email", &unique_email()), ("password", "wrong password")]).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    // The JSON API spends the same budget: its third request is the last one allowed.
    assert_eq!(app.login(&unique_email(), PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    let limited = browser.submit("/ui/login", &[("email", &unique_email()), ("password", PASSWORD)]).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(limited.has("role=\"alert\"") && limited.has("<html"), "a page that says so: {}", limited.body);
    // Showing the pages costs nothing.
    assert_eq!(browser.get("/ui/login").await.status, StatusCode::OK);
}

async fn social_sign_in_from_the_login_page_ends_in_cookies_or_a_page_saying_why_not(backend: Backend) {
    use crate::oauth::{browser, location, through_provider};
    let world = crate::oauth::world(backend, |_| {}).await;
    let app = &world.app;
    let browser = browser();
    let login = browser.get(app.url("/ui/login?rd=%2Fui%2Faccount")).send().await.unwrap().text().await.unwrap();
    for provider in ["google", "vk", "facebook"] {
        assert!(login.contains(&format!("id=\"social-{provider}\"")), "a button per provider: {login}");
    }
    let start = browser.get(app.url("/ui/login/social/google?rd=%2Fui%2Faccount")).send().await.unwrap();
    assert_eq!(start.status(), StatusCode::SEE_OTHER);
    let callback = through_provider(&browser, app, location(&start)).await;
    let done = browser.get(&callback).send().await.unwrap();
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), app.url("/ui/account"));
    assert!(!location(&done).contains('#'), "no token in the URL");
    let set: Vec<_> =
        done.headers().get_all("set-cookie").iter().map(|value| value.to_str().unwrap().to_owned()).collect();
    let access = set.iter().find(|line| line.starts_with("auth_access=")).expect("the session cookie");
    assert!(access.contains("HttpOnly"), "{access}");
    let claims = claims_of(access.trim_start_matches("auth_access=").split(';').next().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["fed"]));
    let account = browser.get(app.url("/ui/account")).send().await.unwrap();
    assert_eq!(account.status(), StatusCode::OK);
    assert!(account.text().await.unwrap().contains("id=\"account-email\""));

    // Consent refused at the provider (a fresh browser, as the provider remembers the last one):
    // a page that says so, not problem JSON.
    let browser = crate::oauth::browser();
    let start = browser.get(app.url("/ui/login/social/google")).send().await.unwrap();
    let callback = through_provider(&browser, app, format!("{}&login_hint=deny", location(&start))).await;
    let denied = browser.get(&callback).send().await.unwrap();
    assert_eq!(denied.status(), StatusCode::UNAUTHORIZED);
    assert!(denied.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(denied.text().await.unwrap().contains("role=\"alert\""));
    // The JSON API's own browser flow still answers with tokens for apps.
    let api = crate::oauth::browser_sign_in(app, "google", "").await;
    assert_eq!(api.status(), StatusCode::OK);
}

async fn the_account_page_renames_changes_the_password_and_deletes(backend: Backend) {
    let app = spawn(backend, |_| {}).await;
    let email = registered(&app).await;
    let other = Tokens::from(app.login(&email, PASSWORD).await).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email, PASSWORD).await;
    browser.get("/ui/account").await;
    let renamed = browser.submit("/ui/account/profile", &[("name", "Grace Hopper")]).await;
    assert_eq!(renamed.location.as_deref(), Some("/ui/account?done=profile"));
    let account = browser.get("/ui/account?done=profile").await;
    assert!(account.has("value=\"Grace Hopper\"") && account.has("id=\"account-done\""), "{}", account.body);

    let wrong = browser
        .submit("/ui/account/password", &[("current_password", "nope"), ("new_password", "another long password")])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.has("role=\"alert\""));
    let changed = browser
        .submit("/ui/account/password", &[("current_password", PASSWORD), ("new_password", "another long password")])
        .await;
    assert_eq!(changed.location.as_deref(), Some("/ui/account?done=password"));
    assert_problem(app.validate(&other.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(browser.get("/ui/account").await.status, StatusCode::OK, "this browser stays signed in");

    let access = browser.cookies["auth_access"].clone();
    let refused = browser.submit("/ui/account/delete", &[("password", PASSWORD)]).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "the old password no longer confirms");
    let deleted = browser.submit("/ui/account/delete", &[("password", "another long password")]).await;
    assert!(deleted.has("id=\"account-deleted\""), "{}", deleted.body);
    assert_eq!(app.validate(&access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(&email, "another long password").await.status(), StatusCode::UNAUTHORIZED);
}

async fn the_account_page_changes_the_email_through_a_confirmation(backend: Backend) {
    let (app, smtp) = spawn_with_mail(backend).await;
    let email = registered(&app).await;
    let mut browser = Browser::new(&app);
    browser.sign_in(&email, PASSWORD).await;
    browser.get("/ui/account").await;
    let new = unique_email();
    let asked = browser.submit("/ui/account/email", &[("email", &new), ("password", PASSWORD)]).await;
    assert_eq!(asked.location.as_deref(), Some("/ui/account?done=email"));
    let token = token_in(&smtp.message_to(&new, "verify-email").await);
    assert!(
        browser.get("/ui/account").await.has(&format!("id=\"account-email\">{email}<")),
        "unchanged until confirmed"
    );
    browser.get(&format!("/ui/verify-email?token={token}")).await;
    assert!(browser.submit("/ui/verify-email", &[("token", &token)]).await.has("id=\"verify-done\""));
    assert!(browser.get("/ui/account").await.has(&format!("id=\"account-email\">{new}<")));
}

async fn the_account_page_links_and_unlinks_a_provider(backend: Backend) {
    use crate::oauth::{browser, through_provider};
    let world = crate::oauth::world(backend, |_| {}).await;
    let app = &world.app;
    let email = registered(app).await;
    let mut page = Browser::new(app);
    page.sign_in(&email, PASSWORD).await;
    let account = page.get("/ui/account").await;
    assert!(account.has("action=\"/ui/account/providers/google/link\""), "{}", account.body);
    let started = page.submit("/ui/account/providers/google/link", &[]).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER);
    // The provider round trip, in a client that carries this browser's cookies.
    let client = browser();
    let cookies = page.cookies.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ");
    let callback = through_provider(&client, app, started.location.clone().unwrap()).await;
    let linked = client.get(&callback).header("cookie", cookies).send().await.unwrap();
    assert_eq!(linked.status(), StatusCode::SEE_OTHER, "{:?}", linked.text().await);
    let me: Value = app
        .get_bearer("/auth/me", &Tokens::from(app.login(&email, PASSWORD).await).await.access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["providers"], serde_json::json!(["password", "google"]));
    let unlinked = page.submit("/ui/account/providers/google/unlink", &[]).await;
    assert_eq!(unlinked.location.as_deref(), Some("/ui/account?done=unlinked"));
}
