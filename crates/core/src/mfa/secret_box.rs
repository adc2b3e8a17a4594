//! Encryption of TOTP secrets at rest. Unlike password hashes, a TOTP secret must be read back
//! to verify codes, so a leaked table would hand out every second factor; sealing the secrets
//! with a server key keeps a database dump from being enough.
//!
//! The key is derived with HKDF-SHA256 (RFC 5869) from the server's key material, under an info
//! string that names this use, so the same material can serve other purposes without sharing a
//! key. XChaCha20-Poly1305's 192-bit nonces can be drawn at random for every seal without a
//! counter to keep. The owning user's id is the associated data: a sealed secret copied into
//! another user's row does not open there.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{KeyInit, XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use uuid::Uuid;

use crate::redact::Redacted;

/// Server key material shorter than a key is refused.
pub const MIN_KEY_MATERIAL_BYTES: usize = 32;
/// Names this key's purpose and version in the derivation; changing it changes the key.
const KEY_INFO: &[u8] = b"auth-service totp-secret v1";
/// Prefix of what [`SecretBox::seal`] writes; a new scheme gets a new prefix.
const VERSION: &str = "v1";
const NONCE_BYTES: usize = 24;
const TAG_BYTES: usize = 16;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretBoxError {
    #[error("key material must be at least {MIN_KEY_MATERIAL_BYTES} bytes")]
    KeyMaterialTooShort,
    #[error("the sealed secret has an unknown version")]
    UnknownVersion,
    #[error("the sealed secret is not well formed")]
    Malformed,
    /// Tampered with, sealed under another key, or sealed for another user: the AEAD tag
    /// cannot tell these apart, and neither should an attacker.
    #[error("the sealed secret does not open with this key for this user")]
    NotAuthentic,
    #[error("the secret could not be sealed")]
    SealFailed,
}

/// Seals and opens secrets with one key derived from the server's key material.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl SecretBox {
    pub fn new(key_material: &[u8]) -> Result<Self, SecretBoxError> {
        if key_material.len() < MIN_KEY_MATERIAL_BYTES {
            return Err(SecretBoxError::KeyMaterialTooShort);
        }
        let mut key = [0u8; 32];
        // The material is already uniformly random, so no salt is needed (RFC 5869 §3.1).
        Hkdf::<Sha256>::new(None, key_material)
            .expand(KEY_INFO, &mut key)
            .map_err(|_| SecretBoxError::KeyMaterialTooShort)?;
        Ok(Self { cipher: XChaCha20Poly1305::new(&key.into()) })
    }

    /// `secret` sealed for `owner`: `v1.` then base64url (no padding) of nonce ‖ ciphertext ‖
    /// tag. A fresh nonce each time, so sealing the same secret twice gives different text.
    pub fn seal(&self, secret: &[u8], owner: Uuid) -> Result<String, SecretBoxError> {
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(&XNonce::from(nonce), Payload { msg: secret, aad: owner.as_bytes() })
            .map_err(|_| SecretBoxError::SealFailed)?;
        let mut sealed = Vec::with_capacity(NONCE_BYTES + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        Ok(format!("{VERSION}.{}", URL_SAFE_NO_PAD.encode(sealed)))
    }

    /// The secret `sealed` holds, if it was sealed by this key for `owner` and not altered.
    pub fn open(&self, sealed: &str, owner: Uuid) -> Result<Vec<u8>, SecretBoxError> {
        let (version, body) = sealed.split_once('.').ok_or(SecretBoxError::Malformed)?;
        if version != VERSION {
            return Err(SecretBoxError::UnknownVersion);
        }
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| SecretBoxError::Malformed)?;
        if bytes.len() < NONCE_BYTES + TAG_BYTES {
            return Err(SecretBoxError::Malformed);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| SecretBoxError::Malformed)?;
        self.cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad: owner.as_bytes() })
            .map_err(|_| SecretBoxError::NotAuthentic)
    }
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_struct("SecretBox").field("key", &Redacted).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Uuid = Uuid::from_u128(1);
    const BOB: Uuid = Uuid::from_u128(2);
    const SECRET: &[u8] = b"12345678901234567890";

    fn secret_box() -> SecretBox {
        SecretBox::new(&[7; 32]).unwrap()
    }

    /// `sealed` with one bit of its decoded payload flipped at `index`.
    fn flip_bit(sealed: &str, index: usize) -> String {
        let mut bytes = URL_SAFE_NO_PAD.decode(sealed.strip_prefix("v1.").unwrap()).unwrap();
        bytes[index] ^= 1;
        format!("v1.{}", URL_SAFE_NO_PAD.encode(bytes))
    }

    #[test]
    fn a_sealed_secret_opens_for_its_owner() {
        let sealed = secret_box().seal(SECRET, ALICE).unwrap();
        assert!(sealed.starts_with("v1."), "{sealed}");
        assert!(!sealed.contains("MTIzNDU2Nzg5"), "the plaintext must not show through");
        assert_eq!(secret_box().open(&sealed, ALICE).unwrap(), SECRET);
    }

    #[test]
    fn a_secret_moved_to_another_users_row_does_not_open() {
        let sealed = secret_box().seal(SECRET, ALICE).unwrap();
        assert_eq!(secret_box().open(&sealed, BOB), Err(SecretBoxError::NotAuthentic));
    }

    #[test]
    fn any_altered_byte_is_detected() {
        let sealed = secret_box().seal(SECRET, ALICE).unwrap();
        let length = NONCE_BYTES + SECRET.len() + TAG_BYTES;
        // A byte of the nonce, of the ciphertext and of the tag.
        for index in [0, NONCE_BYTES + 3, length - 1] {
            assert_eq!(secret_box().open(&flip_bit(&sealed, index), ALICE), Err(SecretBoxError::NotAuthentic));
        }
    }

    #[test]
    fn another_key_cannot_open_it() {
        let sealed = secret_box().seal(SECRET, ALICE).unwrap();
        let other = SecretBox::new(&[8; 32]).unwrap();
        assert_eq!(other.open(&sealed, ALICE), Err(SecretBoxError::NotAuthentic));
        // Longer key material is accepted, and is a different key, not a truncated one.
        let longer = SecretBox::new(&[7; 33]).unwrap();
        assert_eq!(longer.open(&sealed, ALICE), Err(SecretBoxError::NotAuthentic));
    }

    #[test]
    fn two_seals_of_the_same_secret_differ() {
        let first = secret_box().seal(SECRET, ALICE).unwrap();
        let second = secret_box().seal(SECRET, ALICE).unwrap();
        assert_ne!(first, second);
        assert_eq!(secret_box().open(&second, ALICE).unwrap(), SECRET);
    }

    #[test]
    fn unknown_versions_and_malformed_text_are_refused() {
        let sealed = secret_box().seal(SECRET, ALICE).unwrap();
        let as_v2 = sealed.replacen("v1.", "v2.", 1);
        assert_eq!(secret_box().open(&as_v2, ALICE), Err(SecretBoxError::UnknownVersion));
        let short = format!("v1.{}", URL_SAFE_NO_PAD.encode([0u8; NONCE_BYTES + TAG_BYTES - 1]));
        for malformed in ["", "v1", "v1.not base64!", short.as_str()] {
            assert_eq!(secret_box().open(malformed, ALICE), Err(SecretBoxError::Malformed), "{malformed:?}");
        }
    }

    #[test]
    fn short_key_material_is_refused_and_the_key_never_prints() {
        assert_eq!(SecretBox::new(&[7; 31]).unwrap_err(), SecretBoxError::KeyMaterialTooShort);
        assert_eq!(format!("{:?}", secret_box()), "SecretBox { key: [redacted] }");
    }
}
