//! Social sign-in: providers list, browser flow (authorize → callback), app flow, linking.

use crate::ui::PageRequest;
use crate::ui::pages::social;
use auth_core::mfa::{Assurance, SignInStep};
use auth_core::oauth::{AppCredentials, AuthorizationStart, CallbackParameters, LINK_TICKET_TTL};
use auth_core::redact::Secret;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::accounts::{TokenPairResponse, client_info};
use super::error::{ApiError, Problem};
use super::extract::{AppJson, AuthUser, ClientAddress, form_rejection};
use super::mfa::sign_in_response;
use super::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderResponse {
    #[schema(example = "google")]
    pub name: String,
    #[schema(example = "Google")]
    pub display_name: String,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct AuthorizeQuery {
    /// Where to send the browser afterwards; must be on ALLOWED_REDIRECT_URLS.
    pub redirect_to: Option<String>,
    /// The one-time ticket from `POST /auth/oauth/{provider}/link`: starts linking the provider
    /// to the account that asked for the ticket. A capability: never in a log line.
    #[param(value_type = Option<String>)]
    pub link_ticket: Option<Secret>,
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct LinkQuery {
    /// Where to send the browser afterwards; must be on ALLOWED_REDIRECT_URLS.
    pub redirect_to: Option<String>,
}

/// The HttpOnly cookie that binds a browser sign-in to the browser that started it.
pub const BROWSER_COOKIE: &str = "auth_oauth_browser";

#[derive(Debug, Serialize, ToSchema)]
pub struct LinkResponse {
    /// Open this in the signed-in user's browser (it carries a one-time ticket, valid for
    /// `expires_in` seconds): it starts the provider's sign-in, and the callback links the
    /// provider to the account.
    pub authorization_url: String,
    #[schema(example = 60)]
    pub expires_in: u64,
}

/// The configured sign-in providers.
#[utoipa::path(get, path = "/auth/providers", tag = "social", responses((status = 200, body = Vec<ProviderResponse>)))]
pub async fn list_providers(State(state): State<AppState>) -> Json<Vec<ProviderResponse>> {
    Json(
        state
            .oauth
            .providers()
            .into_iter()
            .map(|(name, display_name)| ProviderResponse { name: name.into(), display_name: display_name.into() })
            .collect(),
    )
}

/// Start a browser sign-in (or, with `link_ticket`, a linking): 302 to the provider. Sets the
/// HttpOnly cookie that only this browser can finish the sign-in with.
#[utoipa::path(get, path = "/auth/oauth/{provider}/authorize", tag = "social",
    params(("provider" = String, Path, description = "a configured provider: google, vk, facebook, github, yandex, telegram, apple, or a name of OIDC_PROVIDERS"), AuthorizeQuery),
    responses((status = 302, description = "to the provider"), (status = 400, body = Problem, description = "invalid_redirect, or invalid_state for an unknown or used link ticket"),
              (status = 404, body = Problem, description = "unknown_provider"), (status = 502, body = Problem)))]
pub async fn authorize(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<AuthorizeQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let browser = cookie(&headers, BROWSER_COOKIE);
    let started = match query.link_ticket.as_deref() {
        Some(ticket) => state.oauth.start_link(&provider, ticket, browser).await?,
        None => state.oauth.start(&provider, query.redirect_to.as_deref(), browser).await?,
    };
    let mut response = Redirect::to(&started.url).into_response();
    if let Ok(value) = HeaderValue::from_str(&browser_cookie(&state, &started)) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `Path` limits the cookie to the sign-in endpoints; `SameSite=Lax` still sends it on the
/// provider's top-level redirect back to the callback. A provider that comes back with a
/// cross-site form POST (Apple) needs `SameSite=None`, which browsers take only with `Secure`:
/// the state and the binding, not SameSite, are what stop a forged callback.
pub fn browser_cookie(state: &AppState, started: &AuthorizationStart) -> String {
    let settings = state.oauth.settings();
    // Browsers drop `SameSite=None` without `Secure`; they keep Secure cookies of http://localhost,
    // and Apple takes only https return URLs anyway.
    let secure = settings.public_url.starts_with("https://") || started.returns_by_form_post;
    let secure = if secure { "; Secure" } else { "" };
    let same_site = if started.returns_by_form_post { "None" } else { "Lax" };
    format!(
        "{BROWSER_COOKIE}={}; Path=/auth/oauth; Max-Age={}; HttpOnly; SameSite={same_site}{secure}",
        started.browser_binding,
        settings.pending_ttl.as_secs().max(1)
    )
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// The provider's redirect back: a token pair as JSON, or a 302 to `redirect_to` with the pair
/// in the URL fragment. Only the browser that started the sign-in (its cookie) can finish it.
#[utoipa::path(get, path = "/auth/oauth/{provider}/callback", tag = "social",
    params(("provider" = String, Path), CallbackParameters),
    responses((status = 200, body = TokenPairResponse), (status = 302, description = "to redirect_to, pair in the fragment"),
              (status = 400, body = Problem, description = "invalid_state (also: another browser than the one that started the sign-in)"), (status = 401, body = Problem, description = "provider_denied"),
              (status = 409, body = Problem, description = "email_taken"), (status = 502, body = Problem, description = "provider_error")))]
pub async fn callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(parameters): Query<CallbackParameters>,
    address: ClientAddress,
    page: PageRequest,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    finish_callback(state, provider, parameters, address, page, headers).await
}

/// The same callback for a provider that returns with `response_mode=form_post` (Apple): the
/// parameters arrive as a form body.
#[utoipa::path(post, path = "/auth/oauth/{provider}/callback", tag = "social",
    params(("provider" = String, Path)),
    request_body(content = CallbackParameters, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = TokenPairResponse), (status = 302, description = "to redirect_to, pair in the fragment"),
              (status = 400, body = Problem, description = "invalid_state"), (status = 401, body = Problem, description = "provider_denied"),
              (status = 409, body = Problem, description = "email_taken"), (status = 502, body = Problem, description = "provider_error")))]
pub async fn form_callback(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    address: ClientAddress,
    page: PageRequest,
    headers: HeaderMap,
    form: Result<Form<CallbackParameters>, FormRejection>,
) -> Result<Response, ApiError> {
    let Form(parameters) = form.map_err(form_rejection)?;
    finish_callback(state, provider, parameters, address, page, headers).await
}

async fn finish_callback(
    state: AppState,
    provider: String,
    parameters: CallbackParameters,
    address: ClientAddress,
    page: PageRequest,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let finished = state.oauth.finish(&provider, parameters, cookie(&headers, BROWSER_COOKIE)).await;
    let from_pages = match &finished {
        Ok(signed_in) => signed_in.pages,
        Err(_) => cookie(&headers, social::PAGES_MARKER).is_some(),
    };
    if from_pages {
        let mut response = social::finished(&state, page, finished, client_info(&headers, address)).await;
        response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        return Ok(response);
    }
    let signed_in = finished?;
    let step =
        state.mfa.after_first_factor(&signed_in.user, Assurance::federated(), client_info(&headers, address)).await?;
    let mut response = match signed_in.redirect_to {
        Some(target) => Redirect::to(&format!("{target}#{}", fragment(&step))).into_response(),
        None => sign_in_response(step),
    };
    // The callback URL carried a code: keep it out of Referer headers (RFC 9700 §4.2).
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    Ok(response)
}

/// What the browser's app reads from the URL fragment: the pair, or the `mfa_required` answer.
fn fragment(step: &SignInStep) -> String {
    match step {
        SignInStep::SignedIn(pair) => format!(
            "access_token={}&refresh_token={}&expires_in={}&refresh_expires_in={}&token_type=Bearer",
            pair.access_token, pair.refresh_token, pair.expires_in, pair.refresh_expires_in
        ),
        SignInStep::SecondFactorRequired(pending) => {
            let methods: Vec<&str> = pending.methods.iter().map(|method| method.as_str()).collect();
            format!(
                "mfa_required=true&mfa_token={}&methods={}&expires_in={}",
                pending.mfa_token.expose(),
                methods.join(","),
                pending.expires_in
            )
        }
    }
}

/// Sign in with what a mobile or single-page app got from the provider itself.
#[utoipa::path(post, path = "/auth/oauth/{provider}/token", tag = "social", params(("provider" = String, Path)),
    request_body = AppCredentials,
    responses((status = 200, body = TokenPairResponse), (status = 401, body = Problem, description = "provider_denied"),
              (status = 404, body = Problem), (status = 409, body = Problem), (status = 502, body = Problem)))]
pub async fn app_token(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    address: ClientAddress,
    headers: HeaderMap,
    AppJson(credentials): AppJson<AppCredentials>,
) -> Result<Response, ApiError> {
    let user = state.oauth.sign_in_with_app_credentials(&provider, credentials).await?;
    let step = state.mfa.after_first_factor(&user, Assurance::federated(), client_info(&headers, address)).await?;
    Ok(sign_in_response(step))
}

/// Link a provider to the signed-in account: returns a URL, with a one-time ticket, for the
/// user's browser to open.
#[utoipa::path(post, path = "/auth/oauth/{provider}/link", tag = "social", params(("provider" = String, Path), LinkQuery),
    security(("bearer" = [])),
    responses((status = 200, body = LinkResponse), (status = 400, body = Problem, description = "invalid_redirect"),
              (status = 401, body = Problem), (status = 404, body = Problem)))]
pub async fn link(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(provider): Path<String>,
    Query(query): Query<LinkQuery>,
) -> Result<Json<LinkResponse>, ApiError> {
    let ticket = state.oauth.issue_link_ticket(claims.sub, &provider, query.redirect_to.as_deref()).await?;
    let authorization_url =
        format!("{}/auth/oauth/{provider}/authorize?link_ticket={ticket}", state.oauth.settings().public_url);
    Ok(Json(LinkResponse { authorization_url, expires_in: LINK_TICKET_TTL.as_secs() }))
}

/// Unlink a provider, as long as another way to sign in remains.
#[utoipa::path(delete, path = "/auth/oauth/{provider}", tag = "social", params(("provider" = String, Path)),
    security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem), (status = 404, body = Problem),
              (status = 409, body = Problem, description = "last_login_method")))]
pub async fn unlink(
    State(state): State<AppState>,
    AuthUser(claims): AuthUser,
    Path(provider): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.oauth.unlink(claims.sub, &provider).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others_and_headers() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("a=1; auth_oauth_browserx=no"));
        headers.append(header::COOKIE, HeaderValue::from_static("b=2;auth_oauth_browser=yes; c=3"));
        assert_eq!(cookie(&headers, BROWSER_COOKIE), Some("yes"));
        assert_eq!(cookie(&HeaderMap::new(), BROWSER_COOKIE), None);
    }
}
