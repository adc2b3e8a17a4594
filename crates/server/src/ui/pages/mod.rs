//! The page handlers, one module per area. Each parses the form, checks CSRF, calls the same
//! service as the JSON API, and renders a page or redirects.

mod account;
mod admin;
mod admin_clients;
mod assets;
pub mod authorize;
mod email;
mod login;
mod passkeys;
pub mod social;

use crate::http::state::AppState;
use axum::Router;
use axum::routing::{get, post};

/// The routes whose POSTs anyone may send (they spend the per-client budget, as the JSON
/// API's public endpoints do), and the rest.
pub fn routes() -> (Router<AppState>, Router<AppState>) {
    let public_posts = Router::new()
        .route("/ui/login", post(login::submit))
        .route("/ui/login/mfa", post(login::second_factor))
        .route("/ui/login/step-up", post(login::step_up))
        .route("/ui/register", post(email::register))
        .route("/ui/verify-email", post(email::verify))
        .route("/ui/forgot-password", post(email::forgot))
        .route("/ui/reset-password", post(email::reset))
        .route("/ui/passkeys/login/options", post(passkeys::login_options))
        .route("/ui/passkeys/login", post(passkeys::login))
        .route("/ui/login/mfa/webauthn/options", post(passkeys::second_factor_options))
        .route("/ui/login/mfa/webauthn", post(passkeys::second_factor));
    let pages = Router::new()
        .route("/ui", get(|| async { axum::response::Redirect::to("/ui/account") }))
        .route("/ui/login", get(login::page))
        .route("/ui/login/social/{provider}", get(social::start))
        .route("/ui/logout", post(login::logout))
        .route("/ui/register", get(email::register_page))
        .route("/ui/verify-email", get(email::verify_page))
        .route("/ui/forgot-password", get(email::forgot_page))
        .route("/ui/reset-password", get(email::reset_page))
        .route("/ui/account", get(account::page))
        .route("/ui/account/sessions/{id}/revoke", post(account::revoke_session))
        .route("/ui/account/logout-all", post(account::logout_all))
        .route("/ui/account/grants/{client_id}/revoke", post(account::revoke_grant))
        .route("/ui/account/profile", post(account::rename))
        .route("/ui/account/password", post(account::change_password))
        .route("/ui/account/email", post(account::change_email))
        .route("/ui/account/delete", post(account::delete))
        .route("/ui/account/providers/{provider}/link", post(account::link))
        .route("/ui/account/providers/{provider}/unlink", post(account::unlink))
        .route("/ui/account/totp", post(account::begin_totp))
        .route("/ui/account/totp/confirm", post(account::confirm_totp))
        .route("/ui/account/passkeys/options", post(passkeys::registration_options))
        .route("/ui/account/passkeys", post(passkeys::register))
        .route("/ui/admin", get(admin::home))
        .route("/ui/admin/users/{id}", get(admin::user))
        .route("/ui/admin/users/{id}/role", post(admin::set_role))
        .route("/ui/admin/users/{id}/active", post(admin::set_active))
        .route("/ui/admin/users/{id}/logout-all", post(admin::logout_all))
        .route("/ui/admin/users/{id}/mfa-reset", post(admin::reset_second_factors))
        .route("/ui/admin/events/{id}/retry", post(admin::retry_event))
        .route("/ui/admin/clients", get(admin_clients::list).post(admin_clients::create))
        .route("/ui/admin/clients/{client_id}/delete", post(admin_clients::delete))
        .route("/ui/assets/{name}", get(assets::serve));
    (public_posts, pages)
}
