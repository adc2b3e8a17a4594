//! The in-process set of revoked sessions that lets validation answer without a network round
//! trip. It is filled from the database at start-up, kept current by the revocation broadcast
//! and by a periodic database poll, and forgets a session once no access token of it can still
//! be unexpired. Until the first load from the database succeeds it knows nothing, and says so
//! (`is_loaded`), so that an instance started during a database outage refuses to validate
//! rather than accept tokens whose revocation it has not read.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

use crate::model::Revocation;

pub struct RevocationSet {
    revoked: RwLock<HashMap<Uuid, DateTime<Utc>>>,
    /// How long an access token lives: past that, a revoked session needs no entry.
    access_token_ttl: Duration,
    /// Whether the whole log since the horizon has been read once; broadcasts alone never set it.
    loaded: AtomicBool,
}

impl RevocationSet {
    pub fn new(access_token_ttl: Duration) -> Self {
        Self { revoked: RwLock::new(HashMap::new()), access_token_ttl, loaded: AtomicBool::new(false) }
    }

    /// Whether a load from the database has succeeded, so that absence from the set means
    /// "not revoked".
    pub fn is_loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Takes in what a successful poll of the revocation log returned, forgets what no longer
    /// matters at `now`, and from then on answers for the log.
    pub fn apply_load(&self, revocations: &[Revocation], now: DateTime<Utc>) {
        self.insert_all(revocations);
        self.prune(now);
        // Release after the inserts: whoever sees `loaded` also sees the entries.
        self.loaded.store(true, Ordering::Release);
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

    #[test]
    fn the_set_is_loaded_only_by_a_load_from_the_log_not_by_broadcasts() {
        let set = RevocationSet::new(Duration::minutes(15));
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        set.insert_all(&[Revocation { session_id: Uuid::new_v4(), revoked_at: now }]);
        assert!(!set.is_loaded(), "a broadcast says nothing about the revocations it did not carry");
        set.apply_load(&[], now);
        assert!(set.is_loaded());
    }

    #[test]
    fn a_load_keeps_what_is_inside_the_horizon_and_drops_what_is_outside() {
        let set = RevocationSet::new(Duration::minutes(15));
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let (recent, late_commit, stale) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        set.apply_load(
            &[
                Revocation { session_id: recent, revoked_at: now },
                // Stamped long before its transaction committed: still inside the horizon.
                Revocation { session_id: late_commit, revoked_at: now - Duration::minutes(10) },
                Revocation { session_id: stale, revoked_at: set.horizon(now) - Duration::seconds(1) },
            ],
            now,
        );
        assert!(set.is_revoked(recent));
        assert!(set.is_revoked(late_commit));
        assert!(!set.is_revoked(stale), "no access token of it can still be unexpired");
        assert_eq!(set.horizon(now), now - Duration::minutes(16));
    }
}
