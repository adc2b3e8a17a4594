//! userinfo, introspection, revocation and RP-initiated logout.

use auth_core::DomainError;
use auth_core::oidc::{LogoutRefused, OAuthError};
use axum::Json;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::context;

use super::{OAuthForm, authenticate_client, provider};
use crate::http::error::oauth_error_response;
use crate::http::extract::bearer_token;
use crate::http::state::AppState;
use crate::ui::PageRequest;

/// The person's claims for the token's scopes (OpenID Connect Core §5.3).
#[utoipa::path(get, path = "/oauth2/userinfo", tag = "openid", security(("bearer" = [])),
    responses((status = 200, description = "sub, and email/email_verified/name by scope"),
              (status = 401, description = "invalid_token"), (status = 403, description = "insufficient_scope")))]
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let result = async {
        let oidc = provider(&state)?;
        let token = bearer_token(&headers).ok_or(OAuthError::InvalidToken)?;
        oidc.userinfo(token).await
    }
    .await;
    match result {
        Ok(claims) => Json(claims).into_response(),
        Err(error) => oauth_error_response(&error),
    }
}

/// RFC 7662 token introspection, for confidential clients.
#[utoipa::path(post, path = "/oauth2/introspect", tag = "openid",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token, token_type_hint"),
    responses((status = 200, description = "{active, ...}"), (status = 401, description = "invalid_client")))]
pub async fn introspect(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let oidc = provider(&state)?;
        let form = OAuthForm::parse(&body)?;
        let client = authenticate_client(&oidc, &headers, &form).await?;
        let token = form.get("token").ok_or(OAuthError::InvalidRequest("token is required"))?;
        oidc.introspect(&client, token).await
    }
    .await;
    match result {
        Ok(body) => Json(body).into_response(),
        Err(error) => oauth_error_response(&error),
    }
}

/// RFC 7009 token revocation.
#[utoipa::path(post, path = "/oauth2/revoke", tag = "openid",
    request_body(content_type = "application/x-www-form-urlencoded", description = "token, token_type_hint"),
    responses((status = 200, description = "revoked (or was never valid)"), (status = 401, description = "invalid_client"),
              (status = 400, description = "unsupported_token_type: a client_credentials access token")))]
pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let oidc = provider(&state)?;
        let form = OAuthForm::parse(&body)?;
        let client = authenticate_client(&oidc, &headers, &form).await?;
        let token = form.get("token").ok_or(OAuthError::InvalidRequest("token is required"))?;
        oidc.revoke_token(&client, token).await
    }
    .await;
    match result {
        Ok(()) => StatusCode::OK.into_response(),
        Err(error) => oauth_error_response(&error),
    }
}

/// RP-initiated logout by GET.
pub async fn logout(State(state): State<AppState>, page: PageRequest, RawQuery(query): RawQuery) -> Response {
    let form = match OAuthForm::parse(query.unwrap_or_default().as_bytes()) {
        Ok(form) => form,
        Err(_) => return refused(page, LogoutRefused::BadIdTokenHint),
    };
    end_session(&state, page, &form).await
}

/// RP-initiated logout by a form POST (the specification allows both).
pub async fn logout_form(State(state): State<AppState>, page: PageRequest, body: Bytes) -> Response {
    let form = match OAuthForm::parse(&body) {
        Ok(form) => form,
        Err(_) => return refused(page, LogoutRefused::BadIdTokenHint),
    };
    end_session(&state, page, &form).await
}

/// Ends the grant session of the hint and the browser's own session, then goes to a registered
/// `post_logout_redirect_uri` or the "signed out" page. Logging out is what the person asked
/// for, so no confirmation page stands in the way; a forged request can only sign them out.
async fn end_session(state: &AppState, mut page: PageRequest, form: &OAuthForm) -> Response {
    let Some(oidc) = state.oidc.clone() else { return StatusCode::NOT_FOUND.into_response() };
    let outcome = oidc
        .logout(
            form.get("id_token_hint"),
            form.get("client_id"),
            form.get("post_logout_redirect_uri"),
            form.get("state"),
        )
        .await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(Ok(reason)) => return refused(page, reason),
        Err(Err(error)) => {
            let domain = match error {
                OAuthError::Domain(domain) => domain,
                _ => DomainError::InvalidToken,
            };
            return page.failed("notice.html", &domain, context! { notice => "logout_failed", failed => true });
        }
    };
    if let Err(error) = page.end_session(state).await {
        return page.failed("notice.html", &error, context! { notice => "logout_failed", failed => true });
    }
    match outcome.redirect_to {
        Some(location) => page.redirect(&location),
        None => page.render(StatusCode::OK, "notice.html", context! { notice => "signed_out" }),
    }
}

fn refused(page: PageRequest, reason: LogoutRefused) -> Response {
    let notice = match reason {
        LogoutRefused::BadIdTokenHint => "oidc_bad_hint",
        LogoutRefused::UnknownClient => "oidc_unknown_client",
        LogoutRefused::UnregisteredPostLogoutUri => "oidc_bad_logout_uri",
    };
    page.render(StatusCode::BAD_REQUEST, "notice.html", context! { notice => notice, failed => true })
}
