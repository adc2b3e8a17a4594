//! Google: the OpenID Connect module (`openid.rs`) with Google's rules. RS256 only; `iss` may
//! also be `accounts.google.com`; a verified address is authoritative only on `@gmail.com` or a
//! Workspace domain (`hd`); the token exchange sends the secret in the body, as Google's own
//! libraries do.

use auth_core::redact::Secret;
use jsonwebtoken::Algorithm;

use super::openid::{ClientAuthentication, ClientSecret, EmailTrust, OpenIdConfig};

const GOOGLE_ISSUER: &str = "https://accounts.google.com";

#[derive(Clone, Debug)]
pub struct GoogleConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    /// Further client ids (Android, iOS, other web clients) accepted as `aud` in the app flow.
    pub extra_client_ids: Vec<String>,
}

impl GoogleConfig {
    pub fn into_openid(self) -> OpenIdConfig {
        let issuer = self.issuer.trim_end_matches('/').to_owned();
        let issuer_aliases = if issuer == GOOGLE_ISSUER { vec!["accounts.google.com".to_owned()] } else { Vec::new() };
        OpenIdConfig {
            name: "google".into(),
            display_name: "Google".into(),
            issuer,
            issuer_aliases,
            client_id: self.client_id,
            client_secret: ClientSecret::Fixed(self.client_secret),
            extra_client_ids: self.extra_client_ids,
            scopes: "openid email profile".into(),
            client_authentication: ClientAuthentication::Post,
            algorithms: vec![Algorithm::RS256],
            email_trust: EmailTrust::Google,
            form_post: false,
            subject_from_id: false,
        }
    }
}
