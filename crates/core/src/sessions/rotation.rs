//! The refresh-rotation rule (README, "Refresh rotation"), decided once here. Each store locks
//! the session row (PostgreSQL `FOR UPDATE`, SQLite's single writer), hands the locked family to
//! [`decide`], and carries the decision out in the same transaction.

use chrono::{DateTime, Duration, Utc};
use subtle::ConstantTimeEq;

use crate::ports::RefreshRotation;

/// The session as its row was locked for the rotation.
#[derive(Debug, Clone)]
pub struct LockedFamily<'a> {
    pub revoked: bool,
    pub expires_at: DateTime<Utc>,
    /// SHA-256 of the live refresh token.
    pub current_hash: &'a [u8],
    /// When the live token was issued by a rotation (`None` before the first one).
    pub rotated_at: Option<DateTime<Utc>>,
}

/// What the store must do with the presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationDecision {
    /// The session was revoked before: refuse, change nothing.
    Revoked,
    /// The session's refresh lifetime is over: refuse, change nothing.
    Expired,
    /// The live token: spend it and make the successor live.
    Rotate,
    /// The immediate parent of the live token, inside the reuse interval, while the live one is
    /// unused: answer with the same successor, change nothing.
    ReplayParent,
    /// Any other token of the family: reuse. Revoke the session.
    Reuse,
}

/// Decides a rotation of a token known to belong to `family`.
pub fn decide(family: &LockedFamily<'_>, rotation: &RefreshRotation) -> RotationDecision {
    if family.revoked {
        return RotationDecision::Revoked;
    }
    if family.expires_at <= rotation.now {
        return RotationDecision::Expired;
    }
    if bool::from(family.current_hash.ct_eq(&rotation.presented_hash)) {
        return RotationDecision::Rotate;
    }
    // The successor is derived from the presented token: if it is the live one, the presented
    // token is its immediate parent, and the live one has not been used (else it would be spent).
    let presented_is_parent = bool::from(family.current_hash.ct_eq(&rotation.successor_hash));
    let within_interval = rotation.reuse_interval_seconds > 0
        && family
            .rotated_at
            .is_some_and(|rotated_at| rotation.now <= rotated_at + Duration::seconds(rotation.reuse_interval_seconds));
    if presented_is_parent && within_interval { RotationDecision::ReplayParent } else { RotationDecision::Reuse }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &[u8] = b"live";

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap_or_default()
    }

    fn family(rotated_at: Option<i64>) -> LockedFamily<'static> {
        LockedFamily { revoked: false, expires_at: at(3_600), current_hash: LIVE, rotated_at: rotated_at.map(at) }
    }

    fn presenting(presented: &[u8], successor: &[u8], now: i64, interval: i64) -> RefreshRotation {
        RefreshRotation {
            presented_hash: presented.to_vec(),
            successor_hash: successor.to_vec(),
            now: at(now),
            reuse_interval_seconds: interval,
            expires_at: at(now + 3_600),
            client_id: None,
        }
    }

    #[test]
    fn the_live_token_rotates() {
        assert_eq!(decide(&family(None), &presenting(LIVE, b"next", 0, 10)), RotationDecision::Rotate);
    }

    #[test]
    fn the_parent_replays_up_to_the_last_second_of_the_interval_and_not_after() {
        let parent = presenting(b"parent", LIVE, 10, 10);
        assert_eq!(decide(&family(Some(0)), &parent), RotationDecision::ReplayParent, "at the edge");
        let late = presenting(b"parent", LIVE, 11, 10);
        assert_eq!(decide(&family(Some(0)), &late), RotationDecision::Reuse, "one second past");
    }

    #[test]
    fn strict_rotation_treats_every_replay_as_reuse() {
        assert_eq!(decide(&family(Some(0)), &presenting(b"parent", LIVE, 0, 0)), RotationDecision::Reuse);
    }

    #[test]
    fn a_grandparent_or_a_parent_whose_successor_was_used_is_reuse() {
        // The successor of the presented token is not the live one: it was used already.
        assert_eq!(decide(&family(Some(0)), &presenting(b"grandparent", b"parent", 1, 10)), RotationDecision::Reuse);
    }

    #[test]
    fn a_family_that_never_rotated_has_no_parent_to_replay() {
        assert_eq!(decide(&family(None), &presenting(b"other", LIVE, 1, 10)), RotationDecision::Reuse);
    }

    #[test]
    fn revoked_and_expired_families_refuse_before_anything_else() {
        let revoked = LockedFamily { revoked: true, ..family(Some(0)) };
        assert_eq!(decide(&revoked, &presenting(LIVE, b"next", 0, 10)), RotationDecision::Revoked);
        let expired = LockedFamily { expires_at: at(5), ..family(Some(0)) };
        assert_eq!(decide(&expired, &presenting(LIVE, b"next", 5, 10)), RotationDecision::Expired, "at expiry");
        assert_eq!(decide(&expired, &presenting(LIVE, b"next", 4, 10)), RotationDecision::Rotate, "just before");
    }
}
