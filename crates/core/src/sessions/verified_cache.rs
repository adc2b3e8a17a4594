//! Remembers access tokens whose signature and claims were already checked, so a gateway that
//! presents the same token many times pays for the signature once. An entry never outlives the
//! token's `exp` (checked on every hit), and revocation is checked on every request anyway.

use std::collections::HashMap;
use std::sync::RwLock;

use super::AccessClaims;

/// Upper bound on remembered tokens; beyond it the cache starts over (cheap and bounded).
const CAPACITY: usize = 50_000;

#[derive(Default)]
pub struct VerifiedTokenCache {
    entries: RwLock<HashMap<String, AccessClaims>>,
}

impl VerifiedTokenCache {
    /// The claims of `token` if it was verified before and is still unexpired at `now`.
    pub fn get(&self, token: &str, now: i64) -> Option<AccessClaims> {
        let entries = self.entries.read().ok()?;
        entries.get(token).filter(|claims| claims.exp > now).cloned()
    }

    pub fn insert(&self, token: &str, claims: &AccessClaims) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(token.to_owned(), claims.clone());
        }
    }
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

    #[test]
    fn an_entry_never_outlives_its_token() {
        let cache = VerifiedTokenCache::default();
        cache.insert("token", &claims(1_000));
        assert!(cache.get("token", 999).is_some());
        assert!(cache.get("token", 1_000).is_none());
        assert!(cache.get("other", 10).is_none());
    }
}
