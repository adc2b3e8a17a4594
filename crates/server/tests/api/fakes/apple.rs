//! A Sign in with Apple stand-in: discovery, `/auth/authorize` answering with the auto-posting
//! form of `response_mode=form_post` (with the `user` JSON on the first authorization only),
//! `/auth/token` verifying the client secret as Apple does (an ES256 JWT from the team's key:
//! `kid`, `iss` team, `sub` client, `aud` Apple, not expired, at most six months long), and
//! `/auth/keys`. Its ID tokens carry `email_verified` as a string, as Apple's do.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use auth_core::sessions::keys::{KeyRing, generate_key_pair};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use super::{bind, id_token_keys, random, s256, sign_id_token};

pub const CLIENT_ID: &str = "com.example.signin";
pub const TEAM_ID: &str = "TEAM123456";
pub const KEY_ID: &str = "KEY1234567";
/// Apple refuses client secrets valid for longer than this.
const MAX_SECRET_LIFETIME: i64 = 15_777_000;

/// An Apple ID: its subject, its address, and the name Apple shares on the first authorization.
#[derive(Debug, Clone)]
pub struct AppleUser {
    pub sub: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
}

struct Grant {
    redirect_uri: String,
    challenge: String,
    nonce: String,
    user: AppleUser,
    used: bool,
}

struct AppleState {
    base_url: String,
    next_user: Option<AppleUser>,
    grants: HashMap<String, Grant>,
    /// Users who already authorized this client: Apple shares the name only once.
    authorized: HashSet<String>,
    redirect_uri: String,
    /// The team key's public half: client secrets must verify with it.
    team_public_pem: String,
    signing: KeyRing,
}

type Shared = Arc<Mutex<AppleState>>;

#[derive(Clone)]
pub struct Apple {
    state: Shared,
    pub base_url: String,
    /// The team's `.p8` key (PKCS#8 PEM), as the developer portal hands it out.
    pub team_private_pem: String,
}

impl Apple {
    pub fn sign_in_as(&self, user: AppleUser) {
        self.state.lock().unwrap().next_user = Some(user);
    }

    /// Registers the Services ID's return URL (when it is known only after the start).
    pub fn register_redirect_uri(&self, redirect_uri: &str) {
        self.state.lock().unwrap().redirect_uri = redirect_uri.into();
    }

    /// An ID token as the iOS SDK hands it to an app (`identityToken`), for `audience`.
    pub fn identity_token(&self, user: &AppleUser, audience: &str) -> String {
        let state = self.state.lock().unwrap();
        id_token(&state, user, audience, None)
    }
}

/// Starts the stand-in; the service's Services ID has `redirect_uri` registered.
pub async fn start(redirect_uri: &str) -> Apple {
    let team = generate_key_pair(Algorithm::ES256).unwrap();
    let signing = id_token_keys();
    let (listener, base_url) = bind().await;
    let state = Arc::new(Mutex::new(AppleState {
        base_url: base_url.clone(),
        next_user: None,
        grants: HashMap::new(),
        authorized: HashSet::new(),
        redirect_uri: redirect_uri.into(),
        team_public_pem: team.public_pem,
        signing,
    }));
    let router = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/auth/authorize", get(authorize))
        .route("/auth/token", post(token))
        .route("/auth/keys", get(keys))
        .route("/control/next-user", post(control_next_user))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    Apple { state, base_url, team_private_pem: team.private_pem }
}

async fn discovery(State(state): State<Shared>) -> Response {
    let base = state.lock().unwrap().base_url.clone();
    axum::Json(json!({
        "issuer": base, "authorization_endpoint": format!("{base}/auth/authorize"),
        "token_endpoint": format!("{base}/auth/token"), "jwks_uri": format!("{base}/auth/keys"),
        "response_types_supported": ["code"], "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"], "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "name"], "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "claims_supported": ["aud", "email", "email_verified", "exp", "iat", "is_private_email", "iss", "nonce", "sub"],
    }))
    .into_response()
}

fn form_post_page(action: &str, fields: &[(&str, String)]) -> Response {
    let inputs: String = fields
        .iter()
        .map(|(name, value)| format!(r#"<input type="hidden" name="{name}" value="{}"/>"#, html_escape(value)))
        .collect();
    Html(format!(
        r#"<html><body onload="document.forms[0].submit()"><form method="post" action="{}">{inputs}</form></body></html>"#,
        html_escape(action)
    ))
    .into_response()
}

fn html_escape(value: &str) -> String {
    value.replace('&', "&amp;").replace('"', "&quot;").replace('<', "&lt;").replace('>', "&gt;")
}

async fn authorize(State(state): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Response {
    let mut state = state.lock().unwrap();
    let get = |name: &str| query.get(name).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID || get("redirect_uri") != state.redirect_uri {
        return (StatusCode::BAD_REQUEST, "invalid_client").into_response();
    }
    let scopes = get("scope");
    // Apple: "response_mode must be form_post when name or email scope is requested".
    if (scopes.contains("name") || scopes.contains("email")) && get("response_mode") != "form_post" {
        return (StatusCode::BAD_REQUEST, "invalid_request: response_mode must be form_post").into_response();
    }
    let user = state.next_user.clone().unwrap_or(AppleUser {
        sub: "001234.abcdef0123456789.1234".into(),
        email: "ann@icloud.com".into(),
        first_name: "Ann".into(),
        last_name: "Apple".into(),
    });
    let code = random("c");
    let mut fields = vec![("state", get("state")), ("code", code.clone())];
    if state.authorized.insert(user.sub.clone()) {
        let shared = json!({"name": {"firstName": user.first_name, "lastName": user.last_name}, "email": user.email});
        fields.push(("user", shared.to_string()));
    }
    let redirect_uri = get("redirect_uri");
    let grant = Grant {
        redirect_uri: redirect_uri.clone(),
        challenge: get("code_challenge"),
        nonce: get("nonce"),
        user,
        used: false,
    };
    state.grants.insert(code, grant);
    form_post_page(&redirect_uri, &fields)
}

fn token_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({ "error": error }))).into_response()
}

/// Apple's check of the client secret JWT.
fn client_secret_is_valid(state: &AppleState, secret: &str) -> bool {
    let Ok(header) = jsonwebtoken::decode_header(secret) else { return false };
    if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(KEY_ID) {
        return false;
    }
    let Ok(key) = DecodingKey::from_ec_pem(state.team_public_pem.as_bytes()) else { return false };
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[TEAM_ID]);
    validation.set_audience(&[state.base_url.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = 0;
    let Ok(claims) = jsonwebtoken::decode::<Value>(secret, &key, &validation).map(|data| data.claims) else {
        return false;
    };
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    claims["sub"] == CLIENT_ID && lifetime <= MAX_SECRET_LIFETIME
}

fn id_token(state: &AppleState, user: &AppleUser, audience: &str, nonce: Option<&str>) -> String {
    let now = chrono::Utc::now().timestamp();
    let private_relay = user.email.ends_with("@privaterelay.appleid.com");
    let mut claims = json!({
        "iss": state.base_url, "aud": audience, "exp": now + 600, "iat": now, "sub": user.sub,
        "email": user.email, "email_verified": "true", "is_private_email": private_relay.to_string(),
        "auth_time": now, "nonce_supported": true,
    });
    if let Some(nonce) = nonce {
        claims["nonce"] = json!(nonce);
    }
    sign_id_token(&state.signing, &claims)
}

async fn token(State(state): State<Shared>, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |name: &str| form.get(name).cloned().unwrap_or_default();
    let mut state = state.lock().unwrap();
    if get("client_id") != CLIENT_ID || !client_secret_is_valid(&state, &get("client_secret")) {
        return token_error("invalid_client");
    }
    if get("grant_type") != "authorization_code" {
        return token_error("unsupported_grant_type");
    }
    let Some(grant) = state.grants.get_mut(&get("code")).filter(|grant| !grant.used) else {
        return token_error("invalid_grant");
    };
    grant.used = true;
    if grant.redirect_uri != get("redirect_uri")
        || (!grant.challenge.is_empty() && grant.challenge != s256(&get("code_verifier")))
    {
        return token_error("invalid_grant");
    }
    let (user, nonce) = (grant.user.clone(), grant.nonce.clone());
    let id_token =
        id_token(&state, &user, CLIENT_ID, Some(&nonce).filter(|nonce| !nonce.is_empty()).map(String::as_str));
    axum::Json(json!({"access_token": random("a"), "token_type": "Bearer", "expires_in": 3600,
                      "refresh_token": random("r"), "id_token": id_token}))
    .into_response()
}

/// Not Apple's: lets a browser scenario pick who signs in next (`sub`, `email` as a form).
async fn control_next_user(State(state): State<Shared>, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |name: &str| form.get(name).cloned().unwrap_or_default();
    let user = AppleUser { sub: get("sub"), email: get("email"), first_name: "Ann".into(), last_name: "Apple".into() };
    state.lock().unwrap().next_user = Some(user);
    StatusCode::NO_CONTENT.into_response()
}

async fn keys(State(state): State<Shared>) -> Response {
    axum::Json(state.lock().unwrap().signing.jwks()).into_response()
}
