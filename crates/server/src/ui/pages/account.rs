//! The account page: who is signed in, their sessions, their second factors.

use auth_core::DomainError;
use auth_core::sessions::AccessClaims;
use axum::extract::{Path, Query, State};
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

#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
}

#[derive(Debug, Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
    password: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    password: Option<String>,
}

/// An app the person granted access to (OpenID provider).
#[derive(Debug, Serialize)]
struct GrantRow {
    client_id: String,
    name: String,
    scopes: String,
    granted: String,
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

#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

/// What a change that came back here did, by the names [`done`] uses.
const DONE: [&str; 6] = ["profile", "password", "email", "linked", "unlinked", "passkey"];

pub async fn page(
    State(state): State<AppState>,
    SignedInPage { page, claims }: SignedInPage,
    Query(query): Query<DoneQuery>,
) -> Response {
    let done = query.done.filter(|done| DONE.contains(&done.as_str()));
    match account_context(&state, &claims).await {
        Ok(context) => page.render(StatusCode::OK, "account.html", context! { done, ..context }),
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
            device: session.user_agent.as_deref().map(describe_device).unwrap_or_default(),
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
    let grants: Vec<GrantRow> = match &state.oidc {
        Some(oidc) => oidc
            .grants(user.id)
            .await?
            .into_iter()
            .map(|(grant, client)| GrantRow {
                name: client.map(|client| client.name).unwrap_or_else(|| grant.client_id.clone()),
                client_id: grant.client_id,
                scopes: grant.scopes.join(" "),
                granted: grant.granted_at.format("%Y-%m-%d").to_string(),
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(context! {
        grants,
        email => user.email,
        name => user.full_name,
        email_verified => user.email_verified,
        role => user.role.as_str(),
        aal => claims.aal.as_str(),
        has_password => user.password_hash.is_some(),
        can_unlink => user.can_unlink_a_provider(),
        linked => user.identity_providers,
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

/// Takes a grant back: the app's sessions for this person end at once.
pub async fn revoke_grant(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    SignedInForm { page, claims, .. }: SignedInForm<NoFields>,
) -> Response {
    let result = match &state.oidc {
        Some(oidc) => oidc.revoke_grant(claims.sub, &client_id).await,
        None => Err(DomainError::NotFound),
    };
    match result {
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

/// Done: back to the account page, which says what changed.
fn done(page: PageRequest, what: &str) -> Response {
    page.redirect(&format!("/ui/account?done={what}"))
}

pub async fn rename(
    State(state): State<AppState>,
    SignedInForm { page, claims, form }: SignedInForm<ProfileForm>,
) -> Response {
    let name = form.name.map(|name| name.trim().to_owned()).filter(|name| !name.is_empty());
    match state.accounts.rename(claims.sub, name).await {
        Ok(_) => done(page, "profile"),
        Err(error) => account_failed(&state, page, &claims, &error).await,
    }
}

/// Changes the password; the other sessions are signed out, this one stays.
pub async fn change_password(
    State(state): State<AppState>,
    SignedInForm { page, claims, form }: SignedInForm<PasswordForm>,
) -> Response {
    match state.accounts.change_password(claims.sub, claims.sid, &form.current_password, &form.new_password).await {
        Ok(()) => done(page, "password"),
        Err(error) => account_failed(&state, page, &claims, &error).await,
    }
}

/// Sends the confirmation to the new address; nothing changes until it is confirmed.
pub async fn change_email(
    State(state): State<AppState>,
    SignedInForm { page, claims, form }: SignedInForm<EmailForm>,
) -> Response {
    let request = auth_core::accounts::email_flows::EmailChangeRequest {
        user_id: claims.sub,
        session_id: claims.sid,
        new_email: form.email.trim(),
        password: form.password.as_deref().filter(|password| !password.is_empty()),
        language: page.lang.code(),
    };
    match state.email_flows.request_email_change(request).await {
        Ok(()) => done(page, "email"),
        Err(error) => account_failed(&state, page, &claims, &error).await,
    }
}

pub async fn delete(
    State(state): State<AppState>,
    SignedInForm { mut page, claims, form }: SignedInForm<DeleteForm>,
) -> Response {
    let password = form.password.as_deref().filter(|password| !password.is_empty());
    match state.accounts.delete(claims.sub, claims.sid, password).await {
        Ok(()) => {
            page.sign_out();
            page.render(StatusCode::OK, "notice.html", context! { notice => "account_deleted" })
        }
        Err(error) => account_failed(&state, page, &claims, &error).await,
    }
}

/// Links a provider: the provider round trip, signed in as this account.
pub async fn link(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    SignedInForm { page, claims, .. }: SignedInForm<NoFields>,
) -> Response {
    let destination = format!("{}/ui/account?done=linked", page.ui.public_url);
    let browser = page.cookie(crate::http::oauth::BROWSER_COOKIE);
    match state.oauth.start_link_for_pages(&provider, claims.sub, destination, browser.as_deref()).await {
        Ok(started) => super::social::to_provider(&state, page, &started),
        Err(error) => account_failed(&state, page, &claims, &error).await,
    }
}

pub async fn unlink(
    State(state): State<AppState>,
    Path(provider): Path<String>,
    SignedInForm { page, claims, .. }: SignedInForm<NoFields>,
) -> Response {
    match state.oauth.unlink(claims.sub, &provider).await {
        Ok(()) => done(page, "unlinked"),
        Err(error) => account_failed(&state, page, &claims, &error).await,
    }
}

/// "Chrome on Linux" from a User-Agent header: what a person recognises in a session list
/// (the full header is kept in the session; this is only how the page shows it).
pub(super) fn describe_device(user_agent: &str) -> String {
    const BROWSERS: [(&str, &str); 7] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("YaBrowser/", "Yandex Browser"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
    ];
    const SYSTEMS: [(&str, &str); 6] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let browser = BROWSERS.iter().find(|(marker, _)| user_agent.contains(marker)).map(|(_, name)| *name);
    let system = SYSTEMS.iter().find(|(marker, _)| user_agent.contains(marker)).map(|(_, name)| *name);
    match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} · {system}"),
        (Some(name), None) | (None, Some(name)) => name.to_owned(),
        (None, None) => user_agent.chars().take(60).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::describe_device;

    #[test]
    fn a_user_agent_reads_as_browser_and_system() {
        let chrome =
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        assert_eq!(describe_device(chrome), "Chrome · Linux");
        let safari =
            "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Version/18.0 Safari/604.1";
        assert_eq!(describe_device(safari), "Safari · iOS");
        assert_eq!(describe_device("curl/8.5.0"), "curl");
        assert_eq!(describe_device("reqwest"), "reqwest");
    }
}
