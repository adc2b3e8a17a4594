//! Driver errors turned into storage errors at the edge, recognising constraints by name.

use auth_core::error::StoreError;

pub(crate) fn store_error(error: sqlx::Error) -> StoreError {
    match &error {
        sqlx::Error::Database(database_error) => match database_error.constraint() {
            Some("users_email_key_unique") => StoreError::Conflict("email"),
            Some("identities_pkey") => StoreError::Conflict("identity"),
            Some("passkeys_credential_id_unique") => StoreError::Conflict("credential_id"),
            Some("oauth_clients_client_id_key") => StoreError::Conflict("client_id"),
            // Class 08 is connection exceptions; 57P0x is the server shutting down.
            _ if database_error.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P")) => {
                StoreError::Unavailable(error.to_string())
            }
            _ => StoreError::Other(error.to_string()),
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => StoreError::Unavailable(error.to_string()),
        _ => StoreError::Other(error.to_string()),
    }
}
