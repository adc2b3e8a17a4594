//! Cross-site request defence for every state-changing page request: the form (or the
//! `X-CSRF-Token` header of the pages' own scripts) carries an HMAC of the browser's random id
//! (its `auth_csrf` cookie), and `Origin` (or `Referer`) must be one of the service's own.
//! The token alone is not enough because a sibling subdomain can plant cookies; the origin
//! alone is not enough for browsers that omit it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

#[derive(Clone)]
pub struct Csrf {
    key: [u8; 32],
    origins: Vec<String>,
}

impl std::fmt::Debug for Csrf {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Csrf").field("origins", &self.origins).finish_non_exhaustive()
    }
}

impl Csrf {
    pub fn new(key: [u8; 32], origins: Vec<String>) -> Self {
        Self { key, origins }
    }

    /// A new random browser id.
    pub fn new_browser_id() -> String {
        let bytes: [u8; 32] = rand::random();
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The MAC over `browser_id` (HMAC takes keys of any length, so it always exists).
    fn mac(&self, browser_id: &str) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(b"csrf\0");
        mac.update(browser_id.as_bytes());
        Some(mac)
    }

    /// The token the forms of a page for `browser_id` carry.
    pub fn token(&self, browser_id: &str) -> String {
        self.mac(browser_id).map(|mac| URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())).unwrap_or_default()
    }

    /// True when the request may change something: a token matching the browser's id
    /// (compared in constant time) and, when the browser names one, an origin of ours.
    pub fn allows(&self, browser_id: Option<&str>, presented: Option<&str>, origin: Option<&str>) -> bool {
        let (Some(browser_id), Some(presented)) = (browser_id, presented) else { return false };
        let Ok(presented) = URL_SAFE_NO_PAD.decode(presented.trim()) else { return false };
        let Some(mac) = self.mac(browser_id) else { return false };
        if mac.verify_slice(&presented).is_err() {
            return false;
        }
        origin.is_none_or(|origin| self.origins.iter().any(|own| own == origin))
    }
}

/// The origin a request says it comes from: `Origin`, else the origin part of `Referer`.
pub fn request_origin(headers: &axum::http::HeaderMap) -> Option<String> {
    let header = |name| headers.get(name).and_then(|value: &axum::http::HeaderValue| value.to_str().ok());
    if let Some(origin) = header(axum::http::header::ORIGIN) {
        return Some(origin.to_owned());
    }
    let referer = url::Url::parse(header(axum::http::header::REFERER)?).ok()?;
    Some(referer.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csrf() -> Csrf {
        Csrf::new([7; 32], vec!["https://auth.example.com".into()])
    }

    #[test]
    fn the_token_of_the_browsers_id_from_an_own_origin_is_allowed() {
        let csrf = csrf();
        let token = csrf.token("browser");
        assert!(csrf.allows(Some("browser"), Some(&token), Some("https://auth.example.com")));
        assert!(csrf.allows(Some("browser"), Some(&token), None), "no Origin sent (older browsers)");
    }

    #[test]
    fn a_missing_or_foreign_token_or_origin_is_refused() {
        let csrf = csrf();
        let token = csrf.token("browser");
        assert!(!csrf.allows(Some("browser"), None, None));
        assert!(!csrf.allows(None, Some(&token), None));
        assert!(!csrf.allows(Some("another browser"), Some(&token), None));
        assert!(!csrf.allows(Some("browser"), Some("not-base64!"), None));
        assert!(!csrf.allows(Some("browser"), Some(&token), Some("https://evil.test")));
        assert!(!csrf.allows(Some("browser"), Some(&token), Some("https://app.example.com")), "a sibling");
        let other_key = Csrf::new([8; 32], vec![]);
        assert!(!csrf.allows(Some("browser"), Some(&other_key.token("browser")), None));
    }
}
