//! Extractors that turn raw requests into typed input, failing in our own problem format.

use std::net::{IpAddr, SocketAddr};

use auth_core::DomainError;
use auth_core::sessions::AccessClaims;
use axum::extract::rejection::{FormRejection, JsonRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use ipnet::IpNet;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::state::AppState;

/// JSON body whose rejections are problem JSON: not JSON at all is 400 `malformed_request`,
/// JSON of the wrong shape is 422 `validation_failed`, too large is 413.
pub struct AppJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for AppJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

pub fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(error) => {
            let message = error.body_text();
            let field = field_of(&message);
            ApiError::Domain(DomainError::invalid_field(&field, describe_data_error(&message)))
        }
        JsonRejection::JsonSyntaxError(_) => ApiError::MalformedRequest("The request body is not valid JSON.".into()),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::MalformedRequest("Send the body as JSON with Content-Type: application/json.".into())
        }
        JsonRejection::BytesRejection(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge
        }
        _ => ApiError::MalformedRequest("The request body could not be read.".into()),
    }
}

pub fn form_rejection(rejection: FormRejection) -> ApiError {
    match rejection {
        FormRejection::BytesRejection(error) if error.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge
        }
        FormRejection::FailedToDeserializeFormBody(_) => {
            ApiError::Domain(DomainError::invalid_field("body", "missing or invalid form fields"))
        }
        _ => ApiError::MalformedRequest("The form body could not be read.".into()),
    }
}

/// serde_path_to_error messages start with the path: `password: invalid type ...` or
/// `missing field `email``.
fn field_of(message: &str) -> String {
    let detail = message.split_once(": ").map_or(message, |(_, rest)| rest);
    if let Some(start) = detail.find("missing field `") {
        let rest = &detail[start + "missing field `".len()..];
        return rest.split('`').next().unwrap_or("body").to_owned();
    }
    match detail.split_once(": ") {
        Some((path, _)) if !path.contains(' ') && path != "." => path.to_owned(),
        _ => "body".to_owned(),
    }
}

fn describe_data_error(message: &str) -> String {
    if message.contains("missing field") {
        "is required".to_owned()
    } else if message.contains("invalid type") {
        "has the wrong type".to_owned()
    } else {
        "is not valid".to_owned()
    }
}

/// The bearer token of the `Authorization` header, if any.
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|token| !token.is_empty())
}

/// A signed-in user: a valid, unrevoked access token.
pub struct AuthUser(pub AccessClaims);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(ApiError::Domain(DomainError::InvalidToken))?;
        Ok(Self(state.sessions.authenticate(token)?))
    }
}

/// A signed-in administrator.
pub struct AdminUser(pub AccessClaims);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or(ApiError::Domain(DomainError::InvalidToken))?;
        Ok(Self(state.sessions.authorize_admin(token)?))
    }
}

/// The client's address: the socket peer, unless the peer is a trusted proxy, in which case
/// the right-most untrusted hop of `X-Forwarded-For` (or `Forwarded`).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(address)| address.ip());
        Ok(Self(peer.map(|peer| client_address(peer, &parts.headers, &state.trusted_proxies))))
    }
}

pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|network| network.contains(address));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut hops: Vec<IpAddr> = forwarded_for(headers);
    // Walk from the nearest hop back; the first address we do not trust is the client.
    while let Some(hop) = hops.pop() {
        if !is_trusted(&hop) {
            return hop;
        }
    }
    peer
}

/// Addresses listed by `X-Forwarded-For`, or else by `Forwarded` (RFC 7239), in order.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let x_forwarded_for: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|hop| hop.trim().parse().ok())
        .collect();
    if !x_forwarded_for.is_empty() {
        return x_forwarded_for;
    }
    headers
        .get_all(header::FORWARDED)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .flat_map(|element| element.split(';'))
        .filter_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            if !key.eq_ignore_ascii_case("for") {
                return None;
            }
            let value = value.trim_matches('"');
            let host = match value.strip_prefix('[') {
                Some(bracketed) => bracketed.split(']').next()?,
                None => value.split(':').next()?,
            };
            host.parse().ok()
        })
        .collect()
}

/// The `User-Agent` header as text.
pub fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers.get(header::USER_AGENT).and_then(|value| value.to_str().ok()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn trusted() -> Vec<IpNet> {
        vec!["10.0.0.0/8".parse().unwrap()]
    }

    #[test]
    fn a_forged_header_from_an_untrusted_peer_changes_nothing() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!(client_address(peer, &headers, &trusted()), peer);
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 198.51.100.7, 10.1.1.1"));
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(client_address(peer, &headers, &trusted()), "198.51.100.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn forwarded_header_is_understood() {
        let mut headers = HeaderMap::new();
        headers.insert(header::FORWARDED, HeaderValue::from_static("for=\"[2001:db8::1]:4711\";proto=https"));
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(client_address(peer, &headers, &trusted()), "2001:db8::1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn json_error_paths_name_the_field() {
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: missing field `email` at line 1"),
            "email"
        );
        assert_eq!(
            field_of("Failed to deserialize the JSON body into the target type: password: invalid type: integer `5`"),
            "password"
        );
    }
}
