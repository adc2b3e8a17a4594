use async_trait::async_trait;
use auth_core::accounts::Email;
use auth_core::accounts::mailbox::MailboxProof;
use auth_core::error::StoreError;
use auth_core::events::{RevocationReason, UserEvent};
use auth_core::model::{EmailTokenPurpose, NewEmailToken, Revocation};
use auth_core::ports::EmailTokenStore;
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::errors::store_error;
use crate::events::insert_events;
use crate::mailbox::apply_mailbox_proof;
use crate::sessions::revoke_where;
use crate::{SqliteStore, micros, uuid_of};

/// Spends a live token of `purpose` in one statement, so two concurrent uses cannot both win.
async fn spend(
    connection: &mut SqliteConnection,
    token_hash: &[u8],
    purpose: EmailTokenPurpose,
    now: DateTime<Utc>,
) -> Result<Option<Uuid>, StoreError> {
    let user_id: Option<String> = sqlx::query_scalar(
        "UPDATE email_tokens SET used_at = $3 WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL \
         AND expires_at > $3 RETURNING user_id",
    )
    .bind(token_hash)
    .bind(purpose.as_str())
    .bind(micros(now))
    .fetch_optional(&mut *connection)
    .await
    .map_err(store_error)?;
    user_id.as_deref().map(uuid_of).transpose()
}

/// Spends every outstanding reset link of the account: a credential change must not leave an
/// older way to set the password behind.
pub(crate) async fn invalidate_reset_links(
    connection: &mut SqliteConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE email_tokens SET used_at = $2 WHERE user_id = $1 AND purpose = 'reset_password' AND used_at IS NULL",
    )
    .bind(user_id.to_string())
    .bind(micros(now))
    .execute(&mut *connection)
    .await
    .map(|_| ())
    .map_err(store_error)
}

/// Moves the account to its confirmed new address (`Conflict("email")` if it was taken since the
/// request) and spends every other outstanding link: they went to, or were about, the old one.
async fn change_email(
    connection: &mut SqliteConnection,
    user_id: Uuid,
    new_email: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let full_name: Option<Option<String>> = sqlx::query_scalar(
        "UPDATE users SET email = $2, email_key = $3, email_verified = 1, updated_at = $4 WHERE id = $1 \
         RETURNING full_name",
    )
    .bind(user_id.to_string())
    .bind(new_email)
    .bind(Email::key_of(new_email))
    .bind(micros(now))
    .fetch_optional(&mut *connection)
    .await
    .map_err(store_error)?;
    let Some(full_name) = full_name else {
        return Ok(());
    };
    sqlx::query("UPDATE email_tokens SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id.to_string())
        .bind(micros(now))
        .execute(&mut *connection)
        .await
        .map_err(store_error)?;
    insert_events(connection, &[UserEvent::email_changed(user_id, new_email, full_name.as_deref(), now)]).await
}

#[async_trait]
impl EmailTokenStore for SqliteStore {
    async fn create_email_token(&self, token: NewEmailToken) -> Result<(), StoreError> {
        let _writing = self.write_lock.lock().await;
        sqlx::query(
            "INSERT INTO email_tokens (token_hash, user_id, purpose, created_at, expires_at, new_email) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&token.token_hash)
        .bind(token.user_id.to_string())
        .bind(token.purpose.as_str())
        .bind(micros(token.created_at))
        .bind(micros(token.expires_at))
        .bind(&token.new_email)
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(store_error)
    }

    async fn verify_email(
        &self,
        token_hash: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<(Uuid, Vec<Revocation>)>, StoreError> {
        let _writing = self.write_lock.lock().await;
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        // A verification link, or the confirmation of an email change: both prove a mailbox.
        let spent: Option<(String, String, Option<String>)> = sqlx::query_as(
            "UPDATE email_tokens SET used_at = $2 WHERE token_hash = $1 AND purpose IN ('verify_email', 'change_email') \
             AND used_at IS NULL AND expires_at > $2 RETURNING user_id, purpose, new_email",
        )
        .bind(token_hash)
        .bind(micros(now))
        .fetch_optional(&mut *transaction)
        .await
        .map_err(store_error)?;
        let Some((user_id, purpose, new_email)) = spent else {
            return Ok(None);
        };
        let user_id = uuid_of(&user_id)?;
        let revocations = match new_email.filter(|_| purpose == EmailTokenPurpose::ChangeEmail.as_str()) {
            Some(new_email) => {
                change_email(&mut transaction, user_id, &new_email, now).await?;
                Vec::new()
            }
            None => apply_mailbox_proof(&mut transaction, user_id, MailboxProof::EmailLink, now).await?,
        };
        transaction.commit().await.map_err(store_error)?;
        Ok(Some((user_id, revocations)))
    }

    async fn reset_password(
        &self,
        token_hash: &[u8],
        password_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(Uuid, Vec<Revocation>)>, StoreError> {
        let _writing = self.write_lock.lock().await;
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        let Some(user_id) = spend(&mut transaction, token_hash, EmailTokenPurpose::ResetPassword, now).await? else {
            return Ok(None);
        };
        // The reset proves the mailbox: what was attached before that proof goes (mailbox.rs).
        apply_mailbox_proof(&mut transaction, user_id, MailboxProof::PasswordReset, now).await?;
        sqlx::query(
            "UPDATE users SET password_hash = $2, updated_at = $3, credentials_version = credentials_version + 1 \
             WHERE id = $1",
        )
        .bind(user_id.to_string())
        .bind(password_hash)
        .bind(micros(now))
        .execute(&mut *transaction)
        .await
        .map_err(store_error)?;
        // Other outstanding reset links of the account die with this one.
        invalidate_reset_links(&mut transaction, user_id, now).await?;
        let revocations =
            revoke_where(&mut transaction, "$2 IS NULL", user_id, None, RevocationReason::PasswordReset, now).await?;
        transaction.commit().await.map_err(store_error)?;
        Ok(Some((user_id, revocations)))
    }
}
