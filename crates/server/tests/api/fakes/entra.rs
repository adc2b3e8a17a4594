//! A Microsoft Entra ID stand-in for its multi-tenant endpoint (`/common/v2.0`): one discovery
//! document whose `issuer` is the template `{base}/{tenantid}/v2.0`, and ID tokens whose `iss`
//! is that template filled with their own `tid`, as Entra issues them. Authorize, token (with
//! the secret in the body, PKCE and single-use codes) and keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use auth_core::sessions::keys::KeyRing;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{bind, id_token_keys, random, s256, sign_id_token};

pub const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const CLIENT_SECRET: &str = "entra-secret";

/// A work or school account: its tenant, its pairwise subject, and what Entra says of it.
#[derive(Debug, Clone)]
pub struct EntraUser {
    pub tid: String,
    pub sub: String,
    pub email: String,
    pub name: String,
}

struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: String,
    user: EntraUser,
    used: bool,
}

struct EntraState {
    base_url: String,
    next_user: Option<EntraUser>,
    grants: HashMap<String, Grant>,
    redirect_uri: String,
    signing: KeyRing,
}

type Shared = Arc<Mutex<EntraState>>;

#[derive(Clone)]
pub struct Entra {
    state: Shared,
    pub base_url: String,
}

impl Entra {
    /// The issuer to configure: the multi-tenant endpoint.
    pub fn common_issuer(&self) -> String {
        format!("{}/common/v2.0", self.base_url)
    }

    pub fn sign_in_as(&self, user: EntraUser) {
        self.state.lock().unwrap().next_user = Some(user);
    }

    /// An ID token signed with Entra's key for our client, with `claims` over the defaults.
    pub fn id_token(&self, user: &EntraUser, claims: Value) -> String {
        let state = self.state.lock().unwrap();
        let mut token = default_claims(&state, user);
        for (name, value) in claims.as_object().unwrap() {
            token[name] = value.clone();
        }
        sign_id_token(&state.signing, &token)
    }
}

pub async fn start(redirect_uri: &str) -> Entra {
    let signing = id_token_keys();
    let (listener, base_url) = bind().await;
    let state = Arc::new(Mutex::new(EntraState {
        base_url: base_url.clone(),
        next_user: None,
        grants: HashMap::new(),
        redirect_uri: redirect_uri.into(),
        signing,
    }));
    let router = Router::new()
        .route("/common/v2.0/.well-known/openid-configuration", get(discovery))
        .route("/common/oauth2/v2.0/authorize", get(authorize))
        .route("/common/oauth2/v2.0/token", post(token))
        .route("/common/discovery/v2.0/keys", get(keys))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Entra { state, base_url }
}

async fn discovery(State(state): State<Shared>) -> Response {
    let base = state.lock().unwrap().base_url.clone();
    axum::Json(json!({
        "issuer": format!("{base}/{{tenantid}}/v2.0"),
        "authorization_endpoint": format!("{base}/common/oauth2/v2.0/authorize"),
        "token_endpoint": format!("{base}/common/oauth2/v2.0/token"),
        "jwks_uri": format!("{base}/common/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
    }))
    .into_response()
}

async fn authorize(State(state): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Response {
    let mut state = state.lock().unwrap();
    let get = |name: &str| query.get(name).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID || get("redirect_uri") != state.redirect_uri {
        return (StatusCode::BAD_REQUEST, "AADSTS50011: The redirect URI does not match").into_response();
    }
    let user = state.next_user.clone().expect("the test names who signs in");
    let code = random("0.A");
    let redirect_uri = get("redirect_uri");
    let grant = Grant {
        redirect_uri: redirect_uri.clone(),
        challenge: get("code_challenge"),
        nonce: get("nonce"),
        user,
        used: false,
    };
    state.grants.insert(code.clone(), grant);
    Redirect::to(&format!("{redirect_uri}?code={code}&state={}", get("state"))).into_response()
}

fn default_claims(state: &EntraState, user: &EntraUser) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iss": format!("{}/{}/v2.0", state.base_url, user.tid), "aud": CLIENT_ID, "tid": user.tid,
        "sub": user.sub, "oid": random(""), "iat": now, "nbf": now, "exp": now + 3600, "ver": "2.0",
        "email": user.email, "name": user.name, "preferred_username": user.email,
    })
}

fn token_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}

async fn token(State(state): State<Shared>, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |name: &str| form.get(name).cloned().unwrap_or_default();
    let mut state = state.lock().unwrap();
    if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
        return token_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let Some(grant) = state.grants.get_mut(&get("code")).filter(|grant| !grant.used) else {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "AADSTS54005: OAuth2 Authorization code was already redeemed.",
        );
    };
    grant.used = true;
    if grant.redirect_uri != get("redirect_uri")
        || (!grant.challenge.is_empty() && grant.challenge != s256(&get("code_verifier")))
    {
        return token_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "AADSTS501481: The Code_Verifier does not match.",
        );
    }
    let (user, nonce) = (grant.user.clone(), grant.nonce.clone());
    let mut claims = default_claims(&state, &user);
    claims["nonce"] = json!(nonce);
    let id_token = sign_id_token(&state.signing, &claims);
    axum::Json(json!({"token_type": "Bearer", "scope": "openid profile email", "expires_in": 3600,
                      "access_token": random("eyJ0"), "id_token": id_token}))
    .into_response()
}

async fn keys(State(state): State<Shared>) -> Response {
    axum::Json(state.lock().unwrap().signing.jwks()).into_response()
}
