//! The in-process set of revoked sessions that lets validation answer without a network round
//! trip. It is filled from the database at start-up, kept current by the revocation broadcast
//! and by a periodic database poll, and forgets a session once no access token of it can still
//! be unexpired.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::model::Revocation;

pub struct RevocationSet {
    revoked: RwLock<HashMap<Uuid, DateTime<Utc>>>,
    /// How long an access token lives: past that, a revoked session needs no entry.
    access_token_ttl: Duration,
}

impl RevocationSet {
    pub fn new(access_token_ttl: Duration) -> Self {
        Self { revoked: RwLock::new(HashMap::new()), access_token_ttl }
    }

    pub fn is_revoked(&self, session_id: Uuid) -> bool {
        self.revoked.read().map(|set| set.contains_key(&session_id)).unwrap_or(true)
    }

    pub fn insert_all(&self, revocations: &[Revocation]) {
        if revocations.is_empty() {
            return;
        }
        if let Ok(mut set) = self.revoked.write() {
            for revocation in revocations {
                set.entry(revocation.session_id).or_insert(revocation.revoked_at);
            }
        }
    }

    /// Drops entries whose sessions can no longer have a live access token.
    pub fn prune(&self, now: DateTime<Utc>) {
        let horizon = self.horizon(now);
        if let Ok(mut set) = self.revoked.write() {
            set.retain(|_, revoked_at| *revoked_at >= horizon);
        }
    }

    /// The oldest revocation time that still matters.
    pub fn horizon(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        // One minute of slack covers clock skew between instances.
        now - self.access_token_ttl - Duration::minutes(1)
    }

    pub fn len(&self) -> usize {
        self.revoked.read().map(|set| set.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_forgotten_only_after_the_access_token_lifetime() {
        let set = RevocationSet::new(Duration::minutes(15));
        let now = Utc::now();
        let session_id = Uuid::new_v4();
        set.insert_all(&[Revocation { session_id, revoked_at: now }]);
        set.prune(now + Duration::minutes(15));
        assert!(set.is_revoked(session_id));
        set.prune(now + Duration::minutes(17));
        assert!(!set.is_revoked(session_id));
    }
}
