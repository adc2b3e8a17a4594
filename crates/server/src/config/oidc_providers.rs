//! `OIDC_PROVIDERS=corp,gitlab`: further OpenID Connect providers, each configured by
//! `OIDC_<NAME>_*` variables. clap cannot declare variables whose names come from another
//! variable, so these are read after parsing, by `Settings::load_oidc_providers`.

use anyhow::{Context, bail};
use jsonwebtoken::Algorithm;

use super::{Secret, Settings};
use crate::providers::{ClientAuthentication, signing_algorithm};

/// Names the built-in adapters own: a configured provider cannot take their path.
pub const BUILT_IN_PROVIDERS: &[&str] = &["google", "vk", "facebook", "yandex", "telegram", "github", "apple"];
pub const DEFAULT_OIDC_SCOPES: &str = "openid email profile";
const MAX_PROVIDER_NAME_LENGTH: usize = 32;

/// One provider named in `OIDC_PROVIDERS`.
#[derive(Clone, Debug)]
pub struct OidcProviderSettings {
    /// Its path segment (`/auth/oauth/{name}/…`) and the `provider` of its identities.
    pub name: String,
    pub display_name: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub scopes: String,
    /// Whether its `email_verified` is enough to link to an existing account with that address.
    pub trust_email: bool,
    pub client_authentication: ClientAuthentication,
    pub id_token_algorithms: Vec<Algorithm>,
}

impl OidcProviderSettings {
    /// The settings of `name` from `OIDC_<NAME>_*`, where `<NAME>` is upper case with `-` as `_`.
    pub fn from_variables(name: &str, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let prefix = format!("OIDC_{}_", name.to_ascii_uppercase().replace('-', "_"));
        let value = |key: &str| lookup(&format!("{prefix}{key}")).map(|value| value.trim().to_owned());
        let required = |key: &str| {
            value(key)
                .filter(|value| !value.is_empty())
                .with_context(|| format!("OIDC_PROVIDERS lists {name:?} but {prefix}{key} is not set"))
        };
        let trust_email = match value("TRUST_EMAIL").as_deref() {
            None | Some("" | "false") => false,
            Some("true") => true,
            Some(other) => bail!("{prefix}TRUST_EMAIL must be true or false, not {other:?}"),
        };
        let method = value("TOKEN_AUTH_METHOD").filter(|value| !value.is_empty());
        let client_authentication = match method.as_deref() {
            None => ClientAuthentication::Basic,
            Some(method) => ClientAuthentication::parse(method).with_context(|| {
                format!("{prefix}TOKEN_AUTH_METHOD must be client_secret_basic or client_secret_post, not {method:?}")
            })?,
        };
        let algorithms = value("ID_TOKEN_ALGORITHMS").filter(|value| !value.is_empty());
        let id_token_algorithms = algorithms
            .as_deref()
            .unwrap_or("RS256")
            .split(',')
            .map(|algorithm| {
                signing_algorithm(algorithm).with_context(|| {
                    format!("{prefix}ID_TOKEN_ALGORITHMS: {algorithm:?} is not an asymmetric JWS algorithm")
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        Ok(Self {
            name: name.to_owned(),
            display_name: value("DISPLAY_NAME").filter(|value| !value.is_empty()).unwrap_or_else(|| name.to_owned()),
            issuer: required("ISSUER")?,
            client_id: required("CLIENT_ID")?,
            client_secret: Secret::new(required("CLIENT_SECRET")?),
            scopes: value("SCOPES").filter(|value| !value.is_empty()).unwrap_or_else(|| DEFAULT_OIDC_SCOPES.to_owned()),
            trust_email,
            client_authentication,
            id_token_algorithms,
        })
    }
}

impl Settings {
    /// Reads the `OIDC_<NAME>_*` variables of every name in `OIDC_PROVIDERS`.
    pub fn load_oidc_providers(&mut self, lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        let names: Vec<String> =
            self.oidc_providers.iter().map(|name| name.trim().to_owned()).filter(|name| !name.is_empty()).collect();
        for name in names {
            check_name(&name)?;
            let provider = OidcProviderSettings::from_variables(&name, &lookup)?;
            self.oidc_provider_settings.push(provider);
        }
        Ok(())
    }

    pub(super) fn validate_oidc_providers(&self) -> anyhow::Result<()> {
        let mut seen = std::collections::HashSet::new();
        for provider in &self.oidc_provider_settings {
            check_name(&provider.name)?;
            if !seen.insert(provider.name.as_str()) {
                bail!("OIDC_PROVIDERS lists {:?} twice", provider.name);
            }
            if !provider.scopes.split_whitespace().any(|scope| scope == "openid") {
                bail!("the scopes of OIDC provider {:?} must include openid", provider.name);
            }
            let issuer = reqwest::Url::parse(&provider.issuer)
                .with_context(|| format!("the issuer of OIDC provider {:?} is not a URL", provider.name))?;
            if !matches!(issuer.scheme(), "https" | "http") || issuer.query().is_some() || issuer.fragment().is_some() {
                bail!("the issuer of OIDC provider {:?} must be an http(s) URL without query", provider.name);
            }
            if provider.id_token_algorithms.is_empty() {
                bail!("OIDC provider {:?} needs at least one ID-token algorithm", provider.name);
            }
        }
        Ok(())
    }
}

/// A name is a path segment and a variable-name part: `[a-z0-9-]`, not a built-in provider's.
fn check_name(name: &str) -> anyhow::Result<()> {
    let well_formed = !name.is_empty()
        && name.len() <= MAX_PROVIDER_NAME_LENGTH
        && name.bytes().all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && !name.starts_with('-');
    if !well_formed {
        bail!("OIDC_PROVIDERS: {name:?} must be 1 to {MAX_PROVIDER_NAME_LENGTH} characters of a-z, 0-9 and -");
    }
    if BUILT_IN_PROVIDERS.contains(&name) {
        bail!("OIDC_PROVIDERS: {name:?} is a built-in provider; configure it by its own variables");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn variables(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone())
    }

    fn load(names: &[&str], pairs: &[(&str, &str)]) -> anyhow::Result<Settings> {
        let mut settings =
            Settings { oidc_providers: names.iter().map(|name| (*name).to_owned()).collect(), ..Settings::default() };
        settings.load_oidc_providers(variables(pairs))?;
        settings.validate()?;
        Ok(settings)
    }

    const CORP: &[(&str, &str)] = &[
        ("OIDC_CORP_ISSUER", "https://id.corp.example"),
        ("OIDC_CORP_CLIENT_ID", "auth"),
        ("OIDC_CORP_CLIENT_SECRET", "s3cret"),
        ("OIDC_MY_IDP_ISSUER", "https://idp.example/realms/main"),
        ("OIDC_MY_IDP_CLIENT_ID", "auth"),
        ("OIDC_MY_IDP_CLIENT_SECRET", "s3cret"),
        ("OIDC_MY_IDP_DISPLAY_NAME", "My IdP"),
        ("OIDC_MY_IDP_SCOPES", "openid email"),
        ("OIDC_MY_IDP_TRUST_EMAIL", "true"),
        ("OIDC_MY_IDP_TOKEN_AUTH_METHOD", "client_secret_post"),
        ("OIDC_MY_IDP_ID_TOKEN_ALGORITHMS", "ES256,EdDSA"),
    ];

    #[test]
    fn defaults_and_every_variable_are_read() {
        let settings = load(&["corp", "my-idp"], CORP).unwrap();
        let [corp, idp] = settings.oidc_provider_settings.as_slice() else { panic!("two providers") };
        assert_eq!((corp.display_name.as_str(), corp.scopes.as_str()), ("corp", DEFAULT_OIDC_SCOPES));
        assert!(!corp.trust_email);
        assert_eq!(corp.client_authentication, ClientAuthentication::Basic);
        assert_eq!(corp.id_token_algorithms, vec![Algorithm::RS256]);
        assert_eq!((idp.display_name.as_str(), idp.scopes.as_str()), ("My IdP", "openid email"));
        assert!(idp.trust_email);
        assert_eq!(idp.client_authentication, ClientAuthentication::Post);
        assert_eq!(idp.id_token_algorithms, vec![Algorithm::ES256, Algorithm::EdDSA]);
        assert!(!format!("{settings:?}").contains("s3cret"));
    }

    #[test]
    fn a_listed_provider_without_its_settings_refuses_to_start() {
        let error = load(&["corp"], &CORP[..2]).unwrap_err().to_string();
        assert!(error.contains("OIDC_CORP_CLIENT_SECRET"), "{error}");
        let error = load(&["gitlab"], CORP).unwrap_err().to_string();
        assert!(error.contains("OIDC_GITLAB_ISSUER"), "{error}");
    }

    /// Listed names, variables that override the good ones, and what the error must name.
    type Refusal<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

    #[test]
    fn bad_names_and_values_are_refused_with_the_variable_named() {
        let refused: &[Refusal] = &[
            (&["Corp"], CORP, "a-z"),
            (&["corp/x"], CORP, "a-z"),
            (&["google"], CORP, "built-in"),
            (&["corp", "corp"], CORP, "twice"),
            (&["corp"], &[("OIDC_CORP_TRUST_EMAIL", "yes")], "OIDC_CORP_TRUST_EMAIL"),
            (&["corp"], &[("OIDC_CORP_ID_TOKEN_ALGORITHMS", "HS256")], "OIDC_CORP_ID_TOKEN_ALGORITHMS"),
            (&["corp"], &[("OIDC_CORP_ID_TOKEN_ALGORITHMS", "none")], "OIDC_CORP_ID_TOKEN_ALGORITHMS"),
            (&["corp"], &[("OIDC_CORP_TOKEN_AUTH_METHOD", "private_key_jwt")], "OIDC_CORP_TOKEN_AUTH_METHOD"),
            (&["corp"], &[("OIDC_CORP_SCOPES", "email profile")], "openid"),
            (&["corp"], &[("OIDC_CORP_ISSUER", "ftp://id.corp.example")], "http(s)"),
        ];
        for (names, overrides, expected) in refused {
            let mut pairs: Vec<(&str, &str)> = overrides.to_vec();
            pairs.extend_from_slice(CORP);
            let error = load(names, &pairs).unwrap_err().to_string();
            assert!(error.contains(expected), "{names:?} {overrides:?}: {error}");
        }
    }
}
