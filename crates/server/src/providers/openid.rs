//! Any OpenID Connect provider: discovery, authorization code + PKCE S256 + nonce, the RFC 9207
//! `iss` check, and ID-token verification against the provider's JWKS (cached, refetched on an
//! unknown `kid` at most every few seconds). Google is this module with its own email policy
//! (`google.rs`); providers configured by `OIDC_PROVIDERS` are this module with theirs.

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

use super::{authorization_url, json_of, mailbox_in, required};

const METADATA_TTL: Duration = Duration::from_secs(3600);
const JWKS_TTL: Duration = Duration::from_secs(300);
/// An unknown `kid` refetches the key set at most this often (rotation, not a DoS lever).
const JWKS_REFETCH_INTERVAL: Duration = Duration::from_secs(5);
const CLOCK_SKEW_SECONDS: u64 = 60;
/// Microsoft Entra's multi-tenant endpoints (`/common`, `/organizations`, `/consumers`) publish
/// one discovery document whose `issuer` is a template holding this placeholder; each ID token's
/// `iss` is that template with the token's own `tid`.
const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Whether a discovery document's `issuer` may stand for the configured one: the same, or a
/// tenant template on the same origin (Microsoft's multi-tenant discovery).
fn discovered_issuer_fits(configured: &str, discovered: &str) -> bool {
    let discovered = discovered.trim_end_matches('/');
    if discovered == configured {
        return true;
    }
    let origin = |url: &str| reqwest::Url::parse(url).ok().map(|url| url.origin().ascii_serialization());
    discovered.contains(TENANT_PLACEHOLDER) && origin(configured).is_some() && origin(configured) == origin(discovered)
}

/// The `iss` a token of tenant `tid` must carry under a tenant template; a `tid` that is not a
/// GUID gets none, so it cannot reshape the issuer.
fn tenant_issuer(template: &str, tid: Option<&str>) -> Option<String> {
    let tid = tid.filter(|tid| tid.len() == 36 && tid.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))?;
    Some(template.replace(TENANT_PLACEHOLDER, &tid.to_ascii_lowercase()))
}

/// How the client authenticates at the token endpoint (OIDC Core §9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuthentication {
    /// HTTP Basic with the form-encoded id and secret (RFC 6749 §2.3.1), the discovery default.
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Post,
}

impl ClientAuthentication {
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "client_secret_basic" => Some(Self::Basic),
            "client_secret_post" => Some(Self::Post),
            _ => None,
        }
    }

    fn discovery_name(self) -> &'static str {
        match self {
            Self::Basic => "client_secret_basic",
            Self::Post => "client_secret_post",
        }
    }
}

/// Mints a client secret for each token exchange (Apple's is a short-lived signed JWT).
pub trait MintClientSecret: Send + Sync {
    fn mint(&self) -> Result<Secret, ProviderError>;
}

/// The client secret the token exchange sends: fixed, or minted per exchange.
#[derive(Clone)]
pub enum ClientSecret {
    Fixed(Secret),
    Minted(std::sync::Arc<dyn MintClientSecret>),
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(secret) => formatter.debug_tuple("Fixed").field(secret).finish(),
            Self::Minted(_) => formatter.write_str("Minted"),
        }
    }
}

impl ClientSecret {
    fn current(&self) -> Result<Secret, ProviderError> {
        match self {
            Self::Fixed(secret) => Ok(secret.clone()),
            Self::Minted(minter) => minter.mint(),
        }
    }
}

/// When the provider's word on an email address is enough to link to an existing account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmailTrust {
    /// Never: an unknown provider may let anyone claim any address (the default).
    Never,
    /// When `email_verified` is true: the operator trusts this provider's verification.
    WhenVerified,
    /// Google: verified, and Google owns the mailbox (`@gmail.com`) or a Workspace domain (`hd`).
    Google,
    /// Apple: verified, and Apple runs the mailbox (iCloud, or its private relay).
    Apple,
}

/// The mail domains Apple runs: iCloud's, and the private relay it makes per app.
const APPLE_MAIL_DOMAINS: &[&str] = &["icloud.com", "me.com", "mac.com", "privaterelay.appleid.com"];

/// The ID-token algorithms a provider may sign with: asymmetric only. `none` cannot be
/// expressed, and HS* would verify with the client secret, which the provider's key is not.
pub fn signing_algorithm(name: &str) -> Option<Algorithm> {
    let algorithm: Algorithm = name.trim().parse().ok()?;
    (!matches!(algorithm, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)).then_some(algorithm)
}

#[derive(Clone, Debug)]
pub struct OpenIdConfig {
    pub name: String,
    pub display_name: String,
    pub issuer: String,
    /// Further accepted `iss` values (Google also signs as `accounts.google.com`).
    pub issuer_aliases: Vec<String>,
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// Further client ids (Android, iOS, other web clients) accepted as `aud` in the app flow.
    pub extra_client_ids: Vec<String>,
    pub scopes: String,
    pub client_authentication: ClientAuthentication,
    pub algorithms: Vec<Algorithm>,
    pub email_trust: EmailTrust,
    /// Ask for `response_mode=form_post`: the provider returns the browser with a form POST
    /// (Apple, whenever `name` or `email` is asked for).
    pub form_post: bool,
    /// Take the subject from an `id` claim when the token has one, else from `sub`: Telegram's
    /// numeric user id, which its Login Widget also carries, so both flows find one identity.
    pub subject_from_id: bool,
}

#[derive(Debug, Clone, Deserialize)]
struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
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
    #[serde(default)]
    id: Option<serde_json::Value>,
    /// Microsoft Entra: the tenant, which a tenant-template issuer is checked with.
    #[serde(default)]
    tid: Option<String>,
    iss: String,
    aud: serde_json::Value,
    iat: u64,
}

impl IdTokenClaims {
    fn subject(&self, from_id: bool) -> String {
        match self.id.as_ref().filter(|_| from_id) {
            Some(serde_json::Value::Number(id)) => id.to_string(),
            Some(serde_json::Value::String(id)) if !id.is_empty() => id.clone(),
            _ => self.sub.clone(),
        }
    }

    /// `email_verified` is a boolean, or the string "true" for some providers (Apple).
    fn email_verified(&self) -> bool {
        match &self.email_verified {
            Some(serde_json::Value::Bool(verified)) => *verified,
            Some(serde_json::Value::String(text)) => text == "true",
            _ => false,
        }
    }
}

/// Whether the address may link to an existing account under `trust` (docs/providers.md).
fn email_is_authoritative(trust: EmailTrust, email: Option<&str>, verified: bool, hd: Option<&str>) -> bool {
    let Some(email) = email.filter(|_| verified) else { return false };
    match trust {
        EmailTrust::Never => false,
        EmailTrust::WhenVerified => true,
        EmailTrust::Google => email.to_ascii_lowercase().ends_with("@gmail.com") || hd.is_some_and(|hd| !hd.is_empty()),
        EmailTrust::Apple => mailbox_in(email, APPLE_MAIL_DOMAINS),
    }
}

pub struct OpenIdProvider {
    config: OpenIdConfig,
    http: reqwest::Client,
    metadata: RwLock<Option<(Metadata, Instant)>>,
    jwks: RwLock<Option<(JwkSet, Instant)>>,
}

impl OpenIdProvider {
    pub fn new(config: OpenIdConfig, http: reqwest::Client) -> Self {
        Self { config, http, metadata: RwLock::new(None), jwks: RwLock::new(None) }
    }

    fn issuer(&self) -> &str {
        self.config.issuer.trim_end_matches('/')
    }

    fn accepted_issuers(&self) -> Vec<String> {
        let mut issuers = vec![self.issuer().to_owned()];
        issuers.extend(self.config.issuer_aliases.iter().cloned());
        issuers
    }

    /// OIDC Discovery §4.3: the document must name the configured issuer; it must also offer
    /// what this client relies on (its client authentication, PKCE S256).
    async fn metadata(&self) -> Result<Metadata, ProviderError> {
        if let Some((metadata, fetched)) = self.metadata.read().await.as_ref()
            && fetched.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer());
        let (status, metadata): (u16, Metadata) = json_of(self.http.get(&url), "discovery").await?;
        if status != 200 || !discovered_issuer_fits(self.issuer(), &metadata.issuer) {
            return Err(ProviderError::Failed(format!("discovery answered {status} for issuer {}", metadata.issuer)));
        }
        let method = self.config.client_authentication.discovery_name();
        if metadata
            .token_endpoint_auth_methods_supported
            .as_ref()
            .is_some_and(|methods| !methods.iter().any(|m| m == method))
        {
            return Err(ProviderError::Failed(format!("the provider does not offer {method}")));
        }
        if metadata
            .code_challenge_methods_supported
            .as_ref()
            .is_some_and(|methods| !methods.iter().any(|m| m == "S256"))
        {
            return Err(ProviderError::Failed("the provider does not offer PKCE S256".into()));
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

    /// OIDC Core §3.1.3.7, with the algorithm pinned to this provider's allow-list.
    async fn verify_id_token(
        &self,
        id_token: &str,
        expected_nonce: Option<&str>,
    ) -> Result<ExternalProfile, ProviderError> {
        let header =
            jsonwebtoken::decode_header(id_token).map_err(|_| ProviderError::Denied("malformed id_token".into()))?;
        if !self.config.algorithms.contains(&header.alg) {
            return Err(ProviderError::Denied(format!("id_token algorithm {:?} is not allowed", header.alg)));
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
        let metadata = self.metadata().await?;
        let template = metadata.issuer.trim_end_matches('/').contains(TENANT_PLACEHOLDER);
        let mut validation = Validation::new(header.alg);
        if !template {
            validation.set_issuer(&self.accepted_issuers());
        }
        validation.set_audience(&audiences);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = CLOCK_SKEW_SECONDS;
        let claims = jsonwebtoken::decode::<IdTokenClaims>(id_token, &key, &validation)
            .map_err(|error| ProviderError::Denied(format!("id_token rejected: {error}")))?
            .claims;
        if template
            && tenant_issuer(metadata.issuer.trim_end_matches('/'), claims.tid.as_deref()).as_deref()
                != Some(&claims.iss)
        {
            return Err(ProviderError::Denied("id_token iss does not match its tenant".into()));
        }
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
        let authoritative = email_is_authoritative(
            self.config.email_trust,
            claims.email.as_deref(),
            claims.email_verified(),
            claims.hd.as_deref(),
        );
        Ok(ExternalProfile {
            provider: self.config.name.clone(),
            subject: claims.subject(self.config.subject_from_id),
            email: claims.email,
            email_verified_authoritative: authoritative,
            name: claims.name,
        })
    }

    /// RFC 9207 §2.4: a provider that announces `iss` must send its own; any `iss` must match.
    fn check_response_issuer(&self, metadata: &Metadata, callback: &CallbackParameters) -> Result<(), ProviderError> {
        match callback.iss.as_deref() {
            Some(iss) if iss.trim_end_matches('/') != self.issuer() => {
                Err(ProviderError::Denied("the authorization response came from another issuer".into()))
            }
            None if metadata.authorization_response_iss_parameter_supported => {
                Err(ProviderError::Denied("the authorization response has no iss".into()))
            }
            _ => Ok(()),
        }
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

/// RFC 6749 §2.3.1: id and secret are form-encoded before they go into the Basic header.
fn form_encoded(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[async_trait]
impl IdentityProvider for OpenIdProvider {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn display_name(&self) -> &str {
        &self.config.display_name
    }

    async fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<String, ProviderError> {
        let metadata = self.metadata().await?;
        let url = authorization_url(
            &metadata.authorization_endpoint,
            &self.config.client_id,
            request,
            &self.config.scopes,
            true,
        )?;
        if !self.config.form_post {
            return Ok(url);
        }
        let mut url = reqwest::Url::parse(&url)
            .map_err(|error| ProviderError::Failed(format!("authorization endpoint: {error}")))?;
        url.query_pairs_mut().append_pair("response_mode", "form_post");
        Ok(url.into())
    }

    async fn finish(
        &self,
        callback: &CallbackParameters,
        pending: &PendingLogin,
    ) -> Result<ExternalProfile, ProviderError> {
        let code = required(&callback.code, "code")?;
        let metadata = self.metadata().await?;
        self.check_response_issuer(&metadata, callback)?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", pending.redirect_uri.as_str()),
            ("code_verifier", pending.code_verifier.as_str()),
        ];
        let mut exchange = self.http.post(&metadata.token_endpoint);
        let client_secret = self.config.client_secret.current()?;
        match self.config.client_authentication {
            ClientAuthentication::Basic => {
                exchange = exchange
                    .basic_auth(form_encoded(&self.config.client_id), Some(form_encoded(client_secret.expose())));
            }
            ClientAuthentication::Post => {
                form.push(("client_id", self.config.client_id.as_str()));
                form.push(("client_secret", client_secret.expose()));
            }
        }
        let (status, token): (u16, TokenResponse) = json_of(exchange.form(&form), "token exchange").await?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_algorithms_are_never_allowed_for_id_tokens() {
        for refused in ["HS256", "HS384", "HS512", "none", "", "rs256"] {
            assert_eq!(signing_algorithm(refused), None, "{refused}");
        }
        assert_eq!(signing_algorithm("RS256"), Some(Algorithm::RS256));
        assert_eq!(signing_algorithm(" ES256 "), Some(Algorithm::ES256));
        assert_eq!(signing_algorithm("EdDSA"), Some(Algorithm::EdDSA));
    }

    #[test]
    fn only_a_verified_address_can_be_authoritative_and_only_as_the_policy_allows() {
        let cases = [
            (EmailTrust::Never, "a@corp.example", true, None, false),
            (EmailTrust::WhenVerified, "a@corp.example", true, None, true),
            (EmailTrust::WhenVerified, "a@corp.example", false, None, false),
            (EmailTrust::Google, "a@gmail.com", true, None, true),
            (EmailTrust::Google, "A@GMAIL.COM", true, None, true),
            (EmailTrust::Google, "a@example.org", true, None, false),
            (EmailTrust::Google, "a@corp.example", true, Some("corp.example"), true),
            (EmailTrust::Google, "a@corp.example", true, Some(""), false),
            (EmailTrust::Google, "a@gmail.com", false, None, false),
            (EmailTrust::Apple, "a@icloud.com", true, None, true),
            (EmailTrust::Apple, "x1@privaterelay.appleid.com", true, None, true),
            (EmailTrust::Apple, "a@example.org", true, None, false),
            (EmailTrust::Apple, "a@icloud.com", false, None, false),
        ];
        for (trust, email, verified, hd, expected) in cases {
            assert_eq!(
                email_is_authoritative(trust, Some(email), verified, hd),
                expected,
                "{trust:?} {email} {verified}"
            );
        }
        assert!(!email_is_authoritative(EmailTrust::WhenVerified, None, true, None));
    }

    #[test]
    fn a_tenant_template_issuer_is_filled_only_with_the_tokens_own_guid() {
        let configured = "https://login.microsoftonline.com/common/v2.0";
        let template = "https://login.microsoftonline.com/{tenantid}/v2.0";
        assert!(discovered_issuer_fits(configured, template));
        assert!(discovered_issuer_fits(configured, "https://login.microsoftonline.com/common/v2.0/"));
        assert!(!discovered_issuer_fits(configured, "https://evil.example/{tenantid}/v2.0"));
        assert!(!discovered_issuer_fits(configured, "https://login.microsoftonline.com/other/v2.0"));
        let tid = "9188040d-6c67-4c5b-b112-36a304b66dad";
        assert_eq!(
            tenant_issuer(template, Some(tid)).as_deref(),
            Some("https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0")
        );
        assert_eq!(tenant_issuer(template, None), None);
        assert_eq!(tenant_issuer(template, Some("x/../../evil.example/y")), None);
        assert_eq!(tenant_issuer(template, Some("")), None);
    }

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        assert_eq!(form_encoded("id:with space&=é"), "id%3Awith+space%26%3D%C3%A9");
    }
}
