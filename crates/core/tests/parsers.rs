//! Property tests: the parsers that see untrusted input never panic and keep their promises.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use auth_core::accounts::Email;
use auth_core::model::{Role, User};
use auth_core::ports::{Quota, gcra};
use auth_core::sessions::{AccessTokens, KeyRing, RefreshTokens};
use chrono::{Duration, Utc};
use proptest::prelude::*;

fn tokens() -> AccessTokens {
    let keys = KeyRing::hs256(b"a-property-test-secret-of-32-bytes!!").unwrap();
    AccessTokens::new(keys, "auth-service".into(), None, Duration::minutes(15))
}

fn user() -> User {
    User {
        id: uuid::Uuid::new_v4(),
        email: "a@example.com".into(),
        full_name: None,
        role: Role::User,
        is_active: true,
        email_verified: false,
        password_hash: None,
        created_at: Utc::now(),
        identity_providers: Vec::new(),
        credentials_version: 0,
    }
}

proptest! {
    #[test]
    fn arbitrary_strings_are_never_valid_access_tokens(input in ".{0,400}") {
        prop_assert!(tokens().verify(&input, Utc::now()).is_err());
    }

    #[test]
    fn jwt_shaped_garbage_is_never_valid(header in "[A-Za-z0-9_-]{0,60}", payload in "[A-Za-z0-9_-]{0,200}", signature in "[A-Za-z0-9_-]{0,90}") {
        let token = format!("{header}.{payload}.{signature}");
        prop_assert!(tokens().verify(&token, Utc::now()).is_err());
    }

    #[test]
    fn any_change_to_a_signed_token_breaks_it(position in 0usize..400, replacement in "[A-Za-z0-9_-]") {
        let tokens = tokens();
        let (token, _) = tokens.issue(&user(), uuid::Uuid::new_v4(), &auth_core::mfa::Assurance::password(), Utc::now()).unwrap();
        let position = position % token.len();
        let original = &token[position..=position];
        prop_assume!(original != replacement && original != ".");
        let mut tampered = token.clone();
        tampered.replace_range(position..=position, &replacement);
        // The last character of a base64url segment may carry unused bits; decoding may map
        // two spellings to the same bytes, so only a differing decoded token must fail.
        prop_assume!(position + 1 != token.len() && token.as_bytes().get(position + 1) != Some(&b'.'));
        prop_assert!(tokens.verify(&tampered, Utc::now()).is_err());
    }

    #[test]
    fn email_keys_are_lowercase_and_stable(input in "\\PC{0,80}") {
        if let Ok(email) = Email::parse(&input) {
            prop_assert_eq!(email.key(), email.key().to_lowercase());
            let reparsed = Email::parse(email.address()).unwrap();
            prop_assert_eq!(reparsed.key(), email.key());
            prop_assert!(!email.address().chars().any(char::is_control));
        }
    }

    #[test]
    fn refresh_token_syntax_check_never_panics(input in "\\PC{0,200}") {
        let _ = RefreshTokens::is_well_formed(&input);
    }

    #[test]
    fn gcra_never_allows_more_than_the_limit_at_once(limit in 1u32..500, period_seconds in 1u64..3600, attempts in 1usize..600) {
        let quota = Quota { limit, period: std::time::Duration::from_secs(period_seconds) };
        let mut tat = None;
        let mut allowed = 0;
        for _ in 0..attempts {
            let (decision, next) = gcra(tat, 10_000_000, quota, true);
            prop_assert!(decision.remaining <= limit);
            if decision.allowed { allowed += 1; tat = next; }
        }
        prop_assert!(allowed <= limit as usize);
        prop_assert_eq!(allowed, attempts.min(limit as usize));
    }
}
