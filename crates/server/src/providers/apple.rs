//! Sign in with Apple: the OpenID Connect module with Apple's rules. The client secret is an
//! ES256 JWT signed with the team's key, minted for each exchange; the browser comes back with
//! `response_mode=form_post` (required when `name` or `email` is asked for); the name arrives
//! only on the first authorization, as unsigned `user` JSON beside the code; a verified address
//! is authoritative only in the domains Apple runs (iCloud and its private relay).

use std::sync::Arc;

use async_trait::async_trait;
use auth_core::oauth::{
    AppCredentials, AuthorizationRequest, CallbackParameters, ExternalProfile, IdentityProvider, PendingLogin,
    ProviderError,
};
use auth_core::redact::Secret;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use super::openid::{ClientAuthentication, ClientSecret, EmailTrust, MintClientSecret, OpenIdConfig, OpenIdProvider};

/// Apple accepts client secrets valid for up to six months; each exchange mints its own, so a
/// leaked one is worth minutes.
const CLIENT_SECRET_LIFETIME_SECONDS: i64 = 300;

#[derive(Clone, Debug)]
pub struct AppleConfig {
    /// `https://appleid.apple.com`: the issuer, and the client secret's audience.
    pub issuer: String,
    /// The Services ID (web), e.g. `com.example.signin`.
    pub client_id: String,
    pub team_id: String,
    pub key_id: String,
    /// The `.p8` key's PEM (PKCS#8, P-256).
    pub private_key_pem: Secret,
    /// App bundle ids whose ID tokens (the iOS SDK's `identityToken`) the app flow accepts.
    pub extra_client_ids: Vec<String>,
}

#[derive(Serialize)]
struct ClientSecretClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// Mints Apple's client secret: `iss` the team, `sub` the client, `aud` Apple, `kid` the key.
struct AppleClientSecret {
    issuer: String,
    client_id: String,
    team_id: String,
    key_id: String,
    key: EncodingKey,
}

impl MintClientSecret for AppleClientSecret {
    fn mint(&self) -> Result<Secret, ProviderError> {
        let now = chrono::Utc::now().timestamp();
        let claims = ClientSecretClaims {
            iss: &self.team_id,
            sub: &self.client_id,
            aud: &self.issuer,
            iat: now,
            exp: now + CLIENT_SECRET_LIFETIME_SECONDS,
        };
        let header = Header { kid: Some(self.key_id.clone()), ..Header::new(Algorithm::ES256) };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map(Secret::new)
            .map_err(|error| ProviderError::Failed(format!("could not sign the Apple client secret: {error}")))
    }
}

/// The `user` JSON Apple posts on the first authorization.
#[derive(Debug, Deserialize)]
struct FirstAuthorization {
    #[serde(default)]
    name: Option<PersonName>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersonName {
    #[serde(default)]
    first_name: Option<String>,
    #[serde(default)]
    last_name: Option<String>,
}

/// "First Last" from Apple's `user` JSON; nothing when it is absent or malformed.
fn name_of_first_authorization(user: Option<&str>) -> Option<String> {
    let name = serde_json::from_str::<FirstAuthorization>(user?).ok()?.name?;
    let parts: Vec<String> =
        [name.first_name, name.last_name].into_iter().flatten().map(|part| part.trim().to_owned()).collect();
    let joined = parts.into_iter().filter(|part| !part.is_empty()).collect::<Vec<_>>().join(" ");
    (!joined.is_empty()).then_some(joined)
}

pub struct AppleProvider {
    openid: OpenIdProvider,
}

impl AppleProvider {
    pub fn new(config: AppleConfig, http: reqwest::Client) -> Result<Self, ProviderError> {
        let key = EncodingKey::from_ec_pem(config.private_key_pem.expose().as_bytes())
            .map_err(|error| ProviderError::Failed(format!("the Apple private key is not a P-256 PEM: {error}")))?;
        let issuer = config.issuer.trim_end_matches('/').to_owned();
        let minter = AppleClientSecret {
            issuer: issuer.clone(),
            client_id: config.client_id.clone(),
            team_id: config.team_id,
            key_id: config.key_id,
            key,
        };
        let openid = OpenIdConfig {
            name: "apple".into(),
            display_name: "Apple".into(),
            issuer,
            issuer_aliases: Vec::new(),
            client_id: config.client_id,
            client_secret: ClientSecret::Minted(Arc::new(minter)),
            extra_client_ids: config.extra_client_ids,
            scopes: "openid name email".into(),
            client_authentication: ClientAuthentication::Post,
            algorithms: vec![Algorithm::RS256],
            email_trust: EmailTrust::Apple,
            form_post: true,
            subject_from_id: false,
        };
        Ok(Self { openid: OpenIdProvider::new(openid, http) })
    }
}

#[async_trait]
impl IdentityProvider for AppleProvider {
    fn name(&self) -> &str {
        "apple"
    }

    fn display_name(&self) -> &str {
        "Apple"
    }

    fn returns_by_form_post(&self) -> bool {
        true
    }

    async fn authorization_url(&self, request: &AuthorizationRequest<'_>) -> Result<String, ProviderError> {
        self.openid.authorization_url(request).await
    }

    async fn finish(
        &self,
        callback: &CallbackParameters,
        pending: &PendingLogin,
    ) -> Result<ExternalProfile, ProviderError> {
        let mut profile = self.openid.finish(callback, pending).await?;
        // Apple's ID token never carries a name; the first authorization's form does.
        profile.name = profile.name.or_else(|| name_of_first_authorization(callback.user.as_deref()));
        Ok(profile)
    }

    async fn profile_from_app(&self, credentials: &AppCredentials) -> Result<ExternalProfile, ProviderError> {
        self.openid.profile_from_app(credentials).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_authorizations_name_is_read_and_anything_else_is_ignored() {
        let user = r#"{"name":{"firstName":"Ann","lastName":"Apple"},"email":"x@privaterelay.appleid.com"}"#;
        assert_eq!(name_of_first_authorization(Some(user)).as_deref(), Some("Ann Apple"));
        assert_eq!(name_of_first_authorization(Some(r#"{"name":{"firstName":" Ann "}}"#)).as_deref(), Some("Ann"));
        assert_eq!(name_of_first_authorization(Some(r#"{"name":{"firstName":""}}"#)), None);
        assert_eq!(name_of_first_authorization(Some("not json")), None);
        assert_eq!(name_of_first_authorization(Some(r#"{"email":"a@icloud.com"}"#)), None);
        assert_eq!(name_of_first_authorization(None), None);
    }

    #[test]
    fn the_client_secret_is_an_es256_jwt_from_the_team_for_the_client() {
        let pair = auth_core::sessions::keys::generate_key_pair(Algorithm::ES256).unwrap();
        let minter = AppleClientSecret {
            issuer: "https://appleid.apple.com".into(),
            client_id: "com.example.signin".into(),
            team_id: "TEAM123456".into(),
            key_id: "KEY1234567".into(),
            key: EncodingKey::from_ec_pem(pair.private_pem.as_bytes()).unwrap(),
        };
        let secret = minter.mint().unwrap();
        let header = jsonwebtoken::decode_header(secret.expose()).unwrap();
        assert_eq!((header.alg, header.kid.as_deref()), (Algorithm::ES256, Some("KEY1234567")));
        let mut validation = jsonwebtoken::Validation::new(Algorithm::ES256);
        validation.set_audience(&["https://appleid.apple.com"]);
        validation.set_issuer(&["TEAM123456"]);
        let key = jsonwebtoken::DecodingKey::from_ec_pem(pair.public_pem.as_bytes()).unwrap();
        let claims = jsonwebtoken::decode::<serde_json::Value>(secret.expose(), &key, &validation).unwrap().claims;
        assert_eq!(claims["sub"], "com.example.signin");
        let lifetime = claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap();
        assert!(lifetime > 0 && lifetime <= CLIENT_SECRET_LIFETIME_SECONDS, "{lifetime}");
    }
}
