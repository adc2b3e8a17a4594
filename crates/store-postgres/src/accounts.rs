use async_trait::async_trait;
use auth_core::accounts::admin::removes_last_admin;
use auth_core::error::StoreError;
use auth_core::events::{RevocationReason, UserEvent};
use auth_core::model::{
    AccountDeletion, AdminBootstrap, NewIdentity, NewUser, Revocation, Role, User, UserPatch, UserUpdate,
};
use auth_core::ports::AccountStore;
use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::PgStore;
use crate::email_tokens::invalidate_reset_links;
use crate::errors::store_error;
use crate::events::insert_events;
use crate::mailbox::bump_credentials_version;
use crate::sessions::revoke_where;

/// Columns of a user, with the providers of its linked identities.
pub(crate) const USER_COLUMNS: &str = "u.id, u.email, u.full_name, u.role, u.is_active, u.email_verified, \
     u.password_hash, u.created_at, u.credentials_version, \
     COALESCE((SELECT array_agg(i.provider ORDER BY i.provider) FROM identities i WHERE i.user_id = u.id), \
     '{}') AS identity_providers";

pub(crate) fn user_from_row(row: &PgRow) -> Result<User, StoreError> {
    let role: String = row.try_get("role").map_err(store_error)?;
    Ok(User {
        id: row.try_get("id").map_err(store_error)?,
        email: row.try_get("email").map_err(store_error)?,
        full_name: row.try_get("full_name").map_err(store_error)?,
        role: Role::parse(&role).ok_or_else(|| StoreError::Other(format!("unknown role {role:?}")))?,
        is_active: row.try_get("is_active").map_err(store_error)?,
        email_verified: row.try_get("email_verified").map_err(store_error)?,
        password_hash: row.try_get("password_hash").map_err(store_error)?,
        created_at: row.try_get("created_at").map_err(store_error)?,
        identity_providers: row.try_get("identity_providers").map_err(store_error)?,
        credentials_version: row.try_get("credentials_version").map_err(store_error)?,
    })
}

#[async_trait]
impl AccountStore for PgStore {
    async fn create_user(&self, user: NewUser) -> Result<User, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        insert_user(&mut transaction, &user).await?;
        insert_events(&mut transaction, &[UserEvent::registered(&user, "password")]).await?;
        transaction.commit().await.map_err(store_error)?;
        Ok(User {
            id: user.id,
            email: user.email,
            full_name: user.full_name,
            role: user.role,
            is_active: true,
            email_verified: user.email_verified,
            password_hash: user.password_hash,
            created_at: user.created_at,
            identity_providers: Vec::new(),
            credentials_version: 0,
        })
    }

    async fn find_user_by_email(&self, email_key: &str) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.email_key = $1"))
            .bind(email_key)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn find_user(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        let row = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn set_password_hash(&self, id: Uuid, password_hash: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(password_hash)
            .bind(now)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn list_users(
        &self,
        after: Option<Uuid>,
        limit: u32,
        email_prefix: Option<&str>,
    ) -> Result<Vec<User>, StoreError> {
        let rows =
            match email_prefix {
                None => sqlx::query(&format!(
                    "SELECT {USER_COLUMNS} FROM users u WHERE ($1::uuid IS NULL OR u.id > $1) ORDER BY u.id LIMIT $2"
                ))
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await,
                // Not a cached statement: planned with the pattern itself, the prefix becomes a range
                // on the text_pattern_ops index (a generic plan would walk every account by id).
                Some(prefix) => {
                    sqlx::query(&format!(
                        "SELECT {USER_COLUMNS} FROM users u WHERE u.email_key LIKE $2 ESCAPE '\\' \
                     AND ($1::uuid IS NULL OR u.id > $1) ORDER BY u.id LIMIT $3"
                    ))
                    .persistent(false)
                    .bind(after)
                    .bind(format!("{}%", escape_like(prefix)))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                }
            }
            .map_err(store_error)?;
        rows.iter().map(user_from_row).collect()
    }

    async fn update_user(&self, id: Uuid, patch: UserPatch, now: DateTime<Utc>) -> Result<UserUpdate, StoreError> {
        crate::admin::update_user(self, id, patch, now).await
    }

    async fn ensure_admin(&self, user: NewUser, promote_existing: bool) -> Result<AdminBootstrap, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        let existing: Option<(Uuid, String)> =
            sqlx::query_as("SELECT id, role FROM users WHERE email_key = $1 FOR UPDATE")
                .bind(&user.email_key)
                .fetch_optional(&mut *transaction)
                .await
                .map_err(store_error)?;
        let outcome: fn(User) -> AdminBootstrap = match existing {
            None => {
                let admin = NewUser { role: Role::Admin, email_verified: false, full_name: None, ..user.clone() };
                insert_user(&mut transaction, &admin).await?;
                insert_events(&mut transaction, &[UserEvent::registered(&admin, "admin_bootstrap")]).await?;
                AdminBootstrap::Created
            }
            Some((_, role)) if role == Role::Admin.as_str() => AdminBootstrap::AlreadyAdmin,
            Some(_) if !promote_existing => AdminBootstrap::LeftAsIs,
            Some((id, _)) => {
                sqlx::query("UPDATE users SET role = 'admin', updated_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(user.created_at)
                    .execute(&mut *transaction)
                    .await
                    .map_err(store_error)?;
                insert_events(
                    &mut transaction,
                    &[UserEvent::role_changed(id, Role::User, Role::Admin, user.created_at)],
                )
                .await?;
                AdminBootstrap::Promoted
            }
        };
        transaction.commit().await.map_err(store_error)?;
        let found = self.find_user_by_email(&user.email_key).await?;
        found.map(outcome).ok_or_else(|| StoreError::Other("admin vanished".into()))
    }

    async fn delete_user(&self, id: Uuid, now: DateTime<Utc>) -> Result<AccountDeletion, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        // The admins first, in id order (as update_user does), then the account itself.
        let admins: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM users WHERE role = 'admin' AND is_active ORDER BY id FOR UPDATE")
                .fetch_all(&mut *transaction)
                .await
                .map_err(store_error)?;
        let Some(row) = sqlx::query("SELECT role, is_active FROM users WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(store_error)?
        else {
            return Ok(AccountDeletion::NotFound);
        };
        let role: String = row.try_get("role").map_err(store_error)?;
        let is_active: bool = row.try_get("is_active").map_err(store_error)?;
        let others = admins.iter().filter(|admin| **admin != id).count();
        if removes_last_admin(Role::parse(&role) == Some(Role::Admin) && is_active, false, others) {
            return Ok(AccountDeletion::LastAdmin);
        }
        bump_credentials_version(&mut transaction, id).await?;
        let revocations =
            revoke_where(&mut transaction, "($2::uuid IS NULL)", id, None, RevocationReason::AccountDeleted, now)
                .await?;
        let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(&mut *transaction)
            .await
            .map_err(store_error)?;
        if deleted.rows_affected() > 0 {
            insert_events(&mut transaction, &[UserEvent::deleted(id, now)]).await?;
        }
        transaction.commit().await.map_err(store_error)?;
        Ok(if deleted.rows_affected() > 0 { AccountDeletion::Deleted(revocations) } else { AccountDeletion::NotFound })
    }

    async fn change_password(
        &self,
        id: Uuid,
        password_hash: &str,
        keep_session: Option<Uuid>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Revocation>, StoreError> {
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        // The version goes up before any session is revoked (see bump_credentials_version).
        sqlx::query(
            "UPDATE users SET password_hash = $2, updated_at = $3, credentials_version = credentials_version + 1 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(password_hash)
        .bind(now)
        .execute(&mut *transaction)
        .await
        .map_err(store_error)?;
        invalidate_reset_links(&mut transaction, id, now).await?;
        let revocations = revoke_where(
            &mut transaction,
            "($2::uuid IS NULL OR id <> $2)",
            id,
            keep_session,
            RevocationReason::PasswordChanged,
            now,
        )
        .await?;
        transaction.commit().await.map_err(store_error)?;
        Ok(revocations)
    }

    async fn find_user_by_identity(&self, provider: &str, subject: &str) -> Result<Option<User>, StoreError> {
        crate::identities::find_user_by_identity(self, provider, subject).await
    }

    async fn create_user_with_identity(&self, user: NewUser, identity: NewIdentity) -> Result<User, StoreError> {
        crate::identities::create_user_with_identity(self, user, identity).await
    }

    async fn link_identity(
        &self,
        user_id: Uuid,
        identity: NewIdentity,
        proves_mailbox: bool,
    ) -> Result<Vec<Revocation>, StoreError> {
        crate::identities::link_identity(self, user_id, identity, proves_mailbox).await
    }

    async fn unlink_identity(&self, user_id: Uuid, provider: &str) -> Result<(), StoreError> {
        crate::identities::unlink_identity(self, user_id, provider).await
    }
}

pub(crate) async fn insert_user(connection: &mut PgConnection, user: &NewUser) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO users (id, email, email_key, full_name, role, password_hash, email_verified, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
    )
    .bind(user.id)
    .bind(&user.email)
    .bind(&user.email_key)
    .bind(&user.full_name)
    .bind(user.role.as_str())
    .bind(&user.password_hash)
    .bind(user.email_verified)
    .bind(user.created_at)
    .execute(&mut *connection)
    .await
    .map(|_| ())
    .map_err(store_error)
}

/// Escapes LIKE wildcards so a prefix filter matches literally.
fn escape_like(value: &str) -> String {
    value.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
