//! Remembers access tokens whose signature and claims were already checked, so a gateway that
//! presents the same token many times pays for the signature once. An entry never outlives the
//! token's `exp` (checked on every hit against the service clock, and evicted by the cache at that
//! wall-clock time), and revocation is checked on every request anyway.
//!
//! The cache is bounded by memory (moka's TinyLFU admission and LRU eviction), so a gateway
//! presenting many more distinct tokens than fit keeps the frequent ones instead of starting over.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use moka::Expiry;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use super::AccessClaims;

/// What the cache may hold, in the approximate bytes of its entries.
pub const DEFAULT_BUDGET_BYTES: u64 = 48 * 1024 * 1024;
/// The bookkeeping moka and the allocator add to each entry, on top of the claims' own bytes.
const ENTRY_OVERHEAD_BYTES: usize = 160;

/// Keyed by the SHA-256 of the token: 32 bytes whatever the token's size.
type TokenDigest = [u8; 32];

pub struct VerifiedTokenCache {
    entries: Cache<TokenDigest, Arc<AccessClaims>>,
}

/// Each entry is evicted when its token expires by the wall clock.
struct UntilExpiry;

impl Expiry<TokenDigest, Arc<AccessClaims>> for UntilExpiry {
    fn expire_after_create(&self, _: &TokenDigest, claims: &Arc<AccessClaims>, _: Instant) -> Option<Duration> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        Some(Duration::from_secs(u64::try_from(claims.exp).unwrap_or(0).saturating_sub(now)))
    }
}

impl Default for VerifiedTokenCache {
    fn default() -> Self {
        Self::with_budget(DEFAULT_BUDGET_BYTES)
    }
}

impl VerifiedTokenCache {
    pub fn with_budget(bytes: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(bytes)
            .weigher(|_: &TokenDigest, claims: &Arc<AccessClaims>| {
                u32::try_from(entry_bytes(claims)).unwrap_or(u32::MAX)
            })
            .expire_after(UntilExpiry)
            .build();
        Self { entries }
    }

    /// The claims of `token` if it was verified before and is still unexpired at `now`.
    pub fn get(&self, token: &str, now: i64) -> Option<AccessClaims> {
        self.entries.get(&digest(token)).filter(|claims| claims.exp > now).map(|claims| (*claims).clone())
    }

    pub fn insert(&self, token: &str, claims: &AccessClaims) {
        self.entries.insert(digest(token), Arc::new(claims.clone()));
    }

    /// How many entries are held (after pending evictions are applied).
    #[cfg(test)]
    fn held(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }
}

fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// The approximate heap and inline size of one entry.
fn entry_bytes(claims: &AccessClaims) -> usize {
    std::mem::size_of::<TokenDigest>()
        + std::mem::size_of::<AccessClaims>()
        + claims.iss.len()
        + claims.token_type.len()
        + claims.email.len()
        + claims.aud.as_ref().map_or(0, String::len)
        + claims.amr.len() * 8
        + ENTRY_OVERHEAD_BYTES
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            iss: "auth-service".into(),
            sub: uuid::Uuid::new_v4(),
            sid: uuid::Uuid::new_v4(),
            jti: uuid::Uuid::new_v4(),
            iat: exp - 900,
            exp,
            nbf: None,
            token_type: "access".into(),
            email: "a@example.com".into(),
            role: Role::User,
            aud: None,
            aal: crate::mfa::Aal::Aal1,
            amr: vec![crate::mfa::AuthMethod::Pwd],
        }
    }

    fn unexpired() -> i64 {
        chrono::Utc::now().timestamp() + 600
    }

    #[test]
    fn the_cache_holds_no_more_than_its_budget_and_keeps_what_is_asked_often() {
        let sample = claims(unexpired());
        let budget = (entry_bytes(&sample) * 1_000) as u64;
        let cache = VerifiedTokenCache::with_budget(budget);
        cache.insert("hot", &sample);
        for round in 0..5_000 {
            cache.insert(&format!("cold-{round}"), &claims(unexpired()));
            if round % 10 == 0 {
                assert!(cache.get("hot", 0).is_some(), "a token asked for often stays (round {round})");
            }
        }
        let held = cache.held();
        assert!(held <= 1_000, "{held} entries over a budget of 1000");
        assert!(held >= 500, "evicts one at a time, never wholesale ({held} left)");
    }

    #[test]
    fn an_entry_never_outlives_its_token() {
        let cache = VerifiedTokenCache::default();
        let exp = unexpired();
        cache.insert("token", &claims(exp));
        assert!(cache.get("token", exp - 1).is_some());
        assert!(cache.get("token", exp).is_none());
        // Already expired by the wall clock: the cache drops it by itself.
        cache.insert("old", &claims(1_000));
        assert!(cache.get("old", 999).is_none());
        assert!(cache.get("other", 10).is_none());
    }
}
