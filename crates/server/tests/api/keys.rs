use std::path::PathBuf;

use auth_core::sessions::keys::generate_key_pair;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, TEST_SECRET, TestApp, assert_problem, claims_of, fresh_settings};

/// Writes a fresh key pair into a temporary directory: (private, public) paths.
fn key_pair(algorithm: Algorithm) -> (PathBuf, PathBuf) {
    let directory = std::env::temp_dir().join(format!("auth-keys-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&directory).unwrap();
    let pair = generate_key_pair(algorithm).unwrap();
    let (private, public) = (directory.join("private.pem"), directory.join("public.pem"));
    std::fs::write(&private, pair.private_pem).unwrap();
    std::fs::write(&public, pair.public_pem).unwrap();
    (private, public)
}

async fn asymmetric_app(algorithm: Algorithm, name: &str, retired: Vec<PathBuf>) -> (TestApp, PathBuf, PathBuf) {
    let (private, public) = key_pair(algorithm);
    let (private_path, public_path) = (private.clone(), public.clone());
    let app = TestApp::spawn_with(Backend::Sqlite, move |settings| {
        settings.jwt_algorithm = name.into();
        settings.jwt_secret = None;
        settings.jwt_private_key_path = private_path;
        settings.jwt_public_key_path = public_path;
        settings.jwt_retired_public_key_paths = retired;
    })
    .await;
    (app, private, public)
}

async fn signs_with_kid_and_publishes_the_key(algorithm: Algorithm, name: &str) {
    let (app, _, _) = asymmetric_app(algorithm, name, Vec::new()).await;
    let (_, tokens) = app.signed_in_user().await;

    let header = jsonwebtoken::decode_header(&tokens.access).unwrap();
    let jwks: JwkSet = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();

    assert_eq!(header.alg, algorithm);
    let kid = header.kid.expect("asymmetric tokens carry kid");
    let jwk = jwks.find(&kid).expect("the signing key is published");
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&["auth-service"]);
    let verified = jsonwebtoken::decode::<Value>(&tokens.access, &DecodingKey::from_jwk(jwk).unwrap(), &validation);
    assert!(verified.is_ok(), "a gateway verifies with the JWKS alone: {verified:?}");
    assert_eq!(app.validate(&tokens.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn rs256_tokens_carry_a_kid_published_in_the_jwks() {
    signs_with_kid_and_publishes_the_key(Algorithm::RS256, "RS256").await;
}

#[tokio::test]
async fn es256_tokens_carry_a_kid_published_in_the_jwks() {
    signs_with_kid_and_publishes_the_key(Algorithm::ES256, "ES256").await;
}

#[tokio::test]
async fn eddsa_tokens_carry_a_kid_published_in_the_jwks() {
    signs_with_kid_and_publishes_the_key(Algorithm::EdDSA, "EdDSA").await;
}

#[tokio::test]
async fn hs256_publishes_only_the_id_token_key() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    // The HMAC secret is never published; the one key is the OpenID provider's ID-token key.
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{jwks}");
    assert_eq!(keys[0]["kty"], "RSA");
    assert!(keys[0].get("k").is_none());
    let (_, tokens) = app.signed_in_user().await;
    let header = jsonwebtoken::decode_header(&tokens.access).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    assert!(header.kid.is_none(), "access tokens are not signed with the published key");
}

#[tokio::test]
async fn an_hs256_token_signed_with_the_rs256_public_key_is_refused() {
    let (app, _, public) = asymmetric_app(Algorithm::RS256, "RS256", Vec::new()).await;
    let (_, tokens) = app.signed_in_user().await;
    let claims = claims_of(&tokens.access);
    let kid = jsonwebtoken::decode_header(&tokens.access).unwrap().kid;
    let public_pem = std::fs::read(public).unwrap();

    let confused = jsonwebtoken::encode(
        &Header { kid, ..Header::new(Algorithm::HS256) },
        &claims,
        &EncodingKey::from_secret(&public_pem),
    )
    .unwrap();

    assert_problem(app.validate(&confused).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn a_kid_naming_no_key_of_ours_is_refused() {
    let (app, private, _) = asymmetric_app(Algorithm::RS256, "RS256", Vec::new()).await;
    let (_, tokens) = app.signed_in_user().await;
    let claims = claims_of(&tokens.access);
    let key = EncodingKey::from_rsa_pem(&std::fs::read(private).unwrap()).unwrap();
    for kid in ["unknown-key", "../../../../etc/passwd", "' OR '1'='1", ""] {
        let token =
            jsonwebtoken::encode(&Header { kid: Some(kid.into()), ..Header::new(Algorithm::RS256) }, &claims, &key)
                .unwrap();
        assert_problem(app.validate(&token).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    let no_kid = jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key).unwrap();
    assert_problem(app.validate(&no_kid).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn a_retired_key_still_verifies_its_tokens_after_rotation() {
    // Before: key A signs.
    let (old_app, old_private, old_public) = asymmetric_app(Algorithm::ES256, "ES256", Vec::new()).await;
    let (_, old_tokens) = old_app.signed_in_user().await;
    let database_url = old_app.settings.database_url.clone();
    old_app.stop().await;
    let _ = old_private;

    // After: key B signs, A is retired but still published and accepted.
    let (new_private, new_public) = key_pair(Algorithm::ES256);
    let mut settings = fresh_settings(Backend::Sqlite).await;
    settings.database_url = database_url;
    settings.jwt_algorithm = "ES256".into();
    settings.jwt_secret = None;
    settings.jwt_private_key_path = new_private;
    settings.jwt_public_key_path = new_public;
    settings.jwt_retired_public_key_paths = vec![old_public];
    let app = TestApp::start(settings, Backend::Sqlite).await;

    let jwks: JwkSet = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks.keys.len(), 2);
    assert_eq!(app.validate(&old_tokens.access).await.status(), StatusCode::OK);
    let (_, new_tokens) = app.signed_in_user().await;
    assert_ne!(
        jsonwebtoken::decode_header(&new_tokens.access).unwrap().kid,
        jsonwebtoken::decode_header(&old_tokens.access).unwrap().kid
    );
}

#[tokio::test]
async fn short_hs256_secrets_are_refused_at_start_up() {
    let mut settings = fresh_settings(Backend::Sqlite).await;
    settings.jwt_secret = Some(auth_service::config::Secret::new("only-31-bytes-long-secret-value"));
    let error = auth_service::Application::build(settings).await.err().expect("start-up refused");
    assert!(format!("{error:#}").contains("32 bytes"));
    assert!(TEST_SECRET.len() >= 32);
}

#[tokio::test]
async fn without_a_secret_a_development_key_is_generated_once_and_kept_private() {
    let mut settings = fresh_settings(Backend::Sqlite).await;
    settings.jwt_secret = None;
    let database = settings.sqlite_path().unwrap();
    let app = TestApp::start(settings.clone(), Backend::Sqlite).await;
    let (_, tokens) = app.signed_in_user().await;
    app.stop().await;

    let key_file = database.with_file_name(format!("{}.jwt-key", database.file_name().unwrap().to_string_lossy()));
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    let restarted = TestApp::start(settings.clone(), Backend::Sqlite).await;
    assert_eq!(restarted.validate(&tokens.access).await.status(), StatusCode::OK, "tokens survive a restart");

    let production = auth_service::Settings { app_env: "production".into(), ..settings };
    assert!(auth_service::Application::build(production).await.is_err(), "production refuses the shortcut");
}
