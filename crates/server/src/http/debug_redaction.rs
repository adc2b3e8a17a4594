//! `Debug` of every request and response type that carries a password, token or code prints no
//! secret (these types end up in `tracing` fields and panic messages).

use super::accounts::{DeleteAccountRequest, LoginForm, LoginRequest, RegisterRequest, TokenPairResponse};
use super::email::{ChangePasswordRequest, ResetPasswordRequest, VerifyEmailRequest};
use super::sessions::RefreshRequest;
use super::validate::ValidateRequest;

const SECRET: &str = "s3cret-value";

fn assert_redacted(value: &dyn std::fmt::Debug) {
    let printed = format!("{value:?}");
    assert!(!printed.contains(SECRET), "{printed}");
    assert!(printed.contains("[redacted]"), "{printed}");
}

#[test]
fn account_requests_and_token_pairs_print_no_secret() {
    let secret = || auth_core::redact::Secret::new(SECRET);
    assert_redacted(&RegisterRequest { email: "a@example.com".into(), password: secret(), full_name: None });
    assert_redacted(&LoginRequest { email: "a@example.com".into(), password: secret() });
    assert_redacted(&LoginForm { username: "a@example.com".into(), password: secret() });
    assert_redacted(&DeleteAccountRequest { password: Some(secret()) });
    assert_redacted(&TokenPairResponse {
        access_token: secret(),
        refresh_token: secret(),
        token_type: "Bearer",
        expires_in: 900,
        refresh_expires_in: 60,
    });
    assert_redacted(&ResetPasswordRequest { token: secret(), new_password: secret() });
    assert_redacted(&ChangePasswordRequest { current_password: secret(), new_password: secret() });
    assert_redacted(&VerifyEmailRequest { token: secret() });
    assert_redacted(&RefreshRequest { refresh_token: secret() });
    assert_redacted(&ValidateRequest { token: secret() });
}
