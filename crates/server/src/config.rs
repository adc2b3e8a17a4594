//! Typed settings: command-line flags, then the environment (and `.env`), then defaults.
//! Names are those of the README's configuration table; the FastAPI service's names are accepted as
//! aliases.

use std::net::IpAddr;
use std::path::PathBuf;

use auth_core::model::Role;
use clap::{ArgAction, Args};
use ipnet::IpNet;

/// `Debug` of the settings, without secrets.
mod debug;
mod oidc_providers;
mod validate;
mod webauthn;

pub use auth_core::redact::Secret;
pub use oidc_providers::{BUILT_IN_PROVIDERS, DEFAULT_OIDC_SCOPES, OidcProviderSettings};
pub use validate::{MIN_EVENTS_POLL_INTERVAL_MS, MIN_WEBHOOK_SECRET_BYTES};

pub const DEFAULT_WEBAUTHN_RP_NAME: &str = "auth-service";
pub const DEFAULT_DATABASE_URL: &str = "sqlite://auth.db";
pub const DEFAULT_HOST: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 9998;
pub const DEFAULT_ISSUER: &str = "auth-service";
pub const DEFAULT_ACCESS_MINUTES: i64 = 15;
pub const DEFAULT_REFRESH_MINUTES: i64 = 43_200;
pub const DEFAULT_REUSE_INTERVAL_SECONDS: i64 = 10;
pub const DEFAULT_MAX_BODY_BYTES: usize = 65_536;
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 100;
pub const DEFAULT_BCRYPT_COST: u32 = 12;
pub const DEFAULT_LOGIN_FAILURE_LIMIT: u32 = 10;
pub const DEFAULT_LOGIN_FAILURE_WINDOW_SECONDS: u64 = 900;
pub const DEFAULT_REAUTHENTICATION_WINDOW_SECONDS: u64 = 300;
pub const DEFAULT_REQUEST_TIMEOUT_SECONDS: u64 = 10;
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECONDS: u64 = 15;
pub const DEFAULT_DATABASE_MAX_CONNECTIONS: u32 = 20;
pub const DEFAULT_HASH_QUEUE: usize = 256;
pub const DEFAULT_REDIS_PREFIX: &str = "auth:";
pub const DEFAULT_EMAIL_FROM: &str = "auth-service <no-reply@localhost>";
pub const DEFAULT_EVENTS_STREAM: &str = "auth:events";
pub const DEFAULT_EVENTS_STREAM_MAX_LENGTH: usize = 1_000_000;
pub const DEFAULT_WEBHOOK_TIMEOUT_SECONDS: u64 = 5;
pub const DEFAULT_EVENTS_MAX_ATTEMPTS: u32 = 12;
pub const DEFAULT_EVENTS_RETRY_BASE_MS: u64 = 1_000;
pub const DEFAULT_EVENTS_RETRY_MAX_SECONDS: u64 = 3_600;
pub const DEFAULT_EVENTS_POLL_INTERVAL_MS: u64 = 500;
pub const DEFAULT_EVENTS_LEASE_SECONDS: u64 = 60;
pub const DEFAULT_EVENTS_RETENTION_HOURS: u64 = 168;
pub const DEFAULT_JWT_ALGORITHM: &str = "HS256";
pub const DEFAULT_JWT_PRIVATE_KEY_PATH: &str = "certs/private.pem";
pub const DEFAULT_JWT_PUBLIC_KEY_PATH: &str = "certs/public.pem";
pub const DEFAULT_PASSWORD_HASH: &str = "bcrypt";
pub const DEFAULT_OAUTH_STATE_TTL_SECONDS: u64 = 600;
pub const DEFAULT_CLIENT_SECRET_OVERLAP_SECONDS: u64 = 24 * 3600;
pub const DEFAULT_UI_TITLE: &str = "auth-service";
pub const DEFAULT_GOOGLE_ISSUER_URL: &str = "https://accounts.google.com";
pub const DEFAULT_VK_ID_BASE_URL: &str = "https://id.vk.com";
pub const DEFAULT_FACEBOOK_GRAPH_URL: &str = "https://graph.facebook.com";
pub const DEFAULT_FACEBOOK_DIALOG_URL: &str = "https://www.facebook.com";
pub const DEFAULT_FACEBOOK_API_VERSION: &str = "v21.0";
pub const DEFAULT_GITHUB_BASE_URL: &str = "https://github.com";
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
pub const DEFAULT_YANDEX_OAUTH_URL: &str = "https://oauth.yandex.ru";
pub const DEFAULT_YANDEX_LOGIN_URL: &str = "https://login.yandex.ru";
pub const DEFAULT_TELEGRAM_ISSUER_URL: &str = "https://oauth.telegram.org";
pub const DEFAULT_APPLE_ISSUER_URL: &str = "https://appleid.apple.com";
pub const DEFAULT_APP_ENV: &str = "development";

/// Aliases used by the FastAPI service this replaces: (alias, canonical).
pub const ENV_ALIASES: &[(&str, &str)] = &[
    ("JWT_ALG", "JWT_ALGORITHM"),
    ("JWT_ACCESS_TTL_MIN", "ACCESS_TOKEN_EXPIRE"),
    ("JWT_REFRESH_TTL_MIN", "REFRESH_TOKEN_EXPIRE"),
];

/// Every setting of the service. Each is a flag and an environment variable.
#[derive(Clone, Args)]
pub struct Settings {
    /// postgres://, postgresql://, postgresql+asyncpg:// or sqlite:// URL.
    #[arg(global = true, long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    /// Pool size per instance.
    #[arg(global = true, long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = DEFAULT_DATABASE_MAX_CONNECTIONS)]
    pub database_max_connections: u32,
    /// redis:// or rediss:// URL; unset means in-process cache (single instance only).
    #[arg(global = true, long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,
    /// Prefix of every Redis key and channel, so several deployments can share one Redis.
    #[arg(global = true, long, env = "REDIS_KEY_PREFIX", default_value = DEFAULT_REDIS_PREFIX)]
    pub redis_key_prefix: String,
    #[arg(global = true, long = "host", env = "SERVICE_HOST", default_value = DEFAULT_HOST)]
    pub service_host: String,
    #[arg(global = true, long = "port", env = "SERVICE_PORT", default_value_t = DEFAULT_PORT)]
    pub service_port: u16,
    /// HS256, RS256, ES256 or EdDSA.
    #[arg(global = true, long, env = "JWT_ALGORITHM", default_value = DEFAULT_JWT_ALGORITHM)]
    pub jwt_algorithm: String,
    /// HS256 key, at least 32 bytes.
    #[arg(global = true, long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<Secret>,
    #[arg(global = true, long, env = "JWT_PRIVATE_KEY_PATH", default_value = DEFAULT_JWT_PRIVATE_KEY_PATH)]
    pub jwt_private_key_path: PathBuf,
    #[arg(global = true, long, env = "JWT_PUBLIC_KEY_PATH", default_value = DEFAULT_JWT_PUBLIC_KEY_PATH)]
    pub jwt_public_key_path: PathBuf,
    /// Public keys of retired key pairs, still published and accepted until their tokens expire.
    #[arg(global = true, long, env = "JWT_RETIRED_PUBLIC_KEY_PATHS", value_delimiter = ',')]
    pub jwt_retired_public_key_paths: Vec<PathBuf>,
    #[arg(global = true, long, env = "JWT_ISSUER", default_value = DEFAULT_ISSUER)]
    pub jwt_issuer: String,
    #[arg(global = true, long, env = "JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
    /// Access-token lifetime, minutes.
    #[arg(global = true, long, env = "ACCESS_TOKEN_EXPIRE", default_value_t = DEFAULT_ACCESS_MINUTES)]
    pub access_token_expire: i64,
    /// Refresh-token lifetime, minutes.
    #[arg(global = true, long, env = "REFRESH_TOKEN_EXPIRE", default_value_t = DEFAULT_REFRESH_MINUTES)]
    pub refresh_token_expire: i64,
    /// Seconds in which the immediate parent of a live refresh token still answers; 0 is strict.
    #[arg(global = true, long, env = "REFRESH_REUSE_INTERVAL", default_value_t = DEFAULT_REUSE_INTERVAL_SECONDS)]
    pub refresh_reuse_interval: i64,
    #[arg(global = true, long, env = "MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Per-client budget on the public auth endpoints; 0 turns it off.
    #[arg(global = true, long, env = "RATE_LIMIT_PER_MINUTE", default_value_t = DEFAULT_RATE_LIMIT_PER_MINUTE)]
    pub rate_limit_per_minute: u32,
    /// Also limit `/auth/validate` (exempt by default: gateways call it for every request).
    #[arg(global = true, long, env = "RATE_LIMIT_VALIDATE", action = ArgAction::Set, default_value_t = false)]
    pub rate_limit_validate: bool,
    /// Failed password logins per account (known or not) within the window before it cools off;
    /// 0 turns it off.
    #[arg(global = true, long, env = "LOGIN_FAILURE_LIMIT", default_value_t = DEFAULT_LOGIN_FAILURE_LIMIT)]
    pub login_failure_limit: u32,
    /// Window of LOGIN_FAILURE_LIMIT, seconds.
    #[arg(global = true, long, env = "LOGIN_FAILURE_WINDOW", default_value_t = DEFAULT_LOGIN_FAILURE_WINDOW_SECONDS)]
    pub login_failure_window: u64,
    /// How recent a session's sign-in must be (seconds) for acts that accounts without a
    /// password cannot confirm otherwise (deleting the account).
    #[arg(global = true, long, env = "REAUTHENTICATION_WINDOW", default_value_t = DEFAULT_REAUTHENTICATION_WINDOW_SECONDS)]
    pub reauthentication_window: u64,
    /// Key material (at least 32 bytes) that TOTP secrets are sealed under. Unset: derived from
    /// the JWT signing key, so rotating that key makes enrolled authenticator apps unusable; set
    /// this before the first rotation. Changing it has the same effect.
    #[arg(global = true, long, env = "MFA_SECRET_KEY", hide_env_values = true)]
    pub mfa_secret_key: Option<Secret>,
    /// The relying party's name shown by authenticators, and the issuer of TOTP enrolments.
    #[arg(global = true, long, env = "WEBAUTHN_RP_NAME", default_value = DEFAULT_WEBAUTHN_RP_NAME)]
    pub webauthn_rp_name: String,
    /// The WebAuthn relying party id passkeys are bound to; default: the host of `PUBLIC_URL`
    /// (`localhost` when that is a loopback address).
    #[arg(global = true, long, env = "WEBAUTHN_RP_ID")]
    pub webauthn_rp_id: Option<String>,
    /// Origins passkey ceremonies may come from (comma-separated); default: `PUBLIC_URL`'s.
    #[arg(global = true, long, env = "WEBAUTHN_ORIGINS", value_delimiter = ',')]
    pub webauthn_origins: Vec<String>,
    /// Roles (comma-separated, e.g. `admin`) whose tokens the admin API accepts only at `aal2`.
    #[arg(global = true, long, env = "MFA_REQUIRED_ROLES", value_delimiter = ',', value_parser = parse_role)]
    pub mfa_required_roles: Vec<Role>,
    /// Browser origins allowed by CORS (comma-separated); empty: CORS off.
    #[arg(global = true, long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,
    /// CIDRs whose X-Forwarded-For / Forwarded headers are believed.
    #[arg(global = true, long, env = "TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network)]
    pub trusted_proxies: Vec<IpNet>,
    /// bcrypt or argon2id.
    #[arg(global = true, long, env = "PASSWORD_HASH", default_value = DEFAULT_PASSWORD_HASH)]
    pub password_hash: String,
    #[arg(global = true, long, env = "BCRYPT_COST", default_value_t = DEFAULT_BCRYPT_COST)]
    pub bcrypt_cost: u32,
    /// Concurrent password hashes; default: the number of cores.
    #[arg(global = true, long, env = "PASSWORD_HASH_WORKERS")]
    pub password_hash_workers: Option<usize>,
    /// Most logins that may wait for a hashing worker; fewer wait when the measured hash time
    /// says they could not finish within `REQUEST_TIMEOUT` (those get 503 at once).
    #[arg(global = true, long, env = "PASSWORD_HASH_QUEUE", default_value_t = DEFAULT_HASH_QUEUE)]
    pub password_hash_queue: usize,
    #[arg(global = true, long, env = "REQUIRE_EMAIL_VERIFICATION", action = ArgAction::Set, default_value_t = false)]
    pub require_email_verification: bool,
    /// pretty or json; default pretty on a terminal, else json.
    #[arg(global = true, long, env = "LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Base of links in emails and OAuth callbacks; default `http://{SERVICE_HOST}:{SERVICE_PORT}`.
    #[arg(global = true, long, env = "PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Page that verifies an email; the token is appended. Default: the hosted page,
    /// `{PUBLIC_URL}/ui/verify-email?token=`.
    #[arg(global = true, long, env = "EMAIL_VERIFY_URL")]
    pub email_verify_url: Option<String>,
    /// Page that sets a new password; the token is appended. Default: the hosted page,
    /// `{PUBLIC_URL}/ui/reset-password?token=`.
    #[arg(global = true, long, env = "PASSWORD_RESET_URL")]
    pub password_reset_url: Option<String>,
    /// `smtp://user:pass@host:port` (`?tls=required` for STARTTLS) or `smtps://...`; unset
    /// writes emails to the log.
    #[arg(global = true, long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,
    #[arg(global = true, long, env = "EMAIL_FROM", default_value = DEFAULT_EMAIL_FROM)]
    pub email_from: String,
    /// Seconds a social sign-in may take between the redirect to the provider and the callback.
    #[arg(global = true, long, env = "OAUTH_STATE_TTL", default_value_t = DEFAULT_OAUTH_STATE_TTL_SECONDS)]
    pub oauth_state_ttl: u64,
    /// Comma-separated allow-list for `redirect_to` after social sign-in (exact match).
    #[arg(global = true, long, env = "ALLOWED_REDIRECT_URLS", value_delimiter = ',')]
    pub allowed_redirect_urls: Vec<String>,
    /// Serve the hosted pages under `/ui/`.
    #[arg(global = true, long, env = "UI_ENABLED", action = ArgAction::Set, default_value_t = true)]
    pub ui_enabled: bool,
    /// The product name the pages show.
    #[arg(global = true, long, env = "UI_TITLE", default_value = DEFAULT_UI_TITLE)]
    pub ui_title: String,
    /// Domain of the browser session cookie (e.g. `.example.com`: one sign-in for every app on
    /// the subdomains behind the gateway); unset: host-only.
    #[arg(global = true, long, env = "COOKIE_DOMAIN")]
    pub cookie_domain: Option<String>,
    /// `issuer` of the OpenID provider; default `PUBLIC_URL` without a trailing slash.
    #[arg(global = true, long, env = "OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// PEM private key (RSA, P-256 or Ed25519) that signs ID tokens when `JWT_ALGORITHM` is
    /// HS256; generated beside the database in development.
    #[arg(global = true, long, env = "OIDC_SIGNING_KEY_PATH")]
    pub oidc_signing_key_path: Option<PathBuf>,
    /// Seconds a rotated OAuth client secret keeps working.
    #[arg(global = true, long, env = "CLIENT_SECRET_OVERLAP", default_value_t = DEFAULT_CLIENT_SECRET_OVERLAP_SECONDS)]
    pub client_secret_overlap: u64,
    #[arg(global = true, long, env = "GOOGLE_CLIENT_ID")]
    pub google_client_id: Option<String>,
    #[arg(global = true, long, env = "GOOGLE_CLIENT_SECRET", hide_env_values = true)]
    pub google_client_secret: Option<Secret>,
    #[arg(global = true, long, env = "GOOGLE_ISSUER_URL", default_value = DEFAULT_GOOGLE_ISSUER_URL)]
    pub google_issuer_url: String,
    /// More Google client ids (Android, iOS) accepted as `aud` of app-flow ID tokens.
    #[arg(global = true, long, env = "GOOGLE_EXTRA_CLIENT_IDS", value_delimiter = ',')]
    pub google_extra_client_ids: Vec<String>,
    #[arg(global = true, long, env = "VK_CLIENT_ID")]
    pub vk_client_id: Option<String>,
    #[arg(global = true, long, env = "VK_CLIENT_SECRET", hide_env_values = true)]
    pub vk_client_secret: Option<Secret>,
    #[arg(global = true, long, env = "VK_ID_BASE_URL", default_value = DEFAULT_VK_ID_BASE_URL)]
    pub vk_id_base_url: String,
    #[arg(global = true, long, env = "FACEBOOK_CLIENT_ID")]
    pub facebook_client_id: Option<String>,
    #[arg(global = true, long, env = "FACEBOOK_CLIENT_SECRET", hide_env_values = true)]
    pub facebook_client_secret: Option<Secret>,
    #[arg(global = true, long, env = "FACEBOOK_GRAPH_URL", default_value = DEFAULT_FACEBOOK_GRAPH_URL)]
    pub facebook_graph_url: String,
    #[arg(global = true, long, env = "FACEBOOK_DIALOG_URL", default_value = DEFAULT_FACEBOOK_DIALOG_URL)]
    pub facebook_dialog_url: String,
    #[arg(global = true, long, env = "FACEBOOK_API_VERSION", default_value = DEFAULT_FACEBOOK_API_VERSION)]
    pub facebook_api_version: String,
    #[arg(global = true, long, env = "GITHUB_CLIENT_ID")]
    pub github_client_id: Option<String>,
    #[arg(global = true, long, env = "GITHUB_CLIENT_SECRET", hide_env_values = true)]
    pub github_client_secret: Option<Secret>,
    /// Where GitHub's authorize page and token exchange live (GitHub Enterprise: its host).
    #[arg(global = true, long, env = "GITHUB_BASE_URL", default_value = DEFAULT_GITHUB_BASE_URL)]
    pub github_base_url: String,
    #[arg(global = true, long, env = "GITHUB_API_URL", default_value = DEFAULT_GITHUB_API_URL)]
    pub github_api_url: String,
    /// Let a verified GitHub address link to an existing account with that address.
    #[arg(global = true, long, env = "GITHUB_TRUST_EMAIL", action = ArgAction::Set, default_value_t = false)]
    pub github_trust_email: bool,
    #[arg(global = true, long, env = "YANDEX_CLIENT_ID")]
    pub yandex_client_id: Option<String>,
    #[arg(global = true, long, env = "YANDEX_CLIENT_SECRET", hide_env_values = true)]
    pub yandex_client_secret: Option<Secret>,
    #[arg(global = true, long, env = "YANDEX_OAUTH_URL", default_value = DEFAULT_YANDEX_OAUTH_URL)]
    pub yandex_oauth_url: String,
    #[arg(global = true, long, env = "YANDEX_LOGIN_URL", default_value = DEFAULT_YANDEX_LOGIN_URL)]
    pub yandex_login_url: String,
    /// The bot token from @BotFather: checks the Telegram Login Widget's signed answers.
    #[arg(global = true, long, env = "TELEGRAM_BOT_TOKEN", hide_env_values = true)]
    pub telegram_bot_token: Option<Secret>,
    /// Telegram's OpenID Connect login: the bot's id and the secret @BotFather shows for it.
    #[arg(global = true, long, env = "TELEGRAM_CLIENT_ID")]
    pub telegram_client_id: Option<String>,
    #[arg(global = true, long, env = "TELEGRAM_CLIENT_SECRET", hide_env_values = true)]
    pub telegram_client_secret: Option<Secret>,
    #[arg(global = true, long, env = "TELEGRAM_ISSUER_URL", default_value = DEFAULT_TELEGRAM_ISSUER_URL)]
    pub telegram_issuer_url: String,
    /// Sign in with Apple: the Services ID.
    #[arg(global = true, long, env = "APPLE_CLIENT_ID")]
    pub apple_client_id: Option<String>,
    #[arg(global = true, long, env = "APPLE_TEAM_ID")]
    pub apple_team_id: Option<String>,
    /// The id of the Sign in with Apple key (the `.p8` file's name says it).
    #[arg(global = true, long, env = "APPLE_KEY_ID")]
    pub apple_key_id: Option<String>,
    /// The `.p8` file downloaded with that key: it signs the client secrets.
    #[arg(global = true, long, env = "APPLE_PRIVATE_KEY_PATH")]
    pub apple_private_key_path: Option<PathBuf>,
    /// App bundle ids (iOS) whose ID tokens the app flow also accepts as `aud`.
    #[arg(global = true, long, env = "APPLE_EXTRA_CLIENT_IDS", value_delimiter = ',')]
    pub apple_extra_client_ids: Vec<String>,
    #[arg(global = true, long, env = "APPLE_ISSUER_URL", default_value = DEFAULT_APPLE_ISSUER_URL)]
    pub apple_issuer_url: String,
    /// Further OpenID Connect providers by name (`corp,gitlab`), each set up by its
    /// `OIDC_<NAME>_ISSUER`, `_CLIENT_ID`, `_CLIENT_SECRET`, `_DISPLAY_NAME`, `_SCOPES`,
    /// `_TRUST_EMAIL`, `_TOKEN_AUTH_METHOD` and `_ID_TOKEN_ALGORITHMS` variables.
    #[arg(global = true, long, env = "OIDC_PROVIDERS", value_delimiter = ',')]
    pub oidc_providers: Vec<String>,
    /// What `load_oidc_providers` read for `oidc_providers` (clap cannot name those variables).
    #[arg(skip)]
    pub oidc_provider_settings: Vec<OidcProviderSettings>,
    /// At start-up, this account is created with role admin if it does not exist.
    #[arg(global = true, long, env = "ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Let ADMIN_EMAIL promote an account that already exists (else start-up refuses).
    #[arg(global = true, long, env = "ADMIN_PROMOTE_EXISTING", action = ArgAction::Set, default_value_t = false)]
    pub admin_promote_existing: bool,
    /// development or production; production refuses development shortcuts.
    #[arg(global = true, long, env = "APP_ENV", default_value = DEFAULT_APP_ENV)]
    pub app_env: String,
    /// Apply migrations when `serve` starts.
    #[arg(global = true, long, env = "AUTO_MIGRATE", action = ArgAction::Set, default_value_t = true)]
    pub auto_migrate: bool,
    /// Redis Stream that user events are appended to when REDIS_URL is set; empty turns it off.
    #[arg(global = true, long, env = "EVENTS_STREAM", default_value = DEFAULT_EVENTS_STREAM)]
    pub events_stream: String,
    /// Approximate length the stream is trimmed to (XADD MAXLEN ~).
    #[arg(global = true, long, env = "EVENTS_STREAM_MAX_LENGTH", default_value_t = DEFAULT_EVENTS_STREAM_MAX_LENGTH)]
    pub events_stream_max_length: usize,
    /// Endpoints that receive every user event as a signed POST.
    #[arg(global = true, long, env = "WEBHOOK_URLS", value_delimiter = ',')]
    pub webhook_urls: Vec<String>,
    /// HMAC-SHA256 key of the `X-Auth-Signature` header; required with WEBHOOK_URLS.
    #[arg(global = true, long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<Secret>,
    /// Seconds a webhook endpoint has to answer.
    #[arg(global = true, long, env = "WEBHOOK_TIMEOUT", default_value_t = DEFAULT_WEBHOOK_TIMEOUT_SECONDS)]
    pub webhook_timeout: u64,
    /// Delivery attempts before an event is dead-lettered.
    #[arg(global = true, long, env = "EVENTS_MAX_ATTEMPTS", default_value_t = DEFAULT_EVENTS_MAX_ATTEMPTS)]
    pub events_max_attempts: u32,
    /// First retry delay, milliseconds; doubles per attempt, with jitter.
    #[arg(global = true, long, env = "EVENTS_RETRY_BASE_MS", default_value_t = DEFAULT_EVENTS_RETRY_BASE_MS)]
    pub events_retry_base_ms: u64,
    /// Longest retry delay, seconds.
    #[arg(global = true, long, env = "EVENTS_RETRY_MAX_SECONDS", default_value_t = DEFAULT_EVENTS_RETRY_MAX_SECONDS)]
    pub events_retry_max_seconds: u64,
    /// How often each instance looks for undelivered events, milliseconds.
    #[arg(global = true, long, env = "EVENTS_POLL_INTERVAL_MS", default_value_t = DEFAULT_EVENTS_POLL_INTERVAL_MS)]
    pub events_poll_interval_ms: u64,
    /// How long a claimed event stays with the instance sending it; after a crash, another
    /// instance takes it over once this runs out.
    #[arg(global = true, long, env = "EVENTS_LEASE_SECONDS", default_value_t = DEFAULT_EVENTS_LEASE_SECONDS)]
    pub events_lease_seconds: u64,
    /// Hours delivered events are kept before pruning.
    #[arg(global = true, long, env = "EVENTS_RETENTION_HOURS", default_value_t = DEFAULT_EVENTS_RETENTION_HOURS)]
    pub events_retention_hours: u64,
    /// Longest a request may take before it is answered 503.
    #[arg(global = true, long, env = "REQUEST_TIMEOUT", default_value_t = DEFAULT_REQUEST_TIMEOUT_SECONDS)]
    pub request_timeout: u64,
    /// Longest in-flight requests may take to finish after SIGTERM.
    #[arg(global = true, long, env = "SHUTDOWN_TIMEOUT", default_value_t = DEFAULT_SHUTDOWN_TIMEOUT_SECONDS)]
    pub shutdown_timeout: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            database_url: DEFAULT_DATABASE_URL.into(),
            database_max_connections: DEFAULT_DATABASE_MAX_CONNECTIONS,
            redis_url: None,
            redis_key_prefix: DEFAULT_REDIS_PREFIX.into(),
            service_host: DEFAULT_HOST.into(),
            service_port: DEFAULT_PORT,
            jwt_algorithm: DEFAULT_JWT_ALGORITHM.into(),
            jwt_secret: None,
            jwt_private_key_path: DEFAULT_JWT_PRIVATE_KEY_PATH.into(),
            jwt_public_key_path: DEFAULT_JWT_PUBLIC_KEY_PATH.into(),
            jwt_retired_public_key_paths: Vec::new(),
            jwt_issuer: DEFAULT_ISSUER.into(),
            jwt_audience: None,
            access_token_expire: DEFAULT_ACCESS_MINUTES,
            refresh_token_expire: DEFAULT_REFRESH_MINUTES,
            refresh_reuse_interval: DEFAULT_REUSE_INTERVAL_SECONDS,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            rate_limit_per_minute: DEFAULT_RATE_LIMIT_PER_MINUTE,
            rate_limit_validate: false,
            login_failure_limit: DEFAULT_LOGIN_FAILURE_LIMIT,
            login_failure_window: DEFAULT_LOGIN_FAILURE_WINDOW_SECONDS,
            reauthentication_window: DEFAULT_REAUTHENTICATION_WINDOW_SECONDS,
            cors_allowed_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            password_hash: DEFAULT_PASSWORD_HASH.into(),
            bcrypt_cost: DEFAULT_BCRYPT_COST,
            password_hash_workers: None,
            password_hash_queue: DEFAULT_HASH_QUEUE,
            require_email_verification: false,
            log_format: None,
            public_url: None,
            email_verify_url: None,
            password_reset_url: None,
            smtp_url: None,
            email_from: DEFAULT_EMAIL_FROM.into(),
            admin_email: None,
            admin_promote_existing: false,
            oauth_state_ttl: DEFAULT_OAUTH_STATE_TTL_SECONDS,
            allowed_redirect_urls: Vec::new(),
            ui_enabled: true,
            ui_title: DEFAULT_UI_TITLE.into(),
            cookie_domain: None,
            oidc_issuer: None,
            oidc_signing_key_path: None,
            client_secret_overlap: DEFAULT_CLIENT_SECRET_OVERLAP_SECONDS,
            mfa_required_roles: Vec::new(),
            webauthn_rp_name: DEFAULT_WEBAUTHN_RP_NAME.into(),
            mfa_secret_key: None,
            webauthn_rp_id: None,
            webauthn_origins: Vec::new(),
            oidc_providers: Vec::new(),
            oidc_provider_settings: Vec::new(),
            google_client_id: None,
            google_client_secret: None,
            google_issuer_url: DEFAULT_GOOGLE_ISSUER_URL.into(),
            google_extra_client_ids: Vec::new(),
            vk_client_id: None,
            vk_client_secret: None,
            vk_id_base_url: DEFAULT_VK_ID_BASE_URL.into(),
            facebook_client_id: None,
            facebook_client_secret: None,
            facebook_graph_url: DEFAULT_FACEBOOK_GRAPH_URL.into(),
            facebook_dialog_url: DEFAULT_FACEBOOK_DIALOG_URL.into(),
            facebook_api_version: DEFAULT_FACEBOOK_API_VERSION.into(),
            github_client_id: None,
            github_client_secret: None,
            github_base_url: DEFAULT_GITHUB_BASE_URL.into(),
            github_api_url: DEFAULT_GITHUB_API_URL.into(),
            github_trust_email: false,
            yandex_client_id: None,
            yandex_client_secret: None,
            yandex_oauth_url: DEFAULT_YANDEX_OAUTH_URL.into(),
            yandex_login_url: DEFAULT_YANDEX_LOGIN_URL.into(),
            telegram_bot_token: None,
            telegram_client_id: None,
            telegram_client_secret: None,
            telegram_issuer_url: DEFAULT_TELEGRAM_ISSUER_URL.into(),
            apple_client_id: None,
            apple_team_id: None,
            apple_key_id: None,
            apple_private_key_path: None,
            apple_extra_client_ids: Vec::new(),
            apple_issuer_url: DEFAULT_APPLE_ISSUER_URL.into(),
            app_env: DEFAULT_APP_ENV.into(),
            auto_migrate: true,
            request_timeout: DEFAULT_REQUEST_TIMEOUT_SECONDS,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT_SECONDS,
            events_stream: DEFAULT_EVENTS_STREAM.into(),
            events_stream_max_length: DEFAULT_EVENTS_STREAM_MAX_LENGTH,
            webhook_urls: Vec::new(),
            webhook_secret: None,
            webhook_timeout: DEFAULT_WEBHOOK_TIMEOUT_SECONDS,
            events_max_attempts: DEFAULT_EVENTS_MAX_ATTEMPTS,
            events_retry_base_ms: DEFAULT_EVENTS_RETRY_BASE_MS,
            events_retry_max_seconds: DEFAULT_EVENTS_RETRY_MAX_SECONDS,
            events_poll_interval_ms: DEFAULT_EVENTS_POLL_INTERVAL_MS,
            events_lease_seconds: DEFAULT_EVENTS_LEASE_SECONDS,
            events_retention_hours: DEFAULT_EVENTS_RETENTION_HOURS,
        }
    }
}

impl Settings {
    pub fn is_production(&self) -> bool {
        self.app_env.eq_ignore_ascii_case("production")
    }

    /// The database URL with the FastAPI driver suffix (`+asyncpg`) dropped.
    pub fn normalized_database_url(&self) -> String {
        match self.database_url.split_once("://") {
            Some((scheme, rest)) if scheme.contains('+') => {
                let base = scheme.split('+').next().unwrap_or(scheme);
                format!("{base}://{rest}")
            }
            _ => self.database_url.clone(),
        }
    }

    pub fn is_sqlite(&self) -> bool {
        self.normalized_database_url().starts_with("sqlite:")
    }

    /// The SQLite file path, when the database is a SQLite file.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        let url = self.normalized_database_url();
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = path.split('?').next().unwrap_or(path);
        (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
    }

    /// The public base URL, without a trailing slash.
    pub fn public_base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen_address()),
        }
    }

    /// The OpenID provider's `issuer`: `OIDC_ISSUER`, else `PUBLIC_URL`, without a trailing slash.
    pub fn oidc_issuer(&self) -> String {
        match &self.oidc_issuer {
            Some(issuer) => issuer.trim_end_matches('/').to_owned(),
            None => self.public_base_url(),
        }
    }

    pub fn listen_address(&self) -> String {
        match self.service_host.parse::<IpAddr>() {
            Ok(IpAddr::V6(address)) => format!("[{address}]:{}", self.service_port),
            _ => format!("{}:{}", self.service_host, self.service_port),
        }
    }
}

fn parse_role(value: &str) -> Result<Role, String> {
    Role::parse(value.trim()).ok_or_else(|| format!("{value:?} is not a role (user or admin)"))
}

fn parse_network(value: &str) -> Result<IpNet, String> {
    let value = value.trim();
    value
        .parse::<IpNet>()
        .or_else(|_| value.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{value:?} is not a CIDR or an IP address"))
}

/// Reads `.env` and applies the legacy aliases, before anything else looks at the environment.
/// Runs before the async runtime starts, while the process has one thread.
pub fn prepare_environment() {
    let _ = dotenvy::dotenv();
    let mut additions: Vec<(String, String)> = Vec::new();
    for (alias, canonical) in ENV_ALIASES {
        if std::env::var_os(canonical).is_none()
            && let Ok(value) = std::env::var(alias)
        {
            additions.push(((*canonical).to_owned(), value));
        }
    }
    if std::env::var_os("DATABASE_URL").is_none()
        && let Some(url) = compose_postgres_url(|name| std::env::var(name).ok())
    {
        additions.push(("DATABASE_URL".to_owned(), url));
    }
    for (name, value) in additions {
        set_env(&name, &value);
    }
}

#[allow(unsafe_code)]
fn set_env(name: &str, value: &str) {
    // SAFETY: called from `main` before the runtime or any other thread exists.
    unsafe { std::env::set_var(name, value) };
}

/// Builds a URL from the FastAPI service's `POSTGRES_*` variables, when `POSTGRES_HOST` is set.
pub fn compose_postgres_url(lookup: impl Fn(&str) -> Option<String>) -> Option<String> {
    let host = lookup("POSTGRES_HOST")?;
    let port = lookup("POSTGRES_PORT").unwrap_or_else(|| "5432".into());
    let database = lookup("POSTGRES_DB").unwrap_or_else(|| "postgres".into());
    let user = lookup("POSTGRES_USER").unwrap_or_else(|| "postgres".into());
    let credentials = match lookup("POSTGRES_PASSWORD") {
        Some(password) => format!("{}:{}", encode_component(&user), encode_component(&password)),
        None => encode_component(&user),
    };
    Some(format!("postgres://{credentials}@{host}:{port}/{database}"))
}

fn encode_component(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (byte as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastapi_postgres_variables_compose_a_url_with_escaped_credentials() {
        let values = [
            ("POSTGRES_HOST", "db"),
            ("POSTGRES_PORT", "6543"),
            ("POSTGRES_DB", "auth"),
            ("POSTGRES_USER", "svc"),
            ("POSTGRES_PASSWORD", "p@ss:word"),
        ];
        let lookup = |name: &str| values.iter().find(|(key, _)| *key == name).map(|(_, value)| (*value).to_owned());
        assert_eq!(compose_postgres_url(lookup).as_deref(), Some("postgres://svc:p%40ss%3Aword@db:6543/auth"));
        assert_eq!(compose_postgres_url(|_| None), None);
    }

    #[test]
    fn the_asyncpg_driver_suffix_is_ignored() {
        let settings = Settings { database_url: "postgresql+asyncpg://u@h/db".into(), ..Settings::default() };
        assert_eq!(settings.normalized_database_url(), "postgresql://u@h/db");
        assert!(!settings.is_sqlite());
    }

    #[test]
    fn sqlite_paths_are_found_and_memory_has_none() {
        let file = Settings { database_url: "sqlite://data/auth.db?mode=rwc".into(), ..Settings::default() };
        assert_eq!(file.sqlite_path(), Some(PathBuf::from("data/auth.db")));
        let memory = Settings { database_url: "sqlite::memory:".into(), ..Settings::default() };
        assert_eq!(memory.sqlite_path(), None);
    }

    #[test]
    fn secrets_do_not_print() {
        let settings = Settings {
            jwt_secret: Some(Secret::new("super-secret-value")),
            database_url: "postgres://svc:db-password@db:5432/auth?sslpassword=db-query-secret".into(),
            redis_url: Some(Secret::new("redis://:redis-password@cache:6379")),
            smtp_url: Some(Secret::new("smtp://mailer:smtp-password@mail:587")),
            webhook_urls: vec!["https://hook-user:hook-password@hooks.example.com/in?token=hook-token".into()],
            webhook_secret: Some(Secret::new("webhook-signing-secret")),
            google_client_secret: Some(Secret::new("google-client-secret")),
            vk_client_secret: Some(Secret::new("vk-client-secret")),
            facebook_client_secret: Some(Secret::new("facebook-client-secret")),
            github_client_secret: Some(Secret::new("github-client-secret")),
            yandex_client_secret: Some(Secret::new("yandex-client-secret")),
            telegram_bot_token: Some(Secret::new("123:telegram-bot-token")),
            telegram_client_secret: Some(Secret::new("telegram-client-secret")),
            ..Settings::default()
        };
        let printed = format!("{settings:?}");
        for secret in [
            "super-secret-value",
            "db-password",
            "db-query-secret",
            "redis-password",
            "smtp-password",
            "hook-user",
            "hook-password",
            "hook-token",
            "webhook-signing-secret",
            "google-client-secret",
            "vk-client-secret",
            "facebook-client-secret",
            "github-client-secret",
            "yandex-client-secret",
            "telegram-bot-token",
            "telegram-client-secret",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
        assert!(printed.contains("postgres://db:5432/auth") && printed.contains("https://hooks.example.com/in"));
    }

    #[test]
    fn a_composed_postgres_url_prints_without_its_password() {
        let lookup = |name: &str| match name {
            "POSTGRES_HOST" => Some("db".to_owned()),
            "POSTGRES_PASSWORD" => Some("alias-password".to_owned()),
            _ => None,
        };
        let settings = Settings { database_url: compose_postgres_url(lookup).unwrap(), ..Settings::default() };
        assert!(!format!("{settings:?}").contains("alias-password"));
    }
}
