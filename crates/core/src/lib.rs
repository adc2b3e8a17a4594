//! Domain of auth-service: the rules for accounts, sessions and tokens, and the ports
//! (traits) that storage, caches and brokers implement. Nothing here knows about HTTP,
//! SQL or Redis, so every rule can be tested with in-memory fakes and a fixed clock.

/// Accounts: registration, credentials, email normalisation, password hashing.
pub mod accounts;
/// The clock every time-dependent rule takes "now" from.
pub mod clock;
/// Business-level failures, free of transport notions.
pub mod error;
/// User events for other services, written through the transactional outbox.
pub mod events;
/// Second factors: assurance levels, TOTP, recovery codes, sealed secrets, sign-in challenges.
pub mod mfa;
/// Users, sessions and the other records the domain works on.
pub mod model;
/// Social sign-in: pending logins, provider adapters' trait, linking rules.
pub mod oauth;
/// The OAuth 2.1 / OpenID Connect provider: clients, codes, grants, ID tokens.
pub mod oidc;
/// Traits the outside world implements: storage and the revocation broadcast.
pub mod ports;
/// `Debug` stand-ins for secrets.
pub mod redact;
/// Sessions: token pairs, refresh rotation, revocation, access-token validation.
pub mod sessions;

/// The store contract both store crates run (feature `testing`).
#[cfg(feature = "testing")]
pub mod testing;

pub use error::DomainError;
