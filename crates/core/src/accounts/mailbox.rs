//! What proving an account's mailbox changes: the defence against account pre-hijacking.
//!
//! Whoever puts an address on an account without proving the mailbox (a password sign-up,
//! then a provider linked by hand) may not own it. When the mailbox is later proven (an emailed
//! link, a password reset, or a provider authoritative for the address), every way to sign in
//! that was attached before that proof is suspect: identities are detached, the password goes
//! too when a provider did the proving, and the sessions they opened end. The stores apply the
//! change inside the transaction that spends the proof, with the account row locked.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::events::{RevocationReason, UserEvent};

/// How the mailbox was proven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxProof {
    /// The emailed verification link was used.
    EmailLink,
    /// A password-reset link was used (the new password is the prover's).
    PasswordReset,
    /// A provider that is authoritative for the address vouched for it; its identity is being
    /// attached in the same transaction.
    Provider(String),
}

/// The account as the store read it, locked, before applying the proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnprovenAccount {
    pub user_id: Uuid,
    pub email: String,
    pub full_name: Option<String>,
    pub email_verified: bool,
    pub has_password: bool,
    /// Providers of the identities attached now (not counting one being attached by the proof).
    pub identity_providers: Vec<String>,
}

/// What the store must do, in the proof's transaction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MailboxChange {
    pub mark_verified: bool,
    /// Identities to delete, by provider.
    pub detach_providers: Vec<String>,
    pub drop_password: bool,
    /// Revoke every session (and bump the credentials version) for this reason.
    pub revoke: Option<RevocationReason>,
    pub events: Vec<UserEvent>,
}

impl MailboxChange {
    /// Whether the account's credentials change, so that sign-ins in flight must not finish.
    pub fn changes_credentials(&self) -> bool {
        self.drop_password || !self.detach_providers.is_empty() || self.revoke.is_some()
    }
}

/// Decides what a proof of the mailbox changes. An account whose address was already proven
/// keeps everything: whatever was attached since was attached by its proven owner.
pub fn mailbox_proven(account: &UnprovenAccount, proof: &MailboxProof, now: DateTime<Utc>) -> MailboxChange {
    if account.email_verified {
        return MailboxChange::default();
    }
    let detach_providers: Vec<String> = account
        .identity_providers
        .iter()
        .filter(|provider| !matches!(proof, MailboxProof::Provider(prover) if prover == *provider))
        .cloned()
        .collect();
    // A reset replaces the password with the prover's own; a provider replaces it with itself.
    let drop_password = account.has_password && matches!(proof, MailboxProof::Provider(_));
    let revoke = match proof {
        MailboxProof::Provider(_) => Some(RevocationReason::IdentityTakeover),
        // The reset revokes every session for its own reason.
        MailboxProof::PasswordReset => None,
        MailboxProof::EmailLink if !detach_providers.is_empty() => Some(RevocationReason::IdentitiesDetached),
        MailboxProof::EmailLink => None,
    };
    let mut events = vec![UserEvent::email_verified(account.user_id, &account.email, now)];
    let mut detached = detach_providers.clone();
    if drop_password {
        detached.insert(0, "password".to_owned());
    }
    if !detached.is_empty() {
        let mut remaining = Vec::new();
        if account.has_password && !drop_password {
            remaining.push("password".to_owned());
        }
        remaining.extend(account.identity_providers.iter().filter(|provider| !detached.contains(provider)).cloned());
        if let MailboxProof::Provider(prover) = proof
            && !remaining.contains(prover)
        {
            remaining.push(prover.clone());
        }
        events.push(UserEvent::sign_in_methods_removed(
            account.user_id,
            &account.email,
            account.full_name.as_deref(),
            &detached,
            &remaining,
            now,
        ));
    }
    MailboxChange { mark_verified: true, detach_providers, drop_password, revoke, events }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(has_password: bool, providers: &[&str]) -> UnprovenAccount {
        UnprovenAccount {
            user_id: Uuid::new_v4(),
            email: "victim@example.com".into(),
            full_name: None,
            email_verified: false,
            has_password,
            identity_providers: providers.iter().map(|provider| (*provider).to_owned()).collect(),
        }
    }

    fn types(change: &MailboxChange) -> Vec<&'static str> {
        change.events.iter().map(|event| event.event_type).collect()
    }

    #[test]
    fn a_proven_account_keeps_everything() {
        let proven = UnprovenAccount { email_verified: true, ..account(true, &["vk"]) };
        for proof in [MailboxProof::EmailLink, MailboxProof::PasswordReset, MailboxProof::Provider("google".into())] {
            let change = mailbox_proven(&proven, &proof, Utc::now());
            assert_eq!(change, MailboxChange::default());
            assert!(!change.changes_credentials());
        }
    }

    #[test]
    fn verifying_an_address_without_identities_only_marks_it_verified() {
        let change = mailbox_proven(&account(true, &[]), &MailboxProof::EmailLink, Utc::now());
        assert!(change.mark_verified);
        assert!(!change.changes_credentials());
        assert_eq!(types(&change), ["user.email_verified"]);
    }

    #[test]
    fn identities_attached_before_the_proof_are_detached_and_their_sessions_end() {
        let change = mailbox_proven(&account(true, &["facebook", "vk"]), &MailboxProof::EmailLink, Utc::now());
        assert_eq!(change.detach_providers, ["facebook", "vk"]);
        assert!(!change.drop_password, "the password is the verifier's own");
        assert_eq!(change.revoke, Some(RevocationReason::IdentitiesDetached));
        assert_eq!(types(&change), ["user.email_verified", "user.updated"]);
        assert_eq!(change.events[1].data["detached_providers"], serde_json::json!(["facebook", "vk"]));
        assert_eq!(change.events[1].data["providers"], serde_json::json!(["password"]));
        assert_eq!(change.events[1].data["changed"], serde_json::json!(["providers"]));
    }

    #[test]
    fn a_reset_detaches_identities_and_leaves_revocation_to_the_reset() {
        let change = mailbox_proven(&account(true, &["vk"]), &MailboxProof::PasswordReset, Utc::now());
        assert_eq!(change.detach_providers, ["vk"]);
        assert!(!change.drop_password);
        assert_eq!(change.revoke, None);
        assert!(change.changes_credentials());
    }

    #[test]
    fn an_authoritative_provider_replaces_the_password_and_other_identities() {
        let change = mailbox_proven(&account(true, &["vk"]), &MailboxProof::Provider("google".into()), Utc::now());
        assert_eq!(change.detach_providers, ["vk"]);
        assert!(change.drop_password);
        assert_eq!(change.revoke, Some(RevocationReason::IdentityTakeover));
        assert_eq!(change.events[1].data["detached_providers"], serde_json::json!(["password", "vk"]));
        assert_eq!(change.events[1].data["providers"], serde_json::json!(["google"]));
    }
}
