//! `Debug` output without secrets: manual `Debug` impls of types holding passwords, tokens or
//! codes print these stand-ins instead of the values.

use std::fmt;

/// Printed in place of a secret.
pub const REDACTED: &str = "[redacted]";

/// Stands in for a secret field: `.field("password", &Redacted)`.
pub struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(REDACTED)
    }
}

/// A value that must never be printed: `Debug` shows `[redacted]`, so a struct holding one can
/// derive `Debug` without leaking it. It (de)serialises as the plain string.
#[derive(Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(REDACTED)
    }
}

impl AsRef<str> for Secret {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Reads as the text it holds (`&secret` where a `&str` is wanted); only printing is guarded.
impl std::ops::Deref for Secret {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

/// A secret that may be absent: `None` or `Some([redacted])`, so logs still tell which was sent.
pub fn redacted_option<T>(value: &Option<T>) -> Option<Redacted> {
    value.as_ref().map(|_| Redacted)
}

/// `scheme://host[:port]/path` of a URL: user info and query (where passwords and tokens go)
/// are dropped. Text without `://` is not a URL we can judge and is redacted whole.
pub fn url_without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return REDACTED.to_owned();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.find('/').map_or((rest, ""), |slash| rest.split_at(slash));
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_user_info_and_query() {
        assert_eq!(url_without_credentials("postgres://svc:p%40ss@db:5432/auth?password=x"), "postgres://db:5432/auth");
        assert_eq!(url_without_credentials("sqlite://data/auth.db?mode=rwc"), "sqlite://data/auth.db");
        assert_eq!(url_without_credentials("https://u:p@hooks.example.com"), "https://hooks.example.com");
        assert_eq!(url_without_credentials("not a url with secret"), REDACTED);
    }

    #[test]
    fn optional_secrets_say_only_whether_they_are_set() {
        assert_eq!(format!("{:?}", redacted_option(&Some("hunter2"))), "Some([redacted])");
        assert_eq!(format!("{:?}", redacted_option::<String>(&None)), "None");
    }
}
