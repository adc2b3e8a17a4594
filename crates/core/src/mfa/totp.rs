//! RFC 6238 TOTP with the parameters every authenticator app assumes (SHA-1, 6 digits,
//! 30-second steps), computed by `totp-rs`. Verification accepts the steps either side of
//! "now" (RFC 6238 §5.2, one step of drift) and returns the matched step so the caller can
//! refuse a step it accepted before: a code works once.

use std::fmt;

use chrono::{DateTime, Utc};
use rand::RngCore;
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;
use totp_rs::{Builder, Secret, Totp};

use super::qr_svg::qr_code_svg;
use crate::redact::Redacted;

/// Digits of a code.
pub const TOTP_DIGITS: usize = 6;
/// Seconds a code is shown for.
pub const TOTP_STEP_SECONDS: u64 = 30;
/// 160 bits, the length RFC 4226 §4 recommends (and the HMAC-SHA-1 output size).
pub const TOTP_SECRET_BYTES: usize = 20;
/// RFC 4226 §4's minimum (128 bits); shorter secrets are refused.
const MIN_SECRET_BYTES: usize = 16;

/// A TOTP shared secret, raw bytes. `Debug` prints no value.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// A fresh secret from the OS random source.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; TOTP_SECRET_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A stored secret (as [`super::SecretBox::open`] returns it); `None` if it is shorter
    /// than RFC 4226 allows, which only a corrupted row could be.
    pub fn from_bytes(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= MIN_SECRET_BYTES).then_some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// What a user typed into an authenticator app (or a test read from the enrolment).
    pub fn from_base32(encoded: &str) -> Option<Self> {
        Secret::try_from_base32(encoded).ok().and_then(|secret| Self::from_bytes(secret.as_ref().to_vec()))
    }

    /// RFC 4648 base32 without padding, as users type it into an authenticator app.
    pub fn to_base32(&self) -> String {
        Secret::from(self.0.clone()).to_base32()
    }

    /// The RFC 6238 generator for this secret; `None` only for a secret `totp-rs` refuses.
    fn generator(&self) -> Option<Totp> {
        Builder::new().with_secret(self.0.clone()).build().ok()
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.debug_tuple("TotpSecret").field(&Redacted).finish()
    }
}

/// What a user needs to add the secret to an authenticator app: the contract's `secret`,
/// `otpauth_uri` and `qr_svg`.
#[derive(Clone)]
pub struct TotpEnrolment {
    /// Base32, for typing in by hand.
    pub secret: String,
    /// `otpauth://totp/{issuer}:{account}?secret=...&issuer=...` (Key URI Format).
    pub otpauth_uri: String,
    /// The URI as a QR code, standalone SVG.
    pub qr_svg: String,
}

impl fmt::Debug for TotpEnrolment {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("TotpEnrolment")
            .field("secret", &Redacted)
            .field("otpauth_uri", &Redacted)
            .field("qr_svg", &Redacted)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrolmentError {
    /// The Key URI label is `issuer:account`, so neither may contain a colon, and apps need an
    /// account name to show.
    #[error("the issuer or account name is empty or contains ':'")]
    InvalidLabel,
    #[error("the otpauth URI does not fit in a QR code")]
    TooLongForQrCode,
}

/// The enrolment data for `secret`: `issuer` is the relying party's name (`WEBAUTHN_RP_NAME`),
/// `account` the user's email. Both are percent-encoded in the URI.
pub fn enrolment(secret: &TotpSecret, issuer: &str, account: &str) -> Result<TotpEnrolment, EnrolmentError> {
    if issuer.is_empty() {
        return Err(EnrolmentError::InvalidLabel);
    }
    let labelled = Builder::new()
        .with_secret(secret.as_bytes().to_vec())
        .with_issuer(Some(issuer))
        .with_account_name(account)
        .build()
        .map_err(|_| EnrolmentError::InvalidLabel)?;
    let otpauth_uri = labelled.to_url().map_err(|_| EnrolmentError::InvalidLabel)?;
    let qr_svg = qr_code_svg(&otpauth_uri).map_err(|_| EnrolmentError::TooLongForQrCode)?;
    Ok(TotpEnrolment { secret: secret.to_base32(), otpauth_uri, qr_svg })
}

/// The code an authenticator app shows at `at`; `None` before 1970. For tests and tooling:
/// the service itself only verifies.
pub fn code_at(secret: &TotpSecret, at: DateTime<Utc>) -> Option<String> {
    let seconds = u64::try_from(at.timestamp()).ok()?;
    Some(secret.generator()?.generate(seconds).to_string())
}

/// The time step `code` belongs to, if it is the code of the step of `now` or of the one
/// before or after it. Anything but exactly six ASCII digits is refused before any HMAC is
/// computed; the comparison runs in constant time and over all three steps either way.
pub fn verify(secret: &TotpSecret, code: &str, now: DateTime<Utc>) -> Option<u64> {
    if code.len() != TOTP_DIGITS || !code.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let current_step = u64::try_from(now.timestamp()).ok()? / TOTP_STEP_SECONDS;
    let generator = secret.generator()?;
    let candidates = [current_step.checked_sub(1), Some(current_step), current_step.checked_add(1)];
    let mut matched = None;
    for step in candidates.into_iter().flatten() {
        let expected = generator.generate(step * TOTP_STEP_SECONDS).to_string();
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            // On a (one in a million) collision between steps, the latest wins: it leaves the
            // replay guard the stricter.
            matched = Some(step);
        }
    }
    matched
}

/// The replay guard (RFC 6238 §5.2: a verifier must not accept the same code twice): a step
/// is accepted only if it is later than the last one accepted for this factor. This refuses
/// the same code again and any older code, including one of the previous step that is still
/// inside the drift window.
pub fn accepts_step(last_used_step: Option<u64>, step: u64) -> bool {
    last_used_step.is_none_or(|last| step > last)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// RFC 6238 Appendix B's SHA-1 seed.
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890".to_vec()).unwrap()
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    /// A moment in the middle of a step, so ±31 s and ±61 s land one and two steps away.
    const MID_STEP: i64 = 30 * 56_666_667 + 15;

    #[test]
    fn codes_match_the_rfc_6238_sha1_test_vectors() {
        // Appendix B lists 8 digits; six-digit codes are the same value modulo 10^6.
        for (seconds, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
            (20_000_000_000, "353130"),
        ] {
            assert_eq!(code_at(&rfc_secret(), at(seconds)).as_deref(), Some(code), "at {seconds}");
            assert_eq!(verify(&rfc_secret(), code, at(seconds)), Some(seconds as u64 / 30), "at {seconds}");
        }
    }

    #[test]
    fn a_code_is_accepted_with_up_to_one_step_of_drift_either_way() {
        let code = code_at(&rfc_secret(), at(MID_STEP)).unwrap();
        let step = MID_STEP as u64 / 30;
        assert_eq!(verify(&rfc_secret(), &code, at(MID_STEP)), Some(step));
        // The server's clock is ahead of the phone's: the code is from 31 s ago.
        assert_eq!(verify(&rfc_secret(), &code, at(MID_STEP + 31)), Some(step));
        assert_eq!(verify(&rfc_secret(), &code, at(MID_STEP + 61)), None);
        // The phone's clock is ahead: the code is from 31 s in the future.
        assert_eq!(verify(&rfc_secret(), &code, at(MID_STEP - 31)), Some(step));
        assert_eq!(verify(&rfc_secret(), &code, at(MID_STEP - 61)), None);
    }

    #[test]
    fn the_drift_window_ends_exactly_at_step_boundaries() {
        let step_start = MID_STEP - 15;
        let code = code_at(&rfc_secret(), at(step_start)).unwrap();
        assert!(verify(&rfc_secret(), &code, at(step_start + 59)).is_some());
        assert!(verify(&rfc_secret(), &code, at(step_start + 60)).is_none());
        assert!(verify(&rfc_secret(), &code, at(step_start - 30)).is_some());
        assert!(verify(&rfc_secret(), &code, at(step_start - 31)).is_none());
    }

    #[test]
    fn codes_that_are_not_six_ascii_digits_are_refused() {
        let code = code_at(&rfc_secret(), at(59)).unwrap();
        for malformed in ["", "28708", "2870820", "94287082", " 287082", "287082 ", "28708a", "+28708", "２８７０８２"]
        {
            assert_eq!(verify(&rfc_secret(), malformed, at(59)), None, "{malformed:?}");
        }
        assert_eq!(verify(&rfc_secret(), &code, at(59)), Some(1));
    }

    #[test]
    fn a_wrong_code_and_another_secrets_code_are_refused() {
        let other = TotpSecret::from_bytes(b"abcdefghijabcdefghij".to_vec()).unwrap();
        let code = code_at(&rfc_secret(), at(MID_STEP)).unwrap();
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        assert_eq!(verify(&rfc_secret(), &wrong, at(MID_STEP)), None);
        assert_eq!(verify(&other, &code, at(MID_STEP)), None);
    }

    #[test]
    fn a_code_accepted_once_is_refused_again_and_so_is_an_older_one() {
        let secret = rfc_secret();
        let previous_code = code_at(&secret, at(MID_STEP - 30)).unwrap();
        let current_code = code_at(&secret, at(MID_STEP)).unwrap();

        let step = verify(&secret, &current_code, at(MID_STEP)).unwrap();
        assert!(accepts_step(None, step));
        let last_used_step = Some(step);

        let replayed = verify(&secret, &current_code, at(MID_STEP + 5)).unwrap();
        assert!(!accepts_step(last_used_step, replayed));
        let older = verify(&secret, &previous_code, at(MID_STEP + 5)).unwrap();
        assert!(!accepts_step(last_used_step, older));
        let next_code = code_at(&secret, at(MID_STEP + 30)).unwrap();
        assert!(accepts_step(last_used_step, verify(&secret, &next_code, at(MID_STEP + 30)).unwrap()));
    }

    #[test]
    fn generated_secrets_are_twenty_random_bytes_and_short_ones_are_refused() {
        let secret = TotpSecret::generate();
        assert_eq!(secret.as_bytes().len(), 20);
        assert_ne!(secret, TotpSecret::generate());
        assert_eq!(secret.to_base32().len(), 32);
        assert!(TotpSecret::from_bytes(vec![1; 15]).is_none());
        assert!(TotpSecret::from_bytes(vec![1; 16]).is_some());
        assert_eq!(format!("{secret:?}"), "TotpSecret([redacted])");
    }

    #[test]
    fn the_enrolment_uri_names_issuer_and_account_and_carries_the_base32_secret() {
        let enrolment = enrolment(&rfc_secret(), "auth-service", "alice@example.com").unwrap();
        assert_eq!(enrolment.secret, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            enrolment.otpauth_uri,
            "otpauth://totp/auth-service:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=auth-service"
        );
        assert!(enrolment.qr_svg.starts_with("<svg "));
        assert!(!format!("{enrolment:?}").contains("GEZDGNBV"));

        // What an authenticator app reads back from the URI computes the same codes.
        let parsed = Totp::from_url(&enrolment.otpauth_uri).unwrap();
        assert_eq!(parsed.generate(59).to_string(), "287082");
        assert_eq!((parsed.issuer(), parsed.account_name()), (Some("auth-service"), "alice@example.com"));
    }

    #[test]
    fn issuers_with_spaces_are_encoded_and_labels_with_colons_are_refused() {
        let spaced = enrolment(&rfc_secret(), "Example Corp", "bob@example.com").unwrap();
        assert!(spaced.otpauth_uri.starts_with("otpauth://totp/Example%20Corp:bob%40example.com?"));
        assert!(spaced.otpauth_uri.ends_with("&issuer=Example%20Corp"));
        for (issuer, account) in
            [("a:b", "bob@example.com"), ("auth-service", "x:y@example.com"), ("", "bob@example.com")]
        {
            assert_eq!(enrolment(&rfc_secret(), issuer, account).unwrap_err(), EnrolmentError::InvalidLabel);
        }
        assert_eq!(enrolment(&rfc_secret(), "auth-service", "").unwrap_err(), EnrolmentError::InvalidLabel);
    }
}
