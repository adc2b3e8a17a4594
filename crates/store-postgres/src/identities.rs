//! Social identities: one provider account maps to exactly one user.

use auth_core::error::StoreError;
use auth_core::model::{NewIdentity, NewUser, User};
use auth_core::ports::AccountStore;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::PgStore;
use crate::accounts::{USER_COLUMNS, user_from_row};
use crate::errors::store_error;

async fn insert_identity(
    connection: &mut PgConnection,
    user_id: Uuid,
    identity: &NewIdentity,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO identities (provider, subject, user_id, email, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&identity.provider)
        .bind(&identity.subject)
        .bind(user_id)
        .bind(&identity.email)
        .bind(identity.created_at)
        .execute(&mut *connection)
        .await
        .map(|_| ())
        .map_err(store_error)
}

pub(crate) async fn find_user_by_identity(
    store: &PgStore,
    provider: &str,
    subject: &str,
) -> Result<Option<User>, StoreError> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users u JOIN identities i ON i.user_id = u.id WHERE i.provider = $1 AND i.subject = $2"
    ))
    .bind(provider)
    .bind(subject)
    .fetch_optional(&store.pool)
    .await
    .map_err(store_error)?;
    row.as_ref().map(user_from_row).transpose()
}

pub(crate) async fn create_user_with_identity(
    store: &PgStore,
    user: NewUser,
    identity: NewIdentity,
) -> Result<User, StoreError> {
    let mut transaction = store.pool.begin().await.map_err(store_error)?;
    sqlx::query(
        "INSERT INTO users (id, email, email_key, full_name, role, password_hash, email_verified, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, NULL, $6, $7, $7)",
    )
    .bind(user.id)
    .bind(&user.email)
    .bind(&user.email_key)
    .bind(&user.full_name)
    .bind(user.role.as_str())
    .bind(user.email_verified)
    .bind(user.created_at)
    .execute(&mut *transaction)
    .await
    .map_err(store_error)?;
    insert_identity(&mut transaction, user.id, &identity).await?;
    transaction.commit().await.map_err(store_error)?;
    store.find_user(user.id).await?.ok_or_else(|| StoreError::Other("created user vanished".into()))
}

pub(crate) async fn link_identity(
    store: &PgStore,
    user_id: Uuid,
    identity: NewIdentity,
    verify_email_and_drop_password: bool,
) -> Result<(), StoreError> {
    let mut transaction = store.pool.begin().await.map_err(store_error)?;
    insert_identity(&mut transaction, user_id, &identity).await?;
    if verify_email_and_drop_password {
        sqlx::query("UPDATE users SET email_verified = true, password_hash = NULL, updated_at = $2 WHERE id = $1")
            .bind(user_id)
            .bind(identity.created_at)
            .execute(&mut *transaction)
            .await
            .map_err(store_error)?;
    }
    transaction.commit().await.map_err(store_error)
}

pub(crate) async fn unlink_identity(store: &PgStore, user_id: Uuid, provider: &str) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM identities WHERE user_id = $1 AND provider = $2")
        .bind(user_id)
        .bind(provider)
        .execute(&store.pool)
        .await
        .map(|_| ())
        .map_err(store_error)
}
