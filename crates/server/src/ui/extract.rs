//! Extractors of the page handlers: a form whose CSRF token was checked before anything else
//! ran, and the signed-in browser behind a page. They answer refusals with pages themselves,
//! so a handler starts with what it needs.

use auth_core::DomainError;
use auth_core::sessions::AccessClaims;
use axum::Form;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use minijinja::context;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::PageRequest;
use crate::http::state::AppState;

/// A page form's fields with the CSRF token beside them.
#[derive(Debug, Deserialize)]
struct WithCsrf<T> {
    #[serde(default)]
    csrf: Option<String>,
    #[serde(flatten)]
    fields: T,
}

/// A submitted form of this browser's page, from one of our origins (else 403, nothing done).
pub struct PageForm<T> {
    pub page: PageRequest,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for PageForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let Ok(page) = PageRequest::from_request_parts(&mut parts, state).await;
        let request = Request::from_parts(parts, body);
        let Form(WithCsrf { csrf, fields }) =
            Form::<WithCsrf<T>>::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        if !page.csrf_ok(csrf.as_deref()) {
            return Err(forbidden(page));
        }
        Ok(Self { page, form: fields })
    }
}

/// A page form from a signed-in browser: CSRF checked first, then the session (which may
/// renew the access cookie).
pub struct SignedInForm<T> {
    pub page: PageRequest,
    pub claims: AccessClaims,
    pub form: T,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for SignedInForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let PageForm { mut page, form } = PageForm::<T>::from_request(request, state).await?;
        let claims = match signed_in(state, &mut page).await {
            Ok(claims) => claims,
            Err(refusal) => return Err(refusal(page)),
        };
        Ok(Self { page, claims, form })
    }
}

/// A page shown to a signed-in browser; anyone else is sent to sign in, and back here after.
pub struct SignedInPage {
    pub page: PageRequest,
    pub claims: AccessClaims,
}

impl FromRequestParts<AppState> for SignedInPage {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(mut page) = PageRequest::from_request_parts(parts, state).await;
        let claims = match signed_in(state, &mut page).await {
            Ok(claims) => claims,
            Err(refusal) => return Err(refusal(page)),
        };
        Ok(Self { page, claims })
    }
}

type Refusal = Box<dyn FnOnce(PageRequest) -> Response + Send>;

async fn signed_in(state: &AppState, page: &mut PageRequest) -> Result<AccessClaims, Refusal> {
    match page.signed_in(state).await {
        Ok(Some(claims)) => Ok(claims),
        Ok(None) => {
            let back = page.path.clone();
            Err(Box::new(move |page: PageRequest| {
                let query: String =
                    url::form_urlencoded::Serializer::new(String::new()).append_pair("rd", &back).finish();
                page.redirect(&format!("/ui/login?{query}"))
            }))
        }
        Err(error) => Err(Box::new(move |page: PageRequest| unavailable(page, &error))),
    }
}

/// The answer to a state-changing request without this browser's token or from another
/// origin: 403, nothing changed.
pub fn forbidden(page: PageRequest) -> Response {
    page.render(StatusCode::FORBIDDEN, "notice.html", context! { notice => "forbidden", failed => true })
}

/// A dependency failed (503) or something else went wrong, shown as a page.
pub fn unavailable(page: PageRequest, error: &DomainError) -> Response {
    page.failed("notice.html", error, context! { notice => "unavailable", failed => true })
}
