//! The OAuth client registry and people's grants on SQLite.

use async_trait::async_trait;
use auth_core::error::StoreError;
use auth_core::events::{RevocationReason, UserEvent};
use auth_core::model::Revocation;
use auth_core::oidc::{Client, ClientKind, ClientPatch, Grant, GrantType, NewClient};
use auth_core::ports::ClientStore;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::errors::store_error;
use crate::events::insert_events;
use crate::sessions::revoke_client_sessions;
use crate::{SqliteStore, micros, time_of, uuid_of};

const CLIENT_COLUMNS: &str = "id, client_id, name, kind, redirect_uris, post_logout_redirect_uris, grant_types, scopes, \
     first_party, audience, resources, secret_hash, previous_secret_hash, previous_secret_expires_at, created_at, updated_at";

fn list_column(row: &SqliteRow, column: &str) -> Result<Vec<String>, StoreError> {
    let text: String = row.try_get(column).map_err(store_error)?;
    serde_json::from_str(&text).map_err(|error| StoreError::Other(format!("{column}: {error}")))
}

fn list_text(values: &[String]) -> String {
    serde_json::to_string(values).unwrap_or_else(|_| "[]".to_owned())
}

fn grants_text(grants: &[GrantType]) -> String {
    list_text(&grants.iter().map(|grant| grant.as_str().to_owned()).collect::<Vec<_>>())
}

fn client_from_row(row: &SqliteRow) -> Result<Client, StoreError> {
    let id: String = row.try_get("id").map_err(store_error)?;
    let kind: String = row.try_get("kind").map_err(store_error)?;
    let previous_expires: Option<i64> = row.try_get("previous_secret_expires_at").map_err(store_error)?;
    Ok(Client {
        id: uuid_of(&id)?,
        client_id: row.try_get("client_id").map_err(store_error)?,
        name: row.try_get("name").map_err(store_error)?,
        kind: ClientKind::parse(&kind).ok_or_else(|| StoreError::Other(format!("unknown client kind {kind}")))?,
        redirect_uris: list_column(row, "redirect_uris")?,
        post_logout_redirect_uris: list_column(row, "post_logout_redirect_uris")?,
        grant_types: list_column(row, "grant_types")?.iter().filter_map(|grant| GrantType::parse(grant)).collect(),
        scopes: list_column(row, "scopes")?,
        first_party: row.try_get("first_party").map_err(store_error)?,
        audience: row.try_get("audience").map_err(store_error)?,
        resources: list_column(row, "resources")?,
        secret_hash: row.try_get("secret_hash").map_err(store_error)?,
        previous_secret_hash: row.try_get("previous_secret_hash").map_err(store_error)?,
        previous_secret_expires_at: previous_expires.map(time_of).transpose()?,
        created_at: time_of(row.try_get("created_at").map_err(store_error)?)?,
        updated_at: time_of(row.try_get("updated_at").map_err(store_error)?)?,
    })
}

fn grant_from_row(row: &SqliteRow) -> Result<Grant, StoreError> {
    let user_id: String = row.try_get("user_id").map_err(store_error)?;
    Ok(Grant {
        user_id: uuid_of(&user_id)?,
        client_id: row.try_get("client_id").map_err(store_error)?,
        scopes: list_column(row, "scopes")?,
        granted_at: time_of(row.try_get("granted_at").map_err(store_error)?)?,
    })
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create_client(&self, client: NewClient) -> Result<Client, StoreError> {
        let _writing = self.write_lock.lock().await;
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        let row = sqlx::query(&format!(
            "INSERT INTO oauth_clients (id, client_id, name, kind, redirect_uris, post_logout_redirect_uris, grant_types, \
             scopes, first_party, audience, resources, secret_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) RETURNING {CLIENT_COLUMNS}"
        ))
        .bind(client.id.to_string())
        .bind(&client.client_id)
        .bind(&client.name)
        .bind(client.kind.as_str())
        .bind(list_text(&client.redirect_uris))
        .bind(list_text(&client.post_logout_redirect_uris))
        .bind(grants_text(&client.grant_types))
        .bind(list_text(&client.scopes))
        .bind(client.first_party)
        .bind(&client.audience)
        .bind(list_text(&client.resources))
        .bind(&client.secret_hash)
        .bind(micros(client.created_at))
        .fetch_one(&mut *transaction)
        .await
        .map_err(store_error)?;
        insert_events(&mut transaction, &[UserEvent::client_created(&client)]).await?;
        transaction.commit().await.map_err(store_error)?;
        client_from_row(&row)
    }

    async fn find_client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let row = sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients WHERE client_id = $1"))
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn list_clients(&self) -> Result<Vec<Client>, StoreError> {
        let rows = sqlx::query(&format!("SELECT {CLIENT_COLUMNS} FROM oauth_clients ORDER BY created_at, client_id"))
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        rows.iter().map(client_from_row).collect()
    }

    async fn update_client(
        &self,
        client_id: &str,
        patch: ClientPatch,
        now: DateTime<Utc>,
    ) -> Result<Option<Client>, StoreError> {
        let _writing = self.write_lock.lock().await;
        let audience_given = patch.audience.is_some();
        let row = sqlx::query(&format!(
            "UPDATE oauth_clients SET name = COALESCE($2, name), redirect_uris = COALESCE($3, redirect_uris), \
             post_logout_redirect_uris = COALESCE($4, post_logout_redirect_uris), grant_types = COALESCE($5, grant_types), \
             scopes = COALESCE($6, scopes), first_party = COALESCE($7, first_party), \
             audience = CASE WHEN $8 THEN $9 ELSE audience END, resources = COALESCE($11, resources), updated_at = $10 \
             WHERE client_id = $1 RETURNING {CLIENT_COLUMNS}"
        ))
        .bind(client_id)
        .bind(patch.name.as_deref().map(str::trim))
        .bind(patch.redirect_uris.as_deref().map(list_text))
        .bind(patch.post_logout_redirect_uris.as_deref().map(list_text))
        .bind(patch.grant_types.as_deref().map(grants_text))
        .bind(patch.scopes.as_deref().map(list_text))
        .bind(patch.first_party)
        .bind(audience_given)
        .bind(patch.audience.flatten())
        .bind(micros(now))
        .bind(patch.resources.as_deref().map(list_text))
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.as_ref().map(client_from_row).transpose()
    }

    async fn delete_client(&self, client_id: &str, now: DateTime<Utc>) -> Result<Option<Vec<Revocation>>, StoreError> {
        let _writing = self.write_lock.lock().await;
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        let id: Option<String> = sqlx::query_scalar("SELECT id FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&mut *transaction)
            .await
            .map_err(store_error)?;
        let Some(id) = id else { return Ok(None) };
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT user_id FROM sessions WHERE client_id = $1 AND revoked_at IS NULL ORDER BY user_id",
        )
        .bind(client_id)
        .fetch_all(&mut *transaction)
        .await
        .map_err(store_error)?;
        let mut revocations = Vec::new();
        for user_id in users {
            revocations.extend(
                revoke_client_sessions(
                    &mut transaction,
                    uuid_of(&user_id)?,
                    client_id,
                    RevocationReason::ClientDeleted,
                    now,
                )
                .await?,
            );
        }
        // The client's own tokens (client_credentials) carry its id as `sid`.
        sqlx::query("INSERT OR IGNORE INTO session_revocations (session_id, user_id, revoked_at) VALUES ($1, $1, $2)")
            .bind(&id)
            .bind(micros(now))
            .execute(&mut *transaction)
            .await
            .map_err(store_error)?;
        revocations.push(Revocation { session_id: uuid_of(&id)?, revoked_at: now });
        sqlx::query("DELETE FROM oauth_clients WHERE id = $1")
            .bind(&id)
            .execute(&mut *transaction)
            .await
            .map_err(store_error)?;
        insert_events(&mut transaction, &[UserEvent::client_deleted(uuid_of(&id)?, client_id, now)]).await?;
        transaction.commit().await.map_err(store_error)?;
        Ok(Some(revocations))
    }

    async fn rotate_client_secret(
        &self,
        client_id: &str,
        secret_hash: &str,
        previous_expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let _writing = self.write_lock.lock().await;
        let updated = sqlx::query(
            "UPDATE oauth_clients SET previous_secret_hash = secret_hash, previous_secret_expires_at = $3, \
             secret_hash = $2, updated_at = $4 WHERE client_id = $1",
        )
        .bind(client_id)
        .bind(secret_hash)
        .bind(micros(previous_expires_at))
        .bind(micros(now))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(updated.rows_affected() == 1)
    }

    async fn put_grant(&self, grant: Grant) -> Result<(), StoreError> {
        let _writing = self.write_lock.lock().await;
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        sqlx::query(
            "INSERT INTO oauth_grants (user_id, client_id, scopes, granted_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, client_id) DO UPDATE SET scopes = excluded.scopes, granted_at = excluded.granted_at",
        )
        .bind(grant.user_id.to_string())
        .bind(&grant.client_id)
        .bind(list_text(&grant.scopes))
        .bind(micros(grant.granted_at))
        .execute(&mut *transaction)
        .await
        .map_err(store_error)?;
        insert_events(
            &mut transaction,
            &[UserEvent::grant_given(grant.user_id, &grant.client_id, &grant.scopes, grant.granted_at)],
        )
        .await?;
        transaction.commit().await.map_err(store_error)
    }

    async fn find_grant(&self, user_id: Uuid, client_id: &str) -> Result<Option<Grant>, StoreError> {
        let row = sqlx::query(
            "SELECT user_id, client_id, scopes, granted_at FROM oauth_grants WHERE user_id = $1 AND client_id = $2",
        )
        .bind(user_id.to_string())
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.as_ref().map(grant_from_row).transpose()
    }

    async fn list_grants(&self, user_id: Uuid) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query(
            "SELECT user_id, client_id, scopes, granted_at FROM oauth_grants WHERE user_id = $1 \
             ORDER BY granted_at DESC, client_id",
        )
        .bind(user_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn revoke_grant(
        &self,
        user_id: Uuid,
        client_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<Revocation>>, StoreError> {
        let _writing = self.write_lock.lock().await;
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        let deleted = sqlx::query("DELETE FROM oauth_grants WHERE user_id = $1 AND client_id = $2")
            .bind(user_id.to_string())
            .bind(client_id)
            .execute(&mut *transaction)
            .await
            .map_err(store_error)?;
        let revocations =
            revoke_client_sessions(&mut transaction, user_id, client_id, RevocationReason::GrantRevoked, now).await?;
        if deleted.rows_affected() == 0 && revocations.is_empty() {
            return Ok(None);
        }
        insert_events(&mut transaction, &[UserEvent::grant_revoked(user_id, client_id, now)]).await?;
        transaction.commit().await.map_err(store_error)?;
        Ok(Some(revocations))
    }
}
