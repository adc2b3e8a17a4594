//! Registered OAuth clients: who may ask for tokens, from where, for what. The matching rules
//! (exact redirect URIs, RFC 8252 loopback ports) and the secret check live here.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// RFC 6749 §2.1: whether the client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    Public,
    Confidential,
}

impl ClientKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Public => "public",
            ClientKind::Confidential => "confidential",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "public" => Some(ClientKind::Public),
            "confidential" => Some(ClientKind::Confidential),
            _ => None,
        }
    }
}

/// The grants a client may be registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [GrantType; 3] =
        [GrantType::AuthorizationCode, GrantType::RefreshToken, GrantType::ClientCredentials];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        GrantType::ALL.into_iter().find(|grant| grant.as_str() == value)
    }
}

/// A registered client as stored.
#[derive(Clone)]
pub struct Client {
    /// Internal id; also the session id that the client's own `client_credentials` tokens carry,
    /// so deleting the client revokes them through the revocation log.
    pub id: Uuid,
    pub client_id: String,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    /// First-party clients skip the consent page.
    pub first_party: bool,
    /// `aud` of its access tokens; the client id when unset.
    pub audience: Option<String>,
    /// RFC 8707 resource indicators it may ask tokens for.
    pub resources: Vec<String>,
    /// SHA-256 (hex) of the current secret; `None` for public clients.
    pub secret_hash: Option<String>,
    /// The secret before the last rotation, accepted until `previous_secret_expires_at`.
    pub previous_secret_hash: Option<String>,
    pub previous_secret_expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Secrets stay out of logs even as hashes.
impl std::fmt::Debug for Client {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Client")
            .field("client_id", &self.client_id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("redirect_uris", &self.redirect_uris)
            .field("grant_types", &self.grant_types)
            .field("scopes", &self.scopes)
            .field("first_party", &self.first_party)
            .field("resources", &self.resources)
            .finish_non_exhaustive()
    }
}

/// The fields needed to register a client.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub id: Uuid,
    pub client_id: String,
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub audience: Option<String>,
    pub resources: Vec<String>,
    pub secret_hash: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An administrative change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ClientPatch {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub grant_types: Option<Vec<GrantType>>,
    pub scopes: Option<Vec<String>>,
    pub first_party: Option<bool>,
    /// `Some(None)` clears it.
    pub audience: Option<Option<String>>,
    pub resources: Option<Vec<String>>,
}

/// A person's consent to a client, for the scopes listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub user_id: Uuid,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub granted_at: DateTime<Utc>,
}

/// The stored form of a client secret: secrets are 256-bit random, so a plain SHA-256 is a
/// one-way hash nobody can brute-force.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

impl Client {
    pub fn allows_grant(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }

    /// Whether `presented` is the current secret, or the previous one within its overlap. Both
    /// comparisons always run, in constant time.
    pub fn secret_matches(&self, presented: &str, now: DateTime<Utc>) -> bool {
        let presented = hash_secret(presented);
        let same = |stored: &Option<String>| {
            stored.as_deref().is_some_and(|stored| bool::from(stored.as_bytes().ct_eq(presented.as_bytes())))
        };
        let current = same(&self.secret_hash);
        let previous =
            same(&self.previous_secret_hash) && self.previous_secret_expires_at.is_some_and(|until| now < until);
        current | previous
    }

    /// RFC 6749 §3.1.2.3 and RFC 9700 §4.1.3: the URI must be one registered, character for
    /// character; only a loopback redirect of a native app may differ in its port (RFC 8252 §7.3).
    pub fn redirect_uri_registered(&self, presented: &str) -> bool {
        self.redirect_uris.iter().any(|registered| redirect_uri_matches(registered, presented))
    }

    pub fn post_logout_uri_registered(&self, presented: &str) -> bool {
        self.post_logout_redirect_uris.iter().any(|registered| registered == presented)
    }

    /// The `aud` of tokens issued to this client.
    pub fn audience(&self) -> &str {
        self.audience.as_deref().unwrap_or(&self.client_id)
    }
}

#[cfg(test)]
impl Client {
    /// A confidential client with secrets `current` and `previous` (an hour of overlap left).
    pub(crate) fn for_tests(client_id: &str) -> Self {
        let now = Utc::now();
        Client {
            id: Uuid::new_v4(),
            client_id: client_id.into(),
            name: "App".into(),
            kind: ClientKind::Confidential,
            redirect_uris: vec![],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            scopes: vec!["openid".into()],
            first_party: false,
            audience: None,
            resources: vec![],
            secret_hash: Some(hash_secret("current")),
            previous_secret_hash: Some(hash_secret("previous")),
            previous_secret_expires_at: Some(now + chrono::Duration::hours(1)),
            created_at: now,
            updated_at: now,
        }
    }
}

fn redirect_uri_matches(registered: &str, presented: &str) -> bool {
    if registered == presented {
        return true;
    }
    let (Ok(registered), Ok(presented)) = (url::Url::parse(registered), url::Url::parse(presented)) else {
        return false;
    };
    let loopback =
        |url: &url::Url| url.scheme() == "http" && matches!(url.host_str(), Some("127.0.0.1") | Some("[::1]"));
    if !loopback(&registered) || !loopback(&presented) {
        return false;
    }
    let without_port = |url: &url::Url| {
        let mut url = url.clone();
        let _ = url.set_port(None);
        url.to_string()
    };
    without_port(&registered) == without_port(&presented)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(redirect_uris: &[&str]) -> Client {
        let mut client = Client::for_tests("app");
        client.redirect_uris = redirect_uris.iter().map(|uri| (*uri).to_owned()).collect();
        client
    }

    #[test]
    fn redirect_uris_match_exactly() {
        let client = client(&["https://app.example.com/callback"]);
        assert!(client.redirect_uri_registered("https://app.example.com/callback"));
        for near_miss in [
            "https://app.example.com/callback/",
            "https://app.example.com/callback?x=1",
            "https://app.example.com/Callback",
            "https://app.example.com:8443/callback",
            "http://app.example.com/callback",
            "https://evil.example.com/callback",
            "https://app.example.com/callback#x",
        ] {
            assert!(!client.redirect_uri_registered(near_miss), "{near_miss}");
        }
    }

    #[test]
    fn only_a_loopback_redirect_may_change_its_port() {
        let client = client(&["http://127.0.0.1/callback", "https://app.example.com/callback"]);
        assert!(client.redirect_uri_registered("http://127.0.0.1:51234/callback"));
        assert!(!client.redirect_uri_registered("http://127.0.0.1:51234/other"));
        assert!(!client.redirect_uri_registered("http://localhost:51234/callback"));
        assert!(!client.redirect_uri_registered("https://app.example.com:444/callback"));
    }

    #[test]
    fn the_previous_secret_works_only_inside_its_overlap() {
        let mut client = client(&[]);
        let now = Utc::now();
        assert!(client.secret_matches("current", now));
        assert!(client.secret_matches("previous", now));
        assert!(!client.secret_matches("previous", now + chrono::Duration::hours(2)));
        assert!(!client.secret_matches("wrong", now));
        client.secret_hash = None;
        client.previous_secret_hash = None;
        assert!(!client.secret_matches("", now));
    }
}
