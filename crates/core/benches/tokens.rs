//! Micro-benchmarks: signing and verifying access tokens per algorithm (`cargo bench -p auth-core`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use auth_core::model::{Role, User};
use auth_core::sessions::keys::generate_key_pair;
use auth_core::sessions::{AccessTokens, KeyRing};
use chrono::{Duration, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;

fn user() -> User {
    User {
        id: uuid::Uuid::new_v4(),
        email: "bench@example.com".into(),
        full_name: None,
        role: Role::User,
        is_active: true,
        email_verified: true,
        password_hash: None,
        created_at: Utc::now(),
        identity_providers: Vec::new(),
        credentials_version: 0,
    }
}

fn key_ring(algorithm: Algorithm) -> KeyRing {
    if algorithm == Algorithm::HS256 {
        return KeyRing::hs256(b"benchmark-secret-that-is-long-enough-0123").unwrap();
    }
    let pair = generate_key_pair(algorithm).unwrap();
    KeyRing::asymmetric(algorithm, pair.private_pem.as_bytes(), pair.public_pem.as_bytes(), &[]).unwrap()
}

fn tokens(criterion: &mut Criterion) {
    for (name, algorithm) in [
        ("HS256", Algorithm::HS256),
        ("RS256", Algorithm::RS256),
        ("ES256", Algorithm::ES256),
        ("EdDSA", Algorithm::EdDSA),
    ] {
        let tokens = AccessTokens::new(key_ring(algorithm), "auth-service".into(), None, Duration::minutes(15));
        let user = user();
        let session = uuid::Uuid::new_v4();
        criterion.bench_function(&format!("sign {name}"), |bench| {
            bench.iter(|| tokens.issue(&user, session, &auth_core::mfa::Assurance::password(), Utc::now()).unwrap())
        });
        let (token, _) = tokens.issue(&user, session, &auth_core::mfa::Assurance::password(), Utc::now()).unwrap();
        criterion.bench_function(&format!("verify {name}"), |bench| {
            bench.iter(|| tokens.verify(&token, Utc::now()).unwrap())
        });
    }
}

criterion_group!(benches, tokens);
criterion_main!(benches);
