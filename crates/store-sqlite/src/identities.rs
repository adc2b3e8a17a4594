//! Social identities: one provider account maps to exactly one user.

use auth_core::accounts::mailbox::MailboxProof;
use auth_core::error::StoreError;
use auth_core::events::UserEvent;
use auth_core::model::{NewIdentity, NewUser, Revocation, User};
use auth_core::ports::AccountStore;
use sqlx::SqliteConnection;
use uuid::Uuid;

use crate::accounts::{USER_COLUMNS, insert_user, user_from_row};
use crate::errors::store_error;
use crate::events::insert_events;
use crate::mailbox::apply_mailbox_proof;
use crate::{SqliteStore, micros};

async fn insert_identity(
    connection: &mut SqliteConnection,
    user_id: Uuid,
    identity: &NewIdentity,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO identities (provider, subject, user_id, email, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&identity.provider)
        .bind(&identity.subject)
        .bind(user_id.to_string())
        .bind(&identity.email)
        .bind(micros(identity.created_at))
        .execute(&mut *connection)
        .await
        .map(|_| ())
        .map_err(store_error)
}

pub(crate) async fn find_user_by_identity(
    store: &SqliteStore,
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
    store: &SqliteStore,
    user: NewUser,
    identity: NewIdentity,
) -> Result<User, StoreError> {
    let writing = store.write_lock.lock().await;
    let mut transaction = store.pool.begin().await.map_err(store_error)?;
    let user = NewUser { password_hash: None, ..user };
    insert_user(&mut transaction, &user).await?;
    insert_events(&mut transaction, &[UserEvent::registered(&user, &identity.provider)]).await?;
    insert_identity(&mut transaction, user.id, &identity).await?;
    transaction.commit().await.map_err(store_error)?;
    drop(writing);
    store.find_user(user.id).await?.ok_or_else(|| StoreError::Other("created user vanished".into()))
}

pub(crate) async fn link_identity(
    store: &SqliteStore,
    user_id: Uuid,
    identity: NewIdentity,
    proves_mailbox: bool,
) -> Result<Vec<Revocation>, StoreError> {
    let _writing = store.write_lock.lock().await;
    let mut transaction = store.pool.begin().await.map_err(store_error)?;
    insert_identity(&mut transaction, user_id, &identity).await?;
    insert_events(&mut transaction, &[UserEvent::identity_linked(user_id, &identity.provider, identity.created_at)])
        .await?;
    let revocations = if proves_mailbox {
        let proof = MailboxProof::Provider(identity.provider.clone());
        apply_mailbox_proof(&mut transaction, user_id, proof, identity.created_at).await?
    } else {
        Vec::new()
    };
    transaction.commit().await.map_err(store_error)?;
    Ok(revocations)
}

pub(crate) async fn unlink_identity(store: &SqliteStore, user_id: Uuid, provider: &str) -> Result<(), StoreError> {
    let _writing = store.write_lock.lock().await;
    sqlx::query("DELETE FROM identities WHERE user_id = $1 AND provider = $2")
        .bind(user_id.to_string())
        .bind(provider)
        .execute(&store.pool)
        .await
        .map(|_| ())
        .map_err(store_error)
}
