//! Assurance in tokens: `aal` and `amr` claims from the sign-in, kept across refresh; the
//! gateway's `?aal=` requirement and `X-User-Aal`; `MFA_REQUIRED_ROLES` on the admin API.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin::signed_in_admin;
use crate::helpers::{Backend, TestApp, Tokens, assert_problem, claims_of};
use crate::oauth::{browser_sign_in, world};
use crate::on_both_backends;

on_both_backends!(
    a_password_sign_in_is_aal1_pwd_and_a_refresh_keeps_it,
    a_social_sign_in_is_aal1_fed,
    the_gateway_can_demand_a_second_factor_per_route,
    mfa_required_roles_close_the_admin_api_to_single_factor_tokens,
);

async fn a_password_sign_in_is_aal1_pwd_and_a_refresh_keeps_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;
    let claims = claims_of(&tokens.access);
    assert_eq!((&claims["aal"], &claims["amr"]), (&json!("aal1"), &json!(["pwd"])));
    let refreshed = Tokens::from(app.refresh(&tokens.refresh).await).await;
    let again = claims_of(&refreshed.access);
    assert_eq!((&again["aal"], &again["amr"]), (&json!("aal1"), &json!(["pwd"])));
}

async fn a_social_sign_in_is_aal1_fed(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let tokens = Tokens::from(browser_sign_in(&world.app, "google", "alice").await).await;
    let claims = claims_of(&tokens.access);
    assert_eq!((&claims["aal"], &claims["amr"]), (&json!("aal1"), &json!(["fed"])));
}

async fn the_gateway_can_demand_a_second_factor_per_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;
    let validate = |query: &'static str| {
        app.client.get(app.url(&format!("/auth/validate{query}"))).bearer_auth(&tokens.access).send()
    };

    let plain = validate("").await.unwrap();
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(plain.headers()["x-user-aal"], "aal1");
    let body: Value = plain.json().await.unwrap();
    assert_eq!((&body["aal"], &body["amr"]), (&json!("aal1"), &json!(["pwd"])));

    assert_eq!(validate("?aal=aal1").await.unwrap().status(), StatusCode::OK);
    assert_problem(validate("?aal=aal2").await.unwrap(), StatusCode::FORBIDDEN, "mfa_required").await;
    assert_problem(validate("?aal=aal3").await.unwrap(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    // The role is judged before the assurance.
    assert_problem(validate("?role=admin&aal=aal2").await.unwrap(), StatusCode::FORBIDDEN, "insufficient_role").await;
    let posted = app.client.post(app.url("/auth/validate?aal=aal2")).json(&json!({"token": tokens.access})).send();
    assert_problem(posted.await.unwrap(), StatusCode::FORBIDDEN, "mfa_required").await;
}

async fn mfa_required_roles_close_the_admin_api_to_single_factor_tokens(backend: Backend) {
    let open = TestApp::spawn(backend).await;
    let (_, admin) = signed_in_admin(&open).await;
    assert_eq!(open.get_bearer("/admin/users", &admin.access).await.status(), StatusCode::OK);

    let strict = TestApp::spawn_with(backend, |settings| {
        settings.mfa_required_roles = vec![auth_core::model::Role::Admin];
    })
    .await;
    let (_, admin) = signed_in_admin(&strict).await;
    assert_problem(strict.get_bearer("/admin/users", &admin.access).await, StatusCode::FORBIDDEN, "mfa_required").await;
    // The gateway check without `aal` is not the admin API: the token itself is good.
    assert_eq!(strict.validate(&admin.access).await.status(), StatusCode::OK);
}
