//! auth-service: the binary's library part, so tests start the service exactly as `main` does.

/// The ports outside the database: Redis (connection, revocation broadcast, limiter, ephemeral
/// store) and their in-process counterparts.
pub mod adapters;
/// Command-line interface and subcommands.
pub mod cli;
/// Typed settings from flags, environment and `.env`.
pub mod config;
/// Email templates and delivery.
pub mod email;
/// User events: the outbox dispatcher and its sinks (Redis Stream, webhooks).
pub mod events;
/// Routes, middleware, extractors and the error mapping.
pub mod http;
/// Signing keys from the settings (files, secret, or a generated development key).
pub mod keys;
/// Sign-in provider adapters (Google, VK ID, Facebook).
pub mod providers;
/// Building, serving and stopping the application.
pub mod startup;
/// Logging set-up.
pub mod telemetry;
/// The hosted pages under `/ui/`, browser sessions in cookies, the gateway sign-in portal.
pub mod ui;
/// Choosing backends from settings; building the services.
pub mod wiring;

pub use config::Settings;
pub use startup::Application;
