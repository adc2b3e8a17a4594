//! Second factors as the store keeps them (`ports::MfaStore`): a user's TOTP factor, their
//! passkeys, and a summary of what they have.

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// A user's TOTP factor (one at most). Pending until a first code confirms it; only a
/// confirmed factor counts as a second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub user_id: Uuid,
    /// The secret as [`SecretBox::seal`](super::SecretBox::seal) left it for this user.
    pub sealed_secret: String,
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last time step accepted (the replay guard, [`totp::accepts_step`](super::totp::accepts_step)).
    pub last_used_step: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// The fields needed to register a passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPasskey {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The WebAuthn credential id; unique across all users.
    pub credential_id: Vec<u8>,
    pub name: String,
    /// webauthn-rs's `Passkey` as JSON (public key, signature counter): opaque to the store.
    pub credential: String,
    pub created_at: DateTime<Utc>,
}

/// A registered passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passkey {
    pub id: Uuid,
    pub user_id: Uuid,
    pub credential_id: Vec<u8>,
    pub name: String,
    /// webauthn-rs's `Passkey` as JSON, as of its last use.
    pub credential: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What second factors a user has (the body of `GET /auth/mfa`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SecondFactors {
    /// A confirmed TOTP factor; a pending enrolment does not count.
    pub totp: bool,
    pub passkeys: u32,
    /// Recovery codes not used yet.
    pub recovery_codes_left: u32,
}

impl SecondFactors {
    /// Whether the user has a second factor (recovery codes alone are none: they only stand in
    /// for one).
    pub fn any(&self) -> bool {
        self.totp || self.passkeys > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_alone_are_no_second_factor() {
        assert!(!SecondFactors::default().any());
        assert!(!SecondFactors { recovery_codes_left: 10, ..SecondFactors::default() }.any());
        assert!(SecondFactors { totp: true, ..SecondFactors::default() }.any());
        assert!(SecondFactors { passkeys: 1, ..SecondFactors::default() }.any());
    }
}
