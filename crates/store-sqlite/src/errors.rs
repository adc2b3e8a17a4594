//! Driver errors turned into storage errors at the edge.

use auth_core::error::StoreError;

pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(database_error) => {
            let message = database_error.message();
            if database_error.is_unique_violation() && message.contains("users.email_key") {
                StoreError::Conflict("email")
            } else if database_error.is_unique_violation() && message.contains("identities.") {
                StoreError::Conflict("identity")
            } else if database_error.is_unique_violation() && message.contains("oauth_clients.client_id") {
                StoreError::Conflict("client_id")
            } else if database_error.is_unique_violation() && message.contains("passkeys.credential_id") {
                StoreError::Conflict("credential_id")
            } else if message.contains("database is locked") || message.contains("database table is locked") {
                StoreError::Unavailable(error.to_string())
            } else {
                StoreError::Other(error.to_string())
            }
        }
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            StoreError::Unavailable(error.to_string())
        }
        _ => StoreError::Other(error.to_string()),
    }
}
