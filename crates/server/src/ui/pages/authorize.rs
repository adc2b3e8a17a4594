//! The authorization endpoint of the OpenID provider, as pages: the person signs in through
//! the hosted sign-in (second factor included), consents for clients that are not first-party,
//! and goes back to the client with a code. The rules are core's (`oidc::authorization`).

use auth_core::DomainError;
use auth_core::oidc::{
    AuthorizationRequest, AuthorizeFailure, AuthorizeNext, BrowserSignIn, Client, OAuthError, OidcService,
    UntrustedRequest,
};
use auth_core::sessions::AccessClaims;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use minijinja::context;
use serde::Deserialize;

use crate::http::state::AppState;
use crate::ui::PageRequest;
use crate::ui::extract::{SignedInForm, unavailable};

/// Our own parameter on the way back from a sign-in that `prompt=login` forced: sign-ins
/// before this time (Unix milliseconds) do not count.
const SIGNED_IN_AFTER: &str = "signed_in_after";

/// Our own parameter on the way back from the silent hop through the sign-in page (whose
/// refresh cookie, scoped to `/ui`, this endpoint never sees): the browser has no session.
const SESSION_CHECKED: &str = "session_checked";

/// `GET /oauth2/authorize`.
pub async fn authorize(State(state): State<AppState>, mut page: PageRequest, RawQuery(query): RawQuery) -> Response {
    let Some(oidc) = state.oidc.clone() else { return untrusted(page, UntrustedRequest::UnknownClient) };
    let raw = query.unwrap_or_default();
    let mut signed_in_after = None;
    let mut session_checked = false;
    let parameters: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .filter(|(name, value)| {
            if name == SESSION_CHECKED {
                session_checked = true;
                false
            } else if name == SIGNED_IN_AFTER {
                signed_in_after = value.parse::<i64>().ok().and_then(DateTime::<Utc>::from_timestamp_millis);
                false
            } else {
                true
            }
        })
        .collect();
    let (client, request) = match oidc.authorization_request(&parameters).await {
        Ok(valid) => valid,
        Err(AuthorizeFailure::Page(reason)) => return untrusted(page, reason),
        Err(AuthorizeFailure::Redirect { redirect_uri, .. }) if redirect_uri.is_empty() => {
            return unavailable(page, &DomainError::Unavailable("client registry".into()));
        }
        Err(AuthorizeFailure::Redirect { redirect_uri, state: client_state, error }) => {
            let location = oidc.error_redirect(&redirect_uri, client_state.as_deref(), &error);
            return page.redirect(&location);
        }
    };
    let browser = match browser_sign_in(&state, &mut page).await {
        Ok(browser) => browser,
        Err(error) => return unavailable(page, &error),
    };
    // No live access cookie: the sign-in page may still renew the session from its refresh
    // cookie. With prompt=none it does so without showing anything, then comes straight back.
    if browser.is_none() && request.prompt_none && !session_checked {
        let mut back = url::form_urlencoded::Serializer::new(String::new());
        back.extend_pairs(parameters.iter().map(|(name, value)| (name.as_str(), value.as_str())));
        back.append_pair(SESSION_CHECKED, "1");
        let rd = format!("/oauth2/authorize?{}", back.finish());
        let login: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("rd", &rd)
            .append_pair("silent", "1")
            .finish();
        return page.redirect(&format!("/ui/login?{login}"));
    }
    match oidc.authorize(client, &request, browser.as_ref(), signed_in_after).await {
        Ok(AuthorizeNext::Redirect(location)) => page.redirect(&location),
        Ok(AuthorizeNext::SignIn) => {
            let forced = request.prompt_login || browser.is_some();
            let mut back = url::form_urlencoded::Serializer::new(String::new());
            back.extend_pairs(parameters.iter().map(|(name, value)| (name.as_str(), value.as_str())));
            if forced {
                back.append_pair(SIGNED_IN_AFTER, &oidc.now().timestamp_millis().to_string());
            }
            let rd = format!("/oauth2/authorize?{}", back.finish());
            let mut login = url::form_urlencoded::Serializer::new(String::new());
            login.append_pair("rd", &rd);
            if forced {
                login.append_pair("fresh", "1");
            }
            if let Some(hint) = &request.login_hint {
                login.append_pair("login_hint", hint);
            }
            page.redirect(&format!("/ui/login?{}", login.finish()))
        }
        Ok(AuthorizeNext::Consent(client)) => {
            let Some(browser) = browser else { return unavailable(page, &DomainError::InvalidToken) };
            match oidc.hold_for_consent(&request, browser.session_id).await {
                Ok(id) => consent_page(page, &client, &request, &id),
                Err(error) => failed(page, &oidc, &request, error),
            }
        }
        Err(error) => failed(page, &oidc, &request, error),
    }
}

#[derive(Debug, Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    request: String,
    #[serde(default)]
    decision: String,
}

/// `POST /ui/consent`: allow or deny; either way the client hears the answer.
pub async fn consent(
    State(state): State<AppState>,
    SignedInForm { page, claims, form }: SignedInForm<ConsentForm>,
) -> Response {
    let Some(oidc) = state.oidc.clone() else { return unavailable(page, &DomainError::NotFound) };
    let request = match oidc.take_consent(&form.request, claims.sid).await {
        Ok(Some(request)) => request,
        Ok(None) => {
            return page.render(
                StatusCode::BAD_REQUEST,
                "notice.html",
                context! { notice => "oidc_consent_expired", failed => true },
            );
        }
        Err(OAuthError::Domain(error)) => return unavailable(page, &error),
        Err(_) => return unavailable(page, &DomainError::Internal("consent hold".into())),
    };
    if form.decision != "allow" {
        let location = oidc.error_redirect(&request.redirect_uri, request.state.as_deref(), &OAuthError::AccessDenied);
        return page.redirect(&location);
    }
    let browser = match browser_from_claims(&state, &claims).await {
        Ok(Some(browser)) => browser,
        Ok(None) => return unavailable(page, &DomainError::TokenRevoked),
        Err(error) => return unavailable(page, &error),
    };
    match oidc.consent(&request, &browser).await {
        Ok(location) => page.redirect(&location),
        Err(error) => failed(page, &oidc, &request, error),
    }
}

fn consent_page(page: PageRequest, client: &Client, request: &AuthorizationRequest, id: &str) -> Response {
    let scopes: Vec<String> = request.scope.split(' ').map(str::to_owned).collect();
    let host = url::Url::parse(&request.redirect_uri).ok().and_then(|url| url.host_str().map(str::to_owned));
    page.render(
        StatusCode::OK,
        "consent.html",
        context! { client_name => client.name.clone(), scopes => scopes, request_id => id, redirect_host => host },
    )
}

/// A failure after the request was found good: back to the client, except when a dependency is
/// down, which the person is told about here.
fn failed(page: PageRequest, oidc: &OidcService, request: &AuthorizationRequest, error: OAuthError) -> Response {
    match error {
        OAuthError::Domain(error) => unavailable(page, &error),
        error => {
            let location = oidc.error_redirect(&request.redirect_uri, request.state.as_deref(), &error);
            page.redirect(&location)
        }
    }
}

fn untrusted(page: PageRequest, reason: UntrustedRequest) -> Response {
    let notice = match reason {
        UntrustedRequest::UnknownClient => "oidc_unknown_client",
        UntrustedRequest::UnregisteredRedirectUri => "oidc_bad_redirect_uri",
        UntrustedRequest::Malformed => "oidc_malformed",
    };
    page.render(StatusCode::BAD_REQUEST, "notice.html", context! { notice => notice, failed => true })
}

/// The browser's sign-in, with when it happened (its session's start) and the account.
async fn browser_sign_in(state: &AppState, page: &mut PageRequest) -> Result<Option<BrowserSignIn>, DomainError> {
    match page.signed_in(state).await? {
        Some(claims) => browser_from_claims(state, &claims).await,
        None => Ok(None),
    }
}

async fn browser_from_claims(state: &AppState, claims: &AccessClaims) -> Result<Option<BrowserSignIn>, DomainError> {
    let Some(session) = state.sessions.session(claims.sid).await? else { return Ok(None) };
    if session.revoked_at.is_some() || session.client.is_some() {
        return Ok(None);
    }
    let Some(user) = state.store.find_user(claims.sub).await?.filter(|user| user.is_active) else { return Ok(None) };
    Ok(Some(BrowserSignIn {
        user,
        session_id: session.id,
        auth_time: session.created_at,
        assurance: auth_core::mfa::Assurance { aal: claims.aal, amr: claims.amr.clone() },
    }))
}
