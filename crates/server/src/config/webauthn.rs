//! The WebAuthn relying party from the settings: `WEBAUTHN_RP_ID` and `WEBAUTHN_ORIGINS`, their
//! defaults from `PUBLIC_URL`, and the checks that refuse a party no browser would accept.

use std::net::IpAddr;

use anyhow::{Context, bail};
use auth_core::mfa::RelyingParty;
use reqwest::Url;

use super::Settings;

impl Settings {
    /// The relying party passkeys are bound to. An RP ID cannot be an IP address (WebAuthn §5.1.3
    /// wants a domain), so a service reached on an address (loopback, or the `0.0.0.0` of a
    /// container without `PUBLIC_URL`) defaults to `localhost`, which browsers treat as a secure
    /// context; a real deployment names its domain in `PUBLIC_URL` or `WEBAUTHN_RP_ID`.
    pub fn relying_party(&self) -> anyhow::Result<RelyingParty> {
        let public = Url::parse(&self.public_base_url()).context("PUBLIC_URL is not a URL")?;
        let public_is_address = host_ip(&public).is_some();
        let id = match self.webauthn_rp_id.as_deref().map(str::trim).filter(|id| !id.is_empty()) {
            Some(id) => id.to_ascii_lowercase(),
            None if public_is_address => "localhost".to_owned(),
            None => public.host_str().unwrap_or_default().to_ascii_lowercase(),
        };
        let configured: Vec<&str> =
            self.webauthn_origins.iter().map(|origin| origin.trim()).filter(|origin| !origin.is_empty()).collect();
        let origins = if configured.is_empty() {
            let mut origin = public.clone();
            if public_is_address {
                origin.set_host(Some("localhost")).context("PUBLIC_URL")?;
            }
            origin.set_path("");
            origin.set_query(None);
            vec![origin]
        } else {
            configured
                .into_iter()
                .map(|origin| Url::parse(origin).with_context(|| format!("WEBAUTHN_ORIGINS: {origin:?} is not a URL")))
                .collect::<anyhow::Result<Vec<_>>>()?
        };
        Ok(RelyingParty { id, name: self.webauthn_rp_name.clone(), origins })
    }

    /// Refuses an RP ID that is an IP address, or that is not the host (or a parent domain of
    /// the host) of every origin: browsers would refuse every ceremony.
    pub(super) fn validate_webauthn(&self) -> anyhow::Result<()> {
        let party = self.relying_party()?;
        if party.id.is_empty() {
            bail!("WEBAUTHN_RP_ID is empty and PUBLIC_URL has no host to default it to");
        }
        if party.id.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok() {
            bail!("WEBAUTHN_RP_ID must be a domain name, not the IP address {:?}", party.id);
        }
        for origin in &party.origins {
            if !matches!(origin.scheme(), "https" | "http") {
                bail!("WEBAUTHN_ORIGINS: {origin} is not an http(s) origin");
            }
            let host = origin.host_str().unwrap_or_default().to_ascii_lowercase();
            if host != party.id && !host.ends_with(&format!(".{}", party.id)) {
                bail!(
                    "WEBAUTHN_RP_ID {:?} is not a registrable suffix of the WEBAUTHN_ORIGINS host {host:?}",
                    party.id
                );
            }
        }
        Ok(())
    }
}

fn host_ip(url: &Url) -> Option<IpAddr> {
    url.host_str()?.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(customize: impl FnOnce(&mut Settings)) -> Settings {
        let mut settings = Settings::default();
        customize(&mut settings);
        settings
    }

    #[test]
    fn the_relying_party_defaults_to_the_public_url() {
        let party = settings(|settings| settings.public_url = Some("https://auth.example.com/base/".into()))
            .relying_party()
            .unwrap();
        assert_eq!(party.id, "auth.example.com");
        assert_eq!(party.origins, [Url::parse("https://auth.example.com").unwrap()]);
        assert_eq!(party.name, "auth-service");
    }

    #[test]
    fn a_loopback_address_defaults_to_localhost() {
        let party = settings(|settings| {
            settings.service_host = "127.0.0.1".into();
            settings.service_port = 8080;
        })
        .relying_party()
        .unwrap();
        assert_eq!(party.id, "localhost");
        assert_eq!(party.origins, [Url::parse("http://localhost:8080").unwrap()]);
        assert!(settings(|settings| settings.service_host = "127.0.0.1".into()).validate().is_ok());
        // A container listening everywhere, with no PUBLIC_URL yet, still starts.
        let container = settings(|settings| settings.service_host = "0.0.0.0".into());
        assert_eq!(container.relying_party().unwrap().id, "localhost");
        assert!(container.validate().is_ok());
    }

    #[test]
    fn explicit_origins_are_split_and_kept() {
        let party = settings(|settings| {
            settings.webauthn_rp_id = Some("example.com".into());
            settings.webauthn_origins = vec!["https://app.example.com".into(), " https://example.com ".into()];
        })
        .relying_party()
        .unwrap();
        assert_eq!(party.id, "example.com");
        assert_eq!(party.origins.len(), 2);
    }

    #[test]
    fn an_ip_address_is_refused_as_rp_id() {
        let error = settings(|settings| settings.webauthn_rp_id = Some("192.168.1.10".into()))
            .validate()
            .unwrap_err()
            .to_string();
        assert!(error.contains("WEBAUTHN_RP_ID"), "{error}");
        assert!(settings(|settings| settings.webauthn_rp_id = Some("[::1]".into())).validate().is_err());
    }

    #[test]
    fn an_rp_id_that_is_not_a_suffix_of_every_origin_is_refused() {
        let error = settings(|settings| {
            settings.webauthn_rp_id = Some("example.com".into());
            settings.webauthn_origins = vec!["https://app.example.com".into(), "https://evil-example.com".into()];
        })
        .validate()
        .unwrap_err()
        .to_string();
        assert!(error.contains("WEBAUTHN_RP_ID") && error.contains("evil-example.com"), "{error}");
        let subdomain_only = settings(|settings| {
            settings.webauthn_rp_id = Some("app.example.com".into());
            settings.webauthn_origins = vec!["https://example.com".into()];
        });
        assert!(subdomain_only.validate().is_err());
    }

    #[test]
    fn an_origin_that_is_not_a_url_is_refused() {
        let error = settings(|settings| settings.webauthn_origins = vec!["not a url".into()])
            .validate()
            .unwrap_err()
            .to_string();
        assert!(error.contains("WEBAUTHN_ORIGINS"), "{error}");
    }
}
