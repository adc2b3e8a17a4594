//! `Settings::validate`: every setting that can be wrong is refused here, once, with a message
//! that names it, before anything is built. Nothing downstream clamps a bad value into a good one.

use anyhow::bail;

use super::Settings;

/// Shortest webhook signing secret accepted (HMAC-SHA256 keys shorter than this are guessable).
pub const MIN_WEBHOOK_SECRET_BYTES: usize = 16;
/// Shortest TOTP sealing key material accepted.
pub const MIN_MFA_SECRET_KEY_BYTES: usize = 32;
/// Fastest outbox poll: below it the dispatcher would only burn the database.
pub const MIN_EVENTS_POLL_INTERVAL_MS: u64 = 10;

impl Settings {
    /// Refuses values the service cannot run with, naming the variable.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.access_token_expire <= 0 || self.refresh_token_expire <= 0 {
            bail!("ACCESS_TOKEN_EXPIRE and REFRESH_TOKEN_EXPIRE must be positive (minutes)");
        }
        if self.refresh_reuse_interval < 0 {
            bail!("REFRESH_REUSE_INTERVAL must not be negative (0 is strict rotation)");
        }
        match self.password_hash.to_ascii_lowercase().as_str() {
            "bcrypt" if !(4..=31).contains(&self.bcrypt_cost) => bail!("BCRYPT_COST must be between 4 and 31"),
            "bcrypt" | "argon2id" | "argon2" => {}
            other => bail!("PASSWORD_HASH must be bcrypt or argon2id, not {other:?}"),
        }
        let at_least_one = [
            ("LOGIN_FAILURE_WINDOW", self.login_failure_window),
            ("OAUTH_STATE_TTL", self.oauth_state_ttl),
            ("EVENTS_LEASE_SECONDS", self.events_lease_seconds),
            ("EVENTS_MAX_ATTEMPTS", u64::from(self.events_max_attempts)),
            ("EVENTS_RETRY_BASE_MS", self.events_retry_base_ms),
            ("EVENTS_RETRY_MAX_SECONDS", self.events_retry_max_seconds),
            ("EVENTS_STREAM_MAX_LENGTH", self.events_stream_max_length as u64),
            ("WEBHOOK_TIMEOUT", self.webhook_timeout),
        ];
        if let Some((name, _)) = at_least_one.iter().find(|(_, value)| *value == 0) {
            bail!("{name} must be at least 1");
        }
        if self.mfa_secret_key.as_ref().is_some_and(|key| key.expose().len() < MIN_MFA_SECRET_KEY_BYTES) {
            bail!("MFA_SECRET_KEY must be at least {MIN_MFA_SECRET_KEY_BYTES} bytes");
        }
        if self.events_poll_interval_ms < MIN_EVENTS_POLL_INTERVAL_MS {
            bail!("EVENTS_POLL_INTERVAL_MS must be at least {MIN_EVENTS_POLL_INTERVAL_MS}");
        }
        self.validate_webauthn()?;
        self.validate_oidc_providers()?;
        self.validate_sign_in_providers()?;
        self.validate_webhooks()
    }

    /// A provider set up by halves would be silently off: the settings that only work together.
    fn validate_sign_in_providers(&self) -> anyhow::Result<()> {
        let pairs = [
            (
                "GITHUB_CLIENT_ID",
                self.github_client_id.is_some(),
                "GITHUB_CLIENT_SECRET",
                self.github_client_secret.is_some(),
            ),
            (
                "YANDEX_CLIENT_ID",
                self.yandex_client_id.is_some(),
                "YANDEX_CLIENT_SECRET",
                self.yandex_client_secret.is_some(),
            ),
            (
                "TELEGRAM_CLIENT_ID",
                self.telegram_client_id.is_some(),
                "TELEGRAM_CLIENT_SECRET",
                self.telegram_client_secret.is_some(),
            ),
        ];
        for (first, has_first, second, has_second) in pairs {
            if has_first != has_second {
                let (set, missing) = if has_first { (first, second) } else { (second, first) };
                bail!("{set} is set without {missing}: the provider needs both");
            }
        }
        if self.apple_client_id.is_some() {
            let missing: Vec<&str> = [
                ("APPLE_TEAM_ID", self.apple_team_id.is_none()),
                ("APPLE_KEY_ID", self.apple_key_id.is_none()),
                ("APPLE_PRIVATE_KEY_PATH", self.apple_private_key_path.is_none()),
            ]
            .into_iter()
            .filter_map(|(name, absent)| absent.then_some(name))
            .collect();
            if !missing.is_empty() {
                bail!("APPLE_CLIENT_ID is set: {} needed too", missing.join(", "));
            }
        }
        Ok(())
    }

    fn validate_webhooks(&self) -> anyhow::Result<()> {
        let urls: Vec<&str> = self.webhook_urls.iter().map(|url| url.trim()).filter(|url| !url.is_empty()).collect();
        if urls.is_empty() {
            return Ok(());
        }
        if self.webhook_secret.as_ref().is_none_or(|secret| secret.expose().len() < MIN_WEBHOOK_SECRET_BYTES) {
            bail!(
                "WEBHOOK_URLS needs a WEBHOOK_SECRET of at least {MIN_WEBHOOK_SECRET_BYTES} bytes to sign deliveries"
            );
        }
        for url in urls {
            match reqwest::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {}
                // The URL may carry credentials: name it without them.
                _ => bail!(
                    "WEBHOOK_URLS holds {}, which is not an http(s) URL",
                    auth_core::redact::url_without_credentials(url)
                ),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn refused(settings: Settings) -> String {
        settings.validate().err().map(|error| error.to_string()).unwrap_or_default()
    }

    #[test]
    fn the_defaults_are_valid() {
        assert!(Settings::default().validate().is_ok());
    }

    #[test]
    fn bad_values_are_refused_by_name_not_clamped() {
        let cases = [
            (Settings { events_max_attempts: 0, ..Settings::default() }, "EVENTS_MAX_ATTEMPTS"),
            (Settings { events_lease_seconds: 0, ..Settings::default() }, "EVENTS_LEASE_SECONDS"),
            (Settings { events_poll_interval_ms: 5, ..Settings::default() }, "EVENTS_POLL_INTERVAL_MS"),
            (Settings { oauth_state_ttl: 0, ..Settings::default() }, "OAUTH_STATE_TTL"),
            (Settings { login_failure_window: 0, ..Settings::default() }, "LOGIN_FAILURE_WINDOW"),
            (Settings { webhook_timeout: 0, ..Settings::default() }, "WEBHOOK_TIMEOUT"),
            (Settings { access_token_expire: 0, ..Settings::default() }, "ACCESS_TOKEN_EXPIRE"),
            (Settings { refresh_reuse_interval: -1, ..Settings::default() }, "REFRESH_REUSE_INTERVAL"),
            (Settings { bcrypt_cost: 3, ..Settings::default() }, "BCRYPT_COST"),
            (Settings { password_hash: "md5".into(), ..Settings::default() }, "PASSWORD_HASH"),
            (Settings { mfa_secret_key: Some(Secret::new("too short")), ..Settings::default() }, "MFA_SECRET_KEY"),
        ];
        for (settings, name) in cases {
            assert!(refused(settings).contains(name), "{name}");
        }
    }

    #[test]
    fn a_provider_configured_by_halves_is_refused_by_name() {
        let cases = [
            (Settings { github_client_id: Some("id".into()), ..Settings::default() }, "GITHUB_CLIENT_SECRET"),
            (Settings { yandex_client_secret: Some(Secret::new("s")), ..Settings::default() }, "YANDEX_CLIENT_ID"),
            (Settings { telegram_client_id: Some("1".into()), ..Settings::default() }, "TELEGRAM_CLIENT_SECRET"),
            (
                Settings {
                    apple_client_id: Some("com.example".into()),
                    apple_team_id: Some("T".into()),
                    ..Settings::default()
                },
                "APPLE_KEY_ID, APPLE_PRIVATE_KEY_PATH",
            ),
        ];
        for (settings, name) in cases {
            assert!(refused(settings).contains(name), "{name}");
        }
        // The Login Widget alone needs only the bot token.
        let widget = Settings { telegram_bot_token: Some(Secret::new("1:token")), ..Settings::default() };
        assert!(widget.validate().is_ok());
    }

    #[test]
    fn webhooks_need_a_long_secret_and_http_urls_named_without_credentials() {
        let hooks = Settings { webhook_urls: vec!["https://a.example.com/in".into()], ..Settings::default() };
        assert!(refused(hooks.clone()).contains("WEBHOOK_SECRET"));
        let short = Settings { webhook_secret: Some(Secret::new("short")), ..hooks.clone() };
        assert!(refused(short).contains("WEBHOOK_SECRET"));
        let signed = Settings { webhook_secret: Some(Secret::new("0123456789abcdef")), ..hooks };
        assert!(signed.validate().is_ok());
        let ftp = Settings { webhook_urls: vec!["ftp://user:pw@files.example.com/in".into()], ..signed };
        let message = refused(ftp);
        assert!(message.contains("not an http(s) URL") && !message.contains("pw"), "{message}");
    }
}
