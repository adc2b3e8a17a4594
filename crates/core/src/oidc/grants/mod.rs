//! The token endpoint's grants, one module each. Every grant takes a client already
//! authenticated by the endpoint.

mod authorization_code;
mod client_credentials;
mod refresh_token;

/// Counts a token-endpoint outcome per grant (`oauth_tokens_total`).
pub(super) fn count(grant: &'static str, outcome: &'static str) {
    metrics::counter!("oauth_tokens_total", "grant" => grant, "outcome" => outcome).increment(1);
}
