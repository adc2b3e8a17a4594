use thiserror::Error;

/// One invalid field of a request, reported back to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self { field: field.to_owned(), message: message.into() }
    }
}

/// Business-level failures. The HTTP layer maps each to a status and a stable code in one place.
#[derive(Debug, Error)]
pub enum DomainError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("email already registered")]
    EmailTaken,
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("account disabled")]
    AccountDisabled,
    /// The account's credentials changed (password change, logout everywhere, deactivation...)
    /// while this sign-in was being checked: it must not open a session.
    #[error("credentials changed during sign-in")]
    SignInSuperseded,
    #[error("email not verified")]
    EmailNotVerified,
    #[error("invalid token")]
    InvalidToken,
    #[error("token expired")]
    TokenExpired,
    #[error("token revoked")]
    TokenRevoked,
    #[error("refresh token reused")]
    RefreshTokenReused,
    #[error("last active admin")]
    LastAdmin,
    #[error("invalid email token")]
    InvalidEmailToken,
    #[error("unknown provider")]
    UnknownProvider,
    #[error("redirect target not allowed")]
    InvalidRedirect,
    #[error("invalid or expired state")]
    InvalidState,
    #[error("the provider or the user refused")]
    ProviderDenied,
    #[error("the provider failed")]
    ProviderError,
    /// The provider's email belongs to an account it may not be linked to automatically.
    #[error("email already registered")]
    EmailTakenLinkable { provider: String },
    #[error("the last way to sign in cannot be removed")]
    LastLoginMethod,
    #[error("insufficient role")]
    InsufficientRole,
    /// An OAuth client's token without a scope the caller asked for.
    #[error("insufficient scope")]
    InsufficientScope,
    /// A token not meant for the audience the caller asked for (its `aud`, RFC 8707).
    #[error("token for another audience")]
    WrongAudience,
    /// The token's assurance is below what is asked: a second factor is needed.
    #[error("second factor required")]
    MfaRequired,
    /// A wrong TOTP or recovery code.
    #[error("invalid second-factor code")]
    InvalidMfaCode,
    /// A passkey registration whose attestation, challenge or origin does not hold.
    #[error("invalid passkey")]
    InvalidPasskey,
    /// A confirmed TOTP factor exists; it must be removed before enrolling another.
    #[error("second factor already enabled")]
    MfaAlreadyEnabled,
    /// The user has no second factor for this to apply to.
    #[error("no second factor enabled")]
    MfaNotEnabled,
    #[error("not found")]
    NotFound,
    /// Too many attempts; try again after this many seconds.
    #[error("rate limited")]
    RateLimited { retry_after_seconds: u64 },
    /// The password-hashing queue is full: shed load instead of stalling everything else.
    #[error("overloaded")]
    Overloaded,
    /// A dependency (database, cache) did not answer; the cause is for the log only.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// A bug or corrupt data; the cause is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    pub fn invalid_field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }
}

/// Failures reported by storage implementations.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the string names which (e.g. `email`).
    #[error("conflict on {0}")]
    Conflict(&'static str),
    /// The database could not be reached or timed out.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Anything else: malformed rows, unexpected driver errors.
    #[error("storage error: {0}")]
    Other(String),
}

/// A stored name (an assurance level, a method) the code does not know: a malformed row.
impl From<crate::mfa::UnknownName> for StoreError {
    fn from(error: crate::mfa::UnknownName) -> Self {
        StoreError::Other(format!("malformed row: {error}"))
    }
}

impl From<StoreError> for DomainError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict("email") => DomainError::EmailTaken,
            StoreError::Conflict("identity") => DomainError::EmailTaken,
            StoreError::Conflict(what) => DomainError::Internal(format!("unexpected conflict on {what}")),
            StoreError::Unavailable(cause) => DomainError::Unavailable(cause),
            StoreError::Other(cause) => DomainError::Internal(cause),
        }
    }
}
