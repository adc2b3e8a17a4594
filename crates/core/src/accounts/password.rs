//! Password hashing on a bounded blocking pool, so a burst of logins queues instead of
//! starving the async runtime that serves token validation.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use tokio::sync::{OnceCell, Semaphore};

use crate::error::DomainError;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;

/// Marks our bcrypt hashes of a SHA-256 pre-hash. bcrypt reads only 72 bytes, so hashing the
/// raw password would make every password sharing its first 72 bytes equivalent; the pre-hash
/// (44 base64 characters, no NUL) keeps every byte significant.
const PREHASHED_BCRYPT_PREFIX: &str = "bcrypt-sha256$";

/// Which algorithm new hashes use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordAlgorithm {
    Bcrypt { cost: u32 },
    Argon2id,
}

/// Result of a successful verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    Yes { needs_rehash: bool },
    No,
}

/// Checks the length rule of the contract: 8 to 128 Unicode scalar values.
pub fn check_password_rules(field: &str, password: &str) -> Result<(), DomainError> {
    let length = password.chars().count();
    if length < MIN_PASSWORD_CHARS {
        return Err(DomainError::invalid_field(field, "must be at least 8 characters"));
    }
    if length > MAX_PASSWORD_CHARS {
        return Err(DomainError::invalid_field(field, "must be at most 128 characters"));
    }
    Ok(())
}

/// Hashes and verifies passwords off the async runtime, at most `workers` at a time, with at
/// most `queue_limit` more waiting; beyond that it answers `Overloaded` at once.
pub struct PasswordHasher {
    algorithm: PasswordAlgorithm,
    workers: Arc<Semaphore>,
    worker_count: usize,
    waiting: AtomicUsize,
    queue_limit: usize,
    dummy_hash: OnceCell<String>,
}

impl PasswordHasher {
    pub fn new(algorithm: PasswordAlgorithm, workers: usize, queue_limit: usize) -> Self {
        Self {
            algorithm,
            workers: Arc::new(Semaphore::new(workers.max(1))),
            worker_count: workers.max(1),
            waiting: AtomicUsize::new(0),
            queue_limit,
            dummy_hash: OnceCell::new(),
        }
    }

    pub fn algorithm(&self) -> PasswordAlgorithm {
        self.algorithm
    }

    /// Hashes a new password with the configured algorithm.
    pub async fn hash(&self, password: &str) -> Result<String, DomainError> {
        let algorithm = self.algorithm;
        let password = password.to_owned();
        self.run_blocking(move || hash_with(algorithm, &password)).await?
    }

    /// Verifies `password` against `stored`, telling whether the hash should be upgraded.
    pub async fn verify(&self, password: &str, stored: &str) -> Result<Verified, DomainError> {
        let algorithm = self.algorithm;
        let password = password.to_owned();
        let stored = stored.to_owned();
        self.run_blocking(move || verify_with(algorithm, &password, &stored)).await
    }

    /// Spends the same work as a real verification, for accounts that do not exist, so their
    /// answer takes as long as a wrong password does.
    pub async fn verify_dummy(&self, password: &str) -> Result<(), DomainError> {
        let dummy = self.dummy_hash().await?;
        self.verify(password, &dummy).await.map(|_| ())
    }

    /// Computes the dummy hash ahead of the first unknown-email login.
    pub async fn warm_up(&self) -> Result<(), DomainError> {
        self.dummy_hash().await.map(|_| ())
    }

    async fn dummy_hash(&self) -> Result<String, DomainError> {
        self.dummy_hash
            .get_or_try_init(|| async {
                let mut random = [0u8; 24];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
                self.hash(&hex::encode(random)).await
            })
            .await
            .cloned()
    }

    async fn run_blocking<T, F>(&self, work: F) -> Result<T, DomainError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave_queue = DecrementOnDrop(&self.waiting);
        if queued >= self.worker_count + self.queue_limit {
            return Err(DomainError::Overloaded);
        }
        let _permit = self
            .workers
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| DomainError::Internal("password worker pool closed".into()))?;
        let span = tracing::Span::current();
        let started = std::time::Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            lower_this_thread_priority();
            span.in_scope(work)
        })
        .await
        .map_err(|error| DomainError::Internal(format!("password worker failed: {error}")));
        metrics::histogram!("password_hash_duration_seconds").record(started.elapsed().as_secs_f64());
        result
    }
}

/// Hashing threads yield the CPU to the threads that serve requests: under a login flood,
/// validation keeps most of its throughput and logins use what is left (BENCHMARKS.md).
fn lower_this_thread_priority() {
    thread_local!(static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    LOWERED.with(|lowered| {
        if !lowered.replace(true) {
            #[cfg(target_os = "linux")]
            #[allow(unsafe_code)]
            // SAFETY: setpriority only reads its integer arguments; on Linux, PRIO_PROCESS with
            // who = 0 changes the calling thread alone.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, 0, 10);
            }
        }
    });
}

struct DecrementOnDrop<'a>(&'a AtomicUsize);

impl Drop for DecrementOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn prehash(password: &str) -> String {
    STANDARD.encode(Sha256::digest(password.as_bytes()))
}

fn hash_with(algorithm: PasswordAlgorithm, password: &str) -> Result<String, DomainError> {
    match algorithm {
        PasswordAlgorithm::Bcrypt { cost } => bcrypt::hash(prehash(password), cost)
            .map(|hash| format!("{PREHASHED_BCRYPT_PREFIX}{hash}"))
            .map_err(|error| DomainError::Internal(format!("bcrypt: {error}"))),
        PasswordAlgorithm::Argon2id => argon2::Argon2::default()
            .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
            .map(|hash| hash.to_string())
            .map_err(|error| DomainError::Internal(format!("argon2: {error}"))),
    }
}

fn verify_with(algorithm: PasswordAlgorithm, password: &str, stored: &str) -> Verified {
    let (matches, same_kind) = if let Some(bcrypt_hash) = stored.strip_prefix(PREHASHED_BCRYPT_PREFIX) {
        let cost_matches =
            matches!(algorithm, PasswordAlgorithm::Bcrypt { cost } if bcrypt_cost(bcrypt_hash) == Some(cost));
        (bcrypt::verify(prehash(password), bcrypt_hash).unwrap_or(false), cost_matches)
    } else if stored.starts_with("$2") {
        // A plain bcrypt hash, as the FastAPI service (passlib) wrote them: always upgraded.
        (bcrypt::verify(password, stored).unwrap_or(false), false)
    } else if stored.starts_with("$argon2") {
        let matches = PasswordHash::new(stored)
            .map(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        (matches, algorithm == PasswordAlgorithm::Argon2id && stored.starts_with("$argon2id$"))
    } else {
        (false, false)
    };
    if matches { Verified::Yes { needs_rehash: !same_kind } } else { Verified::No }
}

fn bcrypt_cost(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP_BCRYPT: PasswordAlgorithm = PasswordAlgorithm::Bcrypt { cost: 4 };

    #[test]
    fn bcrypt_keeps_bytes_past_72_significant() {
        let base = "a".repeat(72);
        let hash = hash_with(CHEAP_BCRYPT, &format!("{base}first")).unwrap();
        assert_eq!(verify_with(CHEAP_BCRYPT, &format!("{base}first"), &hash), Verified::Yes { needs_rehash: false });
        assert_eq!(verify_with(CHEAP_BCRYPT, &format!("{base}second"), &hash), Verified::No);
    }

    #[test]
    fn passwords_with_nul_and_combining_marks_round_trip() {
        for password in ["pass\0word-123", "e\u{301}le\u{300}ve-pass"] {
            let hash = hash_with(CHEAP_BCRYPT, password).unwrap();
            assert!(matches!(verify_with(CHEAP_BCRYPT, password, &hash), Verified::Yes { .. }));
        }
        let with_nul = hash_with(CHEAP_BCRYPT, "pass\0word-123").unwrap();
        assert_eq!(verify_with(CHEAP_BCRYPT, "pass", &with_nul), Verified::No);
    }

    #[test]
    fn a_hash_of_the_other_kind_verifies_and_asks_for_an_upgrade() {
        let argon = hash_with(PasswordAlgorithm::Argon2id, "correct horse").unwrap();
        assert_eq!(verify_with(CHEAP_BCRYPT, "correct horse", &argon), Verified::Yes { needs_rehash: true });
        let bcrypt_hash = hash_with(CHEAP_BCRYPT, "correct horse").unwrap();
        assert_eq!(
            verify_with(PasswordAlgorithm::Argon2id, "correct horse", &bcrypt_hash),
            Verified::Yes { needs_rehash: true }
        );
        assert_eq!(
            verify_with(PasswordAlgorithm::Bcrypt { cost: 5 }, "correct horse", &bcrypt_hash),
            Verified::Yes { needs_rehash: true }
        );
    }

    #[test]
    fn legacy_plain_bcrypt_hashes_verify_and_are_upgraded() {
        let legacy = bcrypt::hash("legacy-password", 4).unwrap();
        assert_eq!(verify_with(CHEAP_BCRYPT, "legacy-password", &legacy), Verified::Yes { needs_rehash: true });
        assert_eq!(verify_with(CHEAP_BCRYPT, "wrong-password", &legacy), Verified::No);
    }

    #[test]
    fn garbage_hashes_never_verify() {
        assert_eq!(verify_with(CHEAP_BCRYPT, "anything", ""), Verified::No);
        assert_eq!(verify_with(CHEAP_BCRYPT, "anything", "$argon2id$broken"), Verified::No);
    }

    #[test]
    fn length_rule_counts_characters_not_bytes() {
        assert!(check_password_rules("password", "short").is_err());
        assert!(check_password_rules("password", &"é".repeat(128)).is_ok());
        assert!(check_password_rules("password", &"a".repeat(129)).is_err());
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded_instead_of_waiting() {
        let hasher = Arc::new(PasswordHasher::new(PasswordAlgorithm::Bcrypt { cost: 10 }, 1, 0));
        let busy = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash("first-password").await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let second = hasher.hash("second-password").await;
        assert!(matches!(second, Err(DomainError::Overloaded)), "got {second:?}");
        assert!(busy.await.unwrap().is_ok());
    }
}
