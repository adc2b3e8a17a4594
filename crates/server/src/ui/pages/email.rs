//! Registration, email confirmation and password reset: the pages the emails link to.

use auth_core::DomainError;
use auth_core::accounts::Registration;
use auth_core::redact::Secret;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::Deserialize;

use crate::http::state::AppState;
use crate::ui::PageRequest;
use crate::ui::extract::PageForm;

#[derive(Debug, Deserialize)]
pub struct RegisterForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    email: String,
}

fn notice(page: PageRequest, notice: &str) -> Response {
    page.render(StatusCode::OK, "notice.html", context! { notice })
}

pub async fn register_page(page: PageRequest) -> Response {
    page.render(StatusCode::OK, "register.html", context! {})
}

/// Creates the account and sends the confirmation link. An address that is taken gets the same
/// answer as a new one, so the page tells nobody who has an account.
pub async fn register(State(state): State<AppState>, PageForm { page, form }: PageForm<RegisterForm>) -> Response {
    let full_name = form.name.map(|name| name.trim().to_owned()).filter(|name| !name.is_empty());
    let registration =
        Registration { email: form.email.clone(), password: Secret::new(form.password), full_name: full_name.clone() };
    match state.accounts.register(registration).await {
        Ok(user) => {
            if let Err(error) = state.email_flows.request_verification(user.id, page.lang.code()).await {
                tracing::warn!(%error, "verification email not queued");
            }
            notice(page, "register_sent")
        }
        Err(DomainError::EmailTaken) => notice(page, "register_sent"),
        Err(error) => page.failed("register.html", &error, context! { email => form.email, name => full_name }),
    }
}

/// A GET only shows the button: mail scanners that open links must not spend the token.
pub async fn verify_page(page: PageRequest, Query(query): Query<TokenQuery>) -> Response {
    page.render(StatusCode::OK, "verify_email.html", context! { token => query.token })
}

pub async fn verify(State(state): State<AppState>, PageForm { page, form }: PageForm<TokenForm>) -> Response {
    match state.email_flows.verify(&form.token).await {
        Ok(()) => notice(page, "verify_done"),
        Err(error) => page.failed("verify_email.html", &error, context! { token => form.token }),
    }
}

pub async fn forgot_page(page: PageRequest) -> Response {
    page.render(StatusCode::OK, "forgot_password.html", context! {})
}

/// Always the same answer, whether or not the address has an account.
pub async fn forgot(State(state): State<AppState>, PageForm { page, form }: PageForm<ForgotForm>) -> Response {
    state.email_flows.forgot(&form.email, page.lang.code());
    notice(page, "forgot_sent")
}

pub async fn reset_page(page: PageRequest, Query(query): Query<TokenQuery>) -> Response {
    page.render(StatusCode::OK, "reset_password.html", context! { token => query.token })
}

pub async fn reset(State(state): State<AppState>, PageForm { page, form }: PageForm<TokenForm>) -> Response {
    match state.email_flows.reset(&form.token, &form.password).await {
        Ok(()) => notice(page, "reset_done"),
        Err(error) => page.failed("reset_password.html", &error, context! { token => form.token }),
    }
}
