//! Social sign-in from the login page: the provider round trip of the JSON API, ending with the
//! session in the browser's cookies (and the second-factor step when the account has one)
//! instead of tokens in a URL fragment.

use auth_core::DomainError;
use auth_core::mfa::{Assurance, SecondFactorMethod, SignInStep};
use auth_core::oauth::{AuthorizationStart, SignedIn};
use auth_core::sessions::ClientInfo;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use cookie::{Cookie, SameSite};
use minijinja::context;
use serde::Deserialize;

use crate::http::oauth::{BROWSER_COOKIE, browser_cookie};
use crate::http::state::AppState;
use crate::ui::PageRequest;

/// Marks a provider round trip that the pages started, so the callback answers with pages
/// (also when it fails, before the pending sign-in says where it came from).
pub const PAGES_MARKER: &str = "auth_oauth_pages";

#[derive(Debug, Deserialize)]
pub struct StartQuery {
    rd: Option<String>,
}

/// `GET /ui/login/social/{provider}`: to the provider, bound to this browser.
pub async fn start(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    Query(query): Query<StartQuery>,
    page: PageRequest,
) -> Response {
    let destination = page.ui.destination(query.rd.as_deref());
    let browser = page.cookie(BROWSER_COOKIE);
    match state.oauth.start_for_pages(&provider, destination, browser.as_deref()).await {
        Ok(started) => to_provider(&state, page, &started),
        Err(error) => page.failed("login.html", &error, context! { rd => query.rd }),
    }
}

/// Sends the browser to the provider, holding the binding of the round trip and the marker
/// that the pages started it.
pub fn to_provider(state: &AppState, mut page: PageRequest, started: &AuthorizationStart) -> Response {
    if let Ok(binding) = Cookie::parse(browser_cookie(state, started)) {
        page.set_cookie(binding.into_owned());
    }
    let mut marker = page.ui.cookies.scoped(PAGES_MARKER, "1", "/auth/oauth", 600);
    if started.returns_by_form_post {
        // Like the binding: a cross-site form POST back (Apple) carries only SameSite=None, and
        // without the marker a failed sign-in would answer problem JSON instead of this page.
        marker.set_same_site(SameSite::None);
        marker.set_secure(true);
    }
    page.set_cookie(marker);
    page.redirect(&started.url)
}

/// The provider's callback for a round trip the pages started: cookies and the destination,
/// the second-factor step, or the login page with the reason.
pub async fn finished(
    state: &AppState,
    mut page: PageRequest,
    result: Result<SignedIn, DomainError>,
    client: ClientInfo,
) -> Response {
    let marker = page.ui.cookies.scoped(PAGES_MARKER, "", "/auth/oauth", 0);
    page.set_cookie(marker);
    let signed_in = match result {
        Ok(signed_in) => signed_in,
        // Not the generic "already exists": here the way on is to link, so say how.
        Err(DomainError::EmailTakenLinkable { .. }) => {
            return page.render(StatusCode::CONFLICT, "login.html", context! { error => "errors.social_email_taken" });
        }
        Err(error) => return page.failed("login.html", &error, context! {}),
    };
    let rd = signed_in.redirect_to;
    match state.mfa.after_first_factor(&signed_in.user, Assurance::federated(), client).await {
        Ok(SignInStep::SignedIn(pair)) => {
            page.sign_in(&pair);
            let destination = page.ui.destination(rd.as_deref());
            page.redirect(&destination)
        }
        Ok(SignInStep::SecondFactorRequired(pending)) => {
            let cookie = page.ui.cookies.mfa_pending(pending.mfa_token.expose());
            page.set_cookie(cookie);
            let passkey = pending.methods.contains(&SecondFactorMethod::Webauthn);
            page.render(StatusCode::OK, "mfa.html", context! { rd, passkey })
        }
        Err(error) => page.failed("login.html", &error, context! { rd }),
    }
}
