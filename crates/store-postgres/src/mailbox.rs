//! Applying a proof of an account's mailbox (`auth_core::accounts::mailbox`) and bumping the
//! credentials version, inside the caller's transaction.

use auth_core::accounts::mailbox::{MailboxProof, UnprovenAccount, mailbox_proven};
use auth_core::error::StoreError;
use auth_core::model::Revocation;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::errors::store_error;
use crate::events::insert_events;
use crate::sessions::revoke_where;

/// Marks the account's credentials changed. Called before revoking its sessions: the row lock
/// it takes makes a sign-in in flight (which holds a share lock while it inserts its session)
/// either finish first, and be revoked, or see the new version and open nothing.
pub(crate) async fn bump_credentials_version(connection: &mut PgConnection, user_id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET credentials_version = credentials_version + 1 WHERE id = $1")
        .bind(user_id)
        .execute(&mut *connection)
        .await
        .map(|_| ())
        .map_err(store_error)
}

/// Locks the account, lets core decide what the proof changes, and applies it.
pub(crate) async fn apply_mailbox_proof(
    connection: &mut PgConnection,
    user_id: Uuid,
    proof: MailboxProof,
    now: DateTime<Utc>,
) -> Result<Vec<Revocation>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT email, full_name, email_verified, password_hash IS NOT NULL AS has_password FROM users \
         WHERE id = $1 FOR UPDATE",
    )
    .bind(user_id)
    .fetch_optional(&mut *connection)
    .await
    .map_err(store_error)?
    else {
        return Ok(Vec::new());
    };
    let identity_providers: Vec<String> =
        sqlx::query_scalar("SELECT provider FROM identities WHERE user_id = $1 ORDER BY provider")
            .bind(user_id)
            .fetch_all(&mut *connection)
            .await
            .map_err(store_error)?;
    let account = UnprovenAccount {
        user_id,
        email: row.try_get("email").map_err(store_error)?,
        full_name: row.try_get("full_name").map_err(store_error)?,
        email_verified: row.try_get("email_verified").map_err(store_error)?,
        has_password: row.try_get("has_password").map_err(store_error)?,
        identity_providers,
    };
    let change = mailbox_proven(&account, &proof, now);
    if !change.mark_verified {
        return Ok(Vec::new());
    }
    if change.changes_credentials() {
        bump_credentials_version(connection, user_id).await?;
    }
    sqlx::query(
        "UPDATE users SET email_verified = true, password_hash = CASE WHEN $2 THEN NULL ELSE password_hash END, \
         updated_at = $3 WHERE id = $1",
    )
    .bind(user_id)
    .bind(change.drop_password)
    .bind(now)
    .execute(&mut *connection)
    .await
    .map_err(store_error)?;
    if !change.detach_providers.is_empty() {
        sqlx::query("DELETE FROM identities WHERE user_id = $1 AND provider = ANY($2)")
            .bind(user_id)
            .bind(&change.detach_providers)
            .execute(&mut *connection)
            .await
            .map_err(store_error)?;
    }
    insert_events(connection, &change.events).await?;
    match change.revoke {
        Some(reason) => revoke_where(connection, "($2::uuid IS NULL)", user_id, None, reason, now).await,
        None => Ok(Vec::new()),
    }
}
