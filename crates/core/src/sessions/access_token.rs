//! Access tokens: short-lived JWTs with the contract's claims, checked by the rules of
//! RFC 8725: pinned algorithm, issuer, audience, type, expiry and issue time.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::KeyRing;
use crate::error::DomainError;
use crate::mfa::{Aal, Assurance, AuthMethod};
use crate::model::{Role, User};

/// Anything longer is not one of ours; refusing early keeps garbage cheap.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Tolerated clock difference between instances for `iat`/`nbf` in the future.
const CLOCK_SKEW_SECONDS: i64 = 30;

pub const ACCESS_TOKEN_TYPE: &str = "access";

/// The claims of an access token (README, "The API").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: Uuid,
    pub sid: Uuid,
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(rename = "type")]
    pub token_type: String,
    pub email: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Authentication assurance level of the session (absent in tokens from before it was
    /// recorded: aal1).
    #[serde(default)]
    pub aal: Aal,
    /// RFC 8176 methods the session's sign-in used.
    #[serde(default)]
    pub amr: Vec<AuthMethod>,
}

/// Issues and checks access tokens.
pub struct AccessTokens {
    keys: KeyRing,
    issuer: String,
    audience: Option<String>,
    ttl: Duration,
}

impl AccessTokens {
    pub fn new(keys: KeyRing, issuer: String, audience: Option<String>, ttl: Duration) -> Self {
        Self { keys, issuer, audience, ttl }
    }

    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(
        &self,
        user: &User,
        session_id: Uuid,
        assurance: &Assurance,
        now: DateTime<Utc>,
    ) -> Result<(String, AccessClaims), DomainError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: user.id,
            sid: session_id,
            jti: Uuid::new_v4(),
            iat: now.timestamp(),
            exp: (now + self.ttl).timestamp(),
            nbf: None,
            token_type: ACCESS_TOKEN_TYPE.to_owned(),
            email: user.email.clone(),
            role: user.role,
            aud: self.audience.clone(),
            aal: assurance.aal,
            amr: assurance.amr.clone(),
        };
        let header = Header { kid: self.keys.kid().map(str::to_owned), ..Header::new(self.keys.algorithm()) };
        let token = jsonwebtoken::encode(&header, &claims, self.keys.encoding())
            .map_err(|error| DomainError::Internal(format!("signing failed: {error}")))?;
        Ok((token, claims))
    }

    /// Checks signature, algorithm, issuer, audience, type and times. Revocation is the caller's.
    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, DomainError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(DomainError::InvalidToken);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| DomainError::InvalidToken)?;
        let key = self.keys.verifying_key(header.kid.as_deref()).ok_or(DomainError::InvalidToken)?;
        if header.alg != key.algorithm {
            return Err(DomainError::InvalidToken);
        }
        let mut validation = Validation::new(key.algorithm);
        // Times are checked below against the injected clock, without leeway on `exp`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.set_issuer(&[&self.issuer]);
        match &self.audience {
            Some(audience) => {
                // jsonwebtoken checks `aud` only when present; a token minted for no audience
                // must not pass where one is configured (RFC 8725 §3.9).
                validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
                validation.set_audience(&[audience]);
            }
            None => {
                validation.set_required_spec_claims(&["exp", "iat", "iss", "sub"]);
                validation.validate_aud = false;
            }
        }
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
            .map_err(|_| DomainError::InvalidToken)?
            .claims;
        if claims.token_type != ACCESS_TOKEN_TYPE {
            return Err(DomainError::InvalidToken);
        }
        let now = now.timestamp();
        if claims.iat > now + CLOCK_SKEW_SECONDS || claims.nbf.is_some_and(|nbf| nbf > now + CLOCK_SKEW_SECONDS) {
            return Err(DomainError::InvalidToken);
        }
        if claims.exp <= now {
            return Err(DomainError::TokenExpired);
        }
        Ok(claims)
    }
}
