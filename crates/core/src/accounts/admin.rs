//! Administration of accounts: listing, role and activity changes, forced logout.

use std::sync::Arc;

use uuid::Uuid;

use super::{Email, normalise_full_name};
use crate::clock::Clock;
use crate::error::DomainError;
use crate::events::{DeadLetter, RevocationReason};
use crate::model::{AdminBootstrap, NewUser, Role, User, UserPatch, UserUpdate};
use crate::ports::Store;
use crate::sessions::SessionService;

pub const MAX_PAGE: u32 = 200;
pub const DEFAULT_PAGE: u32 = 50;

/// One page of users and the cursor of the next (`None` on the last page).
#[derive(Debug)]
pub struct UserPage {
    pub items: Vec<User>,
    pub next_cursor: Option<Uuid>,
}

/// One page of dead-lettered events and the cursor of the next.
#[derive(Debug)]
pub struct DeadLetterPage {
    pub items: Vec<DeadLetter>,
    pub next_cursor: Option<i64>,
}

pub struct AdminService {
    store: Arc<dyn Store>,
    sessions: Arc<SessionService>,
    clock: Arc<dyn Clock>,
}

impl AdminService {
    pub fn new(store: Arc<dyn Store>, sessions: Arc<SessionService>, clock: Arc<dyn Clock>) -> Self {
        Self { store, sessions, clock }
    }

    pub async fn list(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
        email: Option<&str>,
    ) -> Result<UserPage, DomainError> {
        let limit = page_size(limit)?;
        let after = parse_cursor(cursor, |cursor| Uuid::parse_str(cursor).ok())?;
        let prefix = email.map(Email::key_of).filter(|prefix| !prefix.is_empty());
        let items = self.store.list_users(after, limit + 1, prefix.as_deref()).await?;
        let (items, next_cursor) = split_page(items, limit, |user| user.id);
        Ok(UserPage { items, next_cursor })
    }

    pub async fn get(&self, id: Uuid) -> Result<User, DomainError> {
        self.store.find_user(id).await?.ok_or(DomainError::NotFound)
    }

    /// Applies a patch. Deactivation and demotion revoke the user's sessions everywhere.
    #[tracing::instrument(name = "admin update user", skip(self, patch), fields(admin_id = %admin_id))]
    pub async fn update(&self, admin_id: Uuid, id: Uuid, mut patch: UserPatch) -> Result<User, DomainError> {
        if let Some(full_name) = patch.full_name.take() {
            patch.full_name = Some(normalise_full_name(full_name)?);
        }
        match self.store.update_user(id, patch, self.clock.now()).await? {
            UserUpdate::Updated { user, revocations } => {
                tracing::info!(target: "audit", event = "user_updated_by_admin", %admin_id, user_id = %id, role = user.role.as_str(), is_active = user.is_active, revoked = revocations.len(), outcome = "success", "user updated by admin");
                self.sessions.publish_revocations(&revocations).await;
                Ok(user)
            }
            UserUpdate::NotFound => Err(DomainError::NotFound),
            UserUpdate::LastAdmin => Err(DomainError::LastAdmin),
        }
    }

    /// Events whose delivery gave up, oldest first.
    pub async fn dead_letters(&self, limit: Option<u32>, cursor: Option<&str>) -> Result<DeadLetterPage, DomainError> {
        let limit = page_size(limit)?;
        let after = parse_cursor(cursor, |cursor| cursor.parse::<i64>().ok())?;
        let items = self.store.list_dead_letters(after, limit + 1).await?;
        let (items, next_cursor) = split_page(items, limit, |event| event.sequence);
        Ok(DeadLetterPage { items, next_cursor })
    }

    /// Puts a dead-lettered event back in the delivery queue with a fresh set of attempts.
    pub async fn retry_dead_letter(&self, id: Uuid) -> Result<(), DomainError> {
        if self.store.retry_dead_letter(id, self.clock.now()).await? {
            tracing::info!(target: "audit", event = "event_retry", event_id = %id, outcome = "requeued", "dead-lettered event requeued");
            Ok(())
        } else {
            Err(DomainError::NotFound)
        }
    }

    pub async fn logout_all(&self, id: Uuid) -> Result<(), DomainError> {
        self.get(id).await?;
        self.sessions.revoke_all(id, RevocationReason::AdminLogout).await
    }

    /// Makes the account with `email` an admin, creating it (without a password unless one is
    /// given) when it does not exist. An existing account may have been registered by anyone
    /// who guessed the address, so it is promoted only when the operator said so
    /// (`promote_existing`), and a given password is never set on it: asking to set one without
    /// opting in is refused rather than dropped silently.
    pub async fn ensure_admin(
        &self,
        email: &str,
        password_hash: Option<String>,
        promote_existing: bool,
    ) -> Result<AdminGrant, DomainError> {
        let email = Email::parse(email)?;
        let password_given = password_hash.is_some();
        let new_admin = NewUser {
            id: Uuid::new_v4(),
            email: email.address().to_owned(),
            email_key: email.key().to_owned(),
            full_name: None,
            role: Role::Admin,
            password_hash,
            email_verified: false,
            created_at: self.clock.now(),
        };
        let grant = match self.store.ensure_admin(new_admin, promote_existing).await? {
            AdminBootstrap::Created(user) => AdminGrant::Created(user),
            AdminBootstrap::Promoted(user) => AdminGrant::Promoted { user, password_ignored: password_given },
            AdminBootstrap::AlreadyAdmin(user) if password_given && !promote_existing => {
                AdminGrant::Refused { user, already_admin: true, password_given }
            }
            AdminBootstrap::AlreadyAdmin(user) => AdminGrant::AlreadyAdmin { user, password_ignored: password_given },
            AdminBootstrap::LeftAsIs(user) => AdminGrant::Refused { user, already_admin: false, password_given },
        };
        match &grant {
            AdminGrant::Created(user) | AdminGrant::Promoted { user, .. } => {
                tracing::info!(target: "audit", event = "admin_granted", user_id = %user.id, existing = matches!(grant, AdminGrant::Promoted { .. }), outcome = "success", "account has the admin role");
            }
            AdminGrant::AlreadyAdmin { user, .. } => tracing::info!(user_id = %user.id, "account has the admin role"),
            AdminGrant::Refused { user, .. } => {
                tracing::warn!(target: "audit", event = "admin_granted", user_id = %user.id, outcome = "refused", "existing account not made an admin");
            }
        }
        Ok(grant)
    }
}

/// Whether a change leaves no active administrator: the account was one, will not be one
/// (demoted, deactivated or deleted), and no other active administrator exists. Stores call it
/// with the admins locked.
pub fn removes_last_admin(was_active_admin: bool, stays_active_admin: bool, other_active_admins: usize) -> bool {
    was_active_admin && !stays_active_admin && other_active_admins == 0
}

/// How `ensure_admin` ended; the caller words it for the operator.
#[derive(Debug, Clone)]
pub enum AdminGrant {
    /// A new account with the admin role (and the given password, if any).
    Created(User),
    /// An existing account got the role; a given password was NOT set.
    Promoted { user: User, password_ignored: bool },
    /// The account was an admin already; a given password was NOT set.
    AlreadyAdmin { user: User, password_ignored: bool },
    /// The account exists and the operator did not opt in: nothing changed.
    Refused { user: User, already_admin: bool, password_given: bool },
}

fn page_size(limit: Option<u32>) -> Result<u32, DomainError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(DomainError::invalid_field("limit", "must be between 1 and 200"))
    }
}

fn parse_cursor<T>(cursor: Option<&str>, parse: impl Fn(&str) -> Option<T>) -> Result<Option<T>, DomainError> {
    match cursor.filter(|cursor| !cursor.is_empty()) {
        Some(cursor) => {
            parse(cursor).map(Some).ok_or_else(|| DomainError::invalid_field("cursor", "is not a cursor from this API"))
        }
        None => Ok(None),
    }
}

/// Items were fetched one past the page: the extra one only says that a next page exists.
fn split_page<T, C>(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> C) -> (Vec<T>, Option<C>) {
    if items.len() > limit as usize {
        items.truncate(limit as usize);
        let next = items.last().map(cursor_of);
        (items, next)
    } else {
        (items, None)
    }
}
