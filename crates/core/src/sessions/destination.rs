//! Where a browser may be sent after signing in (`rd`): the service's own origin, a host under
//! `COOKIE_DOMAIN` (the apps the browser session covers), or an exact `ALLOWED_REDIRECT_URLS`
//! entry. Anything else is an open redirect, and falls back to the account page.

use url::{Host, Url};

/// The allow-list of browser destinations.
#[derive(Debug, Clone)]
pub struct Destinations {
    own: Url,
    /// Lower case, without the leading dot.
    cookie_domain: Option<String>,
    allowed: Vec<String>,
}

impl Destinations {
    /// `public_url` must be an absolute http(s) URL (settings validation makes sure).
    pub fn new(public_url: &str, cookie_domain: Option<&str>, allowed: &[String]) -> Option<Self> {
        let own = Url::parse(public_url).ok()?;
        let cookie_domain = cookie_domain
            .map(|domain| domain.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|domain| !domain.is_empty());
        Some(Self { own, cookie_domain, allowed: allowed.iter().filter(|url| !url.is_empty()).cloned().collect() })
    }

    /// The absolute URL to send the browser to, if `target` is allowed. A path (`/ui/account`)
    /// is on the service's own origin; `//host` and `\`-tricks are refused before parsing, as
    /// browsers read them as other hosts.
    pub fn accept(&self, target: &str) -> Option<String> {
        let target = target.trim();
        if target.is_empty() || target.len() > 2048 || target.chars().any(|c| c.is_control() || c == '\\') {
            return None;
        }
        if self.allowed.iter().any(|allowed| allowed == target) {
            return Some(target.to_owned());
        }
        let url = if target.starts_with('/') {
            if target.starts_with("//") {
                return None;
            }
            self.own.join(target).ok()?
        } else {
            Url::parse(target).ok()?
        };
        if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let same_origin = url.origin() == self.own.origin();
        (same_origin || self.under_cookie_domain(&url)).then(|| url.to_string())
    }

    /// A host under the cookie domain, on https (or on http when the service itself is).
    fn under_cookie_domain(&self, url: &Url) -> bool {
        let (Some(domain), Some(Host::Domain(host))) = (&self.cookie_domain, url.host()) else { return false };
        let scheme_ok = url.scheme() == "https" || self.own.scheme() == "http";
        let host = host.to_ascii_lowercase();
        scheme_ok && (host == *domain || host.ends_with(&format!(".{domain}")))
    }

    /// The service's own origin, `scheme://host[:port]`.
    pub fn own_origin(&self) -> String {
        self.own.origin().ascii_serialization()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destinations() -> Destinations {
        Destinations::new("https://auth.example.com", Some(".example.com"), &["https://partner.test/back".into()])
            .unwrap()
    }

    #[test]
    fn own_origin_paths_and_cookie_domain_hosts_are_accepted() {
        let rules = destinations();
        assert_eq!(rules.accept("/ui/account").as_deref(), Some("https://auth.example.com/ui/account"));
        assert_eq!(rules.accept("https://auth.example.com/x?y=1").as_deref(), Some("https://auth.example.com/x?y=1"));
        assert_eq!(rules.accept("https://app.example.com/a").as_deref(), Some("https://app.example.com/a"));
        assert_eq!(rules.accept("https://example.com/").as_deref(), Some("https://example.com/"));
        assert_eq!(rules.accept("https://partner.test/back").as_deref(), Some("https://partner.test/back"));
    }

    #[test]
    fn everything_else_is_refused() {
        let rules = destinations();
        for target in [
            "",
            "//evil.test/",
            "/\\evil.test",
            "https://evil.test/",
            "https://example.com.evil.test/",
            "https://evilexample.com/",
            "http://app.example.com/",
            "javascript:alert(1)",
            "https://user@app.example.com/",
            "https://partner.test/back/more",
            "ftp://auth.example.com/",
            "/ui/\naccount",
        ] {
            assert_eq!(rules.accept(target), None, "{target:?}");
        }
    }

    #[test]
    fn without_a_cookie_domain_only_the_own_origin_is_accepted() {
        let rules = Destinations::new("http://localhost:9998", None, &[]).unwrap();
        assert!(rules.accept("http://localhost:9998/ui/account").is_some());
        assert!(rules.accept("http://app.localhost:9998/").is_none());
        assert_eq!(rules.own_origin(), "http://localhost:9998");
    }
}
