//! The admin console: find users by email, open one (sessions, providers, second factors),
//! change the role, deactivate or reactivate, sign out everywhere, reset second factors; event
//! dead letters with retry. Admitted exactly as the admin API admits (role `admin`, at `aal2`
//! when `MFA_REQUIRED_ROLES` says so).

use auth_core::DomainError;
use auth_core::model::{Role, User, UserPatch};
use auth_core::sessions::AccessClaims;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use minijinja::context;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::http::state::AppState;
use crate::ui::PageRequest;
use crate::ui::extract::{SignedInForm, SignedInPage, unavailable};
use crate::ui::portal::login_url;

#[derive(Debug, Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

#[derive(Debug, Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

#[derive(Debug, Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    active: String,
}

#[derive(Debug, Serialize)]
struct UserRow {
    id: Uuid,
    email: String,
    name: Option<String>,
    role: &'static str,
    active: bool,
    verified: bool,
    providers: Vec<String>,
    created: String,
}

impl From<User> for UserRow {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            name: user.full_name,
            role: user.role.as_str(),
            active: user.is_active,
            verified: user.email_verified,
            providers: user.identity_providers,
            created: user.created_at.format("%Y-%m-%d").to_string(),
        }
    }
}

/// A console page shown to an administrator (see [`admitted`]).
pub struct AdminPage(pub SignedInPage);

impl FromRequestParts<AppState> for AdminPage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let SignedInPage { page, claims } = SignedInPage::from_request_parts(parts, state).await?;
        let page = admitted(state, page, &claims).map_err(|refused| *refused)?;
        Ok(Self(SignedInPage { page, claims }))
    }
}

/// A console form from an administrator: CSRF, session, then admission.
pub struct AdminForm<T>(pub SignedInForm<T>);

impl<T: DeserializeOwned + Send> FromRequest<AppState> for AdminForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let SignedInForm { page, claims, form } = SignedInForm::from_request(request, state).await?;
        let page = admitted(state, page, &claims).map_err(|refused| *refused)?;
        Ok(Self(SignedInForm { page, claims, form }))
    }
}

/// Lets an administrator through; anyone else gets 403, and an admin below the required
/// assurance is sent to the second-factor step and back.
fn admitted(state: &AppState, page: PageRequest, claims: &AccessClaims) -> Result<PageRequest, Box<Response>> {
    match state.sessions.admit_admin(claims) {
        Ok(()) => Ok(page),
        Err(DomainError::MfaRequired) => {
            let back = page.path.clone();
            Err(Box::new(page.redirect(&login_url("", Some(&back), true))))
        }
        Err(_) => Err(Box::new(page.render(
            StatusCode::FORBIDDEN,
            "notice.html",
            context! { notice => "admins_only", failed => true },
        ))),
    }
}

pub async fn home(
    State(state): State<AppState>,
    AdminPage(SignedInPage { page, .. }): AdminPage,
    Query(query): Query<SearchQuery>,
) -> Response {
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let found = state.admin.list(Some(50), None, search).await;
    let dead_letters = state.admin.dead_letters(Some(50), None).await;
    match (found, dead_letters) {
        (Ok(found), Ok(dead_letters)) => {
            let users: Vec<UserRow> = found.items.into_iter().map(UserRow::from).collect();
            let events: Vec<_> = dead_letters
                .items
                .into_iter()
                .map(|event| {
                    context! {
                        id => event.id,
                        kind => event.event_type,
                        user_id => event.user_id,
                        occurred => event.occurred_at.format("%Y-%m-%d %H:%M").to_string(),
                        error => event.last_error,
                    }
                })
                .collect();
            page.render(StatusCode::OK, "admin.html", context! { q => search, users, events })
        }
        (Err(error), _) | (_, Err(error)) => unavailable(page, &error),
    }
}

pub async fn user(
    State(state): State<AppState>,
    AdminPage(SignedInPage { page, .. }): AdminPage,
    Path(id): Path<Uuid>,
) -> Response {
    match user_context(&state, id).await {
        Ok(context) => page.render(StatusCode::OK, "admin_user.html", context),
        Err(DomainError::NotFound) => {
            page.render(StatusCode::NOT_FOUND, "notice.html", context! { notice => "no_such_user", failed => true })
        }
        Err(error) => unavailable(page, &error),
    }
}

async fn user_context(state: &AppState, id: Uuid) -> Result<minijinja::Value, DomainError> {
    let user = state.admin.get(id).await?;
    let sessions: Vec<_> = state
        .sessions
        .list(id)
        .await?
        .into_iter()
        .map(|session| {
            context! {
                device => session.user_agent.as_deref().map(super::account::describe_device).unwrap_or_default(),
                address => session.ip_address.unwrap_or_default(),
                last_seen => session.last_seen_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                aal => session.assurance.aal.as_str(),
            }
        })
        .collect();
    let factors = state.mfa.status(id).await?;
    Ok(context! {
        user => UserRow::from(user),
        sessions,
        totp => factors.totp,
        passkeys => factors.passkeys,
        recovery_codes_left => factors.recovery_codes_left,
    })
}

/// Runs an admin change, then shows the user again (with the refusal's message if refused).
async fn change(state: &AppState, page: PageRequest, id: Uuid, outcome: Result<(), DomainError>) -> Response {
    match outcome {
        Ok(()) => page.redirect(&format!("/ui/admin/users/{id}")),
        Err(error) => match user_context(state, id).await {
            Ok(context) => page.failed("admin_user.html", &error, context),
            Err(_) => unavailable(page, &error),
        },
    }
}

pub async fn set_role(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    AdminForm(SignedInForm { page, claims, form }): AdminForm<RoleForm>,
) -> Response {
    let outcome = match Role::parse(form.role.trim()) {
        Some(role) => {
            state.admin.update(claims.sub, id, UserPatch { role: Some(role), ..UserPatch::default() }).await.map(drop)
        }
        None => Err(DomainError::invalid_field("role", "must be user or admin")),
    };
    change(&state, page, id, outcome).await
}

pub async fn set_active(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    AdminForm(SignedInForm { page, claims, form }): AdminForm<ActiveForm>,
) -> Response {
    let patch = UserPatch { is_active: Some(form.active == "true"), ..UserPatch::default() };
    let outcome = state.admin.update(claims.sub, id, patch).await.map(drop);
    change(&state, page, id, outcome).await
}

pub async fn logout_all(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    AdminForm(SignedInForm { page, .. }): AdminForm<NoFields>,
) -> Response {
    let outcome = state.admin.logout_all(id).await;
    change(&state, page, id, outcome).await
}

pub async fn reset_second_factors(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    AdminForm(SignedInForm { page, claims, .. }): AdminForm<NoFields>,
) -> Response {
    let outcome = state.mfa.reset(claims.sub, id).await;
    change(&state, page, id, outcome).await
}

pub async fn retry_event(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    AdminForm(SignedInForm { page, .. }): AdminForm<NoFields>,
) -> Response {
    match state.admin.retry_dead_letter(id).await {
        Ok(()) | Err(DomainError::NotFound) => page.redirect("/ui/admin"),
        Err(error) => unavailable(page, &error),
    }
}
