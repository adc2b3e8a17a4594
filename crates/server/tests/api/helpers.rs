//! Every test owns its world: a fresh database (a temporary SQLite file, or a new PostgreSQL
//! database), its own Redis key prefix, and an instance on a random port.

use std::sync::Once;
use std::time::Duration;

use auth_service::config::Secret;
use auth_service::{Application, Settings};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// The service's binary, for tests that run it as an operator would.
pub const BINARY: &str = env!("CARGO_BIN_EXE_auth-service");

/// A port nobody listens on right now (the one helper every test uses for that).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub const TEST_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long!";
pub const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file and the in-process cache: the embedded default.
    Sqlite,
    /// PostgreSQL and Redis: production.
    Postgres,
}

/// Whether every backend and tool must be there (CI): then a missing one fails, not skips.
pub fn backends_required() -> bool {
    std::env::var("AUTH_TEST_REQUIRE_BACKENDS").is_ok_and(|value| value == "1")
        || std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Whether the PostgreSQL + Redis variant can run; under CI it must.
pub fn postgres_available() -> bool {
    let configured = std::env::var("TEST_DATABASE_URL").is_ok() && std::env::var("TEST_REDIS_URL").is_ok();
    assert!(
        configured || !backends_required(),
        "TEST_DATABASE_URL and TEST_REDIS_URL must be set under CI; run the tests with scripts/test.sh"
    );
    if !configured {
        eprintln!(
            "skipping PostgreSQL + Redis variant: TEST_DATABASE_URL/TEST_REDIS_URL not set (use scripts/test.sh)"
        );
    }
    configured
}

/// Runs each listed `async fn(Backend)` once per backend, as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test($crate::helpers::Backend::Sqlite).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if $crate::helpers::postgres_available() {
                        super::$test($crate::helpers::Backend::Postgres).await;
                    }
                }
            )+
        }
    };
}

/// Runs each listed `async fn()` on PostgreSQL + Redis only (multi-instance behaviour).
#[macro_export]
macro_rules! on_postgres {
    ($($test:ident),+ $(,)?) => {
        mod postgres_only {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if $crate::helpers::postgres_available() {
                        super::$test().await;
                    }
                }
            )+
        }
    };
}

fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if std::env::var_os("TEST_LOG").is_some() {
            auth_service::telemetry::init(Some("pretty"));
        }
    });
}

/// One ID-token key (RS256, what relying parties expect by default) for every instance of this test run, so that no
/// instance generates its own.
pub fn test_oidc_key() -> std::path::PathBuf {
    static KEY: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("auth-test-oidc-{}.pem", Uuid::new_v4().simple()));
        let pair = auth_core::sessions::keys::generate_key_pair(jsonwebtoken::Algorithm::RS256).expect("key pair");
        std::fs::write(&path, pair.private_pem).expect("write the test OIDC key");
        path
    })
    .clone()
}

/// Settings for a fresh world on `backend`: its own database and Redis prefix.
pub async fn fresh_settings(backend: Backend) -> Settings {
    init_logging();
    let mut settings = Settings {
        service_port: 0,
        jwt_secret: Some(Secret::new(TEST_SECRET)),
        bcrypt_cost: 4,
        log_format: Some("pretty".into()),
        // Tests send many requests from one address; the limit tests set these back.
        rate_limit_per_minute: 10_000,
        login_failure_limit: 10_000,
        oidc_signing_key_path: Some(test_oidc_key()),
        ..Settings::default()
    };
    match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("auth-test-{}.db", Uuid::new_v4().simple()));
            settings.database_url = format!("sqlite://{}", path.display());
        }
        Backend::Postgres => {
            settings.database_url = create_database().await;
            let redis = std::env::var("TEST_REDIS_URL").unwrap_or_default();
            settings.redis_url = Some(Secret::new(redis));
            settings.redis_key_prefix = format!("test:{}:", Uuid::new_v4().simple());
        }
    }
    settings
}

/// Creates an empty database on the test server and returns its URL.
async fn create_database() -> String {
    use sqlx::Connection;
    let admin_url = std::env::var("TEST_DATABASE_URL").unwrap_or_default();
    let name = format!("auth_test_{}", Uuid::new_v4().simple());
    let mut connection = sqlx::PgConnection::connect(&admin_url).await.expect("connect to TEST_DATABASE_URL");
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.expect("create test database");
    let (base, _) = admin_url.rsplit_once('/').expect("TEST_DATABASE_URL names a database");
    let query = admin_url.split_once('?').map(|(_, query)| format!("?{query}")).unwrap_or_default();
    format!("{base}/{name}{query}")
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, customize: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = fresh_settings(backend).await;
        customize(&mut settings);
        Self::start(settings, backend).await
    }

    /// Starts an instance on existing settings (a second instance on the same database).
    pub async fn start(settings: Settings, _backend: Backend) -> Self {
        Self::start_with_clock(settings, std::sync::Arc::new(auth_core::clock::SystemClock)).await
    }

    /// A fresh world whose rules all read `clock`: tests move it instead of sleeping.
    pub async fn spawn_with_clock(
        backend: Backend,
        clock: std::sync::Arc<auth_core::clock::FixedClock>,
        customize: impl FnOnce(&mut Settings),
    ) -> Self {
        let mut settings = fresh_settings(backend).await;
        customize(&mut settings);
        Self::start_with_clock(settings, clock).await
    }

    /// Starts an instance on existing settings whose rules all read `clock`.
    pub async fn start_with_clock(settings: Settings, clock: std::sync::Arc<dyn auth_core::clock::Clock>) -> Self {
        let application = Application::build_with(settings.clone(), clock).await.expect("application builds");
        let address = format!("http://127.0.0.1:{}", application.port());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until_stopped(async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client");
        Self { address, client, settings, stop: Some(stop), server: Some(server) }
    }

    /// Stops serving (graceful), as SIGTERM would.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Response {
        self.client.post(self.url(path)).json(&body).send().await.expect("request sent")
    }

    pub async fn post_bearer(&self, path: &str, token: &str) -> Response {
        self.client.post(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    pub async fn get_bearer(&self, path: &str, token: &str) -> Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.expect("request sent")
    }

    pub async fn register(&self, email: &str, password: &str) -> Response {
        self.post_json("/auth/register", json!({"email": email, "password": password})).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Response {
        self.post_json("/auth/login", json!({"email": email, "password": password})).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post_json("/auth/refresh", json!({"refresh_token": refresh_token})).await
    }

    pub async fn validate(&self, access_token: &str) -> Response {
        self.post_bearer("/auth/validate", access_token).await
    }

    /// Registers a fresh user and signs in: (email, token pair).
    pub async fn signed_in_user(&self) -> (String, Tokens) {
        let email = unique_email();
        assert_eq!(self.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
        let tokens = Tokens::from(self.login(&email, PASSWORD).await).await;
        (email, tokens)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// A token pair from a 200 response.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

impl Tokens {
    pub async fn from(response: Response) -> Self {
        assert_eq!(response.status(), StatusCode::OK, "expected a token pair");
        let body: Value = response.json().await.expect("json body");
        Self {
            access: body["access_token"].as_str().expect("access_token").to_owned(),
            refresh: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
        }
    }
}

pub fn unique_email() -> String {
    format!("user-{}@example.com", Uuid::new_v4().simple())
}

/// Asserts a problem-JSON answer with `status` and `code`; returns the body.
pub async fn assert_problem(response: Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(response.status(), status, "status for expected code {code}");
    let content_type =
        response.headers().get("content-type").and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
    assert!(content_type.starts_with("application/problem+json"), "content type {content_type}");
    let body: Value = response.json().await.expect("problem body");
    assert_eq!(body["code"], code, "body: {body}");
    assert_eq!(body["status"], status.as_u16());
    body
}

/// Claims of a JWT, without verification (for assertions only).
pub fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("base64url payload");
    serde_json::from_slice(&bytes).expect("json claims")
}
