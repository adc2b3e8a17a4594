use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::StoreError;
use crate::events::{DeadLetter, DeliveryResult, OutboxEvent, OutboxStats, RevocationReason};
use crate::mfa::{NewPasskey, Passkey, SecondFactors, TotpFactor};
use crate::model::{
    AccountDeletion, AdminBootstrap, NewEmailToken, NewIdentity, NewSession, NewUser, Revocation, RevocationCursor,
    Session, User, UserPatch, UserUpdate,
};
use crate::oidc::{Client, ClientPatch, Grant, NewClient};

/// Accounts. Each method is one atomic use case; the backend owns its transactions.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Fails with `StoreError::Conflict("email")` when the normalised email is taken.
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError>;
    async fn find_user_by_email(&self, email_key: &str) -> Result<Option<User>, StoreError>;
    async fn find_user(&self, id: Uuid) -> Result<Option<User>, StoreError>;
    async fn set_password_hash(&self, id: Uuid, password_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Users ordered by id, after `after`, optionally only those whose email key starts with
    /// `email_prefix`.
    async fn list_users(
        &self,
        after: Option<Uuid>,
        limit: u32,
        email_prefix: Option<&str>,
    ) -> Result<Vec<User>, StoreError>;
    /// Applies an administrative change. Refuses to leave no active admin (checked under a lock
    /// on the admins), and revokes the user's sessions when deactivating or demoting.
    async fn update_user(&self, id: Uuid, patch: UserPatch, now: DateTime<Utc>) -> Result<UserUpdate, StoreError>;
    /// Creates `user` as an admin when its email key is free. An existing non-admin account is
    /// promoted only when `promote_existing`; its password is never touched.
    async fn ensure_admin(&self, user: NewUser, promote_existing: bool) -> Result<AdminBootstrap, StoreError>;
    /// Deletes the account with its identities and sessions, logging the sessions as revoked.
    /// Refuses to delete the last active admin (checked under a lock on the admins).
    async fn delete_user(&self, id: Uuid, now: DateTime<Utc>) -> Result<AccountDeletion, StoreError>;
    /// Replaces the password, revokes every session except `keep_session`, invalidates
    /// outstanding password-reset links and bumps the credentials version.
    async fn change_password(
        &self,
        id: Uuid,
        password_hash: &str,
        keep_session: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Revocation>, StoreError>;
    async fn find_user_by_identity(&self, provider: &str, subject: &str) -> Result<Option<User>, StoreError>;
    /// Creates an account and its first identity together.
    async fn create_user_with_identity(&self, user: NewUser, identity: NewIdentity) -> Result<User, StoreError>;
    /// Attaches an identity (`Conflict("identity")` if it belongs to someone). With
    /// `proves_mailbox` (the provider is authoritative for the account's address), the proof is
    /// applied in the same transaction (`accounts::mailbox`): an unproven account becomes
    /// verified and loses its password, other identities and sessions. Returns the revocations.
    async fn link_identity(
        &self,
        user_id: Uuid,
        identity: NewIdentity,
        proves_mailbox: bool,
    ) -> Result<Vec<Revocation>, StoreError>;
    async fn unlink_identity(&self, user_id: Uuid, provider: &str) -> Result<(), StoreError>;
}

/// Single-use emailed tokens, each consumed atomically with the change it allows.
#[async_trait]
pub trait EmailTokenStore: Send + Sync {
    async fn create_email_token(&self, token: NewEmailToken) -> Result<(), StoreError>;
    /// Spends a live verification token and applies the proof of the mailbox
    /// (`accounts::mailbox`); the user and the sessions revoked, if the token was live.
    async fn verify_email(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<(Uuid, Vec<Revocation>)>, StoreError>;
    /// Spends a live reset token, sets the password, applies the proof of the mailbox, revokes
    /// every session and invalidates the account's other reset links.
    async fn reset_password(
        &self,
        token_hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Uuid, Vec<Revocation>)>, StoreError>;
}

/// What a refresh needs from storage, decided atomically under a lock on the session.
#[derive(Debug, Clone)]
pub struct RefreshRotation {
    /// SHA-256 of the presented refresh token.
    pub presented_hash: Vec<u8>,
    /// SHA-256 of the successor derived from the presented token.
    pub successor_hash: Vec<u8>,
    pub now: DateTime<Utc>,
    /// Seconds after a rotation in which the immediate parent still answers (0: strict).
    pub reuse_interval_seconds: i64,
    /// New sliding expiry of the session when it rotates.
    pub expires_at: DateTime<Utc>,
    /// The OAuth client presenting the token (`None`: the service's own `/auth/refresh`). A token
    /// of a session that belongs to another client, or to none when one is given, is `Unknown`
    /// and changes nothing.
    pub client_id: Option<String>,
}

/// How storage resolved a refresh.
#[derive(Debug, Clone)]
pub enum RotationOutcome {
    /// The presented token was live: it is now spent and the successor is live.
    Rotated(Session),
    /// The presented token is the immediate parent of the live one, inside the reuse interval,
    /// and the live one is unused: answer with the same successor.
    ParentReplayed(Session),
    /// A spent token came back: the session has been revoked in the same transaction.
    Reused(Revocation),
    /// The session was already revoked.
    Revoked,
    /// The session's refresh lifetime is over.
    Expired,
    /// No such token was ever issued.
    Unknown,
}

/// Sessions, refresh-token families and the revocation log.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Opens a session, unless the account is no longer active at `session.credentials_version`
    /// (a revoking change committed while the sign-in was in flight): then `None`. The check and
    /// the insert are atomic with respect to those changes.
    async fn create_session(&self, session: NewSession) -> Result<Option<Session>, StoreError>;
    async fn rotate_refresh_token(&self, rotation: RefreshRotation) -> Result<RotationOutcome, StoreError>;
    async fn find_session(&self, id: Uuid) -> Result<Option<Session>, StoreError>;
    /// A step-up: the user's live session takes `assurance`, and `step_up.refresh_token_hash`
    /// becomes its live refresh token (the old one is spent, so presenting it later is reuse).
    /// `None` when the session is someone else's, revoked or expired.
    async fn step_up_session(&self, step_up: SessionStepUp) -> Result<Option<Session>, StoreError>;
    /// The session a refresh token (live or spent) belongs to.
    async fn find_session_by_refresh_hash(&self, hash: &[u8]) -> Result<Option<Session>, StoreError>;
    /// Whether a refresh token was issued and not yet spent (it may still belong to a revoked or
    /// expired session).
    async fn refresh_token_is_live(&self, hash: &[u8]) -> Result<bool, StoreError>;
    /// Unrevoked, unexpired sessions of a user that no OAuth client holds (the person's own
    /// sign-ins; apps are listed as grants), newest first.
    async fn list_active_sessions(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<Vec<Session>, StoreError>;
    /// Revokes one session of `user_id`; `None` when it does not exist, belongs to someone else or
    /// was already revoked.
    async fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> Result<Option<Revocation>, StoreError>;
    /// Revokes every live session of a user and bumps the credentials version, so that sign-ins
    /// in flight do not open new ones.
    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> Result<Vec<Revocation>, StoreError>;
    /// Revocations revoked at or after `revoked_since` whose transactions committed after the
    /// poll that returned `cursor` (all of them without a cursor), and the cursor for the next
    /// poll. A revocation may come back more than once, but one committed after a poll, however
    /// late and whatever its `revoked_at`, is in a later poll.
    async fn revocations_after(
        &self,
        cursor: Option<RevocationCursor>,
        revoked_since: DateTime<Utc>,
    ) -> Result<(Vec<Revocation>, RevocationCursor), StoreError>;
    /// Drops revocation-log rows and refresh-token rows nobody can present any more.
    async fn prune(&self, revoked_before: DateTime<Utc>, expired_before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// The delivery side of the outbox. Events are written by the other stores' methods, in the
/// transaction of the change they describe; this is how the dispatcher takes them out.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Leases up to `limit` deliverable events to `worker` until `lease_until`: due, not leased
    /// by a live worker, and the oldest pending event of their user (delivery is in order per
    /// user). Two workers never hold one event at once.
    async fn claim_events(
        &self,
        worker: Uuid,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;
    /// Records how an attempt ended; ignored when `worker` no longer holds the lease.
    async fn finish_delivery(
        &self,
        worker: Uuid,
        sequence: i64,
        result: DeliveryResult,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Dead-lettered events in outbox order, after `after` (a sequence number).
    async fn list_dead_letters(&self, after: Option<i64>, limit: u32) -> Result<Vec<DeadLetter>, StoreError>;
    /// Puts a dead-lettered event back in line with fresh attempts; false when there is none.
    async fn retry_dead_letter(&self, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError>;
    async fn outbox_stats(&self) -> Result<OutboxStats, StoreError>;
    /// Drops events delivered before `delivered_before`.
    async fn prune_events(&self, delivered_before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Second factors: the TOTP factor, recovery codes (hashes only) and passkeys of each user.
/// Each method is one atomic use case, writing its events in the same transaction. Whenever a
/// change leaves a user without a second factor (a confirmed TOTP factor or a passkey), their
/// recovery codes go with it.
#[async_trait]
pub trait MfaStore: Send + Sync {
    /// What the user has: a confirmed TOTP factor, passkeys, unused recovery codes.
    async fn second_factors(&self, user_id: Uuid) -> Result<SecondFactors, StoreError>;
    /// Starts a TOTP enrolment, or restarts a pending one with a new secret. Refuses with
    /// `StoreError::Conflict("totp")` while a confirmed factor exists: it must be removed first.
    async fn put_pending_totp(&self, user_id: Uuid, sealed_secret: &str, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// The user's TOTP factor, pending or confirmed.
    async fn find_totp(&self, user_id: Uuid) -> Result<Option<TotpFactor>, StoreError>;
    /// Confirms the pending factor with the code of `step`, which counts as used. With
    /// `recovery_code_hashes`, they replace the user's recovery codes. Records `user.mfa_enabled`.
    /// False when there is no pending factor (none, or confirmed already).
    async fn confirm_totp(
        &self,
        user_id: Uuid,
        step: i64,
        recovery_code_hashes: Option<Vec<String>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Spends the time step `step` of the confirmed factor: true only if it is later than the
    /// last one spent (compare-and-set, so of two callers presenting one code at once exactly one
    /// wins). A pending factor accepts nothing.
    async fn use_totp_step(&self, user_id: Uuid, step: i64) -> Result<bool, StoreError>;
    /// Removes the TOTP factor, pending or confirmed; `user.mfa_disabled` when it was confirmed.
    /// False when there was none.
    async fn delete_totp(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Replaces the user's recovery codes with `hashes` (the old ones stop working); records
    /// `user.recovery_codes_regenerated`.
    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        hashes: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Spends the user's unused recovery code with this hash; of concurrent callers, one wins.
    async fn use_recovery_code(&self, user_id: Uuid, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Registers a passkey and records `user.passkey_added`. `StoreError::Conflict("credential_id")`
    /// when the credential id is registered already, to anyone.
    async fn add_passkey(&self, passkey: NewPasskey) -> Result<Passkey, StoreError>;
    /// The user's passkeys, oldest first.
    async fn list_passkeys(&self, user_id: Uuid) -> Result<Vec<Passkey>, StoreError>;
    /// The passkey a WebAuthn credential id belongs to, whoever owns it.
    async fn find_passkey_by_credential_id(&self, credential_id: &[u8]) -> Result<Option<Passkey>, StoreError>;
    /// Stores the credential as updated by a sign-in (its signature counter lives in it) and
    /// when it was used.
    /// Records an accepted assertion if the passkey's counter is still `seen_sign_count` (a
    /// compare-and-set: of two sign-ins racing with one counter value, one wins); false otherwise.
    async fn record_passkey_use(
        &self,
        id: Uuid,
        seen_sign_count: i64,
        sign_count: i64,
        credential: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Renames one of the user's passkeys; `None` when it does not exist or belongs to someone
    /// else.
    async fn rename_passkey(&self, user_id: Uuid, id: Uuid, name: &str) -> Result<Option<Passkey>, StoreError>;
    /// Removes one of the user's passkeys and records `user.passkey_removed`; false when it does
    /// not exist or belongs to someone else.
    async fn delete_passkey(&self, user_id: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError>;
    /// The administrator's reset for a lost device: removes the TOTP factor, recovery codes and
    /// passkeys, bumps the credentials version and revokes every live session. Records
    /// `user.mfa_disabled` (if the factor was confirmed), `user.passkey_removed` per passkey,
    /// then `session.revoked` per session.
    async fn reset_second_factors(
        &self,
        user_id: Uuid,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> Result<Vec<Revocation>, StoreError>;
}

/// The OAuth client registry and the grants people gave to clients. Each method is one atomic
/// use case writing its events in the same transaction.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Records `oauth.client_created`. `StoreError::Conflict("client_id")` when taken.
    async fn create_client(&self, client: NewClient) -> Result<Client, StoreError>;
    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError>;
    /// Every client, oldest first.
    async fn list_clients(&self) -> Result<Vec<Client>, StoreError>;
    /// `None` when there is no such client.
    async fn update_client(
        &self,
        client_id: &str,
        patch: ClientPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Client>, StoreError>;
    /// Deletes the client and every grant to it, revokes every session held by it (whoever's)
    /// and logs the client's own id as revoked too (its `client_credentials` tokens carry it as
    /// `sid`). Records `session.revoked` per session, then `oauth.client_deleted`. `None` when
    /// there is no such client.
    async fn delete_client(&self, client_id: &str, now: DateTime<Utc>) -> Result<Option<Vec<Revocation>>, StoreError>;
    /// Makes `secret_hash` the current secret; the one it replaces keeps working until
    /// `previous_expires_at`. False when there is no such client.
    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret_hash: &str,
        previous_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Records the person's consent (replacing an earlier one to the same client) and
    /// `oauth.grant_given`.
    async fn put_grant(&self, grant: Grant) -> Result<(), StoreError>;
    async fn find_grant(&self, user_id: Uuid, client_id: &str) -> Result<Option<Grant>, StoreError>;
    /// The person's grants, newest first.
    async fn list_grants(&self, user_id: Uuid) -> Result<Vec<Grant>, StoreError>;
    /// Withdraws the consent and revokes the person's sessions held by the client. Records
    /// `session.revoked` per session, then `oauth.grant_revoked`. `None` when there was neither a
    /// grant nor a live session of that client.
    async fn revoke_grant(
        &self,
        user_id: Uuid,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Revocation>>, StoreError>;
}

/// What a step-up writes to a session.
#[derive(Debug, Clone)]
pub struct SessionStepUp {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub assurance: crate::mfa::Assurance,
    pub refresh_token_hash: Vec<u8>,
    pub now: DateTime<Utc>,
}

/// Everything a storage backend provides.
#[async_trait]
pub trait Store: AccountStore + SessionStore + EmailTokenStore + EventStore + MfaStore + ClientStore {
    /// Connections open and idle, for metrics.
    fn pool_state(&self) -> (u32, usize);
    /// Answers when the database does; for readiness.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Applies the embedded migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
}
