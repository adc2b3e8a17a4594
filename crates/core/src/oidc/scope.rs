//! Scopes: space-separated, order-free sets (RFC 6749 §3.3).

use std::collections::BTreeSet;

/// The OpenID Connect scopes this provider knows; clients may be registered for others too
/// (API scopes), which only appear in access tokens.
pub const OPENID: &str = "openid";
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";
pub const OFFLINE_ACCESS: &str = "offline_access";

/// A set of scope tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    /// `None` when a token has characters RFC 6749 §3.3 does not allow.
    pub fn parse(text: &str) -> Option<Self> {
        let mut scopes = BTreeSet::new();
        for token in text.split(' ').filter(|token| !token.is_empty()) {
            if !token.bytes().all(|byte| byte == 0x21 || (0x23..=0x5B).contains(&byte) || (0x5D..=0x7E).contains(&byte))
            {
                return None;
            }
            scopes.insert(token.to_owned());
        }
        Some(Self(scopes))
    }

    pub fn from_list(list: &[String]) -> Self {
        Self(list.iter().cloned().collect())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn to_list(&self) -> Vec<String> {
        self.0.iter().cloned().collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.0.iter().cloned().collect::<Vec<_>>().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_sets() {
        let asked = Scopes::parse("email  openid openid").unwrap();
        assert_eq!(asked.to_string(), "email openid");
        assert!(asked.is_subset_of(&Scopes::parse("openid profile email").unwrap()));
        assert!(!Scopes::parse("openid admin").unwrap().is_subset_of(&asked));
        assert!(Scopes::parse("bad\"quote").is_none());
        assert!(Scopes::parse("").unwrap().is_empty());
    }
}
