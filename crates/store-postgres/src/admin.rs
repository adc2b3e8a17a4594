//! Administrative account changes, with the last-admin rule enforced under row locks.

use auth_core::accounts::admin::removes_last_admin;
use auth_core::error::StoreError;
use auth_core::events::{AccountState, UserEvent};
use auth_core::model::{Role, UserPatch, UserUpdate};
use auth_core::ports::AccountStore;
use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::PgStore;
use crate::errors::store_error;
use crate::events::insert_events;
use crate::mailbox::bump_credentials_version;
use crate::sessions::revoke_where;

pub(crate) async fn update_user(
    store: &PgStore,
    id: Uuid,
    patch: UserPatch,
    now: DateTime<Utc>,
) -> Result<UserUpdate, StoreError> {
    let mut transaction = store.pool.begin().await.map_err(store_error)?;
    // Lock the active admins first, always in id order, so two admins demoting each other
    // take turns instead of both seeing a colleague left.
    let admins: Vec<Uuid> = if patch.role.is_some() || patch.is_active.is_some() {
        sqlx::query_scalar("SELECT id FROM users WHERE role = 'admin' AND is_active ORDER BY id FOR UPDATE")
            .fetch_all(&mut *transaction)
            .await
            .map_err(store_error)?
    } else {
        Vec::new()
    };
    let Some(row) = sqlx::query("SELECT role, is_active, email, full_name FROM users WHERE id = $1 FOR UPDATE")
        .bind(id)
        .fetch_optional(&mut *transaction)
        .await
        .map_err(store_error)?
    else {
        return Ok(UserUpdate::NotFound);
    };
    let role: String = row.try_get("role").map_err(store_error)?;
    let role = Role::parse(&role).unwrap_or(Role::User);
    let is_active: bool = row.try_get("is_active").map_err(store_error)?;
    let before = AccountState {
        user_id: id,
        email: row.try_get("email").map_err(store_error)?,
        full_name: row.try_get("full_name").map_err(store_error)?,
        role,
        is_active,
    };
    let new_role = patch.role.unwrap_or(role);
    let new_active = patch.is_active.unwrap_or(is_active);
    let was_active_admin = role == Role::Admin && is_active;
    let stays_active_admin = new_role == Role::Admin && new_active;
    let other_admins = admins.iter().filter(|admin| **admin != id).count();
    if removes_last_admin(was_active_admin, stays_active_admin, other_admins) {
        return Ok(UserUpdate::LastAdmin);
    }
    sqlx::query(
        "UPDATE users SET role = $2, is_active = $3, full_name = CASE WHEN $4 THEN $5 ELSE full_name END, \
         updated_at = $6 WHERE id = $1",
    )
    .bind(id)
    .bind(new_role.as_str())
    .bind(new_active)
    .bind(patch.full_name.is_some())
    .bind(patch.full_name.clone().flatten())
    .bind(now)
    .execute(&mut *transaction)
    .await
    .map_err(store_error)?;
    let after = before.patched(&patch);
    insert_events(&mut transaction, &UserEvent::for_account_change(&before, &after, now)).await?;
    let revocations = match before.revocation_reason(&after) {
        Some(reason) => {
            bump_credentials_version(&mut transaction, id).await?;
            revoke_where(&mut transaction, "($2::uuid IS NULL)", id, None, reason, now).await?
        }
        None => Vec::new(),
    };
    transaction.commit().await.map_err(store_error)?;
    let user = store.find_user(id).await?.ok_or_else(|| StoreError::Other("updated user vanished".into()))?;
    Ok(UserUpdate::Updated { user, revocations })
}
