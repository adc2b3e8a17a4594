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
    /// The signature counter of the last accepted assertion (0 until one, and for
    /// authenticators that keep none); the compare-and-set of [`counter_moves_forward`].
    pub sign_count: i64,
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

/// WebAuthn §6.1.1: a signature counter that did not move past the last one seen marks a cloned
/// authenticator, unless the authenticator keeps no counter (zero both times).
pub fn counter_moves_forward(last_seen: i64, presented: u32) -> bool {
    (last_seen == 0 && presented == 0) || i64::from(presented) > last_seen
}

#[cfg(test)]
mod counter_tests {
    use super::counter_moves_forward;

    #[test]
    fn a_counter_must_pass_the_last_one_seen_unless_the_authenticator_keeps_none() {
        assert!(counter_moves_forward(0, 0), "no counter kept");
        assert!(counter_moves_forward(0, 1));
        assert!(counter_moves_forward(7, 8));
        assert!(!counter_moves_forward(7, 7), "the same counter twice: a clone or a replay");
        assert!(!counter_moves_forward(7, 3), "backwards");
        assert!(!counter_moves_forward(7, 0), "a counting authenticator cannot stop counting");
    }
}
