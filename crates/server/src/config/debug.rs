//! `Debug` of the settings: every field, none of the secrets.

use auth_core::redact;

use super::Settings;

/// URLs may carry credentials (`postgres://user:password@…`, a webhook's `?token=`), so `Debug`
/// shows them without user info and query; `Secret` fields print `[redacted]` by themselves.
impl std::fmt::Debug for Settings {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Exhaustive on purpose: a new setting does not compile until it is listed here, where
        // whoever adds it decides whether it is a secret.
        let Self {
            database_url,
            database_max_connections,
            redis_url,
            redis_key_prefix,
            service_host,
            service_port,
            jwt_algorithm,
            jwt_secret,
            jwt_private_key_path,
            jwt_public_key_path,
            jwt_retired_public_key_paths,
            jwt_issuer,
            jwt_audience,
            access_token_expire,
            refresh_token_expire,
            refresh_reuse_interval,
            max_body_bytes,
            rate_limit_per_minute,
            rate_limit_validate,
            login_failure_limit,
            login_failure_window,
            reauthentication_window,
            cors_allowed_origins,
            trusted_proxies,
            password_hash,
            bcrypt_cost,
            password_hash_workers,
            password_hash_queue,
            require_email_verification,
            log_format,
            public_url,
            email_verify_url,
            password_reset_url,
            smtp_url,
            email_from,
            oauth_state_ttl,
            allowed_redirect_urls,
            ui_enabled,
            ui_title,
            cookie_domain,
            oidc_issuer,
            oidc_signing_key_path,
            client_secret_overlap,
            mfa_required_roles,
            webauthn_rp_name,
            mfa_secret_key,
            webauthn_rp_id,
            webauthn_origins,
            google_client_id,
            google_client_secret,
            google_issuer_url,
            google_extra_client_ids,
            vk_client_id,
            vk_client_secret,
            vk_id_base_url,
            facebook_client_id,
            facebook_client_secret,
            facebook_graph_url,
            facebook_dialog_url,
            facebook_api_version,
            github_client_id,
            github_client_secret,
            github_base_url,
            github_api_url,
            github_trust_email,
            yandex_client_id,
            yandex_client_secret,
            yandex_oauth_url,
            yandex_login_url,
            telegram_bot_token,
            telegram_client_id,
            telegram_client_secret,
            telegram_issuer_url,
            apple_client_id,
            apple_team_id,
            apple_key_id,
            apple_private_key_path,
            apple_extra_client_ids,
            apple_issuer_url,
            oidc_providers,
            oidc_provider_settings,
            admin_email,
            admin_promote_existing,
            app_env,
            auto_migrate,
            events_stream,
            events_stream_max_length,
            webhook_urls,
            webhook_secret,
            webhook_timeout,
            events_max_attempts,
            events_retry_base_ms,
            events_retry_max_seconds,
            events_poll_interval_ms,
            events_lease_seconds,
            events_retention_hours,
            request_timeout,
            shutdown_timeout,
        } = self;
        formatter
            .debug_struct("Settings")
            .field("database_url", &redact::url_without_credentials(database_url))
            .field("database_max_connections", database_max_connections)
            .field("redis_url", redis_url)
            .field("redis_key_prefix", redis_key_prefix)
            .field("service_host", service_host)
            .field("service_port", service_port)
            .field("jwt_algorithm", jwt_algorithm)
            .field("jwt_secret", jwt_secret)
            .field("jwt_private_key_path", jwt_private_key_path)
            .field("jwt_public_key_path", jwt_public_key_path)
            .field("jwt_retired_public_key_paths", jwt_retired_public_key_paths)
            .field("jwt_issuer", jwt_issuer)
            .field("jwt_audience", jwt_audience)
            .field("access_token_expire", access_token_expire)
            .field("refresh_token_expire", refresh_token_expire)
            .field("refresh_reuse_interval", refresh_reuse_interval)
            .field("max_body_bytes", max_body_bytes)
            .field("rate_limit_per_minute", rate_limit_per_minute)
            .field("rate_limit_validate", rate_limit_validate)
            .field("login_failure_limit", login_failure_limit)
            .field("login_failure_window", login_failure_window)
            .field("reauthentication_window", reauthentication_window)
            .field("cors_allowed_origins", cors_allowed_origins)
            .field("trusted_proxies", trusted_proxies)
            .field("password_hash", password_hash)
            .field("bcrypt_cost", bcrypt_cost)
            .field("password_hash_workers", password_hash_workers)
            .field("password_hash_queue", password_hash_queue)
            .field("require_email_verification", require_email_verification)
            .field("log_format", log_format)
            .field("public_url", public_url)
            .field("email_verify_url", email_verify_url)
            .field("password_reset_url", password_reset_url)
            .field("smtp_url", smtp_url)
            .field("email_from", email_from)
            .field("oauth_state_ttl", oauth_state_ttl)
            .field("allowed_redirect_urls", allowed_redirect_urls)
            .field("ui_enabled", ui_enabled)
            .field("ui_title", ui_title)
            .field("cookie_domain", cookie_domain)
            .field("oidc_issuer", oidc_issuer)
            .field("oidc_signing_key_path", oidc_signing_key_path)
            .field("client_secret_overlap", client_secret_overlap)
            .field("mfa_required_roles", mfa_required_roles)
            .field("webauthn_rp_name", webauthn_rp_name)
            .field("mfa_secret_key", mfa_secret_key)
            .field("webauthn_rp_id", webauthn_rp_id)
            .field("webauthn_origins", webauthn_origins)
            .field("google_client_id", google_client_id)
            .field("google_client_secret", google_client_secret)
            .field("google_issuer_url", google_issuer_url)
            .field("google_extra_client_ids", google_extra_client_ids)
            .field("vk_client_id", vk_client_id)
            .field("vk_client_secret", vk_client_secret)
            .field("vk_id_base_url", vk_id_base_url)
            .field("facebook_client_id", facebook_client_id)
            .field("facebook_client_secret", facebook_client_secret)
            .field("facebook_graph_url", facebook_graph_url)
            .field("facebook_dialog_url", facebook_dialog_url)
            .field("facebook_api_version", facebook_api_version)
            .field("github_client_id", github_client_id)
            .field("github_client_secret", github_client_secret)
            .field("github_base_url", github_base_url)
            .field("github_api_url", github_api_url)
            .field("github_trust_email", github_trust_email)
            .field("yandex_client_id", yandex_client_id)
            .field("yandex_client_secret", yandex_client_secret)
            .field("yandex_oauth_url", yandex_oauth_url)
            .field("yandex_login_url", yandex_login_url)
            .field("telegram_bot_token", telegram_bot_token)
            .field("telegram_client_id", telegram_client_id)
            .field("telegram_client_secret", telegram_client_secret)
            .field("telegram_issuer_url", telegram_issuer_url)
            .field("apple_client_id", apple_client_id)
            .field("apple_team_id", apple_team_id)
            .field("apple_key_id", apple_key_id)
            .field("apple_private_key_path", apple_private_key_path)
            .field("apple_extra_client_ids", apple_extra_client_ids)
            .field("apple_issuer_url", apple_issuer_url)
            .field("oidc_providers", oidc_providers)
            .field("oidc_provider_settings", oidc_provider_settings)
            .field("admin_email", admin_email)
            .field("admin_promote_existing", admin_promote_existing)
            .field("app_env", app_env)
            .field("auto_migrate", auto_migrate)
            .field("events_stream", events_stream)
            .field("events_stream_max_length", events_stream_max_length)
            .field(
                "webhook_urls",
                &webhook_urls.iter().map(|url| redact::url_without_credentials(url)).collect::<Vec<_>>(),
            )
            .field("webhook_secret", webhook_secret)
            .field("webhook_timeout", webhook_timeout)
            .field("events_max_attempts", events_max_attempts)
            .field("events_retry_base_ms", events_retry_base_ms)
            .field("events_retry_max_seconds", events_retry_max_seconds)
            .field("events_poll_interval_ms", events_poll_interval_ms)
            .field("events_lease_seconds", events_lease_seconds)
            .field("events_retention_hours", events_retention_hours)
            .field("request_timeout", request_timeout)
            .field("shutdown_timeout", shutdown_timeout)
            .finish()
    }
}
