//! Remembers access tokens whose signature and claims were already checked, so a gateway that
//! presents the same token many times pays for the signature once. An entry never outlives the
//! token's `exp` (checked on every hit against the service clock, and evicted by the cache at that
//! wall-clock time), and revocation is checked on every request anyway.
//!
//! Only the SHA-256 of a verified token is kept, not its claims: on a hit the payload of the very
//! same bytes is decoded again without the signature (a microsecond, against tens for an RSA
//! verification), so an entry costs a few hundred bytes and 100,000 tokens fit in about 35 MB.
//! The cache is bounded by entries (moka's TinyLFU admission and LRU eviction), so a gateway
//! presenting more distinct tokens than fit keeps the frequent ones instead of starting over.
//!
//! Only signatures that cost more than a hit are remembered: an HMAC check is two SHA-256
//! passes, about what the hit's own digest and decode cost, so HS256 tokens skip the cache (a
//! miss would add the insertion and an entry's memory for nothing).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use moka::Expiry;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

use super::AccessClaims;

/// How many verified tokens are remembered (each about 350 bytes with the cache's bookkeeping).
pub const DEFAULT_CAPACITY: u64 = 131_072;

/// Keyed by the SHA-256 of the token: 32 bytes whatever the token's size.
type TokenDigest = [u8; 32];

pub struct VerifiedTokenCache {
    /// The token's `exp`, for the eviction time.
    entries: Cache<TokenDigest, i64>,
}

/// Each entry is evicted when its token expires by the wall clock.
struct UntilExpiry;

impl Expiry<TokenDigest, i64> for UntilExpiry {
    fn expire_after_create(&self, _: &TokenDigest, exp: &i64, _: Instant) -> Option<Duration> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        Some(Duration::from_secs(u64::try_from(*exp).unwrap_or(0).saturating_sub(now)))
    }
}

impl Default for VerifiedTokenCache {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl VerifiedTokenCache {
    /// A cache for tokens signed with `algorithm`, if verifying one costs more than a hit.
    pub fn for_algorithm(algorithm: Algorithm) -> Option<Self> {
        (!matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)).then(Self::default)
    }

    pub fn with_capacity(entries: u64) -> Self {
        Self { entries: Cache::builder().max_capacity(entries).expire_after(UntilExpiry).build() }
    }

    /// The claims of `token` if it was verified before and is still unexpired at `now`.
    pub fn get(&self, token: &str, now: i64) -> Option<AccessClaims> {
        self.entries.get(&digest(token))?;
        // The same bytes were verified, signature included: decoding them again is safe.
        jsonwebtoken::dangerous::insecure_decode_claims::<AccessClaims>(token).ok().filter(|claims| claims.exp > now)
    }

    pub fn insert(&self, token: &str, claims: &AccessClaims) {
        self.entries.insert(digest(token), claims.exp);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    #[test]
    fn only_signatures_dearer_than_a_hit_are_cached() {
        assert!(VerifiedTokenCache::for_algorithm(Algorithm::HS256).is_none());
        for algorithm in [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA] {
            assert!(VerifiedTokenCache::for_algorithm(algorithm).is_some(), "{algorithm:?}");
        }
    }

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

    /// A signed token of `claims` (the cache trusts its caller to have verified it).
    fn token(claims: &AccessClaims) -> String {
        let key = jsonwebtoken::EncodingKey::from_secret(b"cache-test-key");
        jsonwebtoken::encode(&jsonwebtoken::Header::default(), claims, &key).unwrap()
    }

    fn unexpired() -> i64 {
        chrono::Utc::now().timestamp() + 600
    }

    #[test]
    fn a_hit_gives_back_the_claims_of_the_same_token_only() {
        let cache = VerifiedTokenCache::default();
        let verified = claims(unexpired());
        let signed = token(&verified);
        cache.insert(&signed, &verified);
        assert_eq!(cache.get(&signed, 0), Some(verified.clone()));
        // The same payload under another signature is not the token that was verified.
        let (body, _) = signed.rsplit_once('.').unwrap();
        assert_eq!(cache.get(&format!("{body}.forged"), 0), None);
        assert_eq!(cache.get(&token(&claims(unexpired())), 0), None);
    }

    #[test]
    fn the_cache_holds_no_more_than_its_capacity_and_keeps_what_is_asked_often() {
        let cache = VerifiedTokenCache::with_capacity(1_000);
        let hot = claims(unexpired());
        let hot_token = token(&hot);
        cache.insert(&hot_token, &hot);
        for round in 0..5_000 {
            let cold = claims(unexpired());
            cache.insert(&token(&cold), &cold);
            if round % 10 == 0 {
                assert!(cache.get(&hot_token, 0).is_some(), "a token asked for often stays (round {round})");
            }
        }
        let held = cache.held();
        assert!(held <= 1_000, "{held} entries over a capacity of 1000");
        assert!(held >= 500, "evicts one at a time, never wholesale ({held} left)");
    }

    #[test]
    fn an_entry_never_outlives_its_token() {
        let cache = VerifiedTokenCache::default();
        let exp = unexpired();
        let live = claims(exp);
        let live_token = token(&live);
        cache.insert(&live_token, &live);
        assert!(cache.get(&live_token, exp - 1).is_some());
        assert!(cache.get(&live_token, exp).is_none());
        // Already expired by the wall clock: the cache drops it by itself.
        let old = claims(1_000);
        let old_token = token(&old);
        cache.insert(&old_token, &old);
        cache.entries.run_pending_tasks();
        assert!(cache.get(&old_token, 999).is_none());
    }
}
