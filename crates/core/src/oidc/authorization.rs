//! The authorization endpoint's rules (RFC 6749 §4.1.1, OAuth 2.1 §4.1, OpenID Connect Core
//! §3.1.2): which requests may even be answered by a redirect, what each parameter must be,
//! whether the person must sign in or consent first, and the single-use code it ends with.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::service::OidcService;
use super::{Client, GrantType, OAuthError, Scopes, pkce, scope};
use crate::error::DomainError;
use crate::mfa::Assurance;
use crate::model::User;

const MAX_STATE_BYTES: usize = 2_000;

/// A request that failed before its redirect URI could be trusted: shown on a page, never
/// redirected (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UntrustedRequest {
    UnknownClient,
    UnregisteredRedirectUri,
    /// A parameter given twice or missing before the client was known.
    Malformed,
}

/// How an authorization request failed.
#[derive(Debug)]
pub enum AuthorizeFailure {
    Page(UntrustedRequest),
    /// Sent back to the client's registered redirect URI.
    Redirect {
        redirect_uri: String,
        state: Option<String>,
        error: OAuthError,
    },
}

/// A request whose client and redirect URI are known good and whose parameters hold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt_none: bool,
    pub prompt_login: bool,
    pub prompt_consent: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// RFC 8707 resources the tokens are for; none: the client's configured audience.
    #[serde(default)]
    pub resources: Vec<String>,
}

/// Who is signed in in the browser asking.
#[derive(Debug, Clone)]
pub struct BrowserSignIn {
    pub user: User,
    pub session_id: Uuid,
    pub auth_time: DateTime<Utc>,
    pub assurance: Assurance,
}

/// What the endpoint does next.
#[derive(Debug)]
pub enum AuthorizeNext {
    /// Sign in (again) through the hosted pages, then come back.
    SignIn,
    /// Show the consent page for these scopes.
    Consent(Box<Client>),
    /// Redirect to the client with this code.
    Redirect(String),
}

/// What a code stands for, kept in the ephemeral store under the code's hash.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct IssuedCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub user_id: Uuid,
    pub auth_time: DateTime<Utc>,
    pub assurance: Assurance,
    #[serde(default)]
    pub resources: Vec<String>,
}

/// How long the consent page may stay open.
const CONSENT_TTL: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Serialize, Deserialize)]
struct HeldForConsent {
    request: AuthorizationRequest,
    session_id: Uuid,
}

pub(super) fn code_key(code: &str) -> String {
    format!("oidc-code:{}", hex::encode(Sha256::digest(code.as_bytes())))
}

/// Where the session a redeemed code opened is remembered, so that a second redemption can
/// revoke it (RFC 6749 §4.1.2, OAuth 2.1 §4.1.3).
pub(super) fn redeemed_key(code: &str) -> String {
    format!("oidc-code-redeemed:{}", hex::encode(Sha256::digest(code.as_bytes())))
}

impl OidcService {
    /// Validates an authorization request. `parameters` are the query's pairs as sent
    /// (repetitions included, RFC 6749 §3.1: each parameter at most once, but `resource` as often
    /// as there are resources, RFC 8707 §2).
    pub async fn authorization_request(
        &self,
        parameters: &[(String, String)],
    ) -> Result<(Client, AuthorizationRequest), AuthorizeFailure> {
        let mut single: HashMap<&str, &str> = HashMap::new();
        let mut resources = Vec::new();
        let mut repeated = false;
        for (name, value) in parameters {
            if name == "resource" {
                resources.push(value.as_str());
            } else {
                repeated |= single.insert(name.as_str(), value.as_str()).is_some();
            }
        }
        let client_id = single.get("client_id").copied().ok_or(AuthorizeFailure::Page(UntrustedRequest::Malformed))?;
        let client = self
            .store
            .find_client(client_id)
            .await
            .map_err(|error| AuthorizeFailure::Redirect {
                redirect_uri: String::new(),
                state: None,
                error: OAuthError::from(error),
            })?
            .ok_or(AuthorizeFailure::Page(UntrustedRequest::UnknownClient))?;
        // OAuth 2.1 §2.3.1: the redirect URI is required, and matched exactly.
        let redirect_uri = single.get("redirect_uri").copied().unwrap_or_default();
        if !client.redirect_uri_registered(redirect_uri) {
            return Err(AuthorizeFailure::Page(UntrustedRequest::UnregisteredRedirectUri));
        }
        let state = single.get("state").map(|state| (*state).to_owned());
        let fail = |error: OAuthError| AuthorizeFailure::Redirect {
            redirect_uri: redirect_uri.to_owned(),
            state: state.clone(),
            error,
        };
        if repeated {
            return Err(fail(OAuthError::InvalidRequest("a parameter was given more than once")));
        }
        if state.as_ref().is_some_and(|state| state.len() > MAX_STATE_BYTES) {
            return Err(fail(OAuthError::InvalidRequest("state is too long")));
        }
        match single.get("response_type").copied() {
            Some("code") => {}
            None => return Err(fail(OAuthError::InvalidRequest("response_type is required"))),
            Some(_) => return Err(fail(OAuthError::UnsupportedResponseType)),
        }
        if !client.allows_grant(GrantType::AuthorizationCode) {
            return Err(fail(OAuthError::UnauthorizedClient));
        }
        if single.contains_key("request") || single.contains_key("request_uri") {
            return Err(fail(OAuthError::InvalidRequest("request objects are not supported")));
        }
        let code_challenge = single.get("code_challenge").copied().unwrap_or_default();
        if code_challenge.is_empty() {
            return Err(fail(OAuthError::InvalidRequest("code_challenge is required (PKCE)")));
        }
        if single.get("code_challenge_method").copied() != Some("S256") {
            return Err(fail(OAuthError::InvalidRequest("code_challenge_method must be S256")));
        }
        if !pkce::is_valid_challenge(code_challenge) {
            return Err(fail(OAuthError::InvalidRequest("code_challenge is not an S256 challenge")));
        }
        let requested = single.get("scope").copied().unwrap_or_default();
        let scopes = Scopes::parse(requested).ok_or_else(|| fail(OAuthError::InvalidScope))?;
        if scopes.is_empty() || !scopes.is_subset_of(&Scopes::from_list(&client.scopes)) {
            return Err(fail(OAuthError::InvalidScope));
        }
        let resources = super::requested_resources(resources).map_err(&fail)?;
        client.may_ask_for(&resources).map_err(&fail)?;
        let mut prompt = (false, false, false);
        for value in single.get("prompt").copied().unwrap_or_default().split(' ').filter(|value| !value.is_empty()) {
            match value {
                "none" => prompt.0 = true,
                "login" => prompt.1 = true,
                "consent" => prompt.2 = true,
                "select_account" => {}
                _ => return Err(fail(OAuthError::InvalidRequest("unknown prompt value"))),
            }
        }
        // OpenID Connect Core §3.1.2.1: `none` with anything else is an error.
        if prompt.0 && (prompt.1 || prompt.2) {
            return Err(fail(OAuthError::InvalidRequest("prompt=none cannot be combined")));
        }
        let max_age = match single.get("max_age") {
            None => None,
            Some(text) => Some(
                text.parse::<i64>()
                    .ok()
                    .filter(|age| *age >= 0)
                    .ok_or_else(|| fail(OAuthError::InvalidRequest("max_age is a number of seconds")))?,
            ),
        };
        let nonce = single.get("nonce").map(|nonce| (*nonce).to_owned());
        if nonce.as_ref().is_some_and(|nonce| nonce.len() > MAX_STATE_BYTES) {
            return Err(fail(OAuthError::InvalidRequest("nonce is too long")));
        }
        let request = AuthorizationRequest {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.to_owned(),
            scope: scopes.to_string(),
            state,
            nonce,
            code_challenge: code_challenge.to_owned(),
            prompt_none: prompt.0,
            prompt_login: prompt.1,
            prompt_consent: prompt.2,
            max_age,
            login_hint: single.get("login_hint").map(|hint| (*hint).to_owned()),
            resources,
        };
        Ok((client, request))
    }

    /// What comes next for a valid request. `signed_in_after` is set when the request came back
    /// from a sign-in that `prompt=login` asked for: sign-ins older than it do not count.
    pub async fn authorize(
        &self,
        client: Client,
        request: &AuthorizationRequest,
        browser: Option<&BrowserSignIn>,
        signed_in_after: Option<DateTime<Utc>>,
    ) -> Result<AuthorizeNext, OAuthError> {
        let now = self.clock.now();
        let fresh_enough = |browser: &BrowserSignIn| {
            let within_max_age =
                request.max_age.is_none_or(|max_age| (now - browser.auth_time).num_seconds() <= max_age);
            let after_forced_login = match (request.prompt_login, signed_in_after) {
                (false, _) => true,
                (true, Some(after)) => browser.auth_time >= after,
                (true, None) => false,
            };
            within_max_age && after_forced_login
        };
        let Some(browser) = browser.filter(|browser| fresh_enough(browser)) else {
            return if request.prompt_none { Err(OAuthError::LoginRequired) } else { Ok(AuthorizeNext::SignIn) };
        };
        let asked = Scopes::parse(&request.scope).unwrap_or_default();
        let consented = client.first_party
            || (!request.prompt_consent
                && self
                    .store
                    .find_grant(browser.user.id, &client.client_id)
                    .await?
                    .is_some_and(|grant| asked.is_subset_of(&Scopes::from_list(&grant.scopes))));
        if !consented {
            return if request.prompt_none {
                Err(OAuthError::ConsentRequired)
            } else {
                Ok(AuthorizeNext::Consent(Box::new(client)))
            };
        }
        self.issue_code(request, browser).await.map(AuthorizeNext::Redirect)
    }

    /// The person approved the consent page: the grant is recorded and the code issued.
    #[tracing::instrument(name = "give grant", skip_all, fields(user_id = %browser.user.id, client_id = %request.client_id))]
    pub async fn consent(&self, request: &AuthorizationRequest, browser: &BrowserSignIn) -> Result<String, OAuthError> {
        let scopes = Scopes::parse(&request.scope).unwrap_or_default();
        let previous = self.store.find_grant(browser.user.id, &request.client_id).await?;
        let mut granted = scopes.to_list();
        if let Some(previous) = previous {
            granted.extend(previous.scopes);
        }
        let granted = Scopes::from_list(&granted).to_list();
        self.store
            .put_grant(super::Grant {
                user_id: browser.user.id,
                client_id: request.client_id.clone(),
                scopes: granted,
                granted_at: self.clock.now(),
            })
            .await?;
        tracing::info!(target: "audit", event = "oauth_grant_given", user_id = %browser.user.id, client_id = %request.client_id, scope = %request.scope, outcome = "success", "grant given");
        self.issue_code(request, browser).await
    }

    /// Keeps a request while the consent page is shown, for this browser session only; the id
    /// goes into the page's form.
    pub async fn hold_for_consent(
        &self,
        request: &AuthorizationRequest,
        session_id: Uuid,
    ) -> Result<String, OAuthError> {
        let mut bytes = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let held = HeldForConsent { request: request.clone(), session_id };
        let value = serde_json::to_string(&held).map_err(|error| DomainError::Internal(error.to_string()))?;
        self.ephemeral.put(&format!("oidc-consent:{id}"), &value, CONSENT_TTL).await?;
        Ok(id)
    }

    /// The request held under `id` for this browser session, once.
    pub async fn take_consent(&self, id: &str, session_id: Uuid) -> Result<Option<AuthorizationRequest>, OAuthError> {
        if id.is_empty() || id.len() > 64 {
            return Ok(None);
        }
        let Some(value) = self.ephemeral.take(&format!("oidc-consent:{id}")).await? else { return Ok(None) };
        let held: HeldForConsent =
            serde_json::from_str(&value).map_err(|error| DomainError::Internal(format!("held consent: {error}")))?;
        Ok((held.session_id == session_id).then_some(held.request))
    }

    /// The redirect for `error` back to the client (RFC 6749 §4.1.2.1, RFC 9207 `iss`).
    pub fn error_redirect(&self, redirect_uri: &str, state: Option<&str>, error: &OAuthError) -> String {
        let mut pairs = vec![("error", error.code())];
        if let Some(description) = error.description() {
            pairs.push(("error_description", description));
        }
        self.redirect_with(redirect_uri, &pairs, state)
    }

    fn redirect_with(&self, redirect_uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> String {
        // Registered redirect URIs are absolute URLs; this fallback is never taken.
        let Ok(mut url) = url::Url::parse(redirect_uri) else { return redirect_uri.to_owned() };
        {
            let mut query = url.query_pairs_mut();
            for (name, value) in pairs {
                query.append_pair(name, value);
            }
            if let Some(state) = state {
                query.append_pair("state", state);
            }
            query.append_pair("iss", self.issuer());
        }
        url.to_string()
    }

    async fn issue_code(&self, request: &AuthorizationRequest, browser: &BrowserSignIn) -> Result<String, OAuthError> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let code = URL_SAFE_NO_PAD.encode(bytes);
        let issued = IssuedCode {
            client_id: request.client_id.clone(),
            redirect_uri: request.redirect_uri.clone(),
            code_challenge: request.code_challenge.clone(),
            scope: request.scope.clone(),
            nonce: request.nonce.clone(),
            user_id: browser.user.id,
            auth_time: browser.auth_time,
            assurance: browser.assurance.clone(),
            resources: request.resources.clone(),
        };
        let value = serde_json::to_string(&issued).map_err(|error| DomainError::Internal(error.to_string()))?;
        let ttl = self.settings.code_ttl.to_std().unwrap_or(std::time::Duration::from_secs(60));
        self.ephemeral.put(&code_key(&code), &value, ttl).await?;
        metrics::counter!("oauth_authorizations_total", "outcome" => "code_issued").increment(1);
        Ok(self.redirect_with(&request.redirect_uri, &[("code", &code)], request.state.as_deref()))
    }
}

/// Whether a request asks for an ID token.
pub fn wants_id_token(request: &AuthorizationRequest) -> bool {
    Scopes::parse(&request.scope).is_some_and(|scopes| scopes.contains(scope::OPENID))
}
