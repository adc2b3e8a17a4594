//! Sessions: issuing token pairs, rotating refresh tokens with reuse detection, revoking, and
//! checking access tokens on the hot path.

mod access_token;
pub mod destination;
pub mod keys;
mod refresh_token;
mod revocation;
pub mod rotation;
mod verified_cache;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;

pub use access_token::{AccessClaims, AccessTokens, MAX_TOKEN_BYTES};
pub use keys::KeyRing;
pub use refresh_token::RefreshTokens;
pub use revocation::RevocationSet;
use verified_cache::VerifiedTokenCache;

use crate::clock::Clock;
use crate::error::DomainError;
use crate::events::RevocationReason;
use crate::mfa::{Aal, Assurance, AuthMethod};
use crate::model::{NewSession, Revocation, RevocationCursor, Role, Session, SessionClient, User};
use crate::ports::{RefreshRotation, RevocationBroadcast, RotationOutcome, SessionStepUp, Store};

/// Longest user agent kept on a session; the rest is noise or an attack.
const MAX_USER_AGENT_CHARS: usize = 512;

/// Lifetimes and the rotation grace window.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub refresh_token_ttl: Duration,
    /// Seconds after a rotation in which the immediate parent still answers; 0 is strict.
    pub refresh_reuse_interval: Duration,
    pub assurance: AssurancePolicy,
}

/// Which roles must have signed in with a second factor to use the admin API.
#[derive(Debug, Clone, Default)]
pub struct AssurancePolicy {
    pub mfa_required_roles: Vec<Role>,
}

impl AssurancePolicy {
    /// The assurance a token of `role` needs for the admin API.
    pub fn admin_api_requires(&self, role: Role) -> Aal {
        if self.mfa_required_roles.contains(&role) { Aal::Aal2 } else { Aal::Aal1 }
    }
}

/// What a client gets from login, refresh and social sign-in.
#[derive(Clone)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
    pub refresh_expires_in: i64,
}

/// The tokens are bearer credentials: never in a log line.
impl std::fmt::Debug for TokenPair {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("TokenPair")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .field("refresh_expires_in", &self.refresh_expires_in)
            .finish()
    }
}

/// Where a sign-in came from, as stored on the session.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub user_agent: Option<String>,
    pub ip_address: Option<String>,
}

pub struct SessionService {
    store: Arc<dyn Store>,
    access_tokens: AccessTokens,
    refresh_tokens: RefreshTokens,
    revocations: Arc<RevocationSet>,
    broadcast: Arc<dyn RevocationBroadcast>,
    clock: Arc<dyn Clock>,
    settings: SessionSettings,
    verified: Option<VerifiedTokenCache>,
}

impl SessionService {
    pub fn new(
        store: Arc<dyn Store>,
        access_tokens: AccessTokens,
        revocations: Arc<RevocationSet>,
        broadcast: Arc<dyn RevocationBroadcast>,
        clock: Arc<dyn Clock>,
        settings: SessionSettings,
    ) -> Self {
        let refresh_tokens = RefreshTokens::new(access_tokens.keys().derive_secret("refresh-token-successor"));
        let verified = VerifiedTokenCache::for_algorithm(access_tokens.keys().algorithm());
        Self { store, access_tokens, refresh_tokens, revocations, broadcast, clock, settings, verified }
    }

    pub fn access_tokens(&self) -> &AccessTokens {
        &self.access_tokens
    }

    pub fn revocations(&self) -> &RevocationSet {
        &self.revocations
    }

    /// Opens a session for a user who has just proved who they are. If the account's
    /// credentials changed since `user` was read (a revocation committed meanwhile), no session
    /// is opened: `SignInSuperseded`.
    #[tracing::instrument(name = "start session", skip_all, fields(user_id = %user.id))]
    pub async fn start(&self, user: &User, client: ClientInfo, assurance: Assurance) -> Result<TokenPair, DomainError> {
        let now = self.clock.now();
        let (session, refresh_token) = self.open(user, client, assurance, None).await?;
        self.pair(user, &session, refresh_token, now)
    }

    /// Opens the session an OAuth client holds for a person (the refresh-token family of one
    /// authorization); the client's tokens are the provider's to issue.
    #[tracing::instrument(name = "start client session", skip_all, fields(user_id = %user.id, client_id = %client.client_id))]
    pub async fn start_for_client(
        &self,
        user: &User,
        info: ClientInfo,
        assurance: Assurance,
        client: SessionClient,
    ) -> Result<(Session, String), DomainError> {
        self.open(user, info, assurance, Some(client)).await
    }

    async fn open(
        &self,
        user: &User,
        client: ClientInfo,
        assurance: Assurance,
        oauth_client: Option<SessionClient>,
    ) -> Result<(Session, String), DomainError> {
        let now = self.clock.now();
        let refresh_token = self.refresh_tokens.generate();
        let session = self
            .store
            .create_session(NewSession {
                id: Uuid::new_v4(),
                user_id: user.id,
                user_agent: client.user_agent.as_deref().map(clean_user_agent),
                ip_address: client.ip_address,
                refresh_token_hash: RefreshTokens::hash(&refresh_token),
                created_at: now,
                expires_at: now + self.settings.refresh_token_ttl,
                credentials_version: user.credentials_version,
                assurance,
                client: oauth_client,
            })
            .await?
            .ok_or(DomainError::SignInSuperseded)?;
        tracing::info!(target: "audit", event = "login_succeeded", user_id = %user.id, session_id = %session.id, aal = session.assurance.aal.as_str(), client_id = session.client.as_ref().map(|client| client.client_id.as_str()), outcome = "success", "session started");
        Ok((session, refresh_token))
    }

    /// Spends a refresh token and returns its successor (the rule: `rotation::decide`).
    #[tracing::instrument(name = "refresh session", skip_all)]
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair, DomainError> {
        let (user, session, successor) = self.rotate(refresh_token, None).await?;
        self.pair(&user, &session, successor, self.clock.now())
    }

    /// The OAuth `refresh_token` grant: like [`Self::refresh`], for a token of a session that
    /// `client_id` holds (any other token is `InvalidToken`). Returns the session, its user and
    /// the successor refresh token.
    #[tracing::instrument(name = "refresh client session", skip_all, fields(client_id))]
    pub async fn refresh_for_client(
        &self,
        refresh_token: &str,
        client_id: &str,
    ) -> Result<(User, Session, String), DomainError> {
        self.rotate(refresh_token, Some(client_id.to_owned())).await
    }

    async fn rotate(
        &self,
        refresh_token: &str,
        client_id: Option<String>,
    ) -> Result<(User, Session, String), DomainError> {
        if !RefreshTokens::is_well_formed(refresh_token) {
            return Err(DomainError::InvalidToken);
        }
        let now = self.clock.now();
        let successor = self.refresh_tokens.successor(refresh_token);
        let outcome = self
            .store
            .rotate_refresh_token(RefreshRotation {
                presented_hash: RefreshTokens::hash(refresh_token),
                successor_hash: RefreshTokens::hash(&successor),
                now,
                reuse_interval_seconds: self.settings.refresh_reuse_interval.num_seconds(),
                expires_at: now + self.settings.refresh_token_ttl,
                client_id,
            })
            .await?;
        let label = match &outcome {
            RotationOutcome::Rotated(_) => "rotated",
            RotationOutcome::ParentReplayed(_) => "parent_replayed",
            RotationOutcome::Reused(_) => "reuse_detected",
            RotationOutcome::Revoked => "revoked",
            RotationOutcome::Expired => "expired",
            RotationOutcome::Unknown => "unknown",
        };
        metrics::counter!("refreshes_total", "outcome" => label).increment(1);
        let session = match outcome {
            RotationOutcome::Rotated(session) | RotationOutcome::ParentReplayed(session) => session,
            RotationOutcome::Reused(revocation) => {
                tracing::warn!(target: "audit", event = "refresh_reuse_detected", session_id = %revocation.session_id, outcome = "session_revoked", "refresh token reuse: session revoked");
                self.publish_revocations(&[revocation]).await;
                return Err(DomainError::RefreshTokenReused);
            }
            RotationOutcome::Revoked => return Err(DomainError::TokenRevoked),
            RotationOutcome::Expired => return Err(DomainError::TokenExpired),
            RotationOutcome::Unknown => return Err(DomainError::InvalidToken),
        };
        let user = match self.store.find_user(session.user_id).await? {
            Some(user) if user.is_active => user,
            _ => return Err(DomainError::TokenRevoked),
        };
        Ok((user, session, successor))
    }

    /// Checks an access token for the hot path: signature and claims, then the in-process
    /// revocation set. No database or network call.
    pub fn authenticate(&self, access_token: &str) -> Result<AccessClaims, DomainError> {
        let now = self.clock.now();
        let claims = match &self.verified {
            None => self.access_tokens.verify(access_token, now)?,
            Some(verified) => match verified.get(access_token, now.timestamp()) {
                Some(claims) => claims,
                None => {
                    let claims = self.access_tokens.verify(access_token, now)?;
                    verified.insert(access_token, &claims);
                    claims
                }
            },
        };
        self.ensure_live(claims.sid)?;
        Ok(claims)
    }

    /// Whether session `sid` is unrevoked, from the in-process revocation set.
    pub fn ensure_live(&self, sid: Uuid) -> Result<(), DomainError> {
        if !self.revocations.is_loaded() {
            // Started while the database was down: the set is empty, not "nothing revoked".
            return Err(DomainError::Unavailable("revocation log not loaded yet".into()));
        }
        if self.revocations.is_revoked(sid) {
            return Err(DomainError::TokenRevoked);
        }
        Ok(())
    }

    pub async fn session(&self, id: Uuid) -> Result<Option<Session>, DomainError> {
        Ok(self.store.find_session(id).await?)
    }

    /// The session a refresh token (live or spent) belongs to.
    pub async fn find_by_refresh_token(&self, refresh_token: &str) -> Result<Option<Session>, DomainError> {
        if !RefreshTokens::is_well_formed(refresh_token) {
            return Ok(None);
        }
        Ok(self.store.find_session_by_refresh_hash(&RefreshTokens::hash(refresh_token)).await?)
    }

    /// The session of a refresh token that would still rotate (not spent), if any.
    pub async fn find_live_by_refresh_token(&self, refresh_token: &str) -> Result<Option<Session>, DomainError> {
        if !RefreshTokens::is_well_formed(refresh_token) {
            return Ok(None);
        }
        let hash = RefreshTokens::hash(refresh_token);
        if !self.store.refresh_token_is_live(&hash).await? {
            return Ok(None);
        }
        Ok(self.store.find_session_by_refresh_hash(&hash).await?)
    }

    /// Like [`Self::authenticate`], and also requires `role` or higher and assurance `aal` or
    /// higher (`MfaRequired` below it).
    pub fn authorize(&self, access_token: &str, role: Role, aal: Aal) -> Result<AccessClaims, DomainError> {
        let claims = self.authenticate(access_token)?;
        if claims.role < role {
            return Err(DomainError::InsufficientRole);
        }
        if claims.aal < aal {
            return Err(DomainError::MfaRequired);
        }
        Ok(claims)
    }

    /// Raises the session of `claims` by the methods just proved (`added`), with a new pair; the
    /// old refresh token is spent.
    #[tracing::instrument(name = "step up session", skip_all, fields(user_id = %user.id, session_id = %claims.sid))]
    pub async fn step_up(
        &self,
        user: &User,
        claims: &AccessClaims,
        added: &[AuthMethod],
        passkey_user_verified: bool,
    ) -> Result<TokenPair, DomainError> {
        let now = self.clock.now();
        let current = Assurance { aal: claims.aal, amr: claims.amr.clone() };
        let refresh_token = self.refresh_tokens.generate();
        let step_up = SessionStepUp {
            user_id: user.id,
            session_id: claims.sid,
            assurance: current.step_up(added, passkey_user_verified),
            refresh_token_hash: RefreshTokens::hash(&refresh_token),
            now,
        };
        let session = self.store.step_up_session(step_up).await?.ok_or(DomainError::TokenRevoked)?;
        tracing::info!(target: "audit", event = "session_stepped_up", user_id = %user.id, session_id = %session.id, aal = session.assurance.aal.as_str(), outcome = "success", "session stepped up");
        self.pair(user, &session, refresh_token, now)
    }

    /// An administrator's token, at the assurance the policy asks of its role.
    pub fn authorize_admin(&self, access_token: &str) -> Result<AccessClaims, DomainError> {
        let claims = self.authenticate(access_token)?;
        self.admit_admin(&claims)?;
        Ok(claims)
    }

    /// Whether an authenticated session may administer: role admin, at the assurance the
    /// policy asks of that role (the admin API and the admin console both ask here).
    pub fn admit_admin(&self, claims: &AccessClaims) -> Result<(), DomainError> {
        if claims.role < Role::Admin {
            return Err(DomainError::InsufficientRole);
        }
        if claims.aal < self.settings.assurance.admin_api_requires(claims.role) {
            return Err(DomainError::MfaRequired);
        }
        Ok(())
    }

    /// Revokes the session of an access token or of a refresh token (live or spent).
    #[tracing::instrument(name = "logout", skip_all)]
    pub async fn logout(&self, token: &str) -> Result<(), DomainError> {
        let (user_id, session_id) = if RefreshTokens::is_well_formed(token) {
            let session = self
                .store
                .find_session_by_refresh_hash(&RefreshTokens::hash(token))
                .await?
                .ok_or(DomainError::InvalidToken)?;
            (session.user_id, session.id)
        } else {
            let claims = match self.authenticate(token) {
                Err(DomainError::TokenRevoked) => return Ok(()),
                other => other?,
            };
            (claims.sub, claims.sid)
        };
        if let Some(revocation) =
            self.store.revoke_session(user_id, session_id, RevocationReason::Logout, self.clock.now()).await?
        {
            tracing::info!(target: "audit", event = "logout", %user_id, %session_id, outcome = "session_revoked", "session revoked by logout");
            self.publish_revocations(&[revocation]).await;
        }
        Ok(())
    }

    /// Revokes every session of a user.
    #[tracing::instrument(name = "logout all", skip(self))]
    pub async fn logout_all(&self, user_id: Uuid) -> Result<(), DomainError> {
        self.revoke_all(user_id, RevocationReason::LogoutAll).await
    }

    /// Revokes every session of a user for `reason`, which the `session.revoked` events carry.
    #[tracing::instrument(name = "revoke all sessions", skip(self))]
    pub async fn revoke_all(&self, user_id: Uuid, reason: RevocationReason) -> Result<(), DomainError> {
        let revocations = self.store.revoke_user_sessions(user_id, reason, self.clock.now()).await?;
        tracing::info!(target: "audit", event = "sessions_revoked", %user_id, reason = reason.as_str(), sessions = revocations.len(), outcome = "sessions_revoked", "all sessions revoked");
        self.publish_revocations(&revocations).await;
        Ok(())
    }

    /// Revokes one of the user's own sessions; someone else's is `NotFound`.
    #[tracing::instrument(name = "revoke session", skip(self))]
    pub async fn revoke(&self, user_id: Uuid, session_id: Uuid) -> Result<(), DomainError> {
        let revocation = self
            .store
            .revoke_session(user_id, session_id, RevocationReason::Logout, self.clock.now())
            .await?
            .ok_or(DomainError::NotFound)?;
        self.publish_revocations(&[revocation]).await;
        Ok(())
    }

    pub async fn list(&self, user_id: Uuid) -> Result<Vec<Session>, DomainError> {
        Ok(self.store.list_active_sessions(user_id, self.clock.now()).await?)
    }

    /// Adds revocations heard from other instances.
    pub fn absorb(&self, revocations: &[Revocation]) {
        self.revocations.insert_all(revocations);
    }

    /// Reads the revocation log from the database, the source of truth: everything since the
    /// horizon without a cursor, else what committed after the poll that returned `cursor`.
    /// Forgets what no longer matters, and returns the cursor to poll from next.
    pub async fn sync_revocations(&self, cursor: Option<RevocationCursor>) -> Result<RevocationCursor, DomainError> {
        let now = self.clock.now();
        let (revocations, next) = self.store.revocations_after(cursor, self.revocations.horizon(now)).await?;
        self.revocations.apply_load(&revocations, now);
        Ok(next)
    }

    /// Deletes rows no token can refer to any more.
    pub async fn prune_storage(&self) -> Result<u64, DomainError> {
        let now = self.clock.now();
        Ok(self.store.prune(self.revocations.horizon(now), now).await?)
    }

    /// Makes revocations effective here at once and tells the other instances.
    pub async fn publish_revocations(&self, revocations: &[Revocation]) {
        metrics::counter!("sessions_revoked_total").increment(revocations.len() as u64);
        self.revocations.insert_all(revocations);
        self.broadcast.publish(revocations).await;
    }

    fn pair(
        &self,
        user: &User,
        session: &Session,
        refresh_token: String,
        now: DateTime<Utc>,
    ) -> Result<TokenPair, DomainError> {
        let (access_token, _) = self.access_tokens.issue(user, session.id, &session.assurance, now)?;
        Ok(TokenPair {
            access_token,
            refresh_token,
            expires_in: self.access_tokens.ttl().num_seconds(),
            refresh_expires_in: self.settings.refresh_token_ttl.num_seconds(),
        })
    }
}

/// Keeps a user agent printable and bounded, so it cannot inject lines into logs or headers.
fn clean_user_agent(raw: &str) -> String {
    raw.chars().filter(|character| !character.is_control()).take(MAX_USER_AGENT_CHARS).collect()
}
