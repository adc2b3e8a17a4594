//! The binary as operators run it: graceful shutdown on SIGTERM, and logs that never carry a
//! secret.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::free_port;
use crate::helpers::{PASSWORD, TEST_SECRET, Tokens, assert_problem, unique_email};

struct Served {
    child: tokio::process::Child,
    base: String,
    log: std::path::PathBuf,
}

async fn serve(extra: &[(&str, &str)]) -> Served {
    let port = free_port();
    let directory = std::env::temp_dir().join(format!("auth-process-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&directory).unwrap();
    let log = directory.join("service.log");
    let mut command = tokio::process::Command::new(crate::helpers::BINARY);
    command
        .env_clear()
        .env("DATABASE_URL", format!("sqlite://{}/auth.db", directory.display()))
        .env("JWT_SECRET", TEST_SECRET)
        .env("BCRYPT_COST", "4")
        .env("SERVICE_PORT", port.to_string())
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "trace,hyper=info,h2=info,rustls=info,sqlx=trace")
        .envs(extra.iter().copied())
        .arg("serve")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let child = command.spawn().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if reqwest::get(format!("{base}/health/live")).await.is_ok() {
            return Served { child, base, log };
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the service did not start");
}

fn sigterm(child: &tokio::process::Child) {
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_then_exits() {
    let mut served = serve(&[("BCRYPT_COST", "13"), ("SHUTDOWN_TIMEOUT", "10")]).await;
    let client = reqwest::Client::new();
    let email = unique_email();
    // A slow request (a bcrypt-13 hash) is in flight when the signal arrives.
    let in_flight = tokio::spawn(
        client
            .post(format!("{}/auth/register", served.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let started = Instant::now();
    sigterm(&served.child);

    let finished = in_flight.await.unwrap().unwrap();
    assert_eq!(finished.status(), StatusCode::CREATED, "the in-flight request completed");
    let status = tokio::time::timeout(Duration::from_secs(15), served.child.wait()).await.expect("exited").unwrap();
    assert!(status.success(), "clean exit, got {status}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(client.get(format!("{}/health/live", served.base)).send().await.is_err(), "new requests are refused");
}

#[tokio::test]
async fn no_secret_reaches_the_log_even_at_trace_level() {
    let smtp_password = "smtp-password-never-logged";
    let mut served = serve(&[("SMTP_URL", &format!("smtp://mailer:{smtp_password}@127.0.0.1:1"))]).await;
    let client = reqwest::Client::new();
    let email = unique_email();
    client
        .post(format!("{}/auth/register", served.base))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let tokens = Tokens::from(
        client
            .post(format!("{}/auth/login", served.base))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let refreshed = Tokens::from(
        client
            .post(format!("{}/auth/refresh", served.base))
            .json(&json!({"refresh_token": tokens.refresh}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    client.post(format!("{}/auth/validate", served.base)).bearer_auth(&refreshed.access).send().await.unwrap();
    client
        .post(format!("{}/auth/login", served.base))
        .json(&json!({"email": email, "password": "wrong-password-x"}))
        .send()
        .await
        .unwrap();
    // Second-factor changes and refusals are audited, and their secrets stay out of the log.
    let enrolment: serde_json::Value = client
        .post(format!("{}/auth/mfa/totp", served.base))
        .bearer_auth(&refreshed.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let totp_secret = enrolment["secret"].as_str().unwrap().to_owned();
    let seed = auth_core::mfa::TotpSecret::from_base32(&totp_secret).unwrap();
    let confirm = |code: String| {
        client
            .post(format!("{}/auth/mfa/totp/confirm", served.base))
            .bearer_auth(&refreshed.access)
            .json(&json!({"code": code}))
            .send()
    };
    confirm("000000".into()).await.unwrap();
    let confirmed: serde_json::Value =
        confirm(auth_core::mfa::totp::code_at(&seed, chrono::Utc::now()).unwrap()).await.unwrap().json().await.unwrap();
    let recovery_code = confirmed["recovery_codes"][0].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&served.child);
    let _ = tokio::time::timeout(Duration::from_secs(10), served.child.wait()).await;

    let log = std::fs::read_to_string(&served.log).unwrap();
    assert!(log.contains("session started"), "the log was captured");
    let audited = |event: &str| {
        log.lines().any(|line| line.contains(r#""target":"audit""#) && line.contains(&format!(r#""event":"{event}""#)))
    };
    for event in ["totp_enrolment_started", "mfa_verification_failed", "mfa_enabled"] {
        assert!(audited(event), "an audit line for {event}");
    }
    assert!(!log.contains(&totp_secret) && !log.contains(&recovery_code), "no second-factor secret in the log");
    // Security events leave an audit line that says who, which session and from where.
    let audit: Vec<&str> = log.lines().filter(|line| line.contains(r#""target":"audit""#)).collect();
    for event in ["login_succeeded", "login_failed"] {
        let line = audit.iter().find(|line| line.contains(&format!(r#""event":"{event}""#))).expect(event);
        assert!(line.contains(r#""client_address":"127.0.0.1""#), "{line}");
    }
    for secret in [
        PASSWORD,
        "wrong-password-x",
        TEST_SECRET,
        smtp_password,
        &tokens.access,
        &tokens.refresh,
        &refreshed.refresh,
        &refreshed.access,
    ] {
        assert!(!log.contains(secret), "a secret reached the log: {}…", &secret[..8]);
    }
}

/// A peer that accepts connections and closes them at once: a transport-level failure.
async fn hanging_up_peer() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn a_provider_transport_error_logs_neither_the_app_secret_nor_the_user_token() {
    let app_secret = "facebook-app-secret-never-logged";
    let user_token = "facebook-user-token-never-logged";
    let graph = hanging_up_peer().await;
    let mut served = serve(&[
        ("FACEBOOK_CLIENT_ID", "fb-app"),
        ("FACEBOOK_CLIENT_SECRET", app_secret),
        ("FACEBOOK_GRAPH_URL", graph.as_str()),
    ])
    .await;

    let response = reqwest::Client::new()
        .post(format!("{}/auth/oauth/facebook/token", served.base))
        .json(&json!({"access_token": user_token}))
        .send()
        .await
        .unwrap();
    assert_problem(response, StatusCode::BAD_GATEWAY, "provider_error").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&served.child);
    let _ = tokio::time::timeout(Duration::from_secs(10), served.child.wait()).await;

    let log = std::fs::read_to_string(&served.log).unwrap();
    assert!(log.contains("debug_token"), "the failure was logged");
    assert!(!log.contains(app_secret), "the app secret reached the log");
    assert!(!log.contains(user_token), "the user's token reached the log");
}

#[tokio::test]
async fn a_newline_in_a_provider_error_forges_no_line_in_the_text_log() {
    let mut served = serve(&[
        ("LOG_FORMAT", "pretty"),
        ("NO_COLOR", "1"),
        ("FACEBOOK_CLIENT_ID", "fb-app"),
        ("FACEBOOK_CLIENT_SECRET", "fb-secret"),
    ])
    .await;
    // A browser: it keeps the cookie that binds the sign-in to it.
    let client =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).cookie_store(true).build().unwrap();
    let started = client.get(format!("{}/auth/oauth/facebook/authorize", served.base)).send().await.unwrap();
    let location = reqwest::Url::parse(started.headers()["location"].to_str().unwrap()).unwrap();
    let state = location.query_pairs().find(|(name, _)| name == "state").unwrap().1.into_owned();

    let callback = format!(
        "{}/auth/oauth/facebook/callback?state={state}&error=x%0Afake%20line%0D%1B%5B31m%E2%80%A8forged",
        served.base
    );
    client.get(callback).send().await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sigterm(&served.child);
    let _ = tokio::time::timeout(Duration::from_secs(10), served.child.wait()).await;

    let log = std::fs::read_to_string(&served.log).unwrap();
    assert!(log.contains(r"x\nfake line\r\u{1b}[31m\u{2028}forged"), "the refusal is logged, escaped:\n{log}");
    assert!(!log.lines().any(|line| line.starts_with("fake line")), "a forged line:\n{log}");
    assert!(!log.contains('\u{1b}') && !log.contains('\u{2028}'), "raw control characters:\n{log}");
}
