//! A Yandex ID stand-in: `oauth.yandex.ru` (`/authorize`, `/token` with HTTP Basic or form
//! client authentication) and `login.yandex.ru/info`, which reads the token only from
//! `Authorization: OAuth …` and reports the app the token was issued to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::json;

use super::{FakeUser, random, s256, serve};

pub const CLIENT_ID: &str = "ya-client";
pub const CLIENT_SECRET: &str = "ya-secret";

struct Grant {
    challenge: String,
    user: FakeUser,
    used: bool,
}

struct Token {
    user: FakeUser,
    client_id: String,
}

#[derive(Default)]
struct YandexState {
    next_user: Option<FakeUser>,
    grants: HashMap<String, Grant>,
    tokens: HashMap<String, Token>,
    redirect_uri: String,
}

type Shared = Arc<Mutex<YandexState>>;

#[derive(Clone)]
pub struct Yandex {
    state: Shared,
    pub base_url: String,
}

impl Yandex {
    pub fn sign_in_as(&self, user: FakeUser) {
        self.state.lock().unwrap().next_user = Some(user);
    }

    /// A token as the Yandex ID SDK hands it to an app registered as `client_id`.
    pub fn issue_token(&self, user: FakeUser, client_id: &str) -> String {
        let token = random("y0_");
        self.state.lock().unwrap().tokens.insert(token.clone(), Token { user, client_id: client_id.into() });
        token
    }
}

/// Starts a Yandex ID stand-in (OAuth and login hosts on one address) for `redirect_uri`.
pub async fn start(redirect_uri: &str) -> Yandex {
    let state = Arc::new(Mutex::new(YandexState { redirect_uri: redirect_uri.into(), ..YandexState::default() }));
    let router = Router::new()
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .route("/info", get(info))
        .with_state(state.clone());
    Yandex { state, base_url: serve(router).await }
}

async fn authorize(State(state): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Response {
    let mut state = state.lock().unwrap();
    let get = |name: &str| query.get(name).cloned().unwrap_or_default();
    // Yandex shows its own error page for an unknown app or an unregistered redirect URI.
    if get("client_id") != CLIENT_ID || get("redirect_uri") != state.redirect_uri {
        return (StatusCode::BAD_REQUEST, "invalid client or redirect_uri").into_response();
    }
    let redirect_uri = get("redirect_uri");
    if get("response_type") != "code"
        || (query.contains_key("code_challenge") && get("code_challenge_method") != "S256")
    {
        return Redirect::to(&format!("{redirect_uri}?error=invalid_request&state={}", get("state"))).into_response();
    }
    let user = state.next_user.clone().unwrap_or(FakeUser {
        id: "1130000000000001".into(),
        email: Some("ivan@yandex.ru".into()),
        name: "Ivan Petrov".into(),
        deny: false,
    });
    if user.deny {
        return Redirect::to(&format!("{redirect_uri}?error=access_denied&state={}", get("state"))).into_response();
    }
    let code = random("").chars().take(16).collect::<String>();
    state.grants.insert(code.clone(), Grant { challenge: get("code_challenge"), user, used: false });
    Redirect::to(&format!("{redirect_uri}?code={code}&state={}", get("state"))).into_response()
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, axum::Json(json!({"error": error, "error_description": description}))).into_response()
}

/// The client from HTTP Basic, or from `client_id`/`client_secret` in the form.
fn client_of(headers: &HeaderMap, form: &HashMap<String, String>) -> (String, String) {
    let basic = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "))
        .and_then(|encoded| base64::engine::general_purpose::STANDARD.decode(encoded).ok())
        .and_then(|decoded| String::from_utf8(decoded).ok());
    if let Some((id, secret)) = basic.as_deref().and_then(|pair| pair.split_once(':')) {
        return (id.to_owned(), secret.to_owned());
    }
    let get = |name: &str| form.get(name).cloned().unwrap_or_default();
    (get("client_id"), get("client_secret"))
}

async fn token(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |name: &str| form.get(name).cloned().unwrap_or_default();
    if client_of(&headers, &form) != (CLIENT_ID.to_owned(), CLIENT_SECRET.to_owned()) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client not found");
    }
    if get("grant_type") != "authorization_code" {
        return oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "Unsupported grant_type");
    }
    let mut state = state.lock().unwrap();
    let Some(grant) = state.grants.get_mut(&get("code")).filter(|grant| !grant.used) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Code has expired");
    };
    grant.used = true;
    if !grant.challenge.is_empty() && grant.challenge != s256(&get("code_verifier")) {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "Code verifier is not valid");
    }
    let user = grant.user.clone();
    let token = random("y0_");
    state.tokens.insert(token.clone(), Token { user, client_id: CLIENT_ID.into() });
    axum::Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 31_536_000,
                      "refresh_token": random("1:")}))
    .into_response()
}

/// `GET /info`: 401 with an empty body for a missing or unknown token, as Yandex answers.
async fn info(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    let presented = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("OAuth "))
        .unwrap_or_default();
    let Some(token) = state.tokens.get(presented) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let user = &token.user;
    let (first, last) = user.name.split_once(' ').unwrap_or((&user.name, ""));
    let mut info = json!({
        "id": user.id, "login": user.email.as_deref().and_then(|email| email.split('@').next()).unwrap_or("user"),
        "client_id": token.client_id, "psuid": format!("1.{}", user.id), "display_name": first,
        "real_name": user.name, "first_name": first, "last_name": last,
    });
    if let Some(email) = &user.email {
        info["default_email"] = json!(email);
        info["emails"] = json!([email]);
    }
    axum::Json(info).into_response()
}
