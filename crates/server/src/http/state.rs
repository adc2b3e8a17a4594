//! What every handler can reach, built once at start-up.

use std::ops::Deref;
use std::sync::Arc;

use auth_core::accounts::AccountService;
use auth_core::accounts::admin::AdminService;
use auth_core::accounts::email_flows::EmailFlows;
use auth_core::mfa::{MfaService, PasskeyService};
use auth_core::oauth::OAuthService;
use auth_core::ports::{Quota, RateLimiter, Store};
use auth_core::sessions::SessionService;
use ipnet::IpNet;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::adapters::redis::RedisHandle;

/// Cloned for every extractor of every request, so it is one `Arc`: a clone of the services
/// themselves was a dozen reference counts up and down each time (a few per cent of the CPU of a
/// `GET /auth/me` in the profile).
#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl AppState {
    pub fn new(services: Services) -> Self {
        Self(Arc::new(services))
    }
}

impl Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.0
    }
}

pub struct Services {
    pub accounts: Arc<AccountService>,
    pub sessions: Arc<SessionService>,
    pub admin: Arc<AdminService>,
    pub email_flows: Arc<EmailFlows>,
    pub oauth: Arc<OAuthService>,
    pub mfa: Arc<MfaService>,
    pub passkeys: Arc<PasskeyService>,
    /// The OpenID provider; `None` when it is off (production without an asymmetric key).
    pub oidc: Option<Arc<auth_core::oidc::OidcService>>,
    pub store: Arc<dyn Store>,
    pub redis: Option<Arc<RedisHandle>>,
    pub metrics: PrometheusHandle,
    pub trusted_proxies: Arc<Vec<IpNet>>,
    pub limiter: Arc<dyn RateLimiter>,
    /// Per-client budget on the public auth endpoints; `None`: off.
    pub client_quota: Option<Quota>,
    /// The hosted pages' settings, templates and messages.
    pub ui: Arc<crate::ui::Ui>,
}
