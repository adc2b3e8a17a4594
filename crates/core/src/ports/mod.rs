//! The traits the outside world implements, and nothing else.

mod store;

pub use store::{AccountStore, RefreshRotation, RotationOutcome, SessionStore, Store};

use async_trait::async_trait;

use crate::model::Revocation;

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
