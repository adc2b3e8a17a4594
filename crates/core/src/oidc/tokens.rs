//! What the provider signs: RFC 9068 access tokens (`typ: at+jwt`) for OAuth clients, and
//! OpenID Connect ID tokens, always with an asymmetric key so any relying party can check them
//! against the published JWKS.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};
use uuid::Uuid;

use super::Audience;
use crate::error::DomainError;
use crate::mfa::{Aal, AuthMethod};
use crate::sessions::{KeyRing, MAX_TOKEN_BYTES};

/// RFC 9068 §2.1: the `typ` header of a JWT access token.
pub const ACCESS_TOKEN_JWT_TYPE: &str = "at+jwt";
const CLOCK_SKEW_SECONDS: i64 = 30;

/// Claims of an access token issued to an OAuth client (RFC 9068 §2.2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientAccessClaims {
    pub iss: String,
    /// The person's id, or the client id for `client_credentials`.
    pub sub: String,
    /// The resources asked for (RFC 8707), else the client's configured audience.
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub jti: Uuid,
    pub client_id: String,
    pub scope: String,
    /// The session the token belongs to: the client-held session of a person, or the client's
    /// internal id for `client_credentials`. Revoking it revokes the token.
    pub sid: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The person's assurance level (absent for machine tokens).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<Aal>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<AuthMethod>,
}

/// What an access token is issued for; the provider adds issuer, times and id when it signs.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    pub sub: String,
    pub aud: Audience,
    pub client_id: String,
    pub scope: String,
    pub sid: Uuid,
    pub auth_time: Option<i64>,
    pub acr: Option<Aal>,
    pub amr: Vec<AuthMethod>,
}

impl ClientAccessClaims {
    /// The person the token acts for, if it acts for one.
    pub fn user_id(&self) -> Option<Uuid> {
        self.acr.and(Uuid::parse_str(&self.sub).ok())
    }

    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split(' ').any(|granted| granted == scope)
    }
}

/// Claims of an ID token (OpenID Connect Core §2, §3.1.3.6).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub azp: String,
    pub exp: i64,
    pub iat: i64,
    pub auth_time: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub acr: Aal,
    pub amr: Vec<AuthMethod>,
    pub sid: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Signs and checks the provider's tokens.
pub struct ProviderTokens {
    issuer: String,
    access_ttl: Duration,
    id_token_ttl: Duration,
    /// Asymmetric: the access-token ring when it is, else the separate OIDC pair.
    id_keys: KeyRing,
}

impl ProviderTokens {
    pub fn new(
        issuer: String,
        access_ttl: Duration,
        id_token_ttl: Duration,
        id_keys: KeyRing,
    ) -> Result<Self, DomainError> {
        if id_keys.algorithm() == Algorithm::HS256 {
            return Err(DomainError::Internal("ID tokens need an asymmetric key".into()));
        }
        Ok(Self { issuer, access_ttl, id_token_ttl, id_keys })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    pub fn id_keys(&self) -> &KeyRing {
        &self.id_keys
    }

    /// Signs an access token for `grant`.
    pub fn issue_access(
        &self,
        keys: &KeyRing,
        grant: AccessGrant,
        now: DateTime<Utc>,
    ) -> Result<(String, ClientAccessClaims), DomainError> {
        let claims = ClientAccessClaims {
            iss: self.issuer.clone(),
            sub: grant.sub,
            aud: grant.aud,
            exp: (now + self.access_ttl).timestamp(),
            iat: now.timestamp(),
            jti: Uuid::new_v4(),
            client_id: grant.client_id,
            scope: grant.scope,
            sid: grant.sid,
            auth_time: grant.auth_time,
            acr: grant.acr,
            amr: grant.amr,
        };
        let header = Header {
            typ: Some(ACCESS_TOKEN_JWT_TYPE.to_owned()),
            kid: keys.kid().map(str::to_owned),
            ..Header::new(keys.algorithm())
        };
        let token = jsonwebtoken::encode(&header, &claims, keys.encoding())
            .map_err(|error| DomainError::Internal(format!("signing failed: {error}")))?;
        Ok((token, claims))
    }

    /// Checks an access token of ours for OAuth clients: `typ`, pinned algorithm, issuer and
    /// times. Revocation is the caller's.
    pub fn verify_access(
        &self,
        keys: &KeyRing,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<ClientAccessClaims, DomainError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(DomainError::InvalidToken);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| DomainError::InvalidToken)?;
        if !is_access_token_type(header.typ.as_deref()) {
            return Err(DomainError::InvalidToken);
        }
        let key = keys.verifying_key(header.kid.as_deref()).ok_or(DomainError::InvalidToken)?;
        if header.alg != key.algorithm {
            return Err(DomainError::InvalidToken);
        }
        let mut validation = Validation::new(key.algorithm);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
        let claims = jsonwebtoken::decode::<ClientAccessClaims>(token, &key.decoding, &validation)
            .map_err(|_| DomainError::InvalidToken)?
            .claims;
        let now = now.timestamp();
        if claims.iat > now + CLOCK_SKEW_SECONDS {
            return Err(DomainError::InvalidToken);
        }
        if claims.exp <= now {
            return Err(DomainError::TokenExpired);
        }
        Ok(claims)
    }

    /// Signs an ID token; `access_token` gives `at_hash` when one is issued with it.
    pub fn issue_id_token(
        &self,
        mut claims: IdTokenClaims,
        access_token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<String, DomainError> {
        claims.iss = self.issuer.clone();
        claims.iat = now.timestamp();
        claims.exp = (now + self.id_token_ttl).timestamp();
        claims.at_hash = access_token.map(|token| at_hash(self.id_keys.algorithm(), token));
        let header = Header { kid: self.id_keys.kid().map(str::to_owned), ..Header::new(self.id_keys.algorithm()) };
        jsonwebtoken::encode(&header, &claims, self.id_keys.encoding())
            .map_err(|error| DomainError::Internal(format!("signing failed: {error}")))
    }

    /// An `id_token_hint` (RP-initiated logout): one of our ID tokens, possibly expired.
    pub fn verify_id_token_hint(&self, token: &str) -> Result<IdTokenClaims, DomainError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(DomainError::InvalidToken);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| DomainError::InvalidToken)?;
        let key = self.id_keys.verifying_key(header.kid.as_deref()).ok_or(DomainError::InvalidToken)?;
        if header.alg != key.algorithm {
            return Err(DomainError::InvalidToken);
        }
        let mut validation = Validation::new(key.algorithm);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.set_issuer(&[&self.issuer]);
        validation.set_required_spec_claims(&["iss", "sub", "aud"]);
        jsonwebtoken::decode::<IdTokenClaims>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|_| DomainError::InvalidToken)
    }
}

/// RFC 9068 §4: `at+jwt`, also written with its media-type prefix.
pub fn is_access_token_type(typ: Option<&str>) -> bool {
    typ.is_some_and(|typ| {
        let typ = typ.to_ascii_lowercase();
        typ == ACCESS_TOKEN_JWT_TYPE || typ == "application/at+jwt"
    })
}

/// OpenID Connect Core §3.1.3.6: the left half of the hash of the access token, with the hash
/// of the ID token's signature algorithm (SHA-512 for Ed25519).
pub fn at_hash(algorithm: Algorithm, access_token: &str) -> String {
    let digest: Vec<u8> = match algorithm {
        Algorithm::EdDSA => Sha512::digest(access_token.as_bytes()).to_vec(),
        _ => Sha256::digest(access_token.as_bytes()).to_vec(),
    };
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::keys;

    fn provider() -> (ProviderTokens, KeyRing) {
        let pair = keys::generate_key_pair(Algorithm::ES256).unwrap();
        let id_keys =
            KeyRing::asymmetric(Algorithm::ES256, pair.private_pem.as_bytes(), pair.public_pem.as_bytes(), &[])
                .unwrap();
        let tokens =
            ProviderTokens::new("https://id.example.com".into(), Duration::minutes(15), Duration::minutes(15), id_keys)
                .unwrap();
        (tokens, KeyRing::hs256(&[7u8; 32]).unwrap())
    }

    fn grant() -> AccessGrant {
        AccessGrant {
            sub: "svc".into(),
            aud: Audience::one("api"),
            client_id: "svc".into(),
            scope: "read write".into(),
            sid: Uuid::new_v4(),
            auth_time: None,
            acr: None,
            amr: vec![],
        }
    }

    #[test]
    fn an_access_token_round_trips_with_its_type() {
        let (tokens, keys) = provider();
        let now = Utc::now();
        let (token, issued) = tokens.issue_access(&keys, grant(), now).unwrap();
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().typ.as_deref(), Some("at+jwt"));
        let verified = tokens.verify_access(&keys, &token, now).unwrap();
        assert_eq!(verified, issued);
        assert!(verified.has_scope("write") && !verified.has_scope("wri"));
        assert!(matches!(
            tokens.verify_access(&keys, &token, now + Duration::minutes(16)),
            Err(DomainError::TokenExpired)
        ));
    }

    #[test]
    fn a_token_without_the_access_type_is_refused() {
        let (tokens, keys) = provider();
        let now = Utc::now();
        let (_, claims) = tokens.issue_access(&keys, grant(), now).unwrap();
        // Same claims and key, but a plain JWT (an ID token or a service token): not an access token.
        let plain = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, keys.encoding()).unwrap();
        assert!(tokens.verify_access(&keys, &plain, now).is_err());
    }

    #[test]
    fn at_hash_is_the_left_half_of_the_digest() {
        // OpenID Connect Core §A.3 example access token and at_hash (RS256).
        assert_eq!(at_hash(Algorithm::RS256, "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"), "77QmUPtjPfzWtF2AnpK9RQ");
        // Ed25519 signs with SHA-512 inside, so its half is 32 bytes (openid/connect issue 1125).
        assert_eq!(
            at_hash(Algorithm::EdDSA, "dNZX1hEZ9wBCzNL40Upu646bdzQA"),
            "8xltSlOGYrWy8W9yNvRlEth1i_bXW-JROWPLvCv5zog"
        );
    }
}
