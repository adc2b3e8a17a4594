//! The traits the outside world implements, and nothing else.

mod limiter;
mod store;

pub use limiter::{Quota, RateDecision, RateLimiter, gcra, gcra_refund};

pub use store::{
    AccountStore, ClientStore, EmailTokenStore, EventStore, MfaStore, RefreshRotation, RotationOutcome, SessionStepUp,
    SessionStore, Store,
};

use async_trait::async_trait;

use crate::model::Revocation;

/// Short-lived values shared by every instance (pending OAuth logins): Redis when configured.
#[async_trait]
pub trait EphemeralStore: Send + Sync {
    async fn put(&self, key: &str, value: &str, ttl: std::time::Duration) -> Result<(), crate::error::StoreError>;
    /// Reads and deletes in one step, so a value is used at most once.
    async fn take(&self, key: &str) -> Result<Option<String>, crate::error::StoreError>;
}

/// Tells the other instances about revocations so their hot path sees them within a second.
/// Delivery is best effort: every instance also polls the database, which stays the truth.
#[async_trait]
pub trait RevocationBroadcast: Send + Sync {
    async fn publish(&self, revocations: &[Revocation]);
}

/// Single-instance deployments have nobody to tell.
#[derive(Debug, Default)]
pub struct NoBroadcast;

#[async_trait]
impl RevocationBroadcast for NoBroadcast {
    async fn publish(&self, _revocations: &[Revocation]) {}
}

/// An email to send: who to, which message, in which language, with which link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    pub to: String,
    pub kind: EmailKind,
    /// `en` or `ru`.
    pub language: String,
    pub link: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    VerifyEmail,
    ResetPassword,
    /// To the new address: the link that makes the change.
    ConfirmEmailChange,
    /// To the old address: a change was asked for.
    EmailChangeNotice,
}

/// Hands emails to delivery without waiting for it: a slow or failing mail server must never
/// fail or slow the request that caused the email.
pub trait Mailer: Send + Sync {
    fn enqueue(&self, email: OutgoingEmail);
}
