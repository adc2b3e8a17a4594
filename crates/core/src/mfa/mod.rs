//! Second factors (README, "Second factors"): how sure we are of a sign-in (`aal`, `amr`), TOTP
//! codes, recovery codes, the sealing of TOTP secrets at rest, what an `mfa_token` stands for
//! between the first factor and the second, and the use cases built on them (`service`).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Authentication assurance levels and RFC 8176 method names.
pub mod assurance;
/// What an `mfa_token` stands for, and how many wrong codes it survives.
pub mod challenge;
/// Passkeys: registration, discoverable sign-in, the passkey as a second factor.
pub mod passkeys;
/// QR codes as standalone SVG, for the otpauth URI.
pub mod qr_svg;
/// Second factors as stored: TOTP factors, passkeys, what a user has.
pub mod records;
/// Recovery codes: generation, normalisation of typed input, hashing for storage.
pub mod recovery;
/// Authenticated encryption of TOTP secrets at rest, bound to the owning user.
pub mod secret_box;
/// The use cases: enrolment, removal, recovery codes, the second step of a sign-in.
pub mod service;
/// RFC 6238 TOTP: secrets, enrolment URI, verification window, replay guard.
pub mod totp;

pub use assurance::{Aal, Assurance, AuthMethod};
pub use challenge::{FailureOutcome, MfaChallenge};
pub use passkeys::{PasskeyLoginOptions, PasskeyService, RelyingParty};
pub use records::{NewPasskey, Passkey, SecondFactors, TotpFactor, counter_moves_forward};
pub use secret_box::{SecretBox, SecretBoxError};
pub use service::{MfaService, PendingSecondFactor, SecondFactorProof, SignInStep};
pub use totp::{EnrolmentError, TotpEnrolment, TotpSecret};

/// How long an `mfa_token` waits for the second factor.
pub const MFA_TOKEN_TTL: Duration = Duration::from_secs(5 * 60);
/// Wrong codes an `mfa_token` survives; the one that reaches this count spends it.
pub const MFA_TOKEN_MAX_FAILURES: u32 = 5;
/// How long a WebAuthn registration or sign-in challenge may be answered.
pub const WEBAUTHN_CHALLENGE_TTL: Duration = Duration::from_secs(5 * 60);
/// Recovery codes handed out at once; a new set replaces the old one whole.
pub const RECOVERY_CODE_COUNT: usize = 10;

/// A second factor as the API names it: the `methods` of an `mfa_required` answer and the
/// `method` of `/auth/mfa/verify`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorMethod {
    Totp,
    Webauthn,
    RecoveryCode,
}

impl SecondFactorMethod {
    const ALL: [Self; 3] = [Self::Totp, Self::Webauthn, Self::RecoveryCode];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::Webauthn => "webauthn",
            Self::RecoveryCode => "recovery_code",
        }
    }

    /// The `amr` entry a success with this method adds. RFC 8176 has no name for recovery
    /// codes; the contract counts them as `otp`, like TOTP.
    pub fn auth_method(self) -> AuthMethod {
        match self {
            Self::Totp | Self::RecoveryCode => AuthMethod::Otp,
            Self::Webauthn => AuthMethod::Hwk,
        }
    }
}

wire_names!(SecondFactorMethod, "second factor method");

/// `FromStr` and `Display` by an enum's wire names (`as_str`, over `Self::ALL`).
macro_rules! wire_names {
    ($type:ty, $kind:literal) => {
        impl std::str::FromStr for $type {
            type Err = $crate::mfa::UnknownName;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                $crate::mfa::parse_name($kind, value, &Self::ALL, |variant| variant.as_str())
            }
        }

        impl std::fmt::Display for $type {
            fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use wire_names;

/// A name that is none of an enum's wire names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub value: String,
}

/// The variant of `all` whose wire name is exactly `value`.
pub(crate) fn parse_name<T: Copy>(
    kind: &'static str,
    value: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<T, UnknownName> {
    all.iter()
        .copied()
        .find(|variant| name(*variant) == value)
        .ok_or_else(|| UnknownName { kind, value: value.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_factor_methods_use_the_contract_names_on_the_wire_and_in_text() {
        for (method, name) in [
            (SecondFactorMethod::Totp, "totp"),
            (SecondFactorMethod::Webauthn, "webauthn"),
            (SecondFactorMethod::RecoveryCode, "recovery_code"),
        ] {
            assert_eq!(serde_json::to_string(&method).unwrap(), format!("\"{name}\""));
            assert_eq!(serde_json::from_str::<SecondFactorMethod>(&format!("\"{name}\"")).unwrap(), method);
            assert_eq!(method.as_str(), name);
            assert_eq!(name.parse::<SecondFactorMethod>().unwrap(), method);
        }
        assert!(serde_json::from_str::<SecondFactorMethod>("\"recoveryCode\"").is_err());
        let unknown = "sms".parse::<SecondFactorMethod>().unwrap_err();
        assert_eq!(unknown.to_string(), "unknown second factor method \"sms\"");
    }

    #[test]
    fn recovery_codes_and_totp_count_as_otp_and_passkeys_as_hardware_keys() {
        assert_eq!(SecondFactorMethod::Totp.auth_method(), AuthMethod::Otp);
        assert_eq!(SecondFactorMethod::RecoveryCode.auth_method(), AuthMethod::Otp);
        assert_eq!(SecondFactorMethod::Webauthn.auth_method(), AuthMethod::Hwk);
    }

    #[test]
    fn policy_constants_match_the_contract() {
        assert_eq!(MFA_TOKEN_TTL.as_secs(), 300);
        assert_eq!(WEBAUTHN_CHALLENGE_TTL.as_secs(), 300);
        assert_eq!(MFA_TOKEN_MAX_FAILURES, 5);
        assert_eq!(RECOVERY_CODE_COUNT, 10);
    }
}
