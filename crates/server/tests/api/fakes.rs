//! Local stand-ins for VK ID and Facebook on 127.0.0.1 (Apple, GitHub and Yandex ID in the submodules),
//! speaking their wire protocols as docs/providers.md describes them, and refusing what they
//! would refuse: a wrong PKCE verifier, redirect URI, client secret or device id, and a replayed
//! code.

pub mod apple;
pub mod entra;
pub mod github;
pub mod yandex;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const VK_CLIENT: &str = "vk-client";
pub const FACEBOOK_CLIENT: &str = "fb-app";
pub const FACEBOOK_SECRET: &str = "fb-secret";

/// Who signs in next at a stand-in, and whether they refuse.
#[derive(Debug, Clone)]
pub struct FakeUser {
    pub id: String,
    pub email: Option<String>,
    pub name: String,
    pub deny: bool,
}

struct Grant {
    redirect_uri: String,
    challenge: String,
    device_id: String,
    user: FakeUser,
    used: bool,
}

#[derive(Default)]
struct FakeState {
    next_user: Option<FakeUser>,
    grants: HashMap<String, Grant>,
    tokens: HashMap<String, FakeUser>,
    /// `redirect_uri` registered for the app, matched exactly.
    redirect_uri: String,
}

#[derive(Clone)]
pub struct Fake {
    state: Arc<Mutex<FakeState>>,
    pub base_url: String,
}

impl Fake {
    pub fn sign_in_as(&self, user: FakeUser) {
        self.state.lock().unwrap().next_user = Some(user);
    }

    /// A user token as the provider's own SDK would hand it to an app.
    pub fn issue_token(&self, user: FakeUser) -> String {
        let token = random("EAAB");
        self.state.lock().unwrap().tokens.insert(token.clone(), user);
        token
    }
}

fn random(prefix: &str) -> String {
    format!("{prefix}{}", uuid::Uuid::new_v4().simple())
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Query and form body merged: VK's SDK splits parameters between them.
fn parameters(query: Option<String>, body: &[u8]) -> HashMap<String, String> {
    let mut merged: HashMap<String, String> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).unwrap_or_default();
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    merged.extend(form);
    merged
}

/// A listener on a free port and its base URL: for stand-ins whose issuer is their own address,
/// which must be known before their router is built.
async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    (listener, base_url)
}

/// The RS256 key an OpenID Connect stand-in signs its ID tokens with; its `jwks()` is the
/// stand-in's key set.
fn id_token_keys() -> auth_core::sessions::keys::KeyRing {
    let pair = auth_core::sessions::keys::generate_key_pair(jsonwebtoken::Algorithm::RS256).unwrap();
    auth_core::sessions::keys::KeyRing::asymmetric(
        jsonwebtoken::Algorithm::RS256,
        pair.private_pem.as_bytes(),
        pair.public_pem.as_bytes(),
        &[],
    )
    .unwrap()
}

fn sign_id_token(keys: &auth_core::sessions::keys::KeyRing, claims: &Value) -> String {
    let header =
        jsonwebtoken::Header { kid: keys.kid().map(str::to_owned), ..jsonwebtoken::Header::new(keys.algorithm()) };
    jsonwebtoken::encode(&header, claims, keys.encoding()).unwrap()
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// Starts a VK ID stand-in whose app has `redirect_uri` registered.
pub async fn start_vk(redirect_uri: &str) -> Fake {
    let state = Arc::new(Mutex::new(FakeState { redirect_uri: redirect_uri.to_owned(), ..FakeState::default() }));
    let router = Router::new()
        .route("/authorize", get(vk_authorize))
        .route("/oauth2/auth", post(vk_exchange))
        .route("/oauth2/user_info", post(vk_user_info))
        .with_state(state.clone());
    Fake { state, base_url: serve(router).await }
}

async fn vk_authorize(
    State(state): State<Arc<Mutex<FakeState>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    let redirect_uri = query.get("redirect_uri").cloned().unwrap_or_default();
    let method = query.get("code_challenge_method").map(|method| method.to_ascii_lowercase());
    if query.get("client_id").map(String::as_str) != Some(VK_CLIENT)
        || redirect_uri != state.redirect_uri
        || query.get("response_type").map(String::as_str) != Some("code")
        || method.as_deref() != Some("s256")
    {
        return (StatusCode::BAD_REQUEST, "invalid authorize request").into_response();
    }
    let returned_state = query.get("state").cloned().unwrap_or_default();
    let user = state.next_user.clone().unwrap_or(FakeUser {
        id: "1001".into(),
        email: None,
        name: "Ivan".into(),
        deny: false,
    });
    if user.deny {
        return Redirect::to(&format!(
            "{redirect_uri}?error=access_denied&error_description=User+denied&state={returned_state}"
        ))
        .into_response();
    }
    let (code, device_id) = (random("vkcode"), random("device"));
    let challenge = query.get("code_challenge").cloned().unwrap_or_default();
    state.grants.insert(
        code.clone(),
        Grant { redirect_uri: redirect_uri.clone(), challenge, device_id: device_id.clone(), user, used: false },
    );
    Redirect::to(&format!(
        "{redirect_uri}?code={code}&state={returned_state}&device_id={device_id}&type=code_v2&expires_in=600"
    ))
    .into_response()
}

/// Registers a code as if the VK ID SDK had obtained it in an app (for the app flow).
pub fn vk_app_code(fake: &Fake, user: FakeUser, verifier: &str, device_id: &str, redirect_uri: &str) -> String {
    let code = random("vkcode");
    fake.state.lock().unwrap().grants.insert(
        code.clone(),
        Grant {
            redirect_uri: redirect_uri.into(),
            challenge: s256(verifier),
            device_id: device_id.into(),
            user,
            used: false,
        },
    );
    code
}

async fn vk_exchange(State(state): State<Arc<Mutex<FakeState>>>, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let parameters = parameters(query, &body);
    let get = |name: &str| parameters.get(name).cloned().unwrap_or_default();
    let echo = get("state");
    let refuse = |description: &str| {
        axum::Json(json!({"error": "invalid_grant", "error_description": description, "state": echo})).into_response()
    };
    if get("grant_type") != "authorization_code" || get("client_id") != VK_CLIENT {
        return refuse("bad client or grant");
    }
    let mut state = state.lock().unwrap();
    let Some(grant) = state.grants.get_mut(&get("code")) else {
        return refuse("code is invalid");
    };
    if grant.used {
        return refuse("code already used");
    }
    grant.used = true;
    if grant.redirect_uri != get("redirect_uri")
        || grant.device_id != get("device_id")
        || grant.challenge != s256(&get("code_verifier"))
    {
        return refuse("redirect_uri, device_id or code_verifier mismatch");
    }
    let user = grant.user.clone();
    let access_token = format!("vk2.a.{}", uuid::Uuid::new_v4().simple());
    state.tokens.insert(access_token.clone(), user.clone());
    // VK answers 200 with `error` in the body on failure; on success `user_id` is a number.
    axum::Json(json!({
        "access_token": access_token, "refresh_token": "vk2.a.refresh", "id_token": "eyJhbGciOiJSUzI1NiJ9.e30.sig",
        "token_type": "Bearer", "expires_in": 3600, "user_id": user.id.parse::<u64>().unwrap(), "state": echo,
        "scope": "vkid.personal_info email"
    }))
    .into_response()
}

async fn vk_user_info(State(state): State<Arc<Mutex<FakeState>>>, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let parameters = parameters(query, &body);
    let state = state.lock().unwrap();
    let user = parameters.get("access_token").and_then(|token| state.tokens.get(token));
    match (parameters.get("client_id").map(String::as_str), user) {
        (Some(VK_CLIENT), Some(user)) => {
            let mut profile = json!({"user_id": user.id, "first_name": user.name, "last_name": "Ivanov", "avatar": "https://example/a.jpg", "verified": true});
            if let Some(email) = &user.email {
                profile["email"] = json!(email);
            }
            axum::Json(json!({ "user": profile })).into_response()
        }
        _ => axum::Json(json!({"error": "invalid_token", "error_description": "access_token is invalid"}))
            .into_response(),
    }
}

/// Starts a Facebook stand-in whose app has `redirect_uri` registered.
pub async fn start_facebook(redirect_uri: &str) -> Fake {
    let state = Arc::new(Mutex::new(FakeState { redirect_uri: redirect_uri.to_owned(), ..FakeState::default() }));
    let router = Router::new()
        .route("/v21.0/dialog/oauth", get(facebook_dialog))
        .route("/v21.0/oauth/access_token", get(facebook_exchange))
        .route("/debug_token", get(facebook_debug_token))
        .route("/v21.0/me", get(facebook_me))
        .with_state(state.clone());
    Fake { state, base_url: serve(router).await }
}

fn graph_error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "trace"}}),
        ),
    )
        .into_response()
}

async fn facebook_dialog(
    State(state): State<Arc<Mutex<FakeState>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    let redirect_uri = query.get("redirect_uri").cloned().unwrap_or_default();
    if query.get("client_id").map(String::as_str) != Some(FACEBOOK_CLIENT) || redirect_uri != state.redirect_uri {
        return (StatusCode::BAD_REQUEST, "Invalid redirect_uri or app id").into_response();
    }
    let returned_state = query.get("state").cloned().unwrap_or_default();
    let user = state.next_user.clone().unwrap_or(FakeUser {
        id: "10215241773831025".into(),
        email: None,
        name: "Fay".into(),
        deny: false,
    });
    if user.deny {
        return Redirect::to(&format!("{redirect_uri}?error_reason=user_denied&error=access_denied&error_description=Permissions+error.&state={returned_state}")).into_response();
    }
    let code = random("fbcode");
    let challenge = query.get("code_challenge").cloned().unwrap_or_default();
    state.grants.insert(
        code.clone(),
        Grant { redirect_uri: redirect_uri.clone(), challenge, device_id: String::new(), user, used: false },
    );
    Redirect::to(&format!("{redirect_uri}?code={code}&state={returned_state}")).into_response()
}

async fn facebook_exchange(
    State(state): State<Arc<Mutex<FakeState>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let get = |name: &str| query.get(name).cloned().unwrap_or_default();
    if get("client_id") != FACEBOOK_CLIENT {
        return graph_error(StatusCode::BAD_REQUEST, 101, "Error validating application. Invalid application ID.");
    }
    if get("client_secret") != FACEBOOK_SECRET {
        return graph_error(StatusCode::BAD_REQUEST, 1, "Error validating client secret.");
    }
    let mut state = state.lock().unwrap();
    let Some(grant) = state.grants.get_mut(&get("code")).filter(|grant| !grant.used) else {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Invalid verification code format.");
    };
    grant.used = true;
    if grant.redirect_uri != get("redirect_uri")
        || (!grant.challenge.is_empty() && grant.challenge != s256(&get("code_verifier")))
    {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Error validating verification code.");
    }
    let user = grant.user.clone();
    let token = random("EAAB");
    state.tokens.insert(token.clone(), user);
    axum::Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 5_183_944})).into_response()
}

async fn facebook_debug_token(
    State(state): State<Arc<Mutex<FakeState>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if query.get("access_token").map(String::as_str) != Some(&format!("{FACEBOOK_CLIENT}|{FACEBOOK_SECRET}")) {
        return graph_error(StatusCode::BAD_REQUEST, 190, "Invalid OAuth access token signature.");
    }
    let state = state.lock().unwrap();
    let input = query.get("input_token").cloned().unwrap_or_default();
    let data = match state.tokens.get(&input) {
        // Tokens minted "for another app" carry that app's id.
        Some(user) if input.starts_with("EAABother") => {
            json!({"app_id": "other-app", "type": "USER", "is_valid": true, "user_id": user.id})
        }
        Some(user) => json!({"app_id": FACEBOOK_CLIENT, "type": "USER", "application": "auth", "is_valid": true,
                             "expires_at": 1_900_000_000, "scopes": ["email", "public_profile"], "user_id": user.id}),
        None => json!({"is_valid": false, "error": {"code": 190, "message": "Invalid token"}}),
    };
    axum::Json(json!({ "data": data })).into_response()
}

async fn facebook_me(
    State(state): State<Arc<Mutex<FakeState>>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    use hmac::{Hmac, Mac};
    let state = state.lock().unwrap();
    let token = query.get("access_token").cloned().unwrap_or_default();
    let Some(user) = state.tokens.get(&token) else {
        return graph_error(StatusCode::BAD_REQUEST, 190, "Invalid OAuth access token.");
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(FACEBOOK_SECRET.as_bytes()).unwrap();
    mac.update(token.as_bytes());
    if query.get("appsecret_proof").map(String::as_str) != Some(hex::encode(mac.finalize().into_bytes()).as_str()) {
        return graph_error(StatusCode::BAD_REQUEST, 100, "Invalid appsecret_proof provided in the API argument");
    }
    let mut me = json!({"id": user.id, "name": user.name});
    if let Some(email) = &user.email {
        me["email"] = json!(email);
    }
    axum::Json::<Value>(me).into_response()
}

/// Tokens for "another app" are recognised by `debug_token` as such.
pub fn other_app_token(fake: &Fake, user: FakeUser) -> String {
    let token = random("EAABother");
    fake.state.lock().unwrap().tokens.insert(token.clone(), user);
    token
}
