//! The OAuth clients in the admin console: list, register (the secret shown once), delete.
//! The rules are the registry's (`auth_core::oidc::registry`), as for the admin API and the CLI.

use auth_core::DomainError;
use auth_core::oidc::{ClientKind, ClientRegistration, GrantType};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::admin::{AdminForm, AdminPage};
use crate::http::state::AppState;
use crate::ui::PageRequest;
use crate::ui::extract::{SignedInForm, SignedInPage, unavailable};

#[derive(Debug, Serialize)]
struct ClientRow {
    client_id: String,
    name: String,
    kind: &'static str,
    grant_types: String,
    redirect_uris: Vec<String>,
    first_party: bool,
}

#[derive(Debug, Deserialize)]
pub struct NewClientForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    kind: String,
    /// One per line.
    #[serde(default)]
    redirect_uris: String,
    #[serde(default)]
    post_logout_redirect_uris: String,
    /// Space-separated.
    #[serde(default)]
    scopes: String,
    /// `person` (authorization_code + refresh_token) or `machine` (client_credentials).
    #[serde(default)]
    purpose: String,
    first_party: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct NoFields {}

async fn render_list(state: &AppState, page: PageRequest, status: StatusCode, extra: minijinja::Value) -> Response {
    let Some(oidc) = state.oidc.clone() else { return unavailable(page, &DomainError::NotFound) };
    match oidc.clients().await {
        Ok(clients) => {
            let clients: Vec<ClientRow> = clients
                .into_iter()
                .map(|client| ClientRow {
                    kind: client.kind.as_str(),
                    grant_types: client.grant_types.iter().map(|grant| grant.as_str()).collect::<Vec<_>>().join(" "),
                    redirect_uris: client.redirect_uris,
                    first_party: client.first_party,
                    name: client.name,
                    client_id: client.client_id,
                })
                .collect();
            page.render(status, "admin_clients.html", context! { clients, ..extra })
        }
        Err(error) => unavailable(page, &error),
    }
}

pub async fn list(State(state): State<AppState>, AdminPage(SignedInPage { page, .. }): AdminPage) -> Response {
    render_list(&state, page, StatusCode::OK, context! {}).await
}

pub async fn create(
    State(state): State<AppState>,
    AdminForm(SignedInForm { page, form, .. }): AdminForm<NewClientForm>,
) -> Response {
    let Some(oidc) = state.oidc.clone() else { return unavailable(page, &DomainError::NotFound) };
    let lines =
        |text: &str| text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    let machine = form.purpose == "machine";
    let registration = ClientRegistration {
        name: form.name.clone(),
        kind: if form.kind == "public" { ClientKind::Public } else { ClientKind::Confidential },
        redirect_uris: lines(&form.redirect_uris),
        post_logout_redirect_uris: lines(&form.post_logout_redirect_uris),
        grant_types: if machine {
            vec![GrantType::ClientCredentials]
        } else {
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        },
        scopes: form.scopes.split_whitespace().map(str::to_owned).collect(),
        first_party: form.first_party.is_some(),
        audience: None,
        resources: vec![],
    };
    match oidc.register_client(registration).await {
        Ok(registered) => {
            let secret = registered.secret.map(|secret| secret.expose().to_owned());
            let created = context! { client_id => registered.client.client_id, name => registered.client.name };
            render_list(&state, page, StatusCode::CREATED, context! { created, secret }).await
        }
        Err(error) => {
            let (status, code) = crate::http::error::page_status(&error);
            let again =
                context! { error => format!("errors.{code}"), form_name => form.name, form_scopes => form.scopes };
            render_list(&state, page, status, again).await
        }
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    AdminForm(SignedInForm { page, .. }): AdminForm<NoFields>,
) -> Response {
    let Some(oidc) = state.oidc.clone() else { return unavailable(page, &DomainError::NotFound) };
    match oidc.delete_client(&client_id).await {
        Ok(()) => page.redirect("/ui/admin/clients"),
        Err(error) => {
            let (status, code) = crate::http::error::page_status(&error);
            render_list(&state, page, status, context! { error => format!("errors.{code}") }).await
        }
    }
}
