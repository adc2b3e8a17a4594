//! Applying a proof of an account's mailbox (`auth_core::accounts::mailbox`) and bumping the
//! credentials version, inside the caller's write transaction.

use auth_core::accounts::mailbox::{MailboxProof, UnprovenAccount, mailbox_proven};
use auth_core::error::StoreError;
use auth_core::model::Revocation;
use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::errors::store_error;
use crate::events::insert_events;
use crate::micros;
use crate::sessions::revoke_where;

/// Marks the account's credentials changed, so that a sign-in checked against the old version
/// opens no session (writes are serialised, so the check and this bump cannot interleave).
pub(crate) async fn bump_credentials_version(
    connection: &mut SqliteConnection,
    user_id: Uuid,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE users SET credentials_version = credentials_version + 1 WHERE id = $1")
        .bind(user_id.to_string())
        .execute(&mut *connection)
        .await
        .map(|_| ())
        .map_err(store_error)
}

/// Reads the account, lets core decide what the proof changes, and applies it.
pub(crate) async fn apply_mailbox_proof(
    connection: &mut SqliteConnection,
    user_id: Uuid,
    proof: MailboxProof,
    now: DateTime<Utc>,
) -> Result<Vec<Revocation>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT email, full_name, email_verified, password_hash IS NOT NULL AS has_password FROM users WHERE id = $1",
    )
    .bind(user_id.to_string())
    .fetch_optional(&mut *connection)
    .await
    .map_err(store_error)?
    else {
        return Ok(Vec::new());
    };
    let identity_providers: Vec<String> =
        sqlx::query_scalar("SELECT provider FROM identities WHERE user_id = $1 ORDER BY provider")
            .bind(user_id.to_string())
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
        "UPDATE users SET email_verified = 1, password_hash = CASE WHEN $2 THEN NULL ELSE password_hash END, \
         updated_at = $3 WHERE id = $1",
    )
    .bind(user_id.to_string())
    .bind(change.drop_password)
    .bind(micros(now))
    .execute(&mut *connection)
    .await
    .map_err(store_error)?;
    for provider in &change.detach_providers {
        sqlx::query("DELETE FROM identities WHERE user_id = $1 AND provider = $2")
            .bind(user_id.to_string())
            .bind(provider)
            .execute(&mut *connection)
            .await
            .map_err(store_error)?;
    }
    insert_events(connection, &change.events).await?;
    match change.revoke {
        Some(reason) => revoke_where(connection, "$2 IS NULL", user_id, None, reason, now).await,
        None => Ok(Vec::new()),
    }
}
