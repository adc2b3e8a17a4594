//! The service as an OAuth 2.1 authorization server and OpenID provider: the client registry,
//! PKCE, authorization codes, the grants (one module each) and the tokens they issue.

mod client;

pub use client::{Client, ClientKind, ClientPatch, GrantType, Grant, NewClient, hash_secret};
