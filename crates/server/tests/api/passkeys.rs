//! Passkeys through HTTP, with a software authenticator producing real attestations and
//! signatures: registration, discoverable sign-in at aal2 (aal1 without user verification), the
//! list and removal, the passkey as a second factor, and every way an assertion is refused (tampered, wrong origin, replayed,
//! cloned key, someone else's). Both backends; two instances sharing Redis on PostgreSQL.

mod authenticator;

use reqwest::StatusCode;
use serde_json::{Value, json};

use self::authenticator::{SoftPasskey, tampered};
use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, claims_of};
use crate::{on_both_backends, on_postgres};

on_both_backends!(
    a_registered_passkey_signs_in_without_an_email_at_aal2,
    a_tampered_signature_is_refused,
    an_assertion_from_another_origin_is_refused,
    a_registration_from_another_origin_is_refused,
    a_login_response_cannot_be_replayed,
    a_cloned_authenticator_is_refused_once_the_original_moved_on,
    a_clone_racing_the_original_with_the_same_counter_loses,
    one_users_passkey_and_challenge_do_nothing_for_another,
    a_passkey_finishes_a_password_sign_in_as_the_second_factor,
    a_passkey_steps_a_signed_in_session_up_to_aal2,
    a_passkey_without_user_verification_is_one_factor,
    a_passkey_that_verified_its_user_at_registration_must_always_verify,
    removing_a_passkey_needs_aal2,
    malformed_credentials_are_refused_and_change_nothing,
    a_disabled_account_cannot_sign_in_with_its_passkey,
);
on_postgres!(a_ceremony_started_on_one_instance_finishes_on_another);

const ORIGIN: &str = "https://app.example.test";

fn relying_party(settings: &mut auth_service::Settings) {
    settings.webauthn_rp_id = Some("example.test".into());
    settings.webauthn_origins = vec![ORIGIN.into()];
}

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, relying_party).await
}

async fn post(app: &TestApp, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
    let request = app.client.post(app.url(path)).json(&body);
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.unwrap()
}

/// Registers a passkey for the signed-in user: the passkey as the API lists it.
async fn register(app: &TestApp, token: &str, authenticator: &mut SoftPasskey) -> Value {
    let options = post(app, "/auth/passkeys/register/options", Some(token), json!({})).await;
    assert_eq!(options.status(), StatusCode::OK);
    let options: Value = options.json().await.unwrap();
    let credential = authenticator.register(&options);
    let registered = post(app, "/auth/passkeys/register", Some(token), json!({"credential": credential})).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    registered.json().await.unwrap()
}

/// Login options: the challenge id and the options to answer.
async fn login_options(app: &TestApp) -> (String, Value) {
    let response = post(app, "/auth/passkeys/login/options", None, json!({})).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    (body["challenge_id"].as_str().unwrap().to_owned(), body)
}

async fn login(app: &TestApp, challenge_id: &str, credential: &Value) -> reqwest::Response {
    post(app, "/auth/passkeys/login", None, json!({"challenge_id": challenge_id, "credential": credential})).await
}

/// A full discoverable sign-in with `authenticator`.
async fn sign_in(app: &TestApp, authenticator: &mut SoftPasskey) -> reqwest::Response {
    let (challenge_id, options) = login_options(app).await;
    let assertion = authenticator.assert(&options);
    login(app, &challenge_id, &assertion).await
}

/// A signed-in user with a passkey: their email, the aal1 password session, the authenticator.
async fn user_with_passkey(app: &TestApp) -> (String, Tokens, SoftPasskey) {
    let (email, tokens) = app.signed_in_user().await;
    let mut authenticator = SoftPasskey::new(ORIGIN);
    register(app, &tokens.access, &mut authenticator).await;
    (email, tokens, authenticator)
}

async fn a_registered_passkey_signs_in_without_an_email_at_aal2(backend: Backend) {
    let app = spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;
    let options: Value =
        post(&app, "/auth/passkeys/register/options", Some(&tokens.access), json!({})).await.json().await.unwrap();
    let public_key = &options["publicKey"];
    assert_eq!(public_key["rp"]["id"], "example.test");
    assert_eq!(public_key["authenticatorSelection"]["residentKey"], "required", "{options}");
    let mut authenticator = SoftPasskey::new(ORIGIN);
    let credential = authenticator.register(&options);
    let credential_id = credential["id"].clone();
    let body = json!({"credential": credential, "name": "Laptop"});
    let registered = post(&app, "/auth/passkeys/register", Some(&tokens.access), body).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let registered: Value = registered.json().await.unwrap();
    assert_eq!(registered["name"], "Laptop");
    assert!(registered["last_used_at"].is_null());

    let signed_in = sign_in(&app, &mut authenticator).await;
    let pair = Tokens::from(signed_in).await;
    let claims = claims_of(&pair.access);
    assert_eq!(claims["aal"], "aal2");
    assert_eq!(claims["amr"], json!(["hwk"]));
    assert_eq!(claims["sub"], claims_of(&tokens.access)["sub"]);

    let listed: Value = app.get_bearer("/auth/passkeys", &pair.access).await.json().await.unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], registered["id"]);
    assert!(listed[0]["last_used_at"].is_string(), "the sign-in is recorded: {listed:?}");
    let status: Value = app.get_bearer("/auth/mfa", &pair.access).await.json().await.unwrap();
    assert_eq!(status["passkeys"], 1);
    // Renaming: the owner only, a printable non-empty name.
    let path = format!("/auth/passkeys/{}", registered["id"].as_str().unwrap());
    let rename = |token: String, name: &'static str| {
        let (app, path) = (&app, path.clone());
        async move { app.client.patch(app.url(&path)).bearer_auth(token).json(&json!({"name": name})).send().await.unwrap() }
    };
    let renamed = rename(pair.access.clone(), "  Work laptop ").await;
    assert_eq!(renamed.status(), StatusCode::OK);
    assert_eq!(renamed.json::<Value>().await.unwrap()["name"], "Work laptop");
    assert_problem(rename(pair.access.clone(), "   ").await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
        .await;
    let (_, stranger) = app.signed_in_user().await;
    assert_problem(rename(stranger.access, "Mine now").await, StatusCode::NOT_FOUND, "not_found").await;
    let listed: Value = app.get_bearer("/auth/passkeys", &pair.access).await.json().await.unwrap();
    assert_eq!(listed[0]["name"], "Work laptop");
    // A second registration excludes the first credential.
    let again: Value =
        post(&app, "/auth/passkeys/register/options", Some(&pair.access), json!({})).await.json().await.unwrap();
    let excluded = again["publicKey"]["excludeCredentials"].as_array().unwrap();
    assert_eq!(excluded.len(), 1);
    assert_eq!(excluded[0]["id"], credential_id);
}

async fn a_tampered_signature_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let (_, _, mut authenticator) = user_with_passkey(&app).await;
    let (challenge_id, options) = login_options(&app).await;
    let assertion = tampered(authenticator.assert(&options));
    assert_problem(login(&app, &challenge_id, &assertion).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

async fn an_assertion_from_another_origin_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let (_, _, authenticator) = user_with_passkey(&app).await;
    let mut phished = authenticator.at_origin("https://app.example-login.test");
    assert_problem(sign_in(&app, &mut phished).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

async fn a_registration_from_another_origin_is_refused(backend: Backend) {
    let app = spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;
    let options: Value =
        post(&app, "/auth/passkeys/register/options", Some(&tokens.access), json!({})).await.json().await.unwrap();
    let credential = SoftPasskey::new("https://evil.test").register(&options);
    let refused = post(&app, "/auth/passkeys/register", Some(&tokens.access), json!({"credential": credential})).await;
    assert_problem(refused, StatusCode::BAD_REQUEST, "invalid_passkey").await;
    let listed: Value = app.get_bearer("/auth/passkeys", &tokens.access).await.json().await.unwrap();
    assert_eq!(listed, json!([]));
}

async fn a_login_response_cannot_be_replayed(backend: Backend) {
    let app = spawn(backend).await;
    let (_, _, mut authenticator) = user_with_passkey(&app).await;
    let (challenge_id, options) = login_options(&app).await;
    let assertion = authenticator.assert(&options);
    Tokens::from(login(&app, &challenge_id, &assertion).await).await;
    assert_problem(login(&app, &challenge_id, &assertion).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

async fn a_cloned_authenticator_is_refused_once_the_original_moved_on(backend: Backend) {
    let app = spawn(backend).await;
    let (_, _, mut original) = user_with_passkey(&app).await;
    let mut clone = original.clone();
    Tokens::from(sign_in(&app, &mut original).await).await;
    // The clone's counter is where the original's was: it did not move forward.
    assert_problem(sign_in(&app, &mut clone).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    Tokens::from(sign_in(&app, &mut original).await).await;
}

async fn a_clone_racing_the_original_with_the_same_counter_loses(backend: Backend) {
    let app = spawn(backend).await;
    let (_, _, mut original) = user_with_passkey(&app).await;
    Tokens::from(sign_in(&app, &mut original).await).await;
    for _ in 0..3 {
        let mut clone = original.clone();
        let ((first_id, first_options), (second_id, second_options)) =
            tokio::join!(login_options(&app), login_options(&app));
        // Both assertions carry the same next counter value; at most one may sign in.
        let (first, second) = (original.assert(&first_options), clone.assert(&second_options));
        let (first, second) = tokio::join!(login(&app, &first_id, &first), login(&app, &second_id, &second));
        let statuses = [first.status(), second.status()];
        assert_eq!(statuses.iter().filter(|status| **status == StatusCode::OK).count(), 1, "{statuses:?}");
        assert!(statuses.contains(&StatusCode::UNAUTHORIZED), "{statuses:?}");
    }
}

async fn one_users_passkey_and_challenge_do_nothing_for_another(backend: Backend) {
    let app = spawn(backend).await;
    let (_, alice) = app.signed_in_user().await;
    let (_, bob) = app.signed_in_user().await;
    // Alice's registration challenge, answered and sent in by Bob.
    let options: Value =
        post(&app, "/auth/passkeys/register/options", Some(&alice.access), json!({})).await.json().await.unwrap();
    let credential = SoftPasskey::new(ORIGIN).register(&options);
    let stolen = post(&app, "/auth/passkeys/register", Some(&bob.access), json!({"credential": credential})).await;
    assert_problem(stolen, StatusCode::BAD_REQUEST, "invalid_passkey").await;
    // Bob, with his own registration pending, still cannot spend Alice's challenge.
    post(&app, "/auth/passkeys/register/options", Some(&bob.access), json!({})).await;
    let stolen = post(&app, "/auth/passkeys/register", Some(&bob.access), json!({"credential": credential})).await;
    assert_problem(stolen, StatusCode::BAD_REQUEST, "invalid_passkey").await;

    let mut authenticator = SoftPasskey::new(ORIGIN);
    let alices = register(&app, &alice.access, &mut authenticator).await;
    let id = alices["id"].as_str().unwrap();
    let removed = app.client.delete(app.url(&format!("/auth/passkeys/{id}"))).bearer_auth(&bob.access).send().await;
    assert_problem(removed.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let listed: Value = app.get_bearer("/auth/passkeys", &bob.access).await.json().await.unwrap();
    assert_eq!(listed, json!([]));
}

async fn a_passkey_finishes_a_password_sign_in_as_the_second_factor(backend: Backend) {
    let app = spawn(backend).await;
    let (email, _, mut authenticator) = user_with_passkey(&app).await;
    let answer: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    assert_eq!(answer["mfa_required"], true, "{answer}");
    assert!(answer["methods"].as_array().unwrap().contains(&json!("webauthn")), "{answer}");
    let mfa_token = answer["mfa_token"].as_str().unwrap();

    let options = post(&app, "/auth/mfa/webauthn/options", None, json!({"mfa_token": mfa_token})).await;
    assert_eq!(options.status(), StatusCode::OK);
    let options: Value = options.json().await.unwrap();
    assert_eq!(options["publicKey"]["allowCredentials"].as_array().unwrap().len(), 1, "{options}");
    let assertion = authenticator.assert(&options);
    let wrong = tampered(assertion.clone());
    let body = json!({"mfa_token": mfa_token, "method": "webauthn", "credential": wrong});
    assert_problem(post(&app, "/auth/mfa/verify", None, body).await, StatusCode::UNAUTHORIZED, "invalid_mfa_code")
        .await;
    // The wrong answer spent the options; fresh ones, same token.
    let options: Value =
        post(&app, "/auth/mfa/webauthn/options", None, json!({"mfa_token": mfa_token})).await.json().await.unwrap();
    let assertion = authenticator.assert(&options);
    let body = json!({"mfa_token": mfa_token, "method": "webauthn", "credential": assertion});
    let pair = Tokens::from(post(&app, "/auth/mfa/verify", None, body.clone()).await).await;
    let claims = claims_of(&pair.access);
    assert_eq!(claims["aal"], "aal2");
    assert_eq!(claims["amr"], json!(["pwd", "hwk"]));
    assert_problem(post(&app, "/auth/mfa/verify", None, body).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

async fn step_up_with(app: &TestApp, token: &str, credential: &Value) -> reqwest::Response {
    post(app, "/auth/mfa/verify", Some(token), json!({"method": "webauthn", "credential": credential})).await
}

async fn a_passkey_steps_a_signed_in_session_up_to_aal2(backend: Backend) {
    let app = spawn(backend).await;
    let (_, password_session, mut authenticator) = user_with_passkey(&app).await;
    let step_up_options = || post(&app, "/auth/mfa/webauthn/options", Some(&password_session.access), json!({}));
    let options = step_up_options().await;
    assert_eq!(options.status(), StatusCode::OK);
    let options: Value = options.json().await.unwrap();
    assert_eq!(options["publicKey"]["allowCredentials"].as_array().unwrap().len(), 1, "{options}");

    // The challenge belongs to the session that asked: another session of the user cannot answer it.
    let assertion = authenticator.assert(&options);
    let other_session = Tokens::from(sign_in(&app, &mut authenticator).await).await;
    let other = step_up_with(&app, &other_session.access, &assertion).await;
    assert_problem(other, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let tampered_answer = tampered(authenticator.assert(&step_up_options().await.json().await.unwrap()));
    let refused = step_up_with(&app, &password_session.access, &tampered_answer).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;

    let assertion = authenticator.assert(&step_up_options().await.json().await.unwrap());
    let stepped = Tokens::from(step_up_with(&app, &password_session.access, &assertion).await).await;
    let (before, after) = (claims_of(&password_session.access), claims_of(&stepped.access));
    assert_eq!(after["sid"], before["sid"], "the same session, stepped up");
    assert_eq!(after["aal"], "aal2");
    assert_eq!(after["amr"], json!(["pwd", "hwk"]));
    // The options were single use: the same assertion again is refused.
    let replayed = step_up_with(&app, &password_session.access, &assertion).await;
    assert_problem(replayed, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let neither = post(&app, "/auth/mfa/webauthn/options", None, json!({})).await;
    assert_problem(neither, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

/// User verification is "preferred": a key without a PIN registers, signs in at aal1 (a single
/// possession factor), is a full second factor after the password, and reaches aal2 in a
/// step-up once it verifies its user.
async fn a_passkey_without_user_verification_is_one_factor(backend: Backend) {
    let app = spawn(backend).await;
    let (email, tokens) = app.signed_in_user().await;
    let options: Value =
        post(&app, "/auth/passkeys/register/options", Some(&tokens.access), json!({})).await.json().await.unwrap();
    assert_eq!(options["publicKey"]["authenticatorSelection"]["userVerification"], "preferred", "{options}");
    let mut key = SoftPasskey::without_user_verification(ORIGIN);
    let credential = key.register(&options);
    let registered = post(&app, "/auth/passkeys/register", Some(&tokens.access), json!({"credential": credential}));
    assert_eq!(registered.await.status(), StatusCode::CREATED);

    let (challenge_id, options) = login_options(&app).await;
    assert_eq!(options["publicKey"]["userVerification"], "preferred", "{options}");
    let session = Tokens::from(login(&app, &challenge_id, &key.assert(&options)).await).await;
    let claims = claims_of(&session.access);
    assert_eq!(claims["aal"], "aal1", "a touch alone is one factor");
    assert_eq!(claims["amr"], json!(["hwk"]));
    let gateway = app.client.get(app.url("/auth/validate?aal=aal2")).bearer_auth(&session.access).send().await;
    assert_problem(gateway.unwrap(), StatusCode::FORBIDDEN, "mfa_required").await;

    // After the password it is the second factor: aal2.
    let answer: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let mfa_token = answer["mfa_token"].as_str().expect("mfa_required");
    let options: Value =
        post(&app, "/auth/mfa/webauthn/options", None, json!({"mfa_token": mfa_token})).await.json().await.unwrap();
    let body = json!({"mfa_token": mfa_token, "method": "webauthn", "credential": key.assert(&options)});
    let pair = Tokens::from(post(&app, "/auth/mfa/verify", None, body).await).await;
    assert_eq!(claims_of(&pair.access)["aal"], "aal2");

    // The aal1 passkey session steps up: unverified again it stays aal1, verified it is aal2.
    let step_up_options = || post(&app, "/auth/mfa/webauthn/options", Some(&session.access), json!({}));
    let touch = key.assert(&step_up_options().await.json().await.unwrap());
    let still = Tokens::from(step_up_with(&app, &session.access, &touch).await).await;
    assert_eq!(claims_of(&still.access)["aal"], "aal1");
    key.verifies_user = true;
    let verified = key
        .assert(&post(&app, "/auth/mfa/webauthn/options", Some(&still.access), json!({})).await.json().await.unwrap());
    let stepped = Tokens::from(step_up_with(&app, &still.access, &verified).await).await;
    let after = claims_of(&stepped.access);
    assert_eq!(after["aal"], "aal2", "{after}");
    assert_eq!(after["sid"], claims["sid"]);
}

/// A key that checked its user's PIN at registration cannot be used later without it: a thief
/// holding the key cannot skip the PIN by answering with a touch.
async fn a_passkey_that_verified_its_user_at_registration_must_always_verify(backend: Backend) {
    let app = spawn(backend).await;
    let (email, _, mut authenticator) = user_with_passkey(&app).await;
    authenticator.verifies_user = false;
    assert_problem(sign_in(&app, &mut authenticator).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let answer: Value = app.login(&email, PASSWORD).await.json().await.unwrap();
    let mfa_token = answer["mfa_token"].as_str().expect("mfa_required");
    let options: Value =
        post(&app, "/auth/mfa/webauthn/options", None, json!({"mfa_token": mfa_token})).await.json().await.unwrap();
    let body = json!({"mfa_token": mfa_token, "method": "webauthn", "credential": authenticator.assert(&options)});
    assert_problem(post(&app, "/auth/mfa/verify", None, body).await, StatusCode::UNAUTHORIZED, "invalid_mfa_code")
        .await;
    authenticator.verifies_user = true;
    assert_eq!(sign_in(&app, &mut authenticator).await.status(), StatusCode::OK);
}

async fn removing_a_passkey_needs_aal2(backend: Backend) {
    let app = spawn(backend).await;
    let (_, password_session, mut authenticator) = user_with_passkey(&app).await;
    let listed: Value = app.get_bearer("/auth/passkeys", &password_session.access).await.json().await.unwrap();
    let path = format!("/auth/passkeys/{}", listed[0]["id"].as_str().unwrap());
    let refused = app.client.delete(app.url(&path)).bearer_auth(&password_session.access).send().await.unwrap();
    assert_problem(refused, StatusCode::FORBIDDEN, "mfa_required").await;
    // A second registration needs aal2 too now that the user has a second factor.
    let more = post(&app, "/auth/passkeys/register/options", Some(&password_session.access), json!({})).await;
    assert_problem(more, StatusCode::FORBIDDEN, "mfa_required").await;

    let aal2 = Tokens::from(sign_in(&app, &mut authenticator).await).await;
    let removed = app.client.delete(app.url(&path)).bearer_auth(&aal2.access).send().await.unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let listed: Value = app.get_bearer("/auth/passkeys", &aal2.access).await.json().await.unwrap();
    assert_eq!(listed, json!([]));
    assert_problem(sign_in(&app, &mut authenticator).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}

async fn malformed_credentials_are_refused_and_change_nothing(backend: Backend) {
    let app = spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;
    let options: Value =
        post(&app, "/auth/passkeys/register/options", Some(&tokens.access), json!({})).await.json().await.unwrap();
    for credential in [json!("not a credential"), json!({"id": "AAAA", "response": {}}), json!(null)] {
        let response =
            post(&app, "/auth/passkeys/register", Some(&tokens.access), json!({"credential": credential})).await;
        assert!(response.status().is_client_error(), "{credential}: {}", response.status());
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));
    }
    // The pending registration survived the malformed bodies.
    let credential = SoftPasskey::new(ORIGIN).register(&options);
    let registered =
        post(&app, "/auth/passkeys/register", Some(&tokens.access), json!({"credential": credential})).await;
    assert_eq!(registered.status(), StatusCode::CREATED);

    let (challenge_id, _) = login_options(&app).await;
    let refused = login(&app, &challenge_id, &json!({"id": "AAAA"})).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let missing = post(&app, "/auth/passkeys/login", None, json!({"challenge_id": challenge_id})).await;
    assert!(missing.status().is_client_error());
}

async fn a_ceremony_started_on_one_instance_finishes_on_another() {
    let first = spawn(Backend::Postgres).await;
    let second = TestApp::start(first.settings.clone(), Backend::Postgres).await;
    let (_, tokens) = first.signed_in_user().await;
    let options: Value =
        post(&first, "/auth/passkeys/register/options", Some(&tokens.access), json!({})).await.json().await.unwrap();
    let mut authenticator = SoftPasskey::new(ORIGIN);
    let credential = authenticator.register(&options);
    let registered =
        post(&second, "/auth/passkeys/register", Some(&tokens.access), json!({"credential": credential})).await;
    assert_eq!(registered.status(), StatusCode::CREATED);

    let (challenge_id, options) = login_options(&second).await;
    let assertion = authenticator.assert(&options);
    Tokens::from(login(&first, &challenge_id, &assertion).await).await;
    // Spent on the first instance, so spent on the second.
    assert_problem(login(&second, &challenge_id, &assertion).await, StatusCode::UNAUTHORIZED, "invalid_credentials")
        .await;
}

async fn a_disabled_account_cannot_sign_in_with_its_passkey(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let (_, tokens, mut authenticator) = user_with_passkey(&app).await;
    let id = claims_of(&tokens.access)["sub"].as_str().unwrap().to_owned();
    let disabled = app
        .client
        .patch(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(&admin.access)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(disabled.status(), StatusCode::OK);
    assert_problem(sign_in(&app, &mut authenticator).await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
}
