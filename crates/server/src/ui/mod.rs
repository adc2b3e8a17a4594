//! The hosted pages under `/ui/`: sign-in (password, passkey, second factor), registration,
//! email confirmation, password reset and the account, server-rendered in English and Russian.
//! Signing in here sets only HttpOnly cookies ([`cookies`]); every state-changing request is
//! checked by [`csrf`]; where the browser goes afterwards is decided by core's
//! [`Destinations`]. Handlers call the same services as the JSON API, so the rules (cool-off,
//! rate limits, rotation, revocation) are the same.

pub mod cookies;
pub mod csrf;
mod extract;
pub mod i18n;
pub mod pages;
pub mod portal;
mod templates;

use std::sync::Arc;

use auth_core::DomainError;
use auth_core::sessions::destination::Destinations;
use auth_core::sessions::{AccessClaims, TokenPair};
use axum::Router;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use cookie::Cookie;
use serde::Deserialize;

use self::cookies::CookiePolicy;
use self::csrf::Csrf;
use self::i18n::{Lang, Messages};
use crate::http::state::AppState;

/// What the pages need besides the services, built once at start-up.
pub struct Ui {
    pub title: String,
    pub public_url: String,
    pub cookies: CookiePolicy,
    pub csrf: Csrf,
    pub destinations: Destinations,
    providers: Vec<(String, String)>,
    messages: Messages,
    templates: minijinja::Environment<'static>,
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Ui").field("title", &self.title).field("public_url", &self.public_url).finish()
    }
}

/// The settings the pages are built from.
pub struct UiSettings {
    pub title: String,
    pub public_url: String,
    pub cookie_domain: Option<String>,
    pub allowed_redirects: Vec<String>,
    /// Origins a form may be posted from: `PUBLIC_URL`'s and the WebAuthn origins.
    pub origins: Vec<String>,
    pub csrf_key: [u8; 32],
    /// The configured sign-in providers, `(name, display name)`: one button each.
    pub providers: Vec<(String, String)>,
}

impl Ui {
    pub fn new(settings: UiSettings) -> anyhow::Result<Self> {
        let destinations =
            Destinations::new(&settings.public_url, settings.cookie_domain.as_deref(), &settings.allowed_redirects)
                .ok_or_else(|| anyhow::anyhow!("PUBLIC_URL is not an absolute URL"))?;
        let mut origins = vec![destinations.own_origin()];
        origins.extend(settings.origins);
        Ok(Self {
            title: settings.title,
            cookies: CookiePolicy {
                secure: settings.public_url.starts_with("https://"),
                domain: settings.cookie_domain.filter(|domain| !domain.trim().is_empty()),
            },
            csrf: Csrf::new(settings.csrf_key, origins),
            public_url: settings.public_url,
            destinations,
            providers: settings.providers,
            messages: Messages::load().map_err(|error| anyhow::anyhow!(error))?,
            templates: templates::environment()?,
        })
    }

    /// Where to go after signing in: `rd` when allowed, else the account page.
    pub fn destination(&self, rd: Option<&str>) -> String {
        rd.and_then(|rd| self.destinations.accept(rd)).unwrap_or_else(|| format!("{}/ui/account", self.public_url))
    }
}

/// The pages' routes (the public POSTs, which spend the per-client budget, and the rest);
/// none when `UI_ENABLED=false`.
pub fn routes(enabled: bool) -> (Router<AppState>, Router<AppState>) {
    if enabled { pages::routes() } else { (Router::new(), Router::new()) }
}

#[derive(Debug, Deserialize)]
struct LangQuery {
    lang: Option<String>,
}

/// One page request: its language, the browser's CSRF id, the cookies it sent, and the
/// cookies the answer must set.
pub struct PageRequest {
    pub ui: Arc<Ui>,
    pub lang: Lang,
    pub headers: HeaderMap,
    browser_id: String,
    set: Vec<Cookie<'static>>,
    /// This page in each language: its path and query, `lang` replaced.
    lang_links: Vec<(&'static str, String)>,
    /// Where to come back to after signing in: this page (a GET), else the account.
    pub path: String,
}

impl FromRequestParts<AppState> for PageRequest {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ui = state.ui.clone();
        let query = Query::<LangQuery>::try_from_uri(&parts.uri).map(|Query(query)| query).ok();
        let chosen = query.and_then(|query| query.lang).and_then(|lang| Lang::parse(&lang));
        let remembered = cookies::read(&parts.headers, cookies::LANG);
        let accept = parts.headers.get(header::ACCEPT_LANGUAGE).and_then(|value| value.to_str().ok());
        let lang = Lang::negotiate(chosen.map(Lang::code), remembered.as_deref(), accept);
        let mut set = Vec::new();
        if let Some(chosen) = chosen {
            set.push(ui.cookies.lang(chosen.code()));
        }
        let browser_id = match cookies::read(&parts.headers, cookies::CSRF) {
            Some(id) if id.len() <= 64 => id,
            _ => {
                let id = Csrf::new_browser_id();
                set.push(ui.cookies.csrf(&id));
                id
            }
        };
        let lang_links = Lang::ALL.iter().map(|lang| (lang.code(), same_page_in(&parts.uri, *lang))).collect();
        let path = match (&parts.method, parts.uri.path_and_query()) {
            (&axum::http::Method::GET, Some(path)) => path.as_str().to_owned(),
            _ => "/ui/account".to_owned(),
        };
        Ok(Self { ui, lang, headers: parts.headers.clone(), browser_id, set, lang_links, path })
    }
}

impl PageRequest {
    pub fn cookie(&self, name: &str) -> Option<String> {
        cookies::read(&self.headers, name)
    }

    pub fn set_cookie(&mut self, cookie: Cookie<'static>) {
        self.set.push(cookie);
    }

    pub fn sign_in(&mut self, pair: &TokenPair) {
        let session = self.ui.cookies.session(pair);
        self.set.extend(session);
    }

    /// Ends the browser's own session (revoked like any other; a token already dead is fine)
    /// and clears its cookies.
    pub async fn end_session(&mut self, state: &AppState) -> Result<(), DomainError> {
        let token = self.cookie(cookies::REFRESH).or_else(|| self.cookie(cookies::ACCESS));
        if let Some(token) = token
            && let Err(error) = state.sessions.logout(&token).await
            && !matches!(error, DomainError::InvalidToken | DomainError::TokenExpired)
        {
            return Err(error);
        }
        self.sign_out();
        Ok(())
    }

    pub fn sign_out(&mut self) {
        let cleared = self.ui.cookies.signed_out();
        self.set.extend(cleared);
    }

    /// Whether a state-changing request carries this browser's token from one of our origins.
    pub fn csrf_ok(&self, presented: Option<&str>) -> bool {
        let presented = presented.or_else(|| self.headers.get("x-csrf-token").and_then(|value| value.to_str().ok()));
        let sent_id = self.cookie(cookies::CSRF);
        self.ui.csrf.allows(sent_id.as_deref(), presented, csrf::request_origin(&self.headers).as_deref())
    }

    /// The page `template` with `context`, the common values added (language, title, token).
    pub fn render(self, status: StatusCode, template: &str, context: minijinja::Value) -> Response {
        let catalog = self.ui.messages.catalog(self.lang);
        let translate = minijinja::Value::from_function(move |key: &str| i18n::lookup(&catalog, key));
        let common = minijinja::context! {
            lang => self.lang.code(),
            langs => self.lang_links.clone(),
            title => self.ui.title.clone(),
            csrf => self.ui.csrf.token(&self.browser_id),
            providers => self.ui.providers.clone(),
            t => translate,
        };
        let rendered = self
            .ui
            .templates
            .get_template(template)
            .and_then(|page| page.render(minijinja::context! { ..context, ..common }));
        let mut response = match rendered {
            Ok(html) => (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html)
                .into_response(),
            Err(error) => {
                tracing::error!(%error, template, "page did not render");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            }
        };
        secure_page_headers(response.headers_mut());
        cookies::attach(&mut response, &self.set);
        response
    }

    /// A JSON answer for the pages' script, with the cookies this request set.
    pub fn json(self, body: serde_json::Value) -> Response {
        let mut response = axum::Json(body).into_response();
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        cookies::attach(&mut response, &self.set);
        response
    }

    /// `303 See Other` to `location` (after a form: the browser GETs it).
    pub fn redirect(self, location: &str) -> Response {
        let mut response = Redirect::to(location).into_response();
        cookies::attach(&mut response, &self.set);
        response
    }

    /// A form that failed: the same page again with the error's message and status.
    pub fn failed(self, template: &str, error: &DomainError, context: minijinja::Value) -> Response {
        let (status, code) = crate::http::error::page_status(error);
        if status.is_server_error() {
            tracing::warn!(%error, "page request failed on a dependency");
        }
        let context = minijinja::context! { error => format!("errors.{code}"), ..context };
        self.render(status, template, context)
    }

    /// The signed-in user, renewing an expired access cookie with the refresh cookie (a
    /// rotation, with the usual reuse rules). `None`: not signed in (stale cookies are cleared).
    pub async fn signed_in(&mut self, state: &AppState) -> Result<Option<AccessClaims>, DomainError> {
        if let Some(access) = self.cookie(cookies::ACCESS)
            && let Ok(claims) = state.sessions.authenticate(&access)
        {
            return Ok(Some(claims));
        }
        let Some(refresh) = self.cookie(cookies::REFRESH) else { return Ok(None) };
        match state.sessions.refresh(&refresh).await {
            Ok(pair) => {
                let claims = state.sessions.authenticate(&pair.access_token)?;
                self.sign_in(&pair);
                Ok(Some(claims))
            }
            Err(error @ (DomainError::Unavailable(_) | DomainError::Overloaded | DomainError::Internal(_))) => {
                Err(error)
            }
            Err(_) => {
                self.sign_out();
                Ok(None)
            }
        }
    }
}

/// `uri` with `lang=` set to `lang`, the other query parameters (a token, `rd`) kept.
fn same_page_in(uri: &axum::http::Uri, lang: Lang) -> String {
    let kept = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(name, _)| name != "lang")
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect::<Vec<_>>();
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(kept);
    query.append_pair("lang", lang.code());
    format!("{}?{}", uri.path(), query.finish())
}

/// The per-client budget of the JSON API, on the pages' public forms: over it, a page that
/// says so (429, `Retry-After`), and the form is not run.
pub async fn limit_per_client(
    axum::extract::State(state): axum::extract::State<AppState>,
    address: crate::http::extract::ClientAddress,
    page: PageRequest,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use crate::http::limits::{add_rate_limit_headers, seconds, spend_client_budget};
    let Some(decision) = spend_client_budget(&state, address).await else { return next.run(request).await };
    let mut response = if decision.allowed {
        next.run(request).await
    } else {
        let error = DomainError::RateLimited { retry_after_seconds: seconds(decision.retry_after) };
        let mut response =
            page.failed("notice.html", &error, minijinja::context! { notice => "slow_down", failed => true });
        if let Ok(value) = HeaderValue::from_str(&seconds(decision.retry_after).to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    };
    add_rate_limit_headers(response.headers_mut(), &decision);
    response
}

/// The pages are never framed (clickjacking), never cached, and run only our own script.
fn secure_page_headers(headers: &mut HeaderMap) {
    let pairs = [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'; connect-src 'self'",
        ),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in pairs {
        headers.insert(name, HeaderValue::from_static(value));
    }
}
