//! Sign-in: email and password, then the second factor when the account has one; logout.

use auth_core::DomainError;
use auth_core::mfa::{Aal, Assurance, SecondFactorMethod, SecondFactorProof, SignInStep};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use crate::http::accounts::client_info;
use crate::http::extract::ClientAddress;
use crate::http::state::AppState;
use crate::ui::extract::{PageForm, SignedInForm};
use crate::ui::{PageRequest, cookies};

#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    rd: Option<String>,
    /// `aal2`: the destination needs a second factor (the gateway said `mfa_required`).
    aal: Option<String>,
    /// `1`: sign in again even if signed in (an OpenID client asked for a fresh sign-in).
    fresh: Option<String>,
    /// The email to fill in (OpenID `login_hint`).
    login_hint: Option<String>,
    /// `1`: show nothing; renew the session if the refresh cookie allows, then go on to `rd`
    /// either way (OpenID `prompt=none`).
    silent: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    rd: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct SecondFactorForm {
    #[serde(default)]
    code: String,
    rd: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// The sign-in form; a browser that is signed in already goes straight on, or is asked for its
/// second factor when the destination needs `aal2`.
pub async fn page(State(state): State<AppState>, mut page: PageRequest, Query(query): Query<LoginQuery>) -> Response {
    if query.silent.as_deref() == Some("1") {
        return match page.signed_in(&state).await {
            Ok(_) => {
                let destination = page.ui.destination(query.rd.as_deref());
                page.redirect(&destination)
            }
            Err(error) => page.failed("login.html", &error, context! { rd => query.rd }),
        };
    }
    match page.signed_in(&state).await {
        Ok(Some(claims)) if query.aal.as_deref() == Some("aal2") && claims.aal != Aal::Aal2 => {
            match state.mfa.status(claims.sub).await {
                Ok(factors) if factors.totp || factors.recovery_codes_left > 0 => {
                    page.render(StatusCode::OK, "mfa.html", context! { rd => query.rd, step_up => true })
                }
                // Nothing to step up with (passkey step-up runs in the script): say what to do.
                Ok(_) => page.render(
                    StatusCode::FORBIDDEN,
                    "notice.html",
                    context! { notice => "needs_second_factor", failed => true },
                ),
                Err(error) => page.failed("login.html", &error, context! { rd => query.rd }),
            }
        }
        Ok(Some(_)) if query.fresh.as_deref() != Some("1") => {
            let destination = page.ui.destination(query.rd.as_deref());
            page.redirect(&destination)
        }
        Ok(_) => page.render(StatusCode::OK, "login.html", context! { rd => query.rd, email => query.login_hint }),
        Err(error) => page.failed("login.html", &error, context! { rd => query.rd }),
    }
}

pub async fn submit(
    State(state): State<AppState>,
    address: ClientAddress,
    PageForm { mut page, form }: PageForm<LoginForm>,
) -> Response {
    let again = context! { rd => form.rd, email => form.email };
    let user = match state.accounts.authenticate(&form.email, &form.password).await {
        Ok(user) => user,
        Err(error) => return page.failed("login.html", &error, again),
    };
    let client = client_info(&page.headers, address);
    match state.mfa.after_first_factor(&user, Assurance::password(), client).await {
        Ok(SignInStep::SignedIn(pair)) => {
            page.sign_in(&pair);
            let destination = page.ui.destination(form.rd.as_deref());
            page.redirect(&destination)
        }
        Ok(SignInStep::SecondFactorRequired(pending)) => {
            let cookie = page.ui.cookies.mfa_pending(pending.mfa_token.expose());
            page.set_cookie(cookie);
            let passkey = pending.methods.contains(&SecondFactorMethod::Webauthn);
            page.render(StatusCode::OK, "mfa.html", context! { rd => form.rd, passkey })
        }
        Err(error) => page.failed("login.html", &error, again),
    }
}

/// The second step: a TOTP code (six digits) or a recovery code.
pub async fn second_factor(
    State(state): State<AppState>,
    address: ClientAddress,
    PageForm { mut page, form }: PageForm<SecondFactorForm>,
) -> Response {
    let Some(mfa_token) = page.cookie(cookies::MFA) else {
        return page.failed("login.html", &DomainError::InvalidToken, context! { rd => form.rd });
    };
    let proof = code_proof(&form.code);
    let client = client_info(&page.headers, address);
    match state.mfa.verify(&mfa_token, proof, client).await {
        Ok(pair) => {
            page.sign_in(&pair);
            let destination = page.ui.destination(form.rd.as_deref());
            page.redirect(&destination)
        }
        Err(error @ DomainError::InvalidMfaCode) => page.failed("mfa.html", &error, context! { rd => form.rd }),
        // Spent, expired or out of guesses: start again with the password.
        Err(error) => page.failed("login.html", &error, context! { rd => form.rd }),
    }
}

/// Steps the signed-in browser session up to `aal2` with a code.
pub async fn step_up(
    State(state): State<AppState>,
    SignedInForm { mut page, claims, form }: SignedInForm<SecondFactorForm>,
) -> Response {
    match state.mfa.step_up(&claims, code_proof(&form.code)).await {
        Ok(pair) => {
            page.sign_in(&pair);
            let destination = page.ui.destination(form.rd.as_deref());
            page.redirect(&destination)
        }
        Err(error) => page.failed("mfa.html", &error, context! { rd => form.rd, step_up => true }),
    }
}

/// Six digits are a TOTP code; anything else is tried as a recovery code.
fn code_proof(code: &str) -> SecondFactorProof<'_> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|byte| byte.is_ascii_digit()) {
        SecondFactorProof::Totp(code)
    } else {
        SecondFactorProof::RecoveryCode(code)
    }
}

/// Ends the browser's session (revoked like any other), then the sign-in page.
pub async fn logout(State(state): State<AppState>, PageForm { mut page, .. }: PageForm<NoFields>) -> Response {
    match page.end_session(&state).await {
        Ok(()) => page.redirect("/ui/login"),
        Err(error) => page.failed("notice.html", &error, context! { notice => "logout_failed", failed => true }),
    }
}
