//! A GitHub stand-in: an OAuth app's authorize page and token exchange (whose refusals are HTTP
//! 200 with `error`, as GitHub's are), `/user`, `/user/emails` and the applications API's token
//! check, which answers 404 for a token of another app.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{random, s256, serve};

pub const CLIENT_ID: &str = "Iv1.gh-client";
pub const CLIENT_SECRET: &str = "gh-secret";

/// A GitHub account: its numeric id, its name and its addresses `(email, primary, verified)`.
#[derive(Debug, Clone)]
pub struct GithubUser {
    pub id: u64,
    pub login: String,
    pub name: Option<String>,
    pub emails: Vec<(String, bool, bool)>,
    pub deny: bool,
}

struct Grant {
    redirect_uri: String,
    challenge: String,
    user: GithubUser,
    used: bool,
}

struct Token {
    user: GithubUser,
    client_id: String,
}

#[derive(Default)]
struct GithubState {
    next_user: Option<GithubUser>,
    grants: HashMap<String, Grant>,
    tokens: HashMap<String, Token>,
    redirect_uri: String,
}

type Shared = Arc<Mutex<GithubState>>;

#[derive(Clone)]
pub struct Github {
    state: Shared,
    pub base_url: String,
}

impl Github {
    pub fn sign_in_as(&self, user: GithubUser) {
        self.state.lock().unwrap().next_user = Some(user);
    }

    /// A token as an app gets it from its own OAuth flow, issued to `client_id`.
    pub fn issue_token(&self, user: GithubUser, client_id: &str) -> String {
        let token = random("gho_");
        self.state.lock().unwrap().tokens.insert(token.clone(), Token { user, client_id: client_id.into() });
        token
    }
}

/// Starts a GitHub stand-in (web and API on one address) whose app has `redirect_uri`.
pub async fn start(redirect_uri: &str) -> Github {
    let state = Arc::new(Mutex::new(GithubState { redirect_uri: redirect_uri.into(), ..GithubState::default() }));
    let router = Router::new()
        .route("/login/oauth/authorize", get(authorize))
        .route("/login/oauth/access_token", post(access_token))
        .route("/user", get(user))
        .route("/user/emails", get(emails))
        .route("/applications/{client_id}/token", post(check_token))
        .with_state(state.clone());
    Github { state, base_url: serve(router).await }
}

async fn authorize(State(state): State<Shared>, Query(query): Query<HashMap<String, String>>) -> Response {
    let mut state = state.lock().unwrap();
    let get = |name: &str| query.get(name).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID {
        return (StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    let redirect_uri = get("redirect_uri");
    if redirect_uri != state.redirect_uri {
        return (StatusCode::OK, "The redirect_uri is not associated with this application.").into_response();
    }
    // GitHub takes S256 only.
    if query.contains_key("code_challenge") && get("code_challenge_method") != "S256" {
        return Redirect::to(&format!("{redirect_uri}?error=invalid_request&state={}", get("state"))).into_response();
    }
    let user = state.next_user.clone().unwrap_or(GithubUser {
        id: 583231,
        login: "octocat".into(),
        name: Some("The Octocat".into()),
        emails: Vec::new(),
        deny: false,
    });
    if user.deny {
        return Redirect::to(&format!(
            "{redirect_uri}?error=access_denied&error_description=The+user+has+denied+your+application+access.&state={}",
            get("state")
        ))
        .into_response();
    }
    let code = random("");
    let grant = Grant { redirect_uri: redirect_uri.clone(), challenge: get("code_challenge"), user, used: false };
    state.grants.insert(code.clone(), grant);
    Redirect::to(&format!("{redirect_uri}?code={code}&state={}", get("state"))).into_response()
}

/// GitHub answers in JSON only when asked to (else form-encoded), with refusals at HTTP 200.
fn token_answer(headers: &HeaderMap, body: Value) -> Response {
    let wants_json =
        headers.get("accept").and_then(|value| value.to_str().ok()).is_some_and(|accept| accept.contains("json"));
    if wants_json {
        axum::Json(body).into_response()
    } else {
        let pairs: Vec<(String, String)> = body
            .as_object()
            .unwrap()
            .iter()
            .map(|(key, value)| (key.clone(), value.as_str().unwrap_or_default().to_owned()))
            .collect();
        ([("content-type", "application/x-www-form-urlencoded")], serde_urlencoded::to_string(pairs).unwrap())
            .into_response()
    }
}

fn token_error(headers: &HeaderMap, error: &str, description: &str) -> Response {
    token_answer(
        headers,
        json!({"error": error, "error_description": description,
                                 "error_uri": "https://docs.github.com/apps/troubleshooting"}),
    )
}

async fn access_token(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |name: &str| form.get(name).cloned().unwrap_or_default();
    if get("client_id") != CLIENT_ID || get("client_secret") != CLIENT_SECRET {
        return token_error(
            &headers,
            "incorrect_client_credentials",
            "The client_id and/or client_secret passed are incorrect.",
        );
    }
    let mut state = state.lock().unwrap();
    let Some(grant) = state.grants.get_mut(&get("code")).filter(|grant| !grant.used) else {
        return token_error(&headers, "bad_verification_code", "The code passed is incorrect or expired.");
    };
    grant.used = true;
    if grant.redirect_uri != get("redirect_uri") {
        return token_error(
            &headers,
            "redirect_uri_mismatch",
            "The redirect_uri MUST match the registered callback URL for this application.",
        );
    }
    if !grant.challenge.is_empty() && grant.challenge != s256(&get("code_verifier")) {
        return token_error(&headers, "bad_verification_code", "The code passed is incorrect or expired.");
    }
    let user = grant.user.clone();
    let token = random("gho_");
    state.tokens.insert(token.clone(), Token { user, client_id: CLIENT_ID.into() });
    token_answer(&headers, json!({"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"}))
}

fn bad_credentials() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(
            json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"}),
        ),
    )
        .into_response()
}

fn bearer(headers: &HeaderMap) -> String {
    let value = headers.get("authorization").and_then(|value| value.to_str().ok()).unwrap_or_default();
    value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("token ")).unwrap_or_default().to_owned()
}

fn public_user(user: &GithubUser) -> Value {
    json!({"login": user.login, "id": user.id, "node_id": "MDQ6VXNlcjE=", "type": "User", "name": user.name,
           "email": null})
}

async fn user(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    match state.tokens.get(&bearer(&headers)) {
        Some(token) => axum::Json(public_user(&token.user)).into_response(),
        None => bad_credentials(),
    }
}

async fn emails(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    let Some(token) = state.tokens.get(&bearer(&headers)) else { return bad_credentials() };
    let emails: Vec<Value> = token
        .user
        .emails
        .iter()
        .map(|(email, primary, verified)| json!({"email": email, "primary": primary, "verified": verified, "visibility": null}))
        .collect();
    axum::Json(emails).into_response()
}

/// `POST /applications/{client_id}/token`: HTTP Basic with the app's credentials; 404 unless
/// the token is live and was issued to that app.
async fn check_token(
    State(state): State<Shared>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let expected =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    let authorized = headers.get("authorization").and_then(|value| value.to_str().ok()) == Some(expected.as_str());
    let not_found = || (StatusCode::NOT_FOUND, axum::Json(json!({"message": "Not Found"}))).into_response();
    if client_id != CLIENT_ID || !authorized {
        return not_found();
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(json!({"message": "Invalid request."}))).into_response();
    };
    let state = state.lock().unwrap();
    let presented = body["access_token"].as_str().unwrap_or_default();
    match state.tokens.get(presented) {
        Some(token) if token.client_id == client_id => axum::Json(json!({
            "id": 1, "token": presented, "scopes": ["read:user", "user:email"],
            "app": {"client_id": client_id, "name": "auth-service", "url": "https://auth.example"},
            "user": public_user(&token.user),
        }))
        .into_response(),
        _ => not_found(),
    }
}
