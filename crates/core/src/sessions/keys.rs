//! Signing and verification keys. The algorithm is pinned per key (RFC 8725 §3.1): a token is
//! checked only with the key its `kid` names (or the single HMAC key), and only with that key's
//! algorithm, so `alg: none` and HS/RS confusion cannot pass.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

/// RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

#[derive(Debug, Error)]
pub enum KeyError {
    #[error("JWT_SECRET must be at least {MIN_HMAC_SECRET_BYTES} bytes")]
    SecretTooShort,
    #[error("unsupported JWT algorithm {0:?}; use HS256, RS256, ES256 or EdDSA")]
    UnsupportedAlgorithm(String),
    #[error("invalid {what} key: {cause}")]
    InvalidKey { what: &'static str, cause: String },
    #[error("the public key does not match the private key")]
    MismatchedPair,
}

/// The algorithms the service signs with.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, KeyError> {
    match name.trim().to_ascii_uppercase().as_str() {
        "HS256" => Ok(Algorithm::HS256),
        "RS256" => Ok(Algorithm::RS256),
        "ES256" => Ok(Algorithm::ES256),
        "EDDSA" => Ok(Algorithm::EdDSA),
        _ => Err(KeyError::UnsupportedAlgorithm(name.to_owned())),
    }
}

/// A key that verifies tokens, with the one algorithm it accepts.
pub struct VerifyingKey {
    pub kid: Option<String>,
    pub algorithm: Algorithm,
    pub decoding: DecodingKey,
    jwk: Option<Jwk>,
}

/// The key that signs new tokens, plus every key whose tokens are still accepted.
pub struct KeyRing {
    algorithm: Algorithm,
    kid: Option<String>,
    encoding: EncodingKey,
    verifying: Vec<VerifyingKey>,
    /// Key material the refresh-successor HMAC key is derived from.
    secret_material: Vec<u8>,
}

impl KeyRing {
    /// A single HS256 key. Symmetric keys are never published and carry no `kid`.
    pub fn hs256(secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < MIN_HMAC_SECRET_BYTES {
            return Err(KeyError::SecretTooShort);
        }
        Ok(Self {
            algorithm: Algorithm::HS256,
            kid: None,
            encoding: EncodingKey::from_secret(secret),
            verifying: vec![VerifyingKey {
                kid: None,
                algorithm: Algorithm::HS256,
                decoding: DecodingKey::from_secret(secret),
                jwk: None,
            }],
            secret_material: secret.to_vec(),
        })
    }

    /// An asymmetric signing pair, plus public keys of retired pairs that stay valid for
    /// verification until the tokens they signed have expired.
    pub fn asymmetric(
        algorithm: Algorithm,
        private_pem: &[u8],
        public_pem: &[u8],
        retired_public_pems: &[Vec<u8>],
    ) -> Result<Self, KeyError> {
        let encoding = match algorithm {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(private_pem),
            Algorithm::ES256 => EncodingKey::from_ec_pem(private_pem),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(private_pem),
            other => return Err(KeyError::UnsupportedAlgorithm(format!("{other:?}"))),
        }
        .map_err(|error| KeyError::InvalidKey { what: "private", cause: error.to_string() })?;
        let current = verifying_key(algorithm, public_pem)?;
        let mut verifying = vec![current];
        for pem in retired_public_pems {
            verifying.push(verifying_key(algorithm, pem)?);
        }
        let ring = Self {
            algorithm,
            kid: verifying[0].kid.clone(),
            encoding,
            verifying,
            secret_material: private_pem.to_vec(),
        };
        ring.check_pair()?;
        Ok(ring)
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// The key a token's header points at, if any. HMAC has one key and no `kid`; asymmetric
    /// tokens must name a key we hold.
    pub fn verifying_key(&self, kid: Option<&str>) -> Option<&VerifyingKey> {
        match (self.algorithm, kid) {
            (Algorithm::HS256, None) => self.verifying.first(),
            (Algorithm::HS256, Some(_)) => None,
            (_, Some(kid)) => self.verifying.iter().find(|key| key.kid.as_deref() == Some(kid)),
            (_, None) => None,
        }
    }

    /// The public keys, for `/.well-known/jwks.json` (empty for HS256).
    pub fn jwks(&self) -> JwkSet {
        JwkSet { keys: self.verifying.iter().filter_map(|key| key.jwk.clone()).collect() }
    }

    /// A key for deriving refresh-token successors, separated from the signing key by domain.
    pub fn derive_secret(&self, purpose: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(b"auth-service key derivation v1\0");
        hasher.update(purpose.as_bytes());
        hasher.update([0]);
        hasher.update(&self.secret_material);
        hasher.finalize().into()
    }

    /// Signs and verifies a probe so a private key paired with the wrong public key fails at
    /// start-up rather than on the first request.
    fn check_pair(&self) -> Result<(), KeyError> {
        let header = jsonwebtoken::Header { kid: self.kid.clone(), ..jsonwebtoken::Header::new(self.algorithm) };
        let probe = jsonwebtoken::encode(&header, &serde_json::json!({"probe": true}), &self.encoding)
            .map_err(|error| KeyError::InvalidKey { what: "private", cause: error.to_string() })?;
        let mut validation = jsonwebtoken::Validation::new(self.algorithm);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let key = self.verifying.first().ok_or(KeyError::MismatchedPair)?;
        jsonwebtoken::decode::<serde_json::Value>(&probe, &key.decoding, &validation)
            .map(|_| ())
            .map_err(|_| KeyError::MismatchedPair)
    }
}

fn verifying_key(algorithm: Algorithm, public_pem: &[u8]) -> Result<VerifyingKey, KeyError> {
    let invalid =
        |error: jsonwebtoken::errors::Error| KeyError::InvalidKey { what: "public", cause: error.to_string() };
    let decoding = match algorithm {
        Algorithm::RS256 => DecodingKey::from_rsa_pem(public_pem),
        Algorithm::ES256 => DecodingKey::from_ec_pem(public_pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(public_pem),
        other => return Err(KeyError::UnsupportedAlgorithm(format!("{other:?}"))),
    }
    .map_err(invalid)?;
    let kid = key_id(public_pem)?;
    let mut jwk = Jwk::from_decoding_key(&decoding, Some(algorithm)).map_err(invalid)?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    jwk.common.key_algorithm = Some(match algorithm {
        Algorithm::RS256 => KeyAlgorithm::RS256,
        Algorithm::ES256 => KeyAlgorithm::ES256,
        _ => KeyAlgorithm::EdDSA,
    });
    Ok(VerifyingKey { kid: Some(kid), algorithm, decoding, jwk: Some(jwk) })
}

/// A stable key id: the first 16 bytes of SHA-256 over the public key's DER, base64url.
fn key_id(public_pem: &[u8]) -> Result<String, KeyError> {
    let text = std::str::from_utf8(public_pem)
        .map_err(|_| KeyError::InvalidKey { what: "public", cause: "not UTF-8 PEM".into() })?;
    let body: String = text.lines().filter(|line| !line.starts_with("-----")).map(str::trim).collect();
    let der =
        STANDARD.decode(body).map_err(|error| KeyError::InvalidKey { what: "public", cause: error.to_string() })?;
    Ok(URL_SAFE_NO_PAD.encode(&Sha256::digest(der)[..16]))
}

impl KeyRing {
    /// A signing ring from a PEM private key alone (PKCS#8: RSA, P-256 or Ed25519): the
    /// algorithm and the public key are taken from it.
    pub fn from_private_pem(private_pem: &str) -> Result<Self, KeyError> {
        let pair = rcgen::KeyPair::from_pem(private_pem)
            .map_err(|error| KeyError::InvalidKey { what: "private", cause: error.to_string() })?;
        let algorithm = if pair.is_compatible(&rcgen::PKCS_RSA_SHA256) {
            Algorithm::RS256
        } else if pair.is_compatible(&rcgen::PKCS_ECDSA_P256_SHA256) {
            Algorithm::ES256
        } else if pair.is_compatible(&rcgen::PKCS_ED25519) {
            Algorithm::EdDSA
        } else {
            return Err(KeyError::UnsupportedAlgorithm("the key is not RSA, P-256 or Ed25519".into()));
        };
        Self::asymmetric(algorithm, private_pem.as_bytes(), pair.public_key_pem().as_bytes(), &[])
    }
}

/// A freshly generated key pair, PEM encoded (PKCS#8 private key, SPKI public key).
pub struct GeneratedKeyPair {
    pub private_pem: String,
    pub public_pem: String,
}

/// Generates a key pair for `algorithm` (RS256 uses 2048-bit RSA).
pub fn generate_key_pair(algorithm: Algorithm) -> Result<GeneratedKeyPair, KeyError> {
    let signature_algorithm = match algorithm {
        Algorithm::RS256 => &rcgen::PKCS_RSA_SHA256,
        Algorithm::ES256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        Algorithm::EdDSA => &rcgen::PKCS_ED25519,
        other => return Err(KeyError::UnsupportedAlgorithm(format!("{other:?}"))),
    };
    let pair = rcgen::KeyPair::generate_for(signature_algorithm)
        .map_err(|error| KeyError::InvalidKey { what: "generated", cause: error.to_string() })?;
    Ok(GeneratedKeyPair { private_pem: pair.serialize_pem(), public_pem: pair.public_key_pem() })
}

/// A random HS256 secret, base64url encoded (48 bytes of entropy).
pub fn generate_hmac_secret() -> String {
    let mut bytes = [0u8; 48];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
