//! Chooses the backends and keys from settings, once, and builds the services.
//! Nothing else in the code asks which database or cache is in use.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use auth_core::accounts::admin::AdminService;
use auth_core::accounts::email_flows::{EmailFlows, EmailLinks};
use auth_core::accounts::{AccountPolicy, AccountService, PasswordAlgorithm, PasswordHasher};
use auth_core::clock::Clock;
use auth_core::mfa::{MfaService, PasskeyService, SecretBox};
use auth_core::oauth::{IdentityProvider, OAuthService, OAuthSettings};
use auth_core::oidc::{OidcService, OidcSettings, ProviderTokens};
use auth_core::ports::{EphemeralStore, Mailer, NoBroadcast, Quota, RateLimiter, RevocationBroadcast, Store};
use auth_core::sessions::{AccessTokens, AssurancePolicy, RevocationSet, SessionService, SessionSettings};
use auth_store_postgres::PgStore;
use auth_store_sqlite::SqliteStore;

use crate::adapters::in_process::{InProcessEphemeralStore, InProcessLimiter};
use crate::adapters::redis::{RedisEphemeralStore, RedisHandle, RedisLimiter, RedisRevocationBroadcast};
use crate::config::Settings;
use crate::email::{LogMailer, SmtpMailer};
use crate::events::sinks::{EventSink, RedisStreamSink, WebhookSink};
use crate::events::{Dispatcher, DispatcherSettings};
use crate::keys::{load_id_token_keys, load_keys};
use crate::providers::{
    AppleConfig, AppleProvider, ClientSecret, EmailTrust, FacebookConfig, FacebookProvider, GithubConfig,
    GithubProvider, GoogleConfig, OpenIdConfig, OpenIdProvider, TelegramConfig, TelegramProvider, VkConfig, VkProvider,
    YandexConfig, YandexProvider,
};
use crate::ui::{Ui, UiSettings};

/// How long a request waits for a database connection before answering 503.
const DATABASE_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The running parts of the service.
pub struct Components {
    pub store: Arc<dyn Store>,
    pub accounts: Arc<AccountService>,
    pub sessions: Arc<SessionService>,
    pub admin: Arc<AdminService>,
    pub email_flows: Arc<EmailFlows>,
    pub oauth: Arc<OAuthService>,
    pub mfa: Arc<MfaService>,
    pub passkeys: Arc<PasskeyService>,
    /// The OpenID provider; `None` in production without an asymmetric signing key.
    pub oidc: Option<Arc<OidcService>>,
    pub redis: Option<Arc<RedisHandle>>,
    pub limiter: Arc<dyn RateLimiter>,
    pub dispatcher: Arc<Dispatcher>,
    /// Development shortcuts in use, said once at start-up.
    pub shortcuts: Vec<String>,
    pub ui: Arc<Ui>,
}

/// Contract: an authorization code lives 60 seconds.
const OIDC_CODE_TTL_SECONDS: i64 = 60;

/// Builds every part from settings, with `clock` as the source of "now" for every rule (the
/// system clock in production; tests may pass a clock they move themselves).
pub fn build(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Components> {
    settings.validate()?;
    let mut shortcuts = Vec::new();
    let store = connect_store(settings, &mut shortcuts)?;
    let keys = load_keys(settings, &mut shortcuts)?;
    let id_token_keys = load_id_token_keys(settings, &mut shortcuts)?;
    let redis = match &settings.redis_url {
        Some(url) => Some(Arc::new(
            RedisHandle::new(url.expose(), &settings.redis_key_prefix).context("REDIS_URL is not a valid Redis URL")?,
        )),
        None => {
            shortcuts.push("in-process cache (single instance only)".to_owned());
            None
        }
    };
    let public_url = settings.public_base_url();
    if public_url.starts_with("http://") && !is_local_url(&public_url) {
        shortcuts.push(format!("plain-http PUBLIC_URL {public_url}"));
    }
    let mailer: Arc<dyn Mailer> = match &settings.smtp_url {
        Some(url) => Arc::new(SmtpMailer::start(url.expose(), &settings.email_from)?),
        None => {
            shortcuts.push("emails written to the log (SMTP_URL unset)".to_owned());
            Arc::new(LogMailer)
        }
    };
    if settings.is_production() && !shortcuts.is_empty() {
        bail!("APP_ENV=production refuses development shortcuts: {}", shortcuts.join("; "));
    }

    let hasher = Arc::new(PasswordHasher::new(
        password_algorithm(settings)?,
        settings.password_hash_workers.unwrap_or_else(default_workers),
        settings.password_hash_queue,
        hashing_budget(settings.request_timeout),
    ));
    let access_ttl = chrono::Duration::minutes(settings.access_token_expire);
    let access_tokens = AccessTokens::new(keys, settings.jwt_issuer.clone(), settings.jwt_audience.clone(), access_ttl);
    let broadcast: Arc<dyn RevocationBroadcast> = match &redis {
        Some(redis) => Arc::new(RedisRevocationBroadcast::new(redis.clone())),
        None => Arc::new(NoBroadcast),
    };
    let sessions = Arc::new(SessionService::new(
        store.clone(),
        access_tokens,
        Arc::new(RevocationSet::new(access_ttl)),
        broadcast,
        clock.clone(),
        SessionSettings {
            refresh_token_ttl: chrono::Duration::minutes(settings.refresh_token_expire),
            refresh_reuse_interval: chrono::Duration::seconds(settings.refresh_reuse_interval),
            assurance: AssurancePolicy { mfa_required_roles: settings.mfa_required_roles.clone() },
        },
    ));
    let limiter: Arc<dyn RateLimiter> = match &redis {
        Some(redis) => Arc::new(RedisLimiter::new(redis.clone(), clock.clone())),
        None => Arc::new(InProcessLimiter::new(clock.clone())),
    };
    let login_failures = (settings.login_failure_limit > 0).then(|| Quota {
        limit: settings.login_failure_limit,
        period: Duration::from_secs(settings.login_failure_window),
    });
    let accounts = Arc::new(AccountService::new(
        store.clone(),
        hasher.clone(),
        sessions.clone(),
        limiter.clone(),
        clock.clone(),
        AccountPolicy {
            require_email_verification: settings.require_email_verification,
            login_failures,
            // A year is already more than "recent"; the cap keeps the conversion in range.
            reauthentication_window: chrono::Duration::seconds(settings.reauthentication_window.min(31_536_000) as i64),
        },
    ));
    let admin = Arc::new(AdminService::new(store.clone(), sessions.clone(), clock.clone()));
    let links = EmailLinks {
        verify_email: settings
            .email_verify_url
            .clone()
            .unwrap_or_else(|| format!("{public_url}/ui/verify-email?token=")),
        reset_password: settings
            .password_reset_url
            .clone()
            .unwrap_or_else(|| format!("{public_url}/ui/reset-password?token=")),
    };
    let email_flows = Arc::new(EmailFlows::new(
        store.clone(),
        hasher,
        sessions.clone(),
        accounts.clone(),
        mailer,
        clock.clone(),
        links,
    ));
    let pending: Arc<dyn EphemeralStore> = match &redis {
        Some(redis) => Arc::new(RedisEphemeralStore::new(redis.clone())),
        None => Arc::new(InProcessEphemeralStore::default()),
    };
    let sealing_key = match &settings.mfa_secret_key {
        Some(key) => key.expose().as_bytes().to_vec(),
        None => sessions.access_tokens().keys().derive_secret("totp-secret").to_vec(),
    };
    let secrets = SecretBox::new(&sealing_key).map_err(|error| anyhow::anyhow!("MFA_SECRET_KEY: {error}"))?;
    let relying_party = settings.relying_party()?;
    let passkeys = Arc::new(
        PasskeyService::new(&relying_party, store.clone(), sessions.clone(), pending.clone(), clock.clone())
            .map_err(|error| anyhow::anyhow!("{error}"))?,
    );
    let mfa = Arc::new(
        MfaService::new(
            store.clone(),
            accounts.clone(),
            sessions.clone(),
            pending.clone(),
            secrets,
            clock.clone(),
            settings.webauthn_rp_name.clone(),
        )
        .with_passkeys(passkeys.clone()),
    );
    let oidc = match id_token_keys {
        Some(id_keys) => Some(Arc::new(OidcService::new(
            store.clone(),
            pending.clone(),
            sessions.clone(),
            ProviderTokens::new(settings.oidc_issuer(), access_ttl, access_ttl, id_keys)?,
            clock.clone(),
            OidcSettings {
                code_ttl: chrono::Duration::seconds(OIDC_CODE_TTL_SECONDS),
                secret_overlap: chrono::Duration::seconds(settings.client_secret_overlap.min(31_536_000) as i64),
            },
        ))),
        None => {
            tracing::warn!("OpenID provider off: JWT_ALGORITHM is HS256 and OIDC_SIGNING_KEY_PATH is unset");
            None
        }
    };
    let oauth = Arc::new(OAuthService::new(
        identity_providers(settings, clock.clone())?,
        store.clone(),
        pending,
        sessions.clone(),
        clock.clone(),
        OAuthSettings {
            public_url: public_url.clone(),
            allowed_redirects: settings.allowed_redirect_urls.iter().filter(|url| !url.is_empty()).cloned().collect(),
            pending_ttl: Duration::from_secs(settings.oauth_state_ttl),
        },
    ));
    let ui = Arc::new(Ui::new(UiSettings {
        title: settings.ui_title.clone(),
        public_url: public_url.clone(),
        cookie_domain: settings.cookie_domain.clone(),
        allowed_redirects: settings.allowed_redirect_urls.clone(),
        origins: relying_party.origins.iter().map(|origin| origin.origin().ascii_serialization()).collect(),
        providers: oauth
            .browser_providers()
            .into_iter()
            .map(|(name, display)| (name.to_owned(), display.to_owned()))
            .collect(),
        csrf_key: sessions.access_tokens().keys().derive_secret("page-csrf"),
    })?);
    let dispatcher = Arc::new(Dispatcher::new(
        store.clone(),
        event_sinks(settings, redis.as_ref())?,
        DispatcherSettings {
            poll_interval: Duration::from_millis(settings.events_poll_interval_ms),
            lease: Duration::from_secs(settings.events_lease_seconds),
            max_attempts: settings.events_max_attempts,
            retry_base: Duration::from_millis(settings.events_retry_base_ms),
            retry_max: Duration::from_secs(settings.events_retry_max_seconds),
            retention: Duration::from_secs(settings.events_retention_hours.saturating_mul(3600)),
        },
        clock,
    ));
    Ok(Components {
        store,
        accounts,
        sessions,
        admin,
        email_flows,
        oauth,
        mfa,
        passkeys,
        oidc,
        redis,
        limiter,
        dispatcher,
        shortcuts,
        ui,
    })
}

/// The configured destinations of user events: the Redis Stream (when Redis is configured and
/// `EVENTS_STREAM` is not empty) and one signed webhook per URL.
fn event_sinks(settings: &Settings, redis: Option<&Arc<RedisHandle>>) -> anyhow::Result<Vec<Arc<dyn EventSink>>> {
    let mut sinks: Vec<Arc<dyn EventSink>> = Vec::new();
    if let Some(redis) = redis
        && !settings.events_stream.trim().is_empty()
    {
        sinks.push(Arc::new(RedisStreamSink::new(
            redis.clone(),
            settings.events_stream.trim(),
            settings.events_stream_max_length,
        )));
    }
    let urls: Vec<&str> = settings.webhook_urls.iter().map(|url| url.trim()).filter(|url| !url.is_empty()).collect();
    if urls.is_empty() {
        return Ok(sinks);
    }
    // `Settings::validate` refused webhooks without a long enough secret or an http(s) URL.
    let Some(secret) = settings.webhook_secret.clone() else {
        bail!("WEBHOOK_URLS needs a WEBHOOK_SECRET");
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(settings.webhook_timeout))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("auth-service/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("could not build the webhook HTTP client")?;
    for url in urls {
        sinks.push(Arc::new(WebhookSink::new(client.clone(), url, secret.clone())));
    }
    Ok(sinks)
}

/// The providers whose client id and secret are configured.
/// Sign in with Apple when `APPLE_CLIENT_ID` is set; the team, the key id and the key file are
/// then required, and a key that does not load stops start-up.
fn apple_provider(settings: &Settings, http: reqwest::Client) -> anyhow::Result<Option<AppleProvider>> {
    let Some(client_id) = &settings.apple_client_id else { return Ok(None) };
    let (Some(team_id), Some(key_id), Some(key_path)) =
        (&settings.apple_team_id, &settings.apple_key_id, &settings.apple_private_key_path)
    else {
        anyhow::bail!("APPLE_CLIENT_ID is set: APPLE_TEAM_ID, APPLE_KEY_ID and APPLE_PRIVATE_KEY_PATH are needed too");
    };
    let pem = std::fs::read_to_string(key_path)
        .with_context(|| format!("could not read APPLE_PRIVATE_KEY_PATH {}", key_path.display()))?;
    let config = AppleConfig {
        issuer: settings.apple_issuer_url.clone(),
        client_id: client_id.clone(),
        team_id: team_id.clone(),
        key_id: key_id.clone(),
        private_key_pem: auth_core::redact::Secret::new(pem),
        extra_client_ids: settings.apple_extra_client_ids.iter().filter(|id| !id.is_empty()).cloned().collect(),
    };
    AppleProvider::new(config, http).map(Some).map_err(|error| anyhow::anyhow!("APPLE_PRIVATE_KEY_PATH: {error}"))
}

fn identity_providers(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Vec<Arc<dyn IdentityProvider>>> {
    let http = crate::providers::http_client().context("could not build the HTTP client for providers")?;
    let mut providers: Vec<Arc<dyn IdentityProvider>> = Vec::new();
    if let (Some(client_id), Some(secret)) = (&settings.google_client_id, &settings.google_client_secret) {
        providers.push(Arc::new(OpenIdProvider::new(
            GoogleConfig {
                issuer: settings.google_issuer_url.clone(),
                client_id: client_id.clone(),
                client_secret: secret.clone(),
                extra_client_ids: settings
                    .google_extra_client_ids
                    .iter()
                    .filter(|id| !id.is_empty())
                    .cloned()
                    .collect(),
            }
            .into_openid(),
            http.clone(),
        )));
    }
    if let Some(client_id) = &settings.vk_client_id {
        providers.push(Arc::new(VkProvider::new(
            VkConfig {
                base_url: settings.vk_id_base_url.clone(),
                client_id: client_id.clone(),
                client_secret: settings.vk_client_secret.clone(),
            },
            http.clone(),
        )));
    }
    if let (Some(client_id), Some(secret)) = (&settings.facebook_client_id, &settings.facebook_client_secret) {
        providers.push(Arc::new(FacebookProvider::new(
            FacebookConfig {
                dialog_url: settings.facebook_dialog_url.clone(),
                graph_url: settings.facebook_graph_url.clone(),
                api_version: settings.facebook_api_version.clone(),
                client_id: client_id.clone(),
                client_secret: secret.clone(),
            },
            http.clone(),
        )));
    }
    if let (Some(client_id), Some(secret)) = (&settings.github_client_id, &settings.github_client_secret) {
        providers.push(Arc::new(GithubProvider::new(
            GithubConfig {
                base_url: settings.github_base_url.clone(),
                api_url: settings.github_api_url.clone(),
                client_id: client_id.clone(),
                client_secret: secret.clone(),
                trust_email: settings.github_trust_email,
            },
            http.clone(),
        )));
    }
    if let (Some(client_id), Some(secret)) = (&settings.yandex_client_id, &settings.yandex_client_secret) {
        providers.push(Arc::new(YandexProvider::new(
            YandexConfig {
                oauth_url: settings.yandex_oauth_url.clone(),
                login_url: settings.yandex_login_url.clone(),
                client_id: client_id.clone(),
                client_secret: secret.clone(),
            },
            http.clone(),
        )));
    }
    let telegram_client = settings.telegram_client_id.clone().zip(settings.telegram_client_secret.clone());
    if telegram_client.is_some() || settings.telegram_bot_token.is_some() {
        providers.push(Arc::new(TelegramProvider::new(
            TelegramConfig {
                issuer: settings.telegram_issuer_url.clone(),
                client: telegram_client,
                bot_token: settings.telegram_bot_token.clone(),
            },
            http.clone(),
            clock,
        )));
    }
    if let Some(apple) = apple_provider(settings, http.clone())? {
        providers.push(Arc::new(apple));
    }
    for provider in &settings.oidc_provider_settings {
        let config = OpenIdConfig {
            name: provider.name.clone(),
            display_name: provider.display_name.clone(),
            issuer: provider.issuer.trim_end_matches('/').to_owned(),
            issuer_aliases: Vec::new(),
            client_id: provider.client_id.clone(),
            client_secret: ClientSecret::Fixed(provider.client_secret.clone()),
            extra_client_ids: Vec::new(),
            scopes: provider.scopes.clone(),
            client_authentication: provider.client_authentication,
            algorithms: provider.id_token_algorithms.clone(),
            email_trust: if provider.trust_email { EmailTrust::WhenVerified } else { EmailTrust::Never },
            form_post: false,
            subject_from_id: false,
        };
        providers.push(Arc::new(OpenIdProvider::new(config, http.clone())));
    }
    Ok(providers)
}

fn is_local_url(url: &str) -> bool {
    let host = url.trim_start_matches("http://").split(['/', ':']).next().unwrap_or_default();
    matches!(host, "localhost" | "127.0.0.1" | "[") || host.starts_with("127.")
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// The hashing algorithm of (validated) settings.
fn password_algorithm(settings: &Settings) -> anyhow::Result<PasswordAlgorithm> {
    match settings.password_hash.to_ascii_lowercase().as_str() {
        "bcrypt" => Ok(PasswordAlgorithm::Bcrypt { cost: settings.bcrypt_cost }),
        "argon2id" | "argon2" => Ok(PasswordAlgorithm::Argon2id),
        other => bail!("PASSWORD_HASH must be bcrypt or argon2id, not {other:?}"),
    }
}

/// Opens the configured database (lazily: an outage at start-up is not fatal until migrating).
pub fn connect_store(settings: &Settings, shortcuts: &mut Vec<String>) -> anyhow::Result<Arc<dyn Store>> {
    let url = settings.normalized_database_url();
    if settings.is_sqlite() {
        match settings.sqlite_path() {
            Some(path) => {
                if path.starts_with(std::env::temp_dir()) {
                    shortcuts.push(format!("SQLite file in a temporary directory ({})", path.display()));
                } else {
                    shortcuts.push(format!("SQLite database {}", path.display()));
                }
            }
            None => shortcuts.push("in-memory SQLite database".to_owned()),
        }
        let store = SqliteStore::connect(
            &url,
            auth_store_sqlite::PoolSettings {
                max_connections: settings.database_max_connections,
                acquire_timeout: DATABASE_ACQUIRE_TIMEOUT,
            },
        )
        .context("could not open the SQLite database")?;
        Ok(Arc::new(store))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PgStore::connect(
            &url,
            auth_store_postgres::PoolSettings {
                max_connections: settings.database_max_connections,
                acquire_timeout: DATABASE_ACQUIRE_TIMEOUT,
            },
        )
        .context("DATABASE_URL is not a valid PostgreSQL URL")?;
        Ok(Arc::new(store))
    } else {
        bail!("DATABASE_URL must start with postgres://, postgresql:// or sqlite://")
    }
}

/// How long a request may spend waiting for and running its password hash: the request timeout
/// less a tenth for its database work and answer.
fn hashing_budget(request_timeout_seconds: u64) -> std::time::Duration {
    std::time::Duration::from_secs(request_timeout_seconds) * 9 / 10
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn sink_keys(settings: &Settings, redis: Option<&Arc<RedisHandle>>) -> Vec<String> {
        event_sinks(settings, redis).unwrap().iter().map(|sink| sink.key().to_owned()).collect()
    }

    #[test]
    fn the_stream_needs_redis_and_a_name_and_webhooks_need_a_secret() {
        // Building a handle does not connect.
        let redis = Arc::new(RedisHandle::new("redis://127.0.0.1:1", "auth:").unwrap());
        let settings = Settings::default();
        assert_eq!(sink_keys(&settings, Some(&redis)), ["redis:auth:events"]);
        assert!(sink_keys(&settings, None).is_empty(), "no Redis, no stream");
        let off = Settings { events_stream: String::new(), ..Settings::default() };
        assert!(sink_keys(&off, Some(&redis)).is_empty(), "an empty EVENTS_STREAM turns the stream off");

        let hooks = Settings {
            webhook_urls: vec!["https://a.example.com/in".into(), " ".into(), "http://b.example.com/in".into()],
            webhook_secret: Some(Secret::new("0123456789abcdef0123")),
            ..Settings::default()
        };
        assert_eq!(sink_keys(&hooks, None), ["webhook:https://a.example.com/in", "webhook:http://b.example.com/in"]);
        let unsigned = Settings { webhook_secret: None, ..hooks };
        assert!(event_sinks(&unsigned, None).is_err());
    }
}
