//! Second factors on PostgreSQL. A change that decides whether the user still has a second
//! factor (confirming TOTP, adding or removing one, replacing the recovery codes, the reset)
//! locks the account row first, so such changes of one user take turns and "no second factor
//! left: the recovery codes go" is never judged while another is in flight. Spending a TOTP
//! step or a recovery code is one conditional `UPDATE`: a concurrent caller waits for the row
//! and then finds the condition false.

use async_trait::async_trait;
use auth_core::error::StoreError;
use auth_core::events::{RevocationReason, UserEvent};
use auth_core::mfa::{NewPasskey, Passkey, SecondFactorMethod, SecondFactors, TotpFactor};
use auth_core::model::Revocation;
use auth_core::ports::MfaStore;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::PgStore;
use crate::errors::store_error;
use crate::events::insert_events;
use crate::mailbox::bump_credentials_version;
use crate::sessions::revoke_where;

const PASSKEY_COLUMNS: &str = "id, user_id, credential_id, name, credential, sign_count, created_at, last_used_at";

fn passkey_from_row(row: &PgRow) -> Result<Passkey, StoreError> {
    Ok(Passkey {
        id: row.try_get("id").map_err(store_error)?,
        user_id: row.try_get("user_id").map_err(store_error)?,
        credential_id: row.try_get("credential_id").map_err(store_error)?,
        name: row.try_get("name").map_err(store_error)?,
        credential: row.try_get("credential").map_err(store_error)?,
        sign_count: row.try_get("sign_count").map_err(store_error)?,
        created_at: row.try_get("created_at").map_err(store_error)?,
        last_used_at: row.try_get("last_used_at").map_err(store_error)?,
    })
}

fn count(row: &PgRow, column: &str) -> Result<u32, StoreError> {
    let count: i64 = row.try_get(column).map_err(store_error)?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// Locks the account row for the rest of the transaction (the lock an `UPDATE` of it takes,
/// which leaves foreign-key checks of other tables alone).
async fn lock_user(connection: &mut PgConnection, user_id: Uuid) -> Result<(), StoreError> {
    sqlx::query("SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE")
        .bind(user_id)
        .execute(&mut *connection)
        .await
        .map(|_| ())
        .map_err(store_error)
}

/// Removes the TOTP factor; whether there was one, and whether it was confirmed.
async fn delete_totp_factor(connection: &mut PgConnection, user_id: Uuid) -> Result<Option<bool>, StoreError> {
    sqlx::query_scalar("DELETE FROM totp_factors WHERE user_id = $1 RETURNING confirmed_at IS NOT NULL")
        .bind(user_id)
        .fetch_optional(&mut *connection)
        .await
        .map_err(store_error)
}

async fn delete_codes(connection: &mut PgConnection, user_id: Uuid) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM recovery_codes WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *connection)
        .await
        .map(|_| ())
        .map_err(store_error)
}

async fn replace_codes(
    connection: &mut PgConnection,
    user_id: Uuid,
    hashes: &[String],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    delete_codes(connection, user_id).await?;
    sqlx::query("INSERT INTO recovery_codes (user_id, code_hash, created_at) SELECT $1, unnest($2::text[]), $3")
        .bind(user_id)
        .bind(hashes)
        .bind(now)
        .execute(&mut *connection)
        .await
        .map(|_| ())
        .map_err(store_error)
}

/// Drops the user's recovery codes once they have no second factor left to stand in for.
async fn drop_codes_without_factor(connection: &mut PgConnection, user_id: Uuid) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM recovery_codes WHERE user_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL) \
         AND NOT EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1)",
    )
    .bind(user_id)
    .execute(&mut *connection)
    .await
    .map(|_| ())
    .map_err(store_error)
}

#[async_trait]
impl MfaStore for PgStore {
    async fn second_factors(&self, user_id: Uuid) -> Result<SecondFactors, StoreError> {
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL) AS totp, \
                    (SELECT count(*) FROM passkeys WHERE user_id = $1) AS passkeys, \
                    (SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL) AS codes_left",
        )
        .bind(user_id)
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(SecondFactors {
            totp: row.try_get("totp").map_err(store_error)?,
            passkeys: count(&row, "passkeys")?,
            recovery_codes_left: count(&row, "codes_left")?,
        })
    }

    async fn put_pending_totp(&self, user_id: Uuid, sealed_secret: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        // A confirmed factor fails the upsert's condition: no row written.
        let written = sqlx::query(
            "INSERT INTO totp_factors (user_id, sealed_secret, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (user_id) DO UPDATE SET sealed_secret = EXCLUDED.sealed_secret, \
               created_at = EXCLUDED.created_at, last_used_step = NULL \
             WHERE totp_factors.confirmed_at IS NULL",
        )
        .bind(user_id)
        .bind(sealed_secret)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        if written.rows_affected() == 0 { Err(StoreError::Conflict("totp")) } else { Ok(()) }
    }

    async fn find_totp(&self, user_id: Uuid) -> Result<Option<TotpFactor>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, sealed_secret, confirmed_at, last_used_step, created_at FROM totp_factors \
             WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.map(|row| {
            Ok(TotpFactor {
                user_id: row.try_get("user_id").map_err(store_error)?,
                sealed_secret: row.try_get("sealed_secret").map_err(store_error)?,
                confirmed_at: row.try_get("confirmed_at").map_err(store_error)?,
                last_used_step: row.try_get("last_used_step").map_err(store_error)?,
                created_at: row.try_get("created_at").map_err(store_error)?,
            })
        })
        .transpose()
    }

    async fn confirm_totp(
        &self,
        user_id: Uuid,
        step: i64,
        recovery_code_hashes: Option<Vec<String>>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        lock_user(&mut transaction, user_id).await?;
        let confirmed = sqlx::query(
            "UPDATE totp_factors SET confirmed_at = $2, last_used_step = $3 WHERE user_id = $1 AND confirmed_at IS NULL",
        )
        .bind(user_id)
        .bind(now)
        .bind(step)
        .execute(&mut *transaction)
        .await
        .map_err(store_error)?;
        if confirmed.rows_affected() == 0 {
            return Ok(false);
        }
        if let Some(hashes) = recovery_code_hashes {
            replace_codes(&mut transaction, user_id, &hashes, now).await?;
        }
        insert_events(&mut transaction, &[UserEvent::mfa_enabled(user_id, SecondFactorMethod::Totp, now)]).await?;
        transaction.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn use_totp_step(&self, user_id: Uuid, step: i64) -> Result<bool, StoreError> {
        let spent = sqlx::query(
            "UPDATE totp_factors SET last_used_step = $2 WHERE user_id = $1 AND confirmed_at IS NOT NULL \
             AND (last_used_step IS NULL OR last_used_step < $2)",
        )
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(spent.rows_affected() > 0)
    }

    async fn delete_totp(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        lock_user(&mut transaction, user_id).await?;
        let Some(was_confirmed) = delete_totp_factor(&mut transaction, user_id).await? else {
            return Ok(false);
        };
        if was_confirmed {
            insert_events(&mut transaction, &[UserEvent::mfa_disabled(user_id, SecondFactorMethod::Totp, now)]).await?;
        }
        drop_codes_without_factor(&mut transaction, user_id).await?;
        transaction.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn replace_recovery_codes(
        &self,
        user_id: Uuid,
        hashes: Vec<String>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        lock_user(&mut transaction, user_id).await?;
        replace_codes(&mut transaction, user_id, &hashes, now).await?;
        insert_events(&mut transaction, &[UserEvent::recovery_codes_regenerated(user_id, now)]).await?;
        transaction.commit().await.map_err(store_error)
    }

    async fn use_recovery_code(&self, user_id: Uuid, hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let spent = sqlx::query(
            "UPDATE recovery_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(spent.rows_affected() > 0)
    }

    async fn add_passkey(&self, passkey: NewPasskey) -> Result<Passkey, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        lock_user(&mut transaction, passkey.user_id).await?;
        let row = sqlx::query(&format!(
            "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {PASSKEY_COLUMNS}"
        ))
        .bind(passkey.id)
        .bind(passkey.user_id)
        .bind(&passkey.credential_id)
        .bind(&passkey.name)
        .bind(&passkey.credential)
        .bind(passkey.created_at)
        .fetch_one(&mut *transaction)
        .await
        .map_err(store_error)?;
        insert_events(&mut transaction, &[UserEvent::passkey_added(passkey.user_id, passkey.id, passkey.created_at)])
            .await?;
        transaction.commit().await.map_err(store_error)?;
        passkey_from_row(&row)
    }

    async fn list_passkeys(&self, user_id: Uuid) -> Result<Vec<Passkey>, StoreError> {
        let rows =
            sqlx::query(&format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"))
                .bind(user_id)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
        rows.iter().map(passkey_from_row).collect()
    }

    async fn find_passkey_by_credential_id(&self, credential_id: &[u8]) -> Result<Option<Passkey>, StoreError> {
        let row = sqlx::query(&format!("SELECT {PASSKEY_COLUMNS} FROM passkeys WHERE credential_id = $1"))
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.as_ref().map(passkey_from_row).transpose()
    }

    async fn record_passkey_use(
        &self,
        id: Uuid,
        seen_sign_count: i64,
        sign_count: i64,
        credential: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE passkeys SET credential = $2, last_used_at = $3, sign_count = $4 WHERE id = $1 AND sign_count = $5",
        )
        .bind(id)
        .bind(credential)
        .bind(now)
        .bind(sign_count)
        .bind(seen_sign_count)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn rename_passkey(&self, user_id: Uuid, id: Uuid, name: &str) -> Result<Option<Passkey>, StoreError> {
        let row = sqlx::query(&format!(
            "UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2 RETURNING {PASSKEY_COLUMNS}"
        ))
        .bind(id)
        .bind(user_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.as_ref().map(passkey_from_row).transpose()
    }

    async fn delete_passkey(&self, user_id: Uuid, id: Uuid, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        lock_user(&mut transaction, user_id).await?;
        let deleted = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .execute(&mut *transaction)
            .await
            .map_err(store_error)?;
        if deleted.rows_affected() == 0 {
            return Ok(false);
        }
        insert_events(&mut transaction, &[UserEvent::passkey_removed(user_id, id, now)]).await?;
        drop_codes_without_factor(&mut transaction, user_id).await?;
        transaction.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn reset_second_factors(
        &self,
        user_id: Uuid,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        // The version goes up before any session is revoked (see bump_credentials_version); its
        // row lock is also the lock the other second-factor changes take.
        bump_credentials_version(&mut transaction, user_id).await?;
        let totp_was_confirmed = delete_totp_factor(&mut transaction, user_id).await?.unwrap_or(false);
        let mut passkeys: Vec<(DateTime<Utc>, Uuid)> =
            sqlx::query_as("DELETE FROM passkeys WHERE user_id = $1 RETURNING created_at, id")
                .bind(user_id)
                .fetch_all(&mut *transaction)
                .await
                .map_err(store_error)?;
        passkeys.sort();
        delete_codes(&mut transaction, user_id).await?;
        let passkey_ids: Vec<Uuid> = passkeys.into_iter().map(|(_, id)| id).collect();
        insert_events(
            &mut transaction,
            &UserEvent::for_second_factors_reset(user_id, totp_was_confirmed, &passkey_ids, now),
        )
        .await?;
        let revocations = revoke_where(&mut transaction, "($2::uuid IS NULL)", user_id, None, reason, now).await?;
        transaction.commit().await.map_err(store_error)?;
        Ok(revocations)
    }
}
