//! `/auth/validate` as a sign-in portal for a gateway: the browser session cookie counts as a
//! token, and `?redirect=1` answers a browser without a live session with the way to the login
//! page, back to the URL it asked the gateway for. That URL comes from proxy headers, believed
//! only from `TRUSTED_PROXIES` (anyone else could send the browser anywhere).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use crate::http::state::AppState;

/// The socket peer, and whether it is a trusted proxy.
pub struct Peer {
    pub trusted: bool,
}

impl FromRequestParts<AppState> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(address)| address.ip());
        Ok(Self { trusted: peer.is_some_and(|peer| is_trusted(peer, &state.trusted_proxies)) })
    }
}

fn is_trusted(peer: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|network| network.contains(&peer))
}

/// The URL the browser asked the gateway for: `X-Original-URL` (nginx), or
/// `X-Forwarded-Proto` + `X-Forwarded-Host` + `X-Forwarded-Uri` (Traefik).
pub fn original_url(headers: &HeaderMap, peer: &Peer) -> Option<String> {
    if !peer.trusted {
        return None;
    }
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
    if let Some(url) = header("x-original-url").filter(|url| !url.is_empty()) {
        return Some(url.to_owned());
    }
    let proto = header("x-forwarded-proto").filter(|proto| matches!(*proto, "http" | "https"))?;
    let host = header("x-forwarded-host").filter(|host| !host.is_empty())?;
    let uri = header("x-forwarded-uri").filter(|uri| uri.starts_with('/')).unwrap_or("/");
    Some(format!("{proto}://{host}{uri}"))
}

/// `{PUBLIC_URL}/ui/login?rd=...`, asking for the second factor when `step_up`.
pub fn login_url(public_url: &str, rd: Option<&str>, step_up: bool) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    if let Some(rd) = rd {
        query.append_pair("rd", rd);
    }
    if step_up {
        query.append_pair("aal", "aal2");
    }
    let query = query.finish();
    if query.is_empty() { format!("{public_url}/ui/login") } else { format!("{public_url}/ui/login?{query}") }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_original_url_comes_from_a_trusted_proxy_only() {
        let nginx = headers(&[("x-original-url", "https://app.example.com/reports?q=1")]);
        assert_eq!(
            original_url(&nginx, &Peer { trusted: true }).as_deref(),
            Some("https://app.example.com/reports?q=1")
        );
        assert_eq!(original_url(&nginx, &Peer { trusted: false }), None);
        let traefik = headers(&[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "app.example.com"),
            ("x-forwarded-uri", "/a/b?c=d"),
        ]);
        assert_eq!(original_url(&traefik, &Peer { trusted: true }).as_deref(), Some("https://app.example.com/a/b?c=d"));
        let odd = headers(&[("x-forwarded-proto", "javascript"), ("x-forwarded-host", "x")]);
        assert_eq!(original_url(&odd, &Peer { trusted: true }), None);
    }

    #[test]
    fn the_login_url_carries_the_destination_encoded() {
        assert_eq!(
            login_url("https://auth.example.com", Some("https://app.example.com/a?b=c&d"), true),
            "https://auth.example.com/ui/login?rd=https%3A%2F%2Fapp.example.com%2Fa%3Fb%3Dc%26d&aal=aal2"
        );
        assert_eq!(login_url("http://localhost:9998", None, false), "http://localhost:9998/ui/login");
    }
}
