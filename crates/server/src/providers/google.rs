//! Google: OpenID Connect with discovery, authorization code + PKCE S256 + nonce, and ID-token
//! verification against the provider's JWKS (cached, refetched once on an unknown `kid`).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use auth_core::oauth::{
    AppCredentials, AuthorizationRequest, CallbackParameters, ExternalProfile, IdentityProvider, PendingLogin,
    ProviderError,
};
use auth_core::redact::Secret;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tokio::sync::RwLock;

use super::{authorization_url, json_of, required};

const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const METADATA_TTL: Duration = Duration::from_secs(3600);
const JWKS_TTL: Duration = Duration::from_secs(300);
/// An unknown `kid` refetches the key set at most this often (rotation, not a DoS lever).
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(5);
const CLOCK_SKEW_SECONDS: u64 = 60;

#[derive(Clone, Debug)]
pub struct GoogleConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Further client ids (Android, iOS, other web clients) accepted as `aud` in the app flow.
    pub extra_client_ids: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug, Deserialize)]
struct IdTokenClaims {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    hd: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    aud: serde_json::Value,
    iat: u64,
}

pub struct GoogleProvider {
    config: GoogleConfig,
    http: reqwest::Client,
    metadata: RwLock<Option<(Metadata, Instant)>>,
    jwks: RwLock<Option<(JwkSet, Instant)>>,
}

impl GoogleProvider {
    pub fn new(config: GoogleConfig, http: reqwest::Client) -> Self {
        Self { config, http, metadata: RwLock::new(None), jwks: RwLock::new(None) }
    }

    fn accepted_issuers(&self) -> Vec<String> {
        let issuer = self.config.issuer.trim_end_matches('/').to_owned();
        if issuer == GOOGLE_ISSUER { vec![issuer, "accounts.google.com".to_owned()] } else { vec![issuer] }
    }

    async fn metadata(&self) -> Result<Metadata, ProviderError> {
        if let Some((metadata, fetched)) = self.metadata.read().await.as_ref()
            && fetched.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer.trim_end_matches('/'));
        let (status, metadata): (u16, Metadata) = json_of(self.http.get(&url), "discovery").await?;
        if status != 200 || metadata.issuer.trim_end_matches('/') != self.config.issuer.trim_end_matches('/') {
            return Err(ProviderError::Failed(format!("discovery answered {status} for issuer {}", metadata.issuer)));
        }
        *self.metadata.write().await = Some((metadata.clone(), Instant::now()));
        Ok(metadata)
    }

    async fn key_set(&self, refetch: bool) -> Result<JwkSet, ProviderError> {
        if let Some((keys, fetched)) = self.jwks.read().await.as_ref() {
            let fresh = fetched.elapsed() < JWKS_TTL;
            let may_refetch = fetched.elapsed() >= JWKS_REFETCH_INTERVAL;
            if fresh && !(refetch && may_refetch) {
                return Ok(keys.clone());
            }
        }
        let metadata = self.metadata().await?;
        let (status, keys): (u16, JwkSet) = json_of(self.http.get(&metadata.jwks_uri), "jwks").await?;
        if status != 200 {
            return Err(ProviderError::Failed(format!("jwks answered {status}")));
        }
        *self.jwks.write().await = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }

    /// OIDC Core §3.1.3.7 plus Google's rules (docs/providers.md, Google).
    async fn verify_id_token(
        &self,
        id_token: &str,
        expected_nonce: Option<&str>,
    ) -> Result<ExternalProfile, ProviderError> {
        let header =
            jsonwebtoken::decode_header(id_token).map_err(|_| ProviderError::Denied("malformed id_token".into()))?;
        if header.alg != Algorithm::RS256 {
            return Err(ProviderError::Denied(format!("id_token algorithm {:?} is not RS256", header.alg)));
        }
        let kid = header.kid.ok_or_else(|| ProviderError::Denied("id_token has no kid".into()))?;
        let mut keys = self.key_set(false).await?;
        if keys.find(&kid).is_none() {
            keys = self.key_set(true).await?;
        }
        let jwk = keys.find(&kid).ok_or_else(|| ProviderError::Denied("id_token signed by an unknown key".into()))?;
        let key =
            DecodingKey::from_jwk(jwk).map_err(|error| ProviderError::Failed(format!("unusable jwk: {error}")))?;
        let mut audiences = vec![self.config.client_id.clone()];
        audiences.extend(self.config.extra_client_ids.iter().cloned());
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&self.accepted_issuers());
        validation.set_audience(&audiences);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = CLOCK_SKEW_SECONDS;
        let claims = jsonwebtoken::decode::<IdTokenClaims>(id_token, &key, &validation)
            .map_err(|error| ProviderError::Denied(format!("id_token rejected: {error}")))?
            .claims;
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs());
        if claims.iat > now + CLOCK_SKEW_SECONDS {
            return Err(ProviderError::Denied("id_token issued in the future".into()));
        }
        if claims.aud.as_array().is_some_and(|list| list.len() > 1)
            && !claims.azp.as_ref().is_some_and(|azp| audiences.contains(azp))
        {
            return Err(ProviderError::Denied("id_token for several audiences without our azp".into()));
        }
        if let Some(expected) = expected_nonce
            && claims.nonce.as_deref() != Some(expected)
        {
            return Err(ProviderError::Denied("id_token nonce does not match".into()));
        }
        let verified = matches!(claims.email_verified, Some(serde_json::Value::Bool(true)))
            || matches!(&claims.email_verified, Some(serde_json::Value::String(text)) if text == "true");
        // Google is authoritative for a verified address only on gmail.com or a Workspace domain.
        let authoritative = verified
            && claims.email.as_deref().is_some_and(|email| {
                email.to_ascii_lowercase().ends_with("@gmail.com")
                    || claims.hd.as_deref().is_some_and(|hd| !hd.is_empty())
            });
        Ok(ExternalProfile {
            provider: "google".into(),
            subject: claims.sub,
            email: claims.email,
            email_verified_authoritative: authoritative,
            name: claims.name,
        })
    }
}

/// No `Debug`: it holds the user's token.
#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[async_trait]
impl IdentityProvider for GoogleProvider {
    fn name(&self) -> &'static str {
        "google"
    }

    fn display_name(&self) -> &'static str {
        "Google"
    }

    async fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<String, ProviderError> {
        let metadata = self.metadata().await?;
        authorization_url(
            &metadata.authorization_endpoint,
            &self.config.client_id,
            request,
            "openid email profile",
            true,
        )
    }

    async fn finish(
        &self,
        callback: &CallbackParameters,
        pending: &PendingLogin,
    ) -> Result<ExternalProfile, ProviderError> {
        let code = required(&callback.code, "code")?;
        let metadata = self.metadata().await?;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", pending.redirect_uri.as_str()),
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", self.config.client_secret.expose()),
            ("code_verifier", pending.code_verifier.as_str()),
        ];
        let (status, token): (u16, TokenResponse) =
            json_of(self.http.post(&metadata.token_endpoint).form(&form), "token exchange").await?;
        if let Some(error) = token.error {
            return Err(if (400..500).contains(&status) {
                ProviderError::Denied(format!("token exchange refused: {error}"))
            } else {
                ProviderError::Failed(format!("token exchange failed: {error}"))
            });
        }
        let id_token = token.id_token.ok_or_else(|| ProviderError::Failed(format!("no id_token (HTTP {status})")))?;
        self.verify_id_token(&id_token, Some(&pending.nonce)).await
    }

    async fn profile_from_app(&self, credentials: &AppCredentials) -> Result<ExternalProfile, ProviderError> {
        let id_token = required(&credentials.id_token, "id_token")?;
        self.verify_id_token(id_token, None).await
    }
}
