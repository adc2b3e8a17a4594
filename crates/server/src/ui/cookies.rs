//! The browser session's cookies. Only HttpOnly cookies hold anything secret: a script on a
//! page (ours or an app's under `COOKIE_DOMAIN`) can read no token.
//!
//! - `auth_access`: the access token, `Path=/`, scoped to `COOKIE_DOMAIN` when set, so the
//!   gateway's `/auth/validate` sees it on every app (validated without a database call).
//! - `auth_refresh`: the refresh token, host-only and `Path=/ui`: only the pages rotate it.
//! - `auth_mfa`: the `mfa_token` between the password and the second factor, `Path=/ui`.
//! - `auth_csrf`: the browser's random id the forms' tokens are bound to.
//! - `auth_lang`: the remembered language (not secret, still HttpOnly: no script needs it).

use auth_core::sessions::TokenPair;
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use cookie::time::Duration as CookieDuration;
use cookie::{Cookie, SameSite};

pub const ACCESS: &str = "auth_access";
pub const REFRESH: &str = "auth_refresh";
pub const MFA: &str = "auth_mfa";
pub const CSRF: &str = "auth_csrf";
pub const LANG: &str = "auth_lang";

const YEAR_SECONDS: i64 = 365 * 24 * 3600;
/// The `mfa_token` lives five minutes; its cookie no longer.
const MFA_SECONDS: i64 = 300;

/// How the cookies are scoped.
#[derive(Debug, Clone)]
pub struct CookiePolicy {
    /// `Secure`, when `PUBLIC_URL` is https.
    pub secure: bool,
    /// `COOKIE_DOMAIN`, for the access cookie only.
    pub domain: Option<String>,
}

impl CookiePolicy {
    fn cookie(&self, name: &'static str, value: String, path: &'static str, max_age: i64) -> Cookie<'static> {
        let mut cookie = Cookie::build((name, value))
            .path(path)
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(CookieDuration::seconds(max_age.max(0)))
            .build();
        if name == ACCESS
            && let Some(domain) = &self.domain
        {
            cookie.set_domain(domain.clone());
        }
        cookie
    }

    /// The two cookies of a signed-in browser.
    pub fn session(&self, pair: &TokenPair) -> Vec<Cookie<'static>> {
        vec![
            self.cookie(ACCESS, pair.access_token.clone(), "/", pair.expires_in),
            self.cookie(REFRESH, pair.refresh_token.clone(), "/ui", pair.refresh_expires_in),
            self.cookie(MFA, String::new(), "/ui", 0),
        ]
    }

    /// Cookies that end the browser session.
    pub fn signed_out(&self) -> Vec<Cookie<'static>> {
        vec![
            self.cookie(ACCESS, String::new(), "/", 0),
            self.cookie(REFRESH, String::new(), "/ui", 0),
            self.cookie(MFA, String::new(), "/ui", 0),
        ]
    }

    pub fn mfa_pending(&self, mfa_token: &str) -> Cookie<'static> {
        self.cookie(MFA, mfa_token.to_owned(), "/ui", MFA_SECONDS)
    }

    pub fn csrf(&self, browser_id: &str) -> Cookie<'static> {
        self.cookie(CSRF, browser_id.to_owned(), "/ui", YEAR_SECONDS)
    }

    /// A short-lived marker or binding on another path (the provider round trip).
    pub fn scoped(&self, name: &'static str, value: &str, path: &'static str, max_age: i64) -> Cookie<'static> {
        self.cookie(name, value.to_owned(), path, max_age)
    }

    pub fn lang(&self, code: &str) -> Cookie<'static> {
        self.cookie(LANG, code.to_owned(), "/ui", YEAR_SECONDS)
    }
}

/// The value of cookie `name` in the request, if sent.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|cookie| cookie.name() == name && !cookie.value().is_empty())
        .map(|cookie| cookie.value().to_owned())
}

/// Adds `Set-Cookie` headers to a response.
pub fn attach(response: &mut Response, cookies: &[Cookie<'static>]) {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> TokenPair {
        TokenPair { access_token: "a".into(), refresh_token: "r".into(), expires_in: 900, refresh_expires_in: 86400 }
    }

    #[test]
    fn session_cookies_are_http_only_lax_and_scoped() {
        let policy = CookiePolicy { secure: true, domain: Some(".example.com".into()) };
        let cookies: Vec<String> = policy.session(&pair()).iter().map(ToString::to_string).collect();
        assert!(
            cookies[0].contains("HttpOnly") && cookies[0].contains("Secure") && cookies[0].contains("SameSite=Lax")
        );
        assert!(cookies[0].contains("Domain=example.com") && cookies[0].contains("Path=/;"), "{}", cookies[0]);
        assert!(
            cookies[1].contains("Path=/ui") && !cookies[1].contains("Domain"),
            "refresh is host-only: {}",
            cookies[1]
        );
        let plain = CookiePolicy { secure: false, domain: None };
        assert!(!plain.session(&pair())[0].to_string().contains("Secure"));
    }

    #[test]
    fn a_cookie_is_read_from_any_cookie_header() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("other=1; auth_access=token"));
        headers.append(COOKIE, HeaderValue::from_static("auth_lang=ru"));
        assert_eq!(read(&headers, ACCESS).as_deref(), Some("token"));
        assert_eq!(read(&headers, LANG).as_deref(), Some("ru"));
        assert_eq!(read(&headers, REFRESH), None);
    }
}
