use crate::mfa::Assurance;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a user may do. Ordered: `Admin` outranks `User`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An account as stored.
#[derive(Debug, Clone)]
pub struct User {
    pub id: Uuid,
    /// As the user typed it (trimmed).
    pub email: String,
    pub full_name: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub email_verified: bool,
    /// PHC string (argon2id) or bcrypt hash; `None` for accounts created by social sign-in.
    pub password_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Social providers linked to this account (`google`, `vk`, ...).
    pub identity_providers: Vec<String>,
    /// Bumped by every change that revokes the account's sessions (password change or reset,
    /// logout everywhere, deactivation, demotion, detached identities). A session is only
    /// opened if the account is still at the version its credentials were checked against.
    pub credentials_version: i64,
}

impl User {
    /// The ways this user can sign in, as the contract's `providers` field lists them.
    pub fn providers(&self) -> Vec<String> {
        let mut providers = Vec::with_capacity(self.identity_providers.len() + 1);
        if self.password_hash.is_some() {
            providers.push("password".to_owned());
        }
        providers.extend(self.identity_providers.iter().cloned());
        providers
    }

    /// Whether a provider can be unlinked: another way to sign in must remain.
    pub fn can_unlink_a_provider(&self) -> bool {
        self.providers().len() > 1
    }
}

/// The fields needed to create an account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: Uuid,
    pub email: String,
    pub email_key: String,
    pub full_name: Option<String>,
    pub role: Role,
    pub password_hash: Option<String>,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

/// A signed-in device: one refresh-token family.
#[derive(Debug, Clone)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub assurance: Assurance,
    /// Set when the session was opened for an OAuth client (the refresh-token family of a grant).
    pub client: Option<SessionClient>,
}

/// The OAuth client a session belongs to, with what the person granted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionClient {
    pub client_id: String,
    /// Space-separated scopes granted in the authorization; refreshes may narrow, never widen.
    pub scope: String,
    /// When the person authenticated (OIDC `auth_time`), which may predate the session.
    pub auth_time: DateTime<Utc>,
    /// RFC 8707 resources the authorization named (none: any the client is registered for).
    pub resources: Vec<String>,
}

/// The fields needed to open a session, with the hash of its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
    pub refresh_token_hash: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// The account's `credentials_version` when its credentials were checked.
    pub credentials_version: i64,
    /// How the user signed in; every access token of the session carries it.
    pub assurance: Assurance,
    /// For a session opened by an OAuth authorization: the client and its grant.
    pub client: Option<SessionClient>,
}

/// A revoked session, as the validation hot path needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub session_id: Uuid,
    pub revoked_at: DateTime<Utc>,
}

/// Where the revocation poll stopped reading the revocation log. Its meaning belongs to the
/// store that produced it (a transaction-id horizon on PostgreSQL, a commit-ordered sequence on
/// SQLite); the domain only hands it back on the next poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationCursor(i64);

impl RevocationCursor {
    pub fn new(position: i64) -> Self {
        Self(position)
    }

    pub fn position(self) -> i64 {
        self.0
    }
}

/// Changes an administrator may make to an account.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    /// `Some(None)` clears the name.
    pub full_name: Option<Option<String>>,
}

/// What an admin bootstrap found under the email, and what it did about it.
#[derive(Debug, Clone)]
pub enum AdminBootstrap {
    /// No account had the email: created as an admin.
    Created(User),
    /// A non-admin account existed and was promoted (only when promotion was asked for).
    Promoted(User),
    /// The account was an admin already: nothing changed.
    AlreadyAdmin(User),
    /// A non-admin account existed and promotion was not asked for: nothing changed.
    LeftAsIs(User),
}

/// How an administrative update ended.
#[derive(Debug, Clone)]
pub enum UserUpdate {
    /// Applied; sessions revoked by a deactivation or demotion are listed.
    Updated {
        user: User,
        revocations: Vec<Revocation>,
    },
    NotFound,
    /// It would leave no active administrator.
    LastAdmin,
}

/// How a request to delete an account ended.
#[derive(Debug, Clone)]
pub enum AccountDeletion {
    /// Deleted; its sessions were revoked.
    Deleted(Vec<Revocation>),
    NotFound,
    /// It is the last active administrator.
    LastAdmin,
}

/// What an emailed token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailTokenPurpose {
    VerifyEmail,
    ResetPassword,
    /// Moves the account to the token's `new_email` when spent.
    ChangeEmail,
}

impl EmailTokenPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            EmailTokenPurpose::VerifyEmail => "verify_email",
            EmailTokenPurpose::ResetPassword => "reset_password",
            EmailTokenPurpose::ChangeEmail => "change_email",
        }
    }
}

/// A single-use emailed token, stored only as a hash.
#[derive(Debug, Clone)]
pub struct NewEmailToken {
    pub token_hash: Vec<u8>,
    pub user_id: Uuid,
    pub purpose: EmailTokenPurpose,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// For `ChangeEmail`: the address (as typed) the account moves to.
    pub new_email: Option<String>,
}

/// A provider account to attach to a user.
#[derive(Debug, Clone)]
pub struct NewIdentity {
    pub provider: String,
    pub subject: String,
    /// The provider's email at link time, for the record.
    pub email: Option<String>,
    pub created_at: DateTime<Utc>,
}
