//! The service as an OAuth 2.1 authorization server and OpenID provider: the client registry,
//! PKCE, authorization requests and codes, the grants (one module each), the tokens they issue
//! and the endpoints around them.

mod audience;
pub mod authorization;
mod client;
mod error;
mod grants;
pub mod pkce;
mod registry;
mod resource;
pub mod scope;
mod service;
mod tokens;

pub use audience::{Audience, requested_resources};
pub use authorization::{AuthorizationRequest, AuthorizeFailure, AuthorizeNext, BrowserSignIn, UntrustedRequest};
pub use client::{Client, ClientKind, ClientPatch, Grant, GrantType, NewClient, hash_secret};
pub use error::OAuthError;
pub use registry::{ClientRegistration, RegisteredClient};
pub use resource::{LogoutOutcome, LogoutRefused};
pub use scope::Scopes;
pub use service::{OidcService, OidcSettings, TokenResponse};
pub use tokens::{
    ACCESS_TOKEN_JWT_TYPE, ClientAccessClaims, IdTokenClaims, ProviderTokens, at_hash, is_access_token_type,
};
