//! Second factors through HTTP: TOTP enrolment with codes the test computes from the secret the
//! API returned, recovery codes, the `mfa_required` turn of a sign-in and its completion, the
//! bounds on guessing, and `aal2` for changing factors. Both backends.

use std::sync::Arc;

use auth_core::clock::{Clock, FixedClock};
use auth_core::mfa::TotpSecret;
use auth_core::mfa::totp::code_at;
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, claims_of};
use crate::{on_both_backends, on_postgres};

on_both_backends!(
    totp_enrolment_returns_a_secret_a_uri_and_a_qr_code_and_waits_for_a_code,
    a_password_sign_in_with_totp_answers_mfa_required_and_finishes_at_aal2,
    an_accepted_code_is_refused_when_presented_again,
    codes_within_one_step_of_drift_are_accepted_and_further_ones_refused,
    recovery_codes_are_single_use_and_regenerating_kills_the_old_ones,
    an_mfa_token_survives_five_wrong_codes_and_is_single_use,
    wrong_codes_count_toward_the_account_cool_off,
    changing_a_second_factor_needs_an_aal2_token,
    bad_input_to_the_second_factor_endpoints_changes_nothing,
    a_signed_in_session_steps_up_to_aal2_with_a_new_pair,
    an_admin_reset_removes_every_factor_and_signs_the_user_out,
    with_mfa_secret_key_authenticators_survive_a_new_signing_key,
    factor_changes_are_user_events_that_match_the_schema,
);

on_postgres!(an_mfa_token_from_one_instance_is_finished_on_another_and_spent_for_both);

/// A signed-in user and the app it talks to, on a clock the test moves.
struct Enrolled {
    app: TestApp,
    clock: Arc<FixedClock>,
    email: String,
    secret: TotpSecret,
    recovery_codes: Vec<String>,
    /// The aal1 session from before the factor existed.
    before: Tokens,
}

async fn post(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
}

async fn enrolled(backend: Backend, customize: impl FnOnce(&mut auth_service::Settings)) -> Enrolled {
    // Half-way through a 30 s step, so a code's neighbours are a clean ±30 s away.
    let start = Utc::now().timestamp() / 30 * 30 + 15;
    let clock = Arc::new(FixedClock::new(chrono::DateTime::from_timestamp(start, 0).unwrap()));
    let app = TestApp::spawn_with_clock(backend, clock.clone(), customize).await;
    let (email, before) = app.signed_in_user().await;
    let enrolment: Value = app.post_bearer("/auth/mfa/totp", &before.access).await.json().await.unwrap();
    let secret = TotpSecret::from_base32(enrolment["secret"].as_str().unwrap()).expect("a base32 secret");
    let code = code_at(&secret, clock.now()).unwrap();
    let confirmed = post(&app, "/auth/mfa/totp/confirm", &before.access, json!({"code": code})).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let body: Value = confirmed.json().await.unwrap();
    let recovery_codes =
        body["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    // The confirming code is spent: the next one comes from the next step.
    clock.advance(Duration::seconds(30));
    Enrolled { app, clock, email, secret, recovery_codes, before }
}

impl Enrolled {
    fn code(&self) -> String {
        code_at(&self.secret, self.clock.now()).unwrap()
    }

    /// Signs in with the password: the `mfa_required` answer's token.
    async fn mfa_token(&self) -> String {
        let response = self.app.login(&self.email, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["mfa_required"], true, "{body}");
        assert!(body.get("access_token").is_none(), "no session before the second factor: {body}");
        body["mfa_token"].as_str().unwrap().to_owned()
    }

    async fn verify(&self, mfa_token: &str, method: &str, code: &str) -> reqwest::Response {
        self.app.post_json("/auth/mfa/verify", json!({"mfa_token": mfa_token, "method": method, "code": code})).await
    }

    /// A full sign-in with TOTP: an aal2 pair.
    async fn aal2(&self) -> Tokens {
        let token = self.mfa_token().await;
        let tokens = Tokens::from(self.verify(&token, "totp", &self.code()).await).await;
        self.clock.advance(Duration::seconds(30));
        tokens
    }
}

async fn totp_enrolment_returns_a_secret_a_uri_and_a_qr_code_and_waits_for_a_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, tokens) = app.signed_in_user().await;
    let response = app.post_bearer("/auth/mfa/totp", &tokens.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let secret = body["secret"].as_str().unwrap();
    let uri = body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/auth-service:"), "{uri}");
    assert!(uri.contains(&format!("secret={secret}")) && uri.contains("issuer=auth-service"), "{uri}");
    assert!(uri.contains(&email.replace('@', "%40")), "{uri}");
    assert!(body["qr_svg"].as_str().unwrap().trim_start().starts_with("<svg"), "an SVG document");

    // Not active until confirmed: sign-in still opens a session.
    let status: Value = app.get_bearer("/auth/mfa", &tokens.access).await.json().await.unwrap();
    assert_eq!(status, json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0}));
    Tokens::from(app.login(&email, PASSWORD).await).await;

    let wrong = post(&app, "/auth/mfa/totp/confirm", &tokens.access, json!({"code": "000000"})).await;
    assert_problem(wrong, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let secret = TotpSecret::from_base32(secret).unwrap();
    let right = json!({"code": code_at(&secret, Utc::now()).unwrap()});
    let confirmed: Value = post(&app, "/auth/mfa/totp/confirm", &tokens.access, right).await.json().await.unwrap();
    let codes = confirmed["recovery_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 10);
    let status: Value = app.get_bearer("/auth/mfa", &tokens.access).await.json().await.unwrap();
    assert_eq!(status, json!({"totp": true, "passkeys": 0, "recovery_codes_left": 10}));
    // A second enrolment while one is active is refused.
    assert_problem(app.post_bearer("/auth/mfa/totp", &tokens.access).await, StatusCode::FORBIDDEN, "mfa_required")
        .await;
}

async fn a_password_sign_in_with_totp_answers_mfa_required_and_finishes_at_aal2(backend: Backend) {
    let user = enrolled(backend, |_| {}).await;
    let response = user.app.login(&user.email, PASSWORD).await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
    assert_eq!(body["expires_in"], 300);
    let token = body["mfa_token"].as_str().unwrap();
    assert_problem(user.verify(token, "totp", "000000").await, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;

    let tokens = Tokens::from(user.verify(token, "totp", &user.code()).await).await;
    let claims = claims_of(&tokens.access);
    assert_eq!((&claims["aal"], &claims["amr"]), (&json!("aal2"), &json!(["pwd", "otp"])));
    let gateway = user.app.client.get(user.app.url("/auth/validate?aal=aal2")).bearer_auth(&tokens.access).send();
    let gateway = gateway.await.unwrap();
    assert_eq!((gateway.status(), &gateway.headers()["x-user-aal"]), (StatusCode::OK, &"aal2".parse().unwrap()));
    let refreshed = Tokens::from(user.app.refresh(&tokens.refresh).await).await;
    assert_eq!(claims_of(&refreshed.access)["aal"], "aal2", "a refresh keeps the assurance");
    // The token was spent by its success.
    user.clock.advance(Duration::seconds(30));
    assert_problem(user.verify(token, "totp", &user.code()).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    // The FastAPI-compatible path asks for the second factor too.
    let legacy =
        user.app.post_json("/auth_api/v1/auth/login", json!({"email": user.email, "password": PASSWORD})).await;
    assert_eq!(legacy.json::<Value>().await.unwrap()["mfa_required"], true);
}

async fn an_accepted_code_is_refused_when_presented_again(backend: Backend) {
    let user = enrolled(backend, |_| {}).await;
    let code = user.code();
    let first = user.mfa_token().await;
    Tokens::from(user.verify(&first, "totp", &code).await).await;
    let second = user.mfa_token().await;
    assert_problem(user.verify(&second, "totp", &code).await, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    // The same token still works with the next code.
    user.clock.advance(Duration::seconds(30));
    Tokens::from(user.verify(&second, "totp", &user.code()).await).await;
}

async fn codes_within_one_step_of_drift_are_accepted_and_further_ones_refused(backend: Backend) {
    let user = enrolled(backend, |_| {}).await;
    let now = user.clock.now();
    let at = |seconds: i64| code_at(&user.secret, now + Duration::seconds(seconds)).unwrap();
    let token = user.mfa_token().await;
    for far in [at(-60), at(60)] {
        assert_problem(user.verify(&token, "totp", &far).await, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    }
    // The phone runs 30 s ahead.
    Tokens::from(user.verify(&token, "totp", &at(30)).await).await;
}

async fn recovery_codes_are_single_use_and_regenerating_kills_the_old_ones(backend: Backend) {
    let user = enrolled(backend, |_| {}).await;
    let code = &user.recovery_codes[0];
    let token = user.mfa_token().await;
    let tokens = Tokens::from(user.verify(&token, "recovery_code", &code.to_uppercase()).await).await;
    let claims = claims_of(&tokens.access);
    assert_eq!((&claims["aal"], &claims["amr"]), (&json!("aal2"), &json!(["pwd", "otp"])));
    let again = user.mfa_token().await;
    assert_problem(user.verify(&again, "recovery_code", code).await, StatusCode::UNAUTHORIZED, "invalid_mfa_code")
        .await;
    let status: Value = user.app.get_bearer("/auth/mfa", &tokens.access).await.json().await.unwrap();
    assert_eq!(status["recovery_codes_left"], 9);

    let fresh: Value = user.app.post_bearer("/auth/mfa/recovery-codes", &tokens.access).await.json().await.unwrap();
    let fresh: Vec<&str> = fresh["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(fresh.len(), 10);
    let old = user.mfa_token().await;
    let refused = user.verify(&old, "recovery_code", &user.recovery_codes[1]).await;
    assert_problem(refused, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    Tokens::from(user.verify(&old, "recovery_code", fresh[0]).await).await;
}

async fn an_mfa_token_survives_five_wrong_codes_and_is_single_use(backend: Backend) {
    let user = enrolled(backend, |_| {}).await;
    let token = user.mfa_token().await;
    for _ in 0..5 {
        assert_problem(user.verify(&token, "totp", "000000").await, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    }
    assert_problem(user.verify(&token, "totp", &user.code()).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    assert_problem(user.verify("no-such-token", "totp", &user.code()).await, StatusCode::UNAUTHORIZED, "invalid_token")
        .await;
    // Expired: five minutes later the token is gone, however good the code.
    let late = user.mfa_token().await;
    user.clock.advance(Duration::seconds(301));
    assert_problem(user.verify(&late, "totp", &user.code()).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

async fn wrong_codes_count_toward_the_account_cool_off(backend: Backend) {
    let user = enrolled(backend, |settings| settings.login_failure_limit = 3).await;
    for _ in 0..3 {
        let token = user.mfa_token().await;
        assert_problem(user.verify(&token, "totp", "000000").await, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    }
    // The account's budget is spent: the password login cools off as well.
    assert_problem(user.app.login(&user.email, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

async fn changing_a_second_factor_needs_an_aal2_token(backend: Backend) {
    let user = enrolled(backend, |_| {}).await;
    let app = &user.app;
    let single = &user.before.access;
    let delete = |token: &str| app.client.delete(app.url("/auth/mfa/totp")).bearer_auth(token).send();
    assert_problem(delete(single).await.unwrap(), StatusCode::FORBIDDEN, "mfa_required").await;
    assert_problem(app.post_bearer("/auth/mfa/recovery-codes", single).await, StatusCode::FORBIDDEN, "mfa_required")
        .await;
    assert_problem(app.post_bearer("/auth/mfa/totp", single).await, StatusCode::FORBIDDEN, "mfa_required").await;

    let strong = user.aal2().await;
    assert_eq!(delete(&strong.access).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_problem(delete(&strong.access).await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    let status: Value = app.get_bearer("/auth/mfa", single).await.json().await.unwrap();
    assert_eq!(
        status,
        json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0}),
        "codes go with the last factor"
    );
    Tokens::from(app.login(&user.email, PASSWORD).await).await;
}

async fn bad_input_to_the_second_factor_endpoints_changes_nothing(backend: Backend) {
    let user = enrolled(backend, |_| {}).await;
    let token = user.mfa_token().await;
    let cases = [
        json!({"mfa_token": token, "method": "sms", "code": "123456"}),
        json!({"mfa_token": token, "method": "totp"}),
        json!({"method": "totp", "code": "123456"}),
        json!({"mfa_token": token, "method": "totp", "code": 123456}),
    ];
    for body in cases {
        let response = user.app.post_json("/auth/mfa/verify", body.clone()).await;
        assert!(response.status().is_client_error(), "{body}: {}", response.status());
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/problem+json"));
    }
    for code in ["12345", "1234567", "abcdef", &"9".repeat(10_000)] {
        assert_problem(user.verify(&token, "totp", code).await, StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    }
    // Four wrong codes were judged (the malformed bodies were refused before any): the token lives.
    Tokens::from(user.verify(&token, "totp", &user.code()).await).await;
    let unauthenticated = user.app.client.post(user.app.url("/auth/mfa/totp")).send().await.unwrap();
    assert_problem(unauthenticated, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

async fn a_signed_in_session_steps_up_to_aal2_with_a_new_pair(backend: Backend) {
    let user = enrolled(backend, |_| {}).await;
    let app = &user.app;
    let before = &user.before;
    let step_up = |code: String| {
        app.client
            .post(app.url("/auth/mfa/verify"))
            .bearer_auth(&before.access)
            .json(&json!({"method": "totp", "code": code}))
            .send()
    };
    assert_problem(step_up("000000".into()).await.unwrap(), StatusCode::UNAUTHORIZED, "invalid_mfa_code").await;
    let stepped = Tokens::from(step_up(user.code()).await.unwrap()).await;
    let claims = claims_of(&stepped.access);
    assert_eq!((&claims["aal"], &claims["amr"]), (&json!("aal2"), &json!(["pwd", "otp"])));
    assert_eq!(claims["sid"], claims_of(&before.access)["sid"], "the same session, stepped up");
    // The session keeps aal2 across refresh; its old refresh token is spent (reuse ends it).
    let refreshed = Tokens::from(app.refresh(&stepped.refresh).await).await;
    assert_eq!(claims_of(&refreshed.access)["aal"], "aal2");
    assert_problem(app.refresh(&before.refresh).await, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    let anonymous = app.post_json("/auth/mfa/verify", json!({"method": "totp", "code": user.code()})).await;
    assert_problem(anonymous, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
}

async fn an_admin_reset_removes_every_factor_and_signs_the_user_out(backend: Backend) {
    let user = enrolled(backend, |_| {}).await;
    let app = &user.app;
    let strong = user.aal2().await;
    let (_, admin) = crate::admin::signed_in_admin(app).await;
    let id = claims_of(&strong.access)["sub"].as_str().unwrap().to_owned();
    let reset =
        |token: &str, id: &str| app.client.delete(app.url(&format!("/admin/users/{id}/mfa"))).bearer_auth(token).send();
    assert_problem(reset(&strong.access, &id).await.unwrap(), StatusCode::FORBIDDEN, "insufficient_role").await;
    assert_eq!(reset(&admin.access, &id).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_problem(app.validate(&strong.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    // The password alone signs in again, and the user can enrol a new device.
    let tokens = Tokens::from(app.login(&user.email, PASSWORD).await).await;
    let status: Value = app.get_bearer("/auth/mfa", &tokens.access).await.json().await.unwrap();
    assert_eq!(status, json!({"totp": false, "passkeys": 0, "recovery_codes_left": 0}));
    let unknown = uuid::Uuid::new_v4().to_string();
    assert_problem(reset(&admin.access, &unknown).await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
}

async fn with_mfa_secret_key_authenticators_survive_a_new_signing_key(backend: Backend) {
    let key = auth_service::config::Secret::new("an MFA sealing key of at least 32 bytes");
    let user = enrolled(backend, |settings| settings.mfa_secret_key = Some(key)).await;
    let mut rotated = user.app.settings.clone();
    rotated.jwt_secret = Some(auth_service::config::Secret::new("a brand-new HS256 signing secret, 32+ bytes"));
    let next = TestApp::start_with_clock(rotated, user.clock.clone()).await;
    let response = next.login(&user.email, PASSWORD).await;
    let token = response.json::<Value>().await.unwrap()["mfa_token"].as_str().unwrap().to_owned();
    let verified =
        next.post_json("/auth/mfa/verify", json!({"mfa_token": token, "method": "totp", "code": user.code()}));
    let tokens = Tokens::from(verified.await).await;
    assert_eq!(claims_of(&tokens.access)["aal"], "aal2");
}

async fn factor_changes_are_user_events_that_match_the_schema(backend: Backend) {
    use crate::events::{Receiver, conforms, of_user, types, with_webhook};
    let (receiver, url) = Receiver::start().await;
    let user = enrolled(backend, |settings| with_webhook(settings, &url)).await;
    let id = claims_of(&user.before.access)["sub"].as_str().unwrap().to_owned();
    let strong = user.aal2().await;
    assert_eq!(user.app.post_bearer("/auth/mfa/recovery-codes", &strong.access).await.status(), StatusCode::OK);
    let delete = user.app.client.delete(user.app.url("/auth/mfa/totp")).bearer_auth(&strong.access).send();
    assert_eq!(delete.await.unwrap().status(), StatusCode::NO_CONTENT);

    let expected = ["user.registered", "user.mfa_enabled", "user.recovery_codes_regenerated", "user.mfa_disabled"];
    let events = receiver.wait_for("factor events", |accepted| of_user(accepted, &id).len() >= expected.len()).await;
    let mine = of_user(&events, &id);
    assert_eq!(types(&mine), expected);
    assert_eq!((&mine[1]["data"]["method"], &mine[3]["data"]["method"]), (&json!("totp"), &json!("totp")));
    let schema: Value = serde_json::from_str(include_str!("../../../../docs/events/user-event.schema.json")).unwrap();
    for event in &mine {
        conforms(&schema, &schema, event).unwrap_or_else(|problem| panic!("{event}: {problem}"));
        assert!(!event.to_string().contains(&user.secret.to_base32()), "no secret in an event");
    }
}

async fn an_mfa_token_from_one_instance_is_finished_on_another_and_spent_for_both() {
    let user = enrolled(Backend::Postgres, |_| {}).await;
    let other = TestApp::start_with_clock(user.app.settings.clone(), user.clock.clone()).await;
    let token = user.mfa_token().await;
    // A wrong code on the second instance counts for the token everywhere (it lives in Redis).
    let wrong = json!({"mfa_token": token, "method": "totp", "code": "000000"});
    assert_problem(other.post_json("/auth/mfa/verify", wrong).await, StatusCode::UNAUTHORIZED, "invalid_mfa_code")
        .await;
    let right = json!({"mfa_token": token, "method": "totp", "code": user.code()});
    let tokens = Tokens::from(other.post_json("/auth/mfa/verify", right).await).await;
    assert_eq!(claims_of(&tokens.access)["aal"], "aal2");
    user.clock.advance(Duration::seconds(30));
    assert_problem(user.verify(&token, "totp", &user.code()).await, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let metrics = other.client.get(other.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for outcome in ["success", "invalid_code"] {
        let line = format!(r#"mfa_verifications_total{{method="totp",outcome="{outcome}"}}"#);
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
}
