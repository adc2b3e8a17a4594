//! RFC 8707 resource indicators: which APIs an access token is meant for. A client is registered
//! with the resources it may ask for; an authorization may narrow them, and the grant remembers
//! that; each token request may narrow them again. The token's `aud` is the resources chosen, or
//! the client's configured audience when none is asked for.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Client, OAuthError};

/// How many resources one request or one client may name.
pub const MAX_RESOURCES: usize = 20;
const MAX_RESOURCE_BYTES: usize = 2_000;

/// The `aud` claim: one value is written as a string, several as an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience(Vec<String>);

impl Audience {
    pub fn one(value: impl Into<String>) -> Self {
        Self(vec![value.into()])
    }

    pub fn contains(&self, value: &str) -> bool {
        self.0.iter().any(|audience| audience == value)
    }
}

impl Serialize for Audience {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0.as_slice() {
            [single] => serializer.serialize_str(single),
            many => many.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Form::deserialize(deserializer)? {
            Form::One(value) => Self(vec![value]),
            Form::Many(values) => Self(values),
        })
    }
}

/// RFC 8707 §2: an absolute URI without a fragment.
pub fn is_resource_indicator(value: &str) -> bool {
    value.len() <= MAX_RESOURCE_BYTES
        && !value.contains(char::is_whitespace)
        && url::Url::parse(value).is_ok_and(|url| url.fragment().is_none())
}

/// The `resource` parameters of a request, each checked, repetitions dropped.
pub fn requested_resources<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Vec<String>, OAuthError> {
    let mut resources: Vec<String> = Vec::new();
    for value in values {
        if !is_resource_indicator(value) {
            return Err(OAuthError::InvalidTarget);
        }
        if !resources.iter().any(|known| known == value) {
            resources.push(value.to_owned());
        }
    }
    if resources.len() > MAX_RESOURCES {
        return Err(OAuthError::InvalidTarget);
    }
    Ok(resources)
}

impl Client {
    /// Whether an authorization may name these resources: each one registered for the client.
    pub fn may_ask_for(&self, resources: &[String]) -> Result<(), OAuthError> {
        if resources.iter().all(|resource| self.resources.contains(resource)) {
            Ok(())
        } else {
            Err(OAuthError::InvalidTarget)
        }
    }

    /// The `aud` of a token issued under a grant that named `granted` resources (none: any
    /// registered one), for a token request that names `asked`. A resource unregistered since
    /// the grant is no longer given out.
    pub fn audience_for(&self, granted: &[String], asked: &[String]) -> Result<Audience, OAuthError> {
        let allowed =
            |resource: &String| self.resources.contains(resource) && (granted.is_empty() || granted.contains(resource));
        if !asked.is_empty() {
            return if asked.iter().all(allowed) {
                Ok(Audience(asked.to_vec()))
            } else {
                Err(OAuthError::InvalidTarget)
            };
        }
        let still_granted: Vec<String> = granted.iter().filter(|resource| allowed(resource)).cloned().collect();
        if still_granted.is_empty() { Ok(Audience::one(self.audience())) } else { Ok(Audience(still_granted)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const API: &str = "https://api.example.com";
    const BILLING: &str = "https://billing.example.com/v1";

    fn client(resources: &[&str]) -> Client {
        let mut client = Client::for_tests("app");
        client.resources = resources.iter().map(|resource| (*resource).to_owned()).collect();
        client
    }

    fn list(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| (*value).to_owned()).collect()
    }

    #[test]
    fn a_resource_is_an_absolute_uri_without_a_fragment() {
        assert!(is_resource_indicator(API));
        assert!(is_resource_indicator("urn:example:orders"));
        assert!(!is_resource_indicator("api.example.com"));
        assert!(!is_resource_indicator("/relative"));
        assert!(!is_resource_indicator("https://api.example.com/#part"));
        assert!(!is_resource_indicator("https://api.example.com/a b"));
        assert_eq!(requested_resources([API, API, BILLING]).unwrap(), list(&[API, BILLING]));
        assert!(matches!(requested_resources(["nope"]), Err(OAuthError::InvalidTarget)));
    }

    #[test]
    fn without_a_resource_the_token_is_for_the_configured_audience() {
        let mut app = client(&[API]);
        assert_eq!(app.audience_for(&[], &[]).unwrap(), Audience::one("app"));
        app.audience = Some("orders".into());
        assert_eq!(app.audience_for(&[], &[]).unwrap(), Audience::one("orders"));
    }

    #[test]
    fn only_registered_resources_within_the_grant_are_given_out() {
        let app = client(&[API, BILLING]);
        assert!(app.may_ask_for(&list(&[API])).is_ok());
        assert!(matches!(app.may_ask_for(&list(&["https://evil.example"])), Err(OAuthError::InvalidTarget)));
        // A grant that named no resource allows any registered one.
        assert_eq!(app.audience_for(&[], &list(&[BILLING])).unwrap(), Audience(list(&[BILLING])));
        // A grant for one resource gives tokens for it by default, and never for another.
        let granted = list(&[API]);
        assert_eq!(app.audience_for(&granted, &[]).unwrap(), Audience(list(&[API])));
        assert!(matches!(app.audience_for(&granted, &list(&[BILLING])), Err(OAuthError::InvalidTarget)));
        // A resource unregistered since the grant is not given out any more.
        let narrowed = client(&[BILLING]);
        assert!(matches!(narrowed.audience_for(&granted, &list(&[API])), Err(OAuthError::InvalidTarget)));
        assert_eq!(narrowed.audience_for(&granted, &[]).unwrap(), Audience::one("app"));
    }

    #[test]
    fn one_audience_is_a_string_several_an_array() {
        assert_eq!(serde_json::to_string(&Audience::one(API)).unwrap(), format!("\"{API}\""));
        let two = Audience(list(&[API, BILLING]));
        let json = serde_json::to_string(&two).unwrap();
        assert!(json.starts_with('['));
        assert_eq!(serde_json::from_str::<Audience>(&json).unwrap(), two);
        assert_eq!(serde_json::from_str::<Audience>("\"x\"").unwrap(), Audience::one("x"));
    }
}
