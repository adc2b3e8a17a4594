//! Outages of the dependencies, on throwaway PostgreSQL and Redis servers this test starts and
//! stops itself (never the shared ones), and a crash of the service under load.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::free_port;
use crate::helpers::{Backend, PASSWORD, TEST_SECRET, TestApp, Tokens, assert_problem, fresh_settings, unique_email};
use crate::on_postgres;

on_postgres!(
    a_postgres_outage_answers_503_and_recovers_by_itself,
    an_instance_started_during_a_postgres_outage_refuses_until_it_has_read_the_revocation_log,
    a_redis_outage_keeps_validation_correct_and_redis_is_used_again,
    every_registration_that_got_a_201_survives_a_kill_9,
);

fn as_postgres(program: &str) -> std::process::Command {
    let is_root =
        std::process::Command::new("id").arg("-u").output().map(|out| out.stdout.starts_with(b"0")).unwrap_or(false);
    if is_root {
        let mut command = std::process::Command::new("runuser");
        command.args(["-u", "postgres", "--", program]);
        command
    } else {
        std::process::Command::new(program)
    }
}

struct ThrowawayPostgres {
    bin: String,
    directory: std::path::PathBuf,
    port: u16,
}

impl ThrowawayPostgres {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .unwrap()
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin"))
            .find(|path| path.join("initdb").exists())
            .expect("PostgreSQL server binaries")
            .display()
            .to_string();
        let directory = std::env::temp_dir().join(format!("pg-outage-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&directory).unwrap();
        let _ = std::process::Command::new("chown").args(["-R", "postgres", &directory.display().to_string()]).status();
        let data = directory.join("data").display().to_string();
        let initialised = as_postgres(&format!("{bin}/initdb"))
            .args(["-D", &data, "-U", "postgres", "--auth=trust"])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(initialised.success());
        let server = Self { bin, directory, port: free_port() };
        server.up();
        server
    }

    fn pg_ctl(&self, arguments: &[&str]) {
        let data = self.directory.join("data").display().to_string();
        let log = self.directory.join("log").display().to_string();
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={}",
            self.port,
            self.directory.display()
        );
        let status = as_postgres(&format!("{}/pg_ctl", self.bin))
            .args(["-D", &data, "-l", &log, "-w", "-o", &options])
            .args(arguments)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "pg_ctl {arguments:?}");
    }

    fn up(&self) {
        self.pg_ctl(&["start"]);
    }

    fn down(&self) {
        self.pg_ctl(&["-m", "immediate", "stop"]);
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let data = self.directory.join("data").display().to_string();
        let _ = as_postgres(&format!("{}/pg_ctl", self.bin)).args(["-D", &data, "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

async fn a_postgres_outage_answers_503_and_recovers_by_itself() {
    let postgres = tokio::task::spawn_blocking(ThrowawayPostgres::start).await.unwrap();
    let app = TestApp::spawn_with(Backend::Postgres, |settings| settings.database_url = postgres.url()).await;
    let (email, tokens) = app.signed_in_user().await;

    postgres.down();
    let started = Instant::now();
    assert_problem(app.login(&email, PASSWORD).await, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert_problem(app.refresh(&tokens.refresh).await, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    assert!(started.elapsed() < Duration::from_secs(app.settings.request_timeout), "no hang past the request timeout");
    let ready = assert_problem(
        app.client.get(app.url("/health/ready")).send().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    assert_eq!(ready["checks"]["database"], "unavailable");
    assert_eq!(app.validate(&tokens.access).await.status(), StatusCode::OK, "validation needs no database");

    postgres.up();
    let back = Instant::now();
    loop {
        if app.login(&email, PASSWORD).await.status() == StatusCode::OK {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(5), "no recovery within five seconds");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Tokens::from(app.refresh(&tokens.refresh).await).await;
}

async fn an_instance_started_during_a_postgres_outage_refuses_until_it_has_read_the_revocation_log() {
    let postgres = tokio::task::spawn_blocking(ThrowawayPostgres::start).await.unwrap();
    let first = TestApp::spawn_with(Backend::Postgres, |settings| settings.database_url = postgres.url()).await;
    let (_, revoked) = first.signed_in_user().await;
    let (_, kept) = first.signed_in_user().await;
    assert_eq!(first.post_bearer("/auth/logout", &revoked.access).await.status(), StatusCode::NO_CONTENT);

    // Started while the database is down, it has heard no broadcast of that logout either.
    postgres.down();
    let mut settings = first.settings.clone();
    settings.auto_migrate = false;
    let second = TestApp::start(settings, Backend::Postgres).await;
    let ready = assert_problem(
        second.client.get(second.url("/health/ready")).send().await.unwrap(),
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
    )
    .await;
    assert_eq!(ready["checks"]["revocations"], "loading");
    for tokens in [&revoked, &kept] {
        assert_problem(second.validate(&tokens.access).await, StatusCode::SERVICE_UNAVAILABLE, "unavailable").await;
    }

    postgres.up();
    let back = Instant::now();
    while !second.client.get(second.url("/health/ready")).send().await.unwrap().status().is_success() {
        assert!(back.elapsed() < Duration::from_secs(10), "not ready within ten seconds of the database returning");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_problem(second.validate(&revoked.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(second.validate(&kept.access).await.status(), StatusCode::OK);
}

struct ThrowawayRedis {
    child: Option<std::process::Child>,
}

impl ThrowawayRedis {
    fn start(port: u16) -> Self {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child: Some(child) }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn a_redis_outage_keeps_validation_correct_and_redis_is_used_again() {
    let port = free_port();
    let mut redis = ThrowawayRedis::start(port);
    let first = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.redis_url = Some(auth_service::config::Secret::new(format!("redis://127.0.0.1:{port}")));
        settings.rate_limit_per_minute = 4;
    })
    .await;
    let second = TestApp::start(first.settings.clone(), Backend::Postgres).await;
    let (_, tokens) = first.signed_in_user().await;

    redis.stop();
    assert_eq!(second.validate(&tokens.access).await.status(), StatusCode::OK);
    assert_eq!(first.post_bearer("/auth/logout", &tokens.access).await.status(), StatusCode::NO_CONTENT);
    let started = Instant::now();
    while second.validate(&tokens.access).await.status() == StatusCode::OK {
        assert!(started.elapsed() < Duration::from_secs(1), "revocation not seen without Redis");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Back again: the shared budget is used again (an instance's own budget would allow more).
    redis = ThrowawayRedis::start(port);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spent_on_first: Vec<StatusCode> = futures_statuses(&first, 2).await;
        let spent_on_second: Vec<StatusCode> = futures_statuses(&second, 3).await;
        if spent_on_first.iter().chain(&spent_on_second).any(|status| *status == StatusCode::TOO_MANY_REQUESTS)
            && spent_on_second.last() == Some(&StatusCode::TOO_MANY_REQUESTS)
        {
            break;
        }
        assert!(Instant::now() < deadline, "the budget is not shared again after Redis returned");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    drop(redis);
}

/// Spends `count` login attempts on one instance; their statuses.
async fn futures_statuses(app: &TestApp, count: usize) -> Vec<StatusCode> {
    let mut statuses = Vec::new();
    for _ in 0..count {
        statuses.push(app.login("nobody@example.com", "not the password").await.status());
    }
    statuses
}

async fn every_registration_that_got_a_201_survives_a_kill_9() {
    let settings = fresh_settings(Backend::Postgres).await;
    let port = free_port();
    let spawn = || {
        tokio::process::Command::new(crate::helpers::BINARY)
            .env_clear()
            .env("DATABASE_URL", &settings.database_url)
            .env("OIDC_SIGNING_KEY_PATH", crate::helpers::test_oidc_key())
            .env("JWT_SECRET", TEST_SECRET)
            .env("BCRYPT_COST", "4")
            .env("RATE_LIMIT_PER_MINUTE", "0")
            .env("SERVICE_PORT", port.to_string())
            .env("LOG_FORMAT", "json")
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap()
    };
    let base = format!("http://127.0.0.1:{port}");
    let wait_ready = || async {
        for _ in 0..200 {
            if reqwest::get(format!("{base}/health/ready")).await.is_ok_and(|response| response.status().is_success()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("not ready");
    };
    let mut service = spawn();
    wait_ready().await;

    let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
    let load: Vec<_> = (0..8)
        .map(|_| {
            let (client, base) = (client.clone(), base.clone());
            tokio::spawn(async move {
                let mut created = Vec::new();
                for _ in 0..200 {
                    let email = unique_email();
                    match client
                        .post(format!("{base}/auth/register"))
                        .json(&json!({"email": email, "password": PASSWORD}))
                        .send()
                        .await
                    {
                        Ok(response) if response.status() == StatusCode::CREATED => created.push(email),
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                created
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(700)).await;
    service.start_kill().unwrap();
    let _ = service.wait().await;
    let mut created = Vec::new();
    for task in load {
        created.extend(task.await.unwrap());
    }
    assert!(!created.is_empty(), "some registrations completed before the crash");

    let _restarted = spawn();
    wait_ready().await;
    for email in created {
        let login = client
            .post(format!("{base}/auth/login"))
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), StatusCode::OK, "{email} got a 201 but cannot log in after the crash");
    }
}
