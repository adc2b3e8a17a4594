//! The client registry: registration with its rules, secret rotation, client authentication.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use uuid::Uuid;

use super::service::OidcService;
use super::{Client, ClientKind, ClientPatch, GrantType, NewClient, OAuthError, Scopes, hash_secret};
use crate::error::{DomainError, FieldError};
use crate::redact::Secret;

const MAX_NAME_CHARS: usize = 100;
const MAX_URIS: usize = 20;
const MAX_URI_BYTES: usize = 2_000;

/// What an administrator asks to register.
#[derive(Debug, Clone)]
pub struct ClientRegistration {
    pub name: String,
    pub kind: ClientKind,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<GrantType>,
    pub scopes: Vec<String>,
    pub first_party: bool,
    pub audience: Option<String>,
    /// RFC 8707 resource indicators it may ask tokens for.
    pub resources: Vec<String>,
}

/// A registered client with its secret, which is shown this once.
#[derive(Debug)]
pub struct RegisteredClient {
    pub client: Client,
    pub secret: Option<Secret>,
}

impl OidcService {
    #[tracing::instrument(name = "register client", skip_all, fields(name = %registration.name))]
    pub async fn register_client(&self, registration: ClientRegistration) -> Result<RegisteredClient, DomainError> {
        check_client_fields(
            &registration.name,
            registration.kind,
            &registration.redirect_uris,
            &registration.post_logout_redirect_uris,
            &registration.grant_types,
            &registration.scopes,
            &registration.resources,
        )?;
        let secret = (registration.kind == ClientKind::Confidential).then(random_secret);
        let client = self
            .store
            .create_client(NewClient {
                id: Uuid::new_v4(),
                client_id: random_client_id(),
                name: registration.name.trim().to_owned(),
                kind: registration.kind,
                redirect_uris: registration.redirect_uris,
                post_logout_redirect_uris: registration.post_logout_redirect_uris,
                grant_types: registration.grant_types,
                scopes: registration.scopes,
                first_party: registration.first_party,
                audience: registration.audience.filter(|audience| !audience.trim().is_empty()),
                resources: registration.resources,
                secret_hash: secret.as_deref().map(hash_secret),
                created_at: self.clock.now(),
            })
            .await?;
        tracing::info!(target: "audit", event = "oauth_client_created", client_id = %client.client_id, kind = client.kind.as_str(), outcome = "success", "OAuth client registered");
        Ok(RegisteredClient { client, secret })
    }

    pub async fn clients(&self) -> Result<Vec<Client>, DomainError> {
        Ok(self.store.list_clients().await?)
    }

    pub async fn client(&self, client_id: &str) -> Result<Client, DomainError> {
        self.store.find_client(client_id).await?.ok_or(DomainError::NotFound)
    }

    #[tracing::instrument(name = "update client", skip(self, patch))]
    pub async fn update_client(&self, client_id: &str, patch: ClientPatch) -> Result<Client, DomainError> {
        let current = self.client(client_id).await?;
        check_client_fields(
            patch.name.as_deref().unwrap_or(&current.name),
            current.kind,
            patch.redirect_uris.as_ref().unwrap_or(&current.redirect_uris),
            patch.post_logout_redirect_uris.as_ref().unwrap_or(&current.post_logout_redirect_uris),
            patch.grant_types.as_ref().unwrap_or(&current.grant_types),
            patch.scopes.as_ref().unwrap_or(&current.scopes),
            patch.resources.as_ref().unwrap_or(&current.resources),
        )?;
        let client =
            self.store.update_client(client_id, patch, self.clock.now()).await?.ok_or(DomainError::NotFound)?;
        tracing::info!(target: "audit", event = "oauth_client_updated", client_id = %client.client_id, outcome = "success", "OAuth client updated");
        Ok(client)
    }

    /// Deletes the client and revokes every token issued to it, on every instance.
    #[tracing::instrument(name = "delete client", skip(self))]
    pub async fn delete_client(&self, client_id: &str) -> Result<(), DomainError> {
        let revocations = self.store.delete_client(client_id, self.clock.now()).await?.ok_or(DomainError::NotFound)?;
        tracing::info!(target: "audit", event = "oauth_client_deleted", %client_id, sessions = revocations.len(), outcome = "success", "OAuth client deleted");
        self.sessions.publish_revocations(&revocations).await;
        Ok(())
    }

    /// A new secret; the old one keeps working for the configured overlap.
    #[tracing::instrument(name = "rotate client secret", skip(self))]
    pub async fn rotate_client_secret(&self, client_id: &str) -> Result<Secret, DomainError> {
        let client = self.client(client_id).await?;
        if client.kind != ClientKind::Confidential {
            return Err(DomainError::Validation(vec![FieldError::new("type", "a public client has no secret")]));
        }
        let secret = random_secret();
        let now = self.clock.now();
        if !self
            .store
            .rotate_client_secret(client_id, &hash_secret(&secret), now + self.settings.secret_overlap, now)
            .await?
        {
            return Err(DomainError::NotFound);
        }
        tracing::info!(target: "audit", event = "oauth_client_secret_rotated", %client_id, outcome = "success", "OAuth client secret rotated");
        Ok(secret)
    }

    /// RFC 6749 §2.3: a confidential client proves its secret; a public one presents none.
    /// Every failure is the same `invalid_client`, whatever was wrong.
    pub async fn authenticate_client(&self, client_id: &str, secret: Option<&str>) -> Result<Client, OAuthError> {
        let client = self.store.find_client(client_id).await?;
        let now = self.clock.now();
        let outcome = match (&client, secret) {
            (Some(client), Some(secret))
                if client.kind == ClientKind::Confidential && client.secret_matches(secret, now) =>
            {
                Ok(())
            }
            (Some(client), None) if client.kind == ClientKind::Public => Ok(()),
            _ => Err(OAuthError::InvalidClient),
        };
        if outcome.is_err() {
            metrics::counter!("oauth_client_authentications_failed_total").increment(1);
            tracing::warn!(target: "audit", event = "oauth_client_authentication_failed", %client_id, outcome = "failure", "OAuth client authentication failed");
        }
        outcome.and(client.ok_or(OAuthError::InvalidClient))
    }
}

fn check_client_fields(
    name: &str,
    kind: ClientKind,
    redirect_uris: &[String],
    post_logout_redirect_uris: &[String],
    grant_types: &[GrantType],
    scopes: &[String],
    resources: &[String],
) -> Result<(), DomainError> {
    let mut errors = Vec::new();
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        errors.push(FieldError::new("name", format!("1 to {MAX_NAME_CHARS} printable characters")));
    }
    if grant_types.is_empty() {
        errors.push(FieldError::new("grant_types", "at least one grant type"));
    }
    let person_flow = grant_types.contains(&GrantType::AuthorizationCode);
    if grant_types.contains(&GrantType::RefreshToken) && !person_flow {
        errors.push(FieldError::new("grant_types", "refresh_token comes with authorization_code"));
    }
    if grant_types.contains(&GrantType::ClientCredentials) && kind == ClientKind::Public {
        errors.push(FieldError::new("grant_types", "client_credentials needs a confidential client"));
    }
    if person_flow && redirect_uris.is_empty() {
        errors.push(FieldError::new("redirect_uris", "authorization_code needs at least one redirect URI"));
    }
    for (field, uris) in [("redirect_uris", redirect_uris), ("post_logout_redirect_uris", post_logout_redirect_uris)] {
        if uris.len() > MAX_URIS {
            errors.push(FieldError::new(field, format!("at most {MAX_URIS}")));
        }
        if let Some(bad) = uris.iter().find(|uri| !is_acceptable_redirect_uri(uri)) {
            errors.push(FieldError::new(
                field,
                format!("{bad:?} is not an absolute https URI, an http loopback URI, or a private-use scheme, without a fragment"),
            ));
        }
    }
    if Scopes::parse(&scopes.join(" ")).is_none() || scopes.iter().any(|scope| scope.is_empty() || scope.contains(' '))
    {
        errors.push(FieldError::new("scopes", "scope names are printable ASCII without spaces, quotes or backslashes"));
    }
    if resources.len() > super::audience::MAX_RESOURCES {
        errors.push(FieldError::new("resources", format!("at most {}", super::audience::MAX_RESOURCES)));
    }
    if let Some(bad) = resources.iter().find(|resource| !super::audience::is_resource_indicator(resource)) {
        errors.push(FieldError::new("resources", format!("{bad:?} is not an absolute URI without a fragment")));
    }
    if errors.is_empty() { Ok(()) } else { Err(DomainError::Validation(errors)) }
}

/// RFC 9700 §2.1 and RFC 8252 §7: https anywhere; plain http only to the loopback interface
/// (or `localhost`); a private-use scheme (`com.example.app:/callback`) for native apps; never a
/// fragment, never a scheme that runs code in the browser.
fn is_acceptable_redirect_uri(uri: &str) -> bool {
    if uri.len() > MAX_URI_BYTES {
        return false;
    }
    let Ok(url) = url::Url::parse(uri) else { return false };
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return false;
    }
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => matches!(url.host_str(), Some("127.0.0.1") | Some("[::1]") | Some("localhost")),
        "javascript" | "data" | "file" | "vbscript" | "blob" | "about" | "ws" | "wss" | "ftp" => false,
        scheme => scheme.contains('.'),
    }
}

fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buffer);
    URL_SAFE_NO_PAD.encode(buffer)
}

/// 24 letters and digits (about 143 bits): safe in URLs, forms and on a command line (a
/// base64url id could start with `-` and read as an option).
fn random_client_id() -> String {
    use rand::Rng;
    rand::rngs::OsRng.sample_iter(&rand::distributions::Alphanumeric).take(24).map(char::from).collect()
}

/// 256 bits, base64url.
fn random_secret() -> Secret {
    Secret::new(random_token(32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_must_be_safe_kinds() {
        for good in
            ["https://app.example.com/cb", "http://127.0.0.1/cb", "http://localhost:3000/cb", "com.example.app:/oauth"]
        {
            assert!(is_acceptable_redirect_uri(good), "{good}");
        }
        for bad in [
            "http://app.example.com/cb",
            "https://app.example.com/cb#frag",
            "javascript:alert(1)",
            "data:text/html,x",
            "/relative",
            "https://user:pass@app.example.com/cb",
            "myapp:/cb",
        ] {
            assert!(!is_acceptable_redirect_uri(bad), "{bad}");
        }
    }

    #[test]
    fn registration_rules_name_the_field() {
        let fields = |result: Result<(), DomainError>| match result {
            Err(DomainError::Validation(errors)) => errors.into_iter().map(|error| error.field).collect::<Vec<_>>(),
            _ => vec![],
        };
        assert_eq!(
            fields(check_client_fields("cli", ClientKind::Public, &[], &[], &[GrantType::ClientCredentials], &[], &[])),
            ["grant_types"]
        );
        assert_eq!(
            fields(check_client_fields(
                "web",
                ClientKind::Confidential,
                &[],
                &[],
                &[GrantType::AuthorizationCode],
                &[],
                &["api.example.com".into()]
            )),
            ["redirect_uris", "resources"]
        );
        assert_eq!(
            fields(check_client_fields(
                " ",
                ClientKind::Confidential,
                &[],
                &[],
                &[GrantType::ClientCredentials],
                &["a b".into()],
                &[]
            )),
            ["name", "scopes"]
        );
        assert!(
            check_client_fields(
                "Grafana",
                ClientKind::Confidential,
                &["https://grafana.example.com/login/generic_oauth".into()],
                &[],
                &[GrantType::AuthorizationCode, GrantType::RefreshToken],
                &["openid".into(), "email".into()],
                &["https://grafana.example.com/api".into()],
            )
            .is_ok()
        );
    }
}
