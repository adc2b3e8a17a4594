//! Password hashing on a bounded blocking pool, so a burst of logins queues instead of
//! starving the async runtime that serves token validation. The queue admits only what can be
//! hashed before the request's deadline, judged from the measured hash time: the excess is told
//! `Overloaded` at once instead of waiting for the timeout, and nothing is hashed for a request
//! that was already answered or whose client is gone (its future was dropped while it waited).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

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

/// Hashes and verifies passwords off the async runtime, at most `workers` at a time. A request
/// waits only if its hash can be done within `budget` (the request deadline); at most
/// `queue_cap` wait in any case.
pub struct PasswordHasher {
    algorithm: PasswordAlgorithm,
    workers: Arc<Semaphore>,
    worker_count: usize,
    waiting: AtomicUsize,
    queue_cap: usize,
    budget: Duration,
    /// Moving average of one hash, in microseconds; 0 until the first is measured.
    mean_hash_micros: AtomicU64,
    hashed: AtomicU64,
    dummy_hash: OnceCell<String>,
}

/// Whether a request that finds `ahead` hashes running or queued can have its own done within
/// `budget`, `workers` at a time, each taking `mean` (unknown yet: zero, admitted).
pub fn can_finish_in_time(ahead: usize, workers: usize, mean: Duration, budget: Duration) -> bool {
    let rounds = u32::try_from(ahead / workers.max(1) + 1).unwrap_or(u32::MAX);
    mean.checked_mul(rounds).is_some_and(|needed| needed <= budget)
}

/// The next moving average after a hash took `sample` (weight 1/8, so a few slow hashes under
/// load move it, one outlier does not).
fn next_mean(mean_micros: u64, sample: Duration) -> u64 {
    let sample = u64::try_from(sample.as_micros()).unwrap_or(u64::MAX);
    if mean_micros == 0 { sample } else { mean_micros - mean_micros / 8 + sample / 8 }
}

impl PasswordHasher {
    pub fn new(algorithm: PasswordAlgorithm, workers: usize, queue_cap: usize, budget: Duration) -> Self {
        Self {
            algorithm,
            workers: Arc::new(Semaphore::new(workers.max(1))),
            worker_count: workers.max(1),
            waiting: AtomicUsize::new(0),
            queue_cap,
            budget,
            mean_hash_micros: AtomicU64::new(0),
            hashed: AtomicU64::new(0),
            dummy_hash: OnceCell::new(),
        }
    }

    /// The measured time of one hash (zero before the first).
    pub fn mean_hash_time(&self) -> Duration {
        Duration::from_micros(self.mean_hash_micros.load(Ordering::Relaxed))
    }

    /// How many hashes and verifications were run.
    pub fn hashed(&self) -> u64 {
        self.hashed.load(Ordering::Relaxed)
    }

    /// How many requests may wait for a worker now: what the budget allows at the measured
    /// hash time, within the configured cap.
    pub fn queue_bound(&self) -> usize {
        let mean = self.mean_hash_time();
        if mean.is_zero() {
            return self.queue_cap;
        }
        let rounds = (self.budget.as_micros() / mean.as_micros().max(1)) as usize;
        (rounds.saturating_sub(1) * self.worker_count).min(self.queue_cap)
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
        let arrived = Instant::now();
        let ahead = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave_queue = DecrementOnDrop(&self.waiting);
        let mean = self.mean_hash_time();
        // A free worker always starts at once: even if hashes take longer than the budget (a
        // misconfiguration), logins are still tried one per worker and the mean stays measured.
        let must_wait = ahead >= self.worker_count;
        if must_wait
            && (ahead >= self.worker_count + self.queue_cap
                || !can_finish_in_time(ahead, self.worker_count, mean, self.budget))
        {
            return Err(self.shed("queue"));
        }
        // The estimate can be wrong (hashes slow down under load): give up as soon as the hash
        // could no longer finish in time, rather than hash for an answer the timeout already gave.
        let patience = self.budget.saturating_sub(mean);
        let _permit = match tokio::time::timeout(patience, self.workers.clone().acquire_owned()).await {
            Ok(permit) => permit.map_err(|_| DomainError::Internal("password worker pool closed".into()))?,
            Err(_) => return Err(self.shed("wait")),
        };
        if must_wait && arrived.elapsed() + mean > self.budget {
            return Err(self.shed("wait"));
        }
        let span = tracing::Span::current();
        let started = Instant::now();
        let result = tokio::task::spawn_blocking(move || {
            lower_this_thread_priority();
            span.in_scope(work)
        })
        .await
        .map_err(|error| DomainError::Internal(format!("password worker failed: {error}")));
        let took = started.elapsed();
        self.hashed.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .mean_hash_micros
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |current| Some(next_mean(current, took)));
        metrics::histogram!("password_hash_duration_seconds").record(took.as_secs_f64());
        result
    }

    fn shed(&self, reason: &'static str) -> DomainError {
        metrics::counter!("password_hash_shed_total", "reason" => reason).increment(1);
        DomainError::Overloaded
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

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_request_is_admitted_only_if_its_turn_comes_within_the_budget() {
        let mean = Duration::from_millis(250);
        let budget = Duration::from_secs(9);
        // Two workers, 250 ms each: 36 rounds fit in 9 s, so 71 ahead (the 36th round) do.
        assert!(can_finish_in_time(0, 2, mean, budget));
        assert!(can_finish_in_time(71, 2, mean, budget));
        assert!(!can_finish_in_time(72, 2, mean, budget));
        assert!(can_finish_in_time(1_000, 2, Duration::ZERO, budget), "not measured yet: admitted");
        assert!(!can_finish_in_time(0, 1, 2 * budget, budget), "a hash longer than the budget never fits");
    }

    #[test]
    fn the_mean_follows_the_measured_hashes() {
        assert_eq!(next_mean(0, Duration::from_millis(200)), 200_000);
        assert_eq!(next_mean(200_000, Duration::from_millis(200)), 200_000);
        assert_eq!(next_mean(200_000, Duration::from_millis(1_000)), 300_000);
    }

    #[test]
    fn the_queue_bound_comes_from_the_budget_and_the_hash_time() {
        let hasher = PasswordHasher::new(CHEAP_BCRYPT, 2, 256, 10 * SECOND);
        assert_eq!(hasher.queue_bound(), 256, "unmeasured: the cap");
        hasher.mean_hash_micros.store(250_000, Ordering::Relaxed);
        assert_eq!(hasher.queue_bound(), 78, "(40 rounds - 1) x 2 workers");
        hasher.mean_hash_micros.store(1_000, Ordering::Relaxed);
        assert_eq!(hasher.queue_bound(), 256, "never above the cap");
    }

    #[tokio::test]
    async fn a_full_queue_answers_overloaded_instead_of_waiting() {
        let hasher = Arc::new(PasswordHasher::new(PasswordAlgorithm::Bcrypt { cost: 10 }, 1, 0, 60 * SECOND));
        let busy = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash("first-password").await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let second = hasher.hash("second-password").await;
        assert!(matches!(second, Err(DomainError::Overloaded)), "got {second:?}");
        assert!(busy.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_hash_that_cannot_finish_within_the_budget_is_refused_at_once() {
        let cost = PasswordAlgorithm::Bcrypt { cost: 10 };
        let measuring = PasswordHasher::new(cost, 1, 100, 60 * SECOND);
        measuring.warm_up().await.unwrap();
        let mean = measuring.mean_hash_time();
        // Room for one hash and a half: the one running fits, a second behind it does not.
        let hasher = Arc::new(PasswordHasher::new(cost, 1, 100, mean * 3 / 2));
        hasher.mean_hash_micros.store(u64::try_from(mean.as_micros()).unwrap(), Ordering::Relaxed);
        let busy = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash("first-password").await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        let asked = Instant::now();
        let second = hasher.hash("second-password").await;
        assert!(matches!(second, Err(DomainError::Overloaded)), "got {second:?}");
        assert!(asked.elapsed() < mean / 2, "answered at once, not after waiting ({:?})", asked.elapsed());
        assert!(busy.await.unwrap().is_ok());
        assert_eq!(hasher.hashed(), 1);
    }

    #[tokio::test]
    async fn a_free_worker_hashes_even_when_hashes_outlast_the_budget() {
        let hasher = PasswordHasher::new(PasswordAlgorithm::Bcrypt { cost: 10 }, 1, 100, Duration::from_millis(1));
        hasher.mean_hash_micros.store(1_000_000, Ordering::Relaxed);
        assert!(hasher.hash("only-password").await.is_ok(), "nobody ahead: hashed, not refused forever");
        assert_eq!(hasher.hashed(), 1);
    }

    #[tokio::test]
    async fn nothing_is_hashed_for_a_request_that_went_away_while_waiting() {
        let hasher = Arc::new(PasswordHasher::new(PasswordAlgorithm::Bcrypt { cost: 10 }, 1, 100, 60 * SECOND));
        let busy = {
            let hasher = hasher.clone();
            tokio::spawn(async move { hasher.hash("first-password").await })
        };
        tokio::time::sleep(Duration::from_millis(5)).await;
        // The client disconnects (or the timeout answers) while this one waits: its future is dropped.
        let gone = tokio::time::timeout(Duration::from_millis(10), hasher.hash("second-password")).await;
        assert!(gone.is_err());
        assert!(busy.await.unwrap().is_ok());
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(hasher.hashed(), 1, "only the first password was hashed");
        assert_eq!(hasher.waiting.load(Ordering::SeqCst), 0, "the queue slot was given back");
    }
}
