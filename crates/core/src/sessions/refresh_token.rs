//! Refresh tokens: opaque random strings, stored only as SHA-256 hashes. A token's successor is
//! derived from it with a server-side HMAC key, so a replay of the immediate parent inside the
//! reuse interval can be answered with the same successor without the successor being stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Tokens that cannot be ours are rejected before any hashing or storage work.
const MAX_REFRESH_TOKEN_BYTES: usize = 128;

pub struct RefreshTokens {
    successor_key: [u8; 32],
}

impl RefreshTokens {
    pub fn new(successor_key: [u8; 32]) -> Self {
        Self { successor_key }
    }

    /// A fresh token for a new session: 256 random bits.
    pub fn generate(&self) -> String {
        let mut bytes = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The successor of `token`: the same input always yields the same successor.
    pub fn successor(&self, token: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.successor_key) else {
            // HMAC takes keys of any length; this branch cannot be reached.
            return self.generate();
        };
        mac.update(token.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The form a token is stored and looked up in.
    pub fn hash(token: &str) -> Vec<u8> {
        Sha256::digest(token.as_bytes()).to_vec()
    }

    /// Cheap syntactic check: our tokens are 43 base64url characters.
    pub fn is_well_formed(token: &str) -> bool {
        !token.is_empty()
            && token.len() <= MAX_REFRESH_TOKEN_BYTES
            && token.bytes().all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successors_are_deterministic_per_key_and_distinct_per_token() {
        let tokens = RefreshTokens::new([7; 32]);
        let parent = tokens.generate();
        assert_eq!(tokens.successor(&parent), tokens.successor(&parent));
        assert_ne!(tokens.successor(&parent), tokens.successor(&tokens.generate()));
        assert_ne!(RefreshTokens::new([8; 32]).successor(&parent), tokens.successor(&parent));
        assert!(RefreshTokens::is_well_formed(&tokens.successor(&parent)));
    }

    #[test]
    fn jwts_and_garbage_are_not_refresh_tokens() {
        assert!(!RefreshTokens::is_well_formed("a.b.c"));
        assert!(!RefreshTokens::is_well_formed(""));
        assert!(!RefreshTokens::is_well_formed(&"a".repeat(129)));
    }
}
