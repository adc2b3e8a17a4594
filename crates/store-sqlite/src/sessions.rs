use async_trait::async_trait;
use auth_core::error::StoreError;
use auth_core::events::{RevocationReason, UserEvent};
use auth_core::mfa::Assurance;
use auth_core::model::{NewSession, Revocation, RevocationCursor, Session, SessionClient};
use auth_core::ports::{RefreshRotation, RotationOutcome, SessionStepUp, SessionStore};
use auth_core::sessions::rotation::{self, LockedFamily, RotationDecision};
use chrono::{DateTime, Utc};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use crate::errors::store_error;
use crate::events::insert_events;
use crate::mailbox::bump_credentials_version;
use crate::{SqliteStore, micros, time_of, uuid_of};

const SESSION_COLUMNS: &str = "id, user_id, user_agent, ip_address, created_at, last_seen_at, expires_at, revoked_at, aal, amr, \
     client_id, scope, auth_time, resources";

fn session_from_row(row: &SqliteRow) -> Result<Session, StoreError> {
    let id: String = row.try_get("id").map_err(store_error)?;
    let user_id: String = row.try_get("user_id").map_err(store_error)?;
    let revoked_at: Option<i64> = row.try_get("revoked_at").map_err(store_error)?;
    Ok(Session {
        id: uuid_of(&id)?,
        user_id: uuid_of(&user_id)?,
        user_agent: row.try_get("user_agent").map_err(store_error)?,
        ip_address: row.try_get("ip_address").map_err(store_error)?,
        created_at: time_of(row.try_get("created_at").map_err(store_error)?)?,
        last_seen_at: time_of(row.try_get("last_seen_at").map_err(store_error)?)?,
        expires_at: time_of(row.try_get("expires_at").map_err(store_error)?)?,
        revoked_at: revoked_at.map(time_of).transpose()?,
        assurance: Assurance::from_columns(
            row.try_get("aal").map_err(store_error)?,
            row.try_get("amr").map_err(store_error)?,
        )?,
        client: session_client(row)?,
    })
}

/// The client columns: all set for a session an OAuth client holds, else all null.
fn session_client(row: &SqliteRow) -> Result<Option<SessionClient>, StoreError> {
    let client_id: Option<String> = row.try_get("client_id").map_err(store_error)?;
    let scope: Option<String> = row.try_get("scope").map_err(store_error)?;
    let auth_time: Option<i64> = row.try_get("auth_time").map_err(store_error)?;
    Ok(match (client_id, scope, auth_time) {
        (Some(client_id), Some(scope), Some(auth_time)) => {
            Some(SessionClient { client_id, scope, auth_time: time_of(auth_time)?, resources: resource_list(row)? })
        }
        _ => None,
    })
}

/// The RFC 8707 resources of a client's session: space-separated, URIs hold no spaces.
fn resource_list(row: &SqliteRow) -> Result<Vec<String>, StoreError> {
    let text: Option<String> = row.try_get("resources").map_err(store_error)?;
    Ok(text.unwrap_or_default().split(' ').filter(|part| !part.is_empty()).map(str::to_owned).collect())
}

/// Marks sessions revoked, logs them for the hot path and records their `session.revoked`
/// events, inside the caller's transaction.
/// `condition` narrows the user's sessions further, with `$2` bound to `session_id`.
pub(crate) async fn revoke_where(
    connection: &mut SqliteConnection,
    condition: &str,
    user_id: Uuid,
    session_id: Option<Uuid>,
    reason: RevocationReason,
    now: DateTime<Utc>,
) -> Result<Vec<Revocation>, StoreError> {
    revoke_matching(connection, condition, user_id, session_id.map(|id| id.to_string()), reason, now).await
}

/// Revokes the user's live sessions held by OAuth client `client_id`, like [`revoke_where`].
pub(crate) async fn revoke_client_sessions(
    connection: &mut SqliteConnection,
    user_id: Uuid,
    client_id: &str,
    reason: RevocationReason,
    now: DateTime<Utc>,
) -> Result<Vec<Revocation>, StoreError> {
    revoke_matching(connection, "client_id = $2", user_id, Some(client_id.to_owned()), reason, now).await
}

async fn revoke_matching(
    connection: &mut SqliteConnection,
    condition: &str,
    user_id: Uuid,
    parameter: Option<String>,
    reason: RevocationReason,
    now: DateTime<Utc>,
) -> Result<Vec<Revocation>, StoreError> {
    let revoked: Vec<String> = sqlx::query_scalar(&format!(
        "UPDATE sessions SET revoked_at = $3 WHERE user_id = $1 AND revoked_at IS NULL AND {condition} RETURNING id"
    ))
    .bind(user_id.to_string())
    .bind(parameter)
    .bind(micros(now))
    .fetch_all(&mut *connection)
    .await
    .map_err(store_error)?;
    let mut revocations = Vec::with_capacity(revoked.len());
    for id in revoked {
        sqlx::query("INSERT OR IGNORE INTO session_revocations (session_id, user_id, revoked_at) VALUES ($1, $2, $3)")
            .bind(&id)
            .bind(user_id.to_string())
            .bind(micros(now))
            .execute(&mut *connection)
            .await
            .map_err(store_error)?;
        revocations.push(Revocation { session_id: uuid_of(&id)?, revoked_at: now });
    }
    let events: Vec<UserEvent> = revocations
        .iter()
        .map(|revocation| UserEvent::session_revoked(user_id, revocation.session_id, reason, now))
        .collect();
    insert_events(connection, &events).await?;
    Ok(revocations)
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: NewSession) -> Result<Option<Session>, StoreError> {
        // Under the write lock, no revoking change can commit between this check and the insert.
        let _writing = self.write_lock.lock().await;
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        let current: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1 AND credentials_version = $2 AND is_active = 1")
                .bind(session.user_id.to_string())
                .bind(session.credentials_version)
                .fetch_optional(&mut *transaction)
                .await
                .map_err(store_error)?;
        if current.is_none() {
            return Ok(None);
        }
        let row = sqlx::query(&format!(
            "INSERT INTO sessions (id, user_id, user_agent, ip_address, created_at, last_seen_at, expires_at, current_token_hash, aal, amr, \
             client_id, scope, auth_time, resources) \
             VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {SESSION_COLUMNS}"
        ))
        .bind(session.id.to_string())
        .bind(session.user_id.to_string())
        .bind(&session.user_agent)
        .bind(&session.ip_address)
        .bind(micros(session.created_at))
        .bind(micros(session.expires_at))
        .bind(&session.refresh_token_hash)
        .bind(session.assurance.aal.as_str())
        .bind(session.assurance.amr_column())
        .bind(session.client.as_ref().map(|client| client.client_id.clone()))
        .bind(session.client.as_ref().map(|client| client.scope.clone()))
        .bind(session.client.as_ref().map(|client| micros(client.auth_time)))
        .bind(session.client.as_ref().map(|client| client.resources.join(" ")))
        .fetch_one(&mut *transaction)
        .await
        .map_err(store_error)?;
        insert_refresh_token(
            &mut transaction,
            &session.refresh_token_hash,
            &session.id.to_string(),
            session.created_at,
        )
        .await?;
        transaction.commit().await.map_err(store_error)?;
        session_from_row(&row).map(Some)
    }

    async fn rotate_refresh_token(&self, rotation: RefreshRotation) -> Result<RotationOutcome, StoreError> {
        // The write lock plays the part of PostgreSQL's row lock: refreshes take turns.
        let _writing = self.write_lock.lock().await;
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        let session_id: Option<String> =
            sqlx::query_scalar("SELECT session_id FROM refresh_tokens WHERE token_hash = $1")
                .bind(&rotation.presented_hash)
                .fetch_optional(&mut *transaction)
                .await
                .map_err(store_error)?;
        let Some(session_id) = session_id else {
            return Ok(RotationOutcome::Unknown);
        };
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS}, current_token_hash, rotated_at FROM sessions WHERE id = $1"
        ))
        .bind(&session_id)
        .fetch_one(&mut *transaction)
        .await
        .map_err(store_error)?;
        let session = session_from_row(&row)?;
        // A token is only good with the client its session belongs to (or with none).
        if session.client.as_ref().map(|client| client.client_id.as_str()) != rotation.client_id.as_deref() {
            return Ok(RotationOutcome::Unknown);
        }
        let current_hash: Vec<u8> = row.try_get("current_token_hash").map_err(store_error)?;
        let rotated_at: Option<i64> = row.try_get("rotated_at").map_err(store_error)?;
        let rotated_at = rotated_at.map(time_of).transpose()?;
        let now = rotation.now;

        let family = LockedFamily {
            revoked: session.revoked_at.is_some(),
            expires_at: session.expires_at,
            current_hash: &current_hash,
            rotated_at,
        };
        let outcome = match rotation::decide(&family, &rotation) {
            RotationDecision::Revoked => return Ok(RotationOutcome::Revoked),
            RotationDecision::Expired => return Ok(RotationOutcome::Expired),
            RotationDecision::Rotate => {
                sqlx::query("UPDATE refresh_tokens SET spent_at = $2 WHERE token_hash = $1")
                    .bind(&rotation.presented_hash)
                    .bind(micros(now))
                    .execute(&mut *transaction)
                    .await
                    .map_err(store_error)?;
                insert_refresh_token(&mut transaction, &rotation.successor_hash, &session_id, now).await?;
                sqlx::query(
                "UPDATE sessions SET current_token_hash = $2, rotated_at = $3, last_seen_at = $3, expires_at = $4 WHERE id = $1",
            )
            .bind(&session_id)
            .bind(&rotation.successor_hash)
            .bind(micros(now))
            .bind(micros(rotation.expires_at))
            .execute(&mut *transaction)
            .await
            .map_err(store_error)?;
                RotationOutcome::Rotated(Session { last_seen_at: now, expires_at: rotation.expires_at, ..session })
            }
            RotationDecision::ReplayParent => RotationOutcome::ParentReplayed(session),
            RotationDecision::Reuse => {
                insert_events(&mut transaction, &[UserEvent::refresh_reuse_detected(session.user_id, session.id, now)])
                    .await?;
                let mut revocations = revoke_where(
                    &mut transaction,
                    "id = $2",
                    session.user_id,
                    Some(session.id),
                    RevocationReason::RefreshReuse,
                    now,
                )
                .await?;
                match revocations.pop() {
                    Some(revocation) => RotationOutcome::Reused(revocation),
                    None => RotationOutcome::Revoked,
                }
            }
        };
        transaction.commit().await.map_err(store_error)?;
        Ok(outcome)
    }

    async fn step_up_session(&self, step_up: SessionStepUp) -> Result<Option<Session>, StoreError> {
        let _writing = self.write_lock.lock().await;
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS}, current_token_hash FROM sessions \
             WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL AND expires_at > $3"
        ))
        .bind(step_up.session_id.to_string())
        .bind(step_up.user_id.to_string())
        .bind(micros(step_up.now))
        .fetch_optional(&mut *transaction)
        .await
        .map_err(store_error)?;
        let Some(row) = row else { return Ok(None) };
        let current_hash: Vec<u8> = row.try_get("current_token_hash").map_err(store_error)?;
        sqlx::query("UPDATE refresh_tokens SET spent_at = $2 WHERE token_hash = $1")
            .bind(&current_hash)
            .bind(micros(step_up.now))
            .execute(&mut *transaction)
            .await
            .map_err(store_error)?;
        insert_refresh_token(
            &mut transaction,
            &step_up.refresh_token_hash,
            &step_up.session_id.to_string(),
            step_up.now,
        )
        .await?;
        sqlx::query(
            "UPDATE sessions SET current_token_hash = $2, rotated_at = $3, last_seen_at = $3, aal = $4, amr = $5 \
             WHERE id = $1",
        )
        .bind(step_up.session_id.to_string())
        .bind(&step_up.refresh_token_hash)
        .bind(micros(step_up.now))
        .bind(step_up.assurance.aal.as_str())
        .bind(step_up.assurance.amr_column())
        .execute(&mut *transaction)
        .await
        .map_err(store_error)?;
        transaction.commit().await.map_err(store_error)?;
        let session = session_from_row(&row)?;
        Ok(Some(Session { assurance: step_up.assurance, last_seen_at: step_up.now, ..session }))
    }

    async fn find_session(&self, id: Uuid) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn find_session_by_refresh_hash(&self, hash: &[u8]) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1)"
        ))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.as_ref().map(session_from_row).transpose()
    }

    async fn refresh_token_is_live(&self, hash: &[u8]) -> Result<bool, StoreError> {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE token_hash = $1 AND spent_at IS NULL)",
        )
        .bind(hash)
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)
    }

    async fn list_active_sessions(&self, user_id: Uuid, now: DateTime<Utc>) -> Result<Vec<Session>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             AND client_id IS NULL ORDER BY created_at DESC, id"
        ))
        .bind(user_id.to_string())
        .bind(micros(now))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(session_from_row).collect()
    }

    async fn revoke_session(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> Result<Option<Revocation>, StoreError> {
        let _writing = self.write_lock.lock().await;
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        let mut revoked = revoke_where(&mut transaction, "id = $2", user_id, Some(session_id), reason, now).await?;
        transaction.commit().await.map_err(store_error)?;
        Ok(revoked.pop())
    }

    async fn revoke_user_sessions(
        &self,
        user_id: Uuid,
        reason: RevocationReason,
        now: DateTime<Utc>,
    ) -> Result<Vec<Revocation>, StoreError> {
        let _writing = self.write_lock.lock().await;
        let mut transaction = self.pool.begin().await.map_err(store_error)?;
        bump_credentials_version(&mut transaction, user_id).await?;
        let revoked = revoke_where(&mut transaction, "$2 IS NULL", user_id, None, reason, now).await?;
        transaction.commit().await.map_err(store_error)?;
        Ok(revoked)
    }

    async fn revocations_after(
        &self,
        cursor: Option<RevocationCursor>,
        revoked_since: DateTime<Utc>,
    ) -> Result<(Vec<Revocation>, RevocationCursor), StoreError> {
        // One statement reads one snapshot, and with a single writer every row committed after it
        // gets a higher `seq` than any row in it: the highest `seq` read is a safe cursor. Rows
        // left out for being older than `revoked_since` never matter again (the horizon only
        // moves forward). Sequence numbers start at 1, so no cursor reads every row.
        let rows = sqlx::query(
            "SELECT seq, session_id, revoked_at FROM session_revocations WHERE seq > $1 AND revoked_at >= $2",
        )
        .bind(cursor.map_or(0, RevocationCursor::position))
        .bind(micros(revoked_since))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut next = cursor.map_or(0, RevocationCursor::position);
        let mut revocations = Vec::with_capacity(rows.len());
        for row in &rows {
            let session_id: String = row.try_get("session_id").map_err(store_error)?;
            next = next.max(row.try_get("seq").map_err(store_error)?);
            revocations.push(Revocation {
                session_id: uuid_of(&session_id)?,
                revoked_at: time_of(row.try_get("revoked_at").map_err(store_error)?)?,
            });
        }
        Ok((revocations, RevocationCursor::new(next)))
    }

    async fn prune(&self, revoked_before: DateTime<Utc>, expired_before: DateTime<Utc>) -> Result<u64, StoreError> {
        let _writing = self.write_lock.lock().await;
        let revocations = sqlx::query("DELETE FROM session_revocations WHERE revoked_at < $1")
            .bind(micros(revoked_before))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $2")
            .bind(micros(expired_before))
            .bind(micros(revoked_before))
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(revocations.rows_affected() + sessions.rows_affected())
    }
}

/// A refresh token of the session becomes known (live until spent).
async fn insert_refresh_token(
    connection: &mut SqliteConnection,
    hash: &[u8],
    session_id: &str,
    issued_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)")
        .bind(hash)
        .bind(session_id)
        .bind(micros(issued_at))
        .execute(&mut *connection)
        .await
        .map(|_| ())
        .map_err(store_error)
}
