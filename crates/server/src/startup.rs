//! Building the application from settings, serving it, and stopping it gracefully.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use auth_core::accounts::admin::AdminGrant;
use auth_core::clock::{Clock, SystemClock};
use auth_core::model::RevocationCursor;
use auth_core::ports::Quota;
use auth_core::sessions::SessionService;
use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::adapters::redis::{self, RedisHandle};
use crate::config::Settings;
use crate::events::Dispatcher;
use crate::http::state::{AppState, Services};
use crate::http::{self, HttpSettings};
use crate::wiring;

/// How often each instance re-reads the revocation log: the bound on how long a revocation
/// takes to reach an instance when the Redis broadcast is lost.
const REVOCATION_POLL_INTERVAL: Duration = Duration::from_millis(500);
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// A bound, ready-to-serve service. Tests and `main` start it the same way.
pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
    sessions: Arc<SessionService>,
    /// Where the start-up load of the revocation log stopped; `None` if it failed, and then the
    /// first poll loads everything.
    revocation_cursor: Option<RevocationCursor>,
    redis: Option<Arc<RedisHandle>>,
    dispatcher: Arc<Dispatcher>,
    shutdown_timeout: Duration,
}

impl Application {
    /// Connects, migrates (unless turned off), loads revocations and binds the port
    /// (`SERVICE_PORT=0` picks a free one).
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_with(settings, Arc::new(SystemClock)).await
    }

    /// Like [`Self::build`], with `clock` as every rule's "now" (tests move a fixed clock
    /// instead of sleeping).
    pub async fn build_with(settings: Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let components = wiring::build(&settings, clock)?;
        if !components.shortcuts.is_empty() {
            tracing::warn!(
                "development defaults in use: {}; set DATABASE_URL, REDIS_URL and JWT_SECRET for production",
                components.shortcuts.join(", ")
            );
        }
        if settings.auto_migrate {
            components.store.migrate().await.context("applying database migrations failed")?;
        }
        if let Some(email) = &settings.admin_email {
            let grant = components
                .admin
                .ensure_admin(email, None, settings.admin_promote_existing)
                .await
                .context("ADMIN_EMAIL could not be made an admin")?;
            if let AdminGrant::Refused { user, .. } = grant {
                anyhow::bail!(
                    "ADMIN_EMAIL {} belongs to an existing account that is not an admin (anyone may have \
                     registered it); nothing changed. Check who owns it, then set ADMIN_PROMOTE_EXISTING=true \
                     to give it the admin role",
                    user.email
                );
            }
        }
        let revocation_cursor = match components.sessions.sync_revocations(None).await {
            Ok(cursor) => Some(cursor),
            Err(error) => {
                tracing::warn!(%error, "could not load revocations at start-up; not ready, retrying in the background");
                None
            }
        };
        let hasher_accounts = components.accounts.clone();
        tokio::spawn(async move {
            let hasher = hasher_accounts.hasher();
            match hasher.warm_up().await {
                Ok(()) => tracing::info!(
                    hash_ms = hasher.mean_hash_time().as_millis() as u64,
                    queue_bound = hasher.queue_bound(),
                    "password hashing measured"
                ),
                Err(error) => tracing::warn!(%error, "password hasher warm-up failed"),
            }
        });
        let state = AppState::new(Services {
            accounts: components.accounts,
            sessions: components.sessions.clone(),
            admin: components.admin.clone(),
            email_flows: components.email_flows,
            oauth: components.oauth,
            mfa: components.mfa,
            passkeys: components.passkeys,
            oidc: components.oidc,
            store: components.store,
            redis: components.redis.clone(),
            metrics: crate::telemetry::metrics_handle(),
            trusted_proxies: Arc::new(settings.trusted_proxies.clone()),
            limiter: components.limiter,
            client_quota: (settings.rate_limit_per_minute > 0)
                .then(|| Quota::per_minute(settings.rate_limit_per_minute)),
            ui: components.ui,
        });
        let router = http::router(
            state,
            HttpSettings {
                max_body_bytes: settings.max_body_bytes,
                request_timeout: Duration::from_secs(settings.request_timeout),
                rate_limit_validate: settings.rate_limit_validate,
                cors_allowed_origins: settings.cors_allowed_origins.clone(),
                ui_enabled: settings.ui_enabled,
            },
        );
        let address = settings.listen_address();
        let listener = TcpListener::bind(&address).await.with_context(|| format!("could not listen on {address}"))?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            router,
            port,
            sessions: components.sessions,
            revocation_cursor,
            redis: components.redis,
            dispatcher: components.dispatcher,
            shutdown_timeout: Duration::from_secs(settings.shutdown_timeout),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// within the drain timeout, and stops the background tasks.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let mut background = JoinSet::new();
        background.spawn(poll_revocations(self.sessions.clone(), self.revocation_cursor, stop.clone()));
        background.spawn(prune_storage(self.sessions.clone(), stop.clone()));
        background.spawn(self.dispatcher.clone().run(stop.clone()));
        if let Some(redis) = &self.redis {
            background.spawn(redis::listen_for_revocations(redis.clone(), self.sessions.clone(), stop.clone()));
        }
        tracing::info!(port = self.port, "auth-service listening");

        let draining = CancellationToken::new();
        let server = axum::serve(self.listener, self.router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(draining.clone().cancelled_owned());
        let mut server = tokio::spawn(async move { server.await });
        let result = tokio::select! {
            finished = &mut server => finished.context("server task failed")?.context("server failed"),
            () = shutdown => {
                tracing::info!("shutting down: draining in-flight requests");
                draining.cancel();
                match tokio::time::timeout(self.shutdown_timeout, &mut server).await {
                    Ok(finished) => finished.context("server task failed")?.context("server failed"),
                    Err(_) => {
                        tracing::warn!("drain timeout reached; closing remaining connections");
                        server.abort();
                        Ok(())
                    }
                }
            }
        };
        stop.cancel();
        while background.join_next().await.is_some() {}
        result
    }
}

/// Keeps the in-process revocation set current from the database, the source of truth. Until a
/// load succeeds (`cursor` is `None`) the instance is not ready and refuses to validate.
async fn poll_revocations(
    sessions: Arc<SessionService>,
    mut cursor: Option<RevocationCursor>,
    stop: CancellationToken,
) {
    let mut failing = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(REVOCATION_POLL_INTERVAL) => {}
        }
        match sessions.sync_revocations(cursor).await {
            Ok(next) => {
                if cursor.is_none() {
                    tracing::info!("revocation log loaded; ready");
                }
                cursor = Some(next);
                if failing {
                    tracing::info!("revocation poll recovered");
                    failing = false;
                }
            }
            Err(error) if !failing => {
                tracing::warn!(%error, "revocation poll failed; retrying");
                failing = true;
            }
            Err(_) => {}
        }
    }
}

async fn prune_storage(sessions: Arc<SessionService>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(PRUNE_INTERVAL) => {}
        }
        match sessions.prune_storage().await {
            Ok(removed) => tracing::debug!(removed, "pruned dead sessions and revocations"),
            Err(error) => tracing::warn!(%error, "pruning failed"),
        }
    }
}
