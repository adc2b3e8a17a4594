//! The account page: who is signed in, their sessions, their second factors.

use auth_core::DomainError;
use auth_core::sessions::AccessClaims;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::state::AppState;
use crate::ui::PageRequest;
use crate::ui::extract::{SignedInForm, SignedInPage, unavailable};

#[derive(Debug, Deserialize)]
pub struct NoFields {}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

#[derive(Debug, Serialize)]
struct SessionRow {
    id: Uuid,
    device: String,
    address: String,
    last_seen: String,
    current: bool,
}

#[derive(Debug, Serialize)]
struct PasskeyRow {
    id: Uuid,
    name: String,
    created: String,
}

pub async fn page(State(state): State<AppState>, SignedInPage { page, claims }: SignedInPage) -> Response {
    match account_context(&state, &claims).await {
        Ok(context) => page.render(StatusCode::OK, "account.html", context),
        Err(error) => unavailable(page, &error),
    }
}

async fn account_context(state: &AppState, claims: &AccessClaims) -> Result<minijinja::Value, DomainError> {
    let user = state.accounts.active_user(claims.sub).await?;
    let sessions: Vec<SessionRow> = state
        .sessions
        .list(user.id)
        .await?
        .into_iter()
        .map(|session| SessionRow {
            id: session.id,
            device: session.user_agent.unwrap_or_default(),
            address: session.ip_address.unwrap_or_default(),
            last_seen: session.last_seen_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            current: session.id == claims.sid,
        })
        .collect();
    let factors = state.mfa.status(user.id).await?;
    let passkeys: Vec<PasskeyRow> = state
        .passkeys
        .list(user.id)
        .await?
        .into_iter()
        .map(|passkey| PasskeyRow {
            id: passkey.id,
            name: passkey.name,
            created: passkey.created_at.format("%Y-%m-%d").to_string(),
        })
        .collect();
    Ok(context! {
        email => user.email,
        name => user.full_name,
        email_verified => user.email_verified,
        role => user.role.as_str(),
        aal => claims.aal.as_str(),
        providers => user.identity_providers,
        sessions,
        totp => factors.totp,
        recovery_codes_left => factors.recovery_codes_left,
        passkeys,
    })
}

/// Re-renders the account page with an error (a refused change).
async fn account_failed(state: &AppState, page: PageRequest, claims: &AccessClaims, error: &DomainError) -> Response {
    match account_context(state, claims).await {
        Ok(context) => page.failed("account.html", error, context),
        Err(error) => unavailable(page, &error),
    }
}

pub async fn revoke_session(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    SignedInForm { mut page, claims, .. }: SignedInForm<NoFields>,
) -> Response {
    match state.sessions.revoke(claims.sub, id).await {
        Ok(()) if id == claims.sid => {
            page.sign_out();
            page.redirect("/ui/login")
        }
        Ok(()) => page.redirect("/ui/account"),
        Err(error) => account_failed(&state, page, &claims, &error).await,
    }
}

pub async fn logout_all(
    State(state): State<AppState>,
    SignedInForm { mut page, claims, .. }: SignedInForm<NoFields>,
) -> Response {
    match state.sessions.logout_all(claims.sub).await {
        Ok(()) => {
            page.sign_out();
            page.redirect("/ui/login")
        }
        Err(error) => account_failed(&state, page, &claims, &error).await,
    }
}

/// Starts a TOTP enrolment: the secret and its QR code, and the form that confirms it.
pub async fn begin_totp(
    State(state): State<AppState>,
    SignedInForm { page, claims, .. }: SignedInForm<NoFields>,
) -> Response {
    match state.mfa.begin_totp(claims.sub, claims.aal).await {
        Ok(enrolment) => page.render(
            StatusCode::OK,
            "totp.html",
            context! {
                secret => enrolment.secret,
                otpauth_uri => enrolment.otpauth_uri,
                // Built by core from the secret alone: no user input reaches the markup.
                qr_svg => minijinja::Value::from_safe_string(enrolment.qr_svg),
            },
        ),
        Err(error) => account_failed(&state, page, &claims, &error).await,
    }
}

/// Confirms the enrolment with a code from the app; the recovery codes are shown once.
pub async fn confirm_totp(
    State(state): State<AppState>,
    SignedInForm { page, claims, form }: SignedInForm<CodeForm>,
) -> Response {
    match state.mfa.confirm_totp(claims.sub, form.code.trim()).await {
        Ok(Some(codes)) => page.render(StatusCode::OK, "recovery_codes.html", context! { codes }),
        Ok(None) => page.redirect("/ui/account"),
        Err(error) => page.failed("totp.html", &error, context! { retry => true }),
    }
}
