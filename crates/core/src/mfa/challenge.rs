//! What an `mfa_token` stands for: a user who passed the first factor and has a short while
//! and a few tries to present the second. The record is plain data so the ephemeral store can
//! keep it as JSON under the token's hash; the rules on it take "now" from the caller.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::assurance::AuthMethod;
use super::{MFA_TOKEN_MAX_FAILURES, MFA_TOKEN_TTL};

/// A pending second-factor sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MfaChallenge {
    pub user_id: Uuid,
    /// The first-factor methods already proven (`pwd` or `fed`); the second factor's method is
    /// added to them when the challenge succeeds.
    pub amr: Vec<AuthMethod>,
    /// Wrong codes presented so far.
    pub failures: u32,
    pub expires_at: DateTime<Utc>,
}

/// What a wrong code leaves of a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// The challenge may be answered again.
    TryAgain,
    /// The challenge is spent (too many failures, or expired): delete it; later attempts with
    /// its token are `invalid_token`.
    Exhausted,
}

impl MfaChallenge {
    /// A challenge issued at `now`, living [`MFA_TOKEN_TTL`].
    pub fn new(user_id: Uuid, amr: Vec<AuthMethod>, now: DateTime<Utc>) -> Self {
        Self { user_id, amr, failures: 0, expires_at: now + MFA_TOKEN_TTL }
    }

    /// Whether the challenge may still be answered: before its expiry (the expiry instant
    /// itself is too late) and with fewer than [`MFA_TOKEN_MAX_FAILURES`] wrong codes.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        now < self.expires_at && self.failures < MFA_TOKEN_MAX_FAILURES
    }

    /// Counts one wrong code. The [`MFA_TOKEN_MAX_FAILURES`]th exhausts the challenge, so it
    /// survives at most that many wrong codes; so does any failure after expiry.
    pub fn register_failure(&mut self, now: DateTime<Utc>) -> FailureOutcome {
        self.failures = self.failures.saturating_add(1);
        if self.is_live(now) { FailureOutcome::TryAgain } else { FailureOutcome::Exhausted }
    }
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn issued_at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
    }

    fn challenge() -> MfaChallenge {
        MfaChallenge::new(Uuid::from_u128(7), vec![AuthMethod::Pwd], issued_at())
    }

    #[test]
    fn a_challenge_lives_five_minutes_and_dies_at_its_expiry_instant() {
        let challenge = challenge();
        assert_eq!(challenge.expires_at, issued_at() + Duration::minutes(5));
        assert!(challenge.is_live(issued_at()));
        assert!(challenge.is_live(challenge.expires_at - Duration::milliseconds(1)));
        assert!(!challenge.is_live(challenge.expires_at));
        assert!(!challenge.is_live(challenge.expires_at + Duration::seconds(1)));
    }

    #[test]
    fn four_wrong_codes_leave_a_try_and_the_fifth_exhausts_the_challenge() {
        let mut challenge = challenge();
        let now = issued_at() + Duration::minutes(1);
        for failures in 1..=4 {
            assert_eq!(challenge.register_failure(now), FailureOutcome::TryAgain, "failure {failures}");
            assert!(challenge.is_live(now));
        }
        assert_eq!(challenge.register_failure(now), FailureOutcome::Exhausted);
        assert_eq!(challenge.failures, 5);
        assert!(!challenge.is_live(now));
    }

    #[test]
    fn a_wrong_code_after_expiry_exhausts_even_the_first_time() {
        let mut challenge = challenge();
        let expiry = challenge.expires_at;
        assert_eq!(challenge.register_failure(expiry), FailureOutcome::Exhausted);
    }

    #[test]
    fn a_challenge_survives_a_round_trip_through_json() {
        let challenge = challenge();
        let stored = serde_json::to_string(&challenge).unwrap();
        assert!(stored.contains("\"amr\":[\"pwd\"]"), "{stored}");
        assert_eq!(serde_json::from_str::<MfaChallenge>(&stored).unwrap(), challenge);
    }
}
