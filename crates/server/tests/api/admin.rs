use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::helpers::{Backend, PASSWORD, TEST_SECRET, TestApp, Tokens, assert_problem, claims_of, unique_email};
use crate::on_both_backends;

on_both_backends!(
    non_admins_are_forbidden_and_anonymous_callers_unauthorized,
    create_admin_creates_a_new_account_as_admin_with_the_password,
    create_admin_refuses_an_existing_account_without_the_flag,
    create_admin_promotes_an_existing_account_with_the_flag_and_says_the_password_was_not_set,
    admins_list_users_by_pages_and_email_prefix,
    admins_get_and_rename_users,
    deactivation_revokes_sessions_and_blocks_login,
    demotion_revokes_sessions_and_promotion_applies_at_refresh,
    the_last_active_admin_cannot_be_demoted_or_deactivated,
    admins_can_force_a_logout_everywhere,
    admin_email_at_start_up_grants_the_role,
    admin_email_at_start_up_refuses_an_existing_account_without_opt_in,
);

/// Runs `auth-service create-admin` against the app's database, like an operator would.
async fn create_admin(app: &TestApp, email: &str, password: Option<&str>) -> String {
    let (succeeded, printed) = run_create_admin(app, email, password, &[]).await;
    assert!(succeeded, "{printed}");
    printed
}

/// `create-admin` with extra flags: (exited successfully, stdout and stderr).
async fn run_create_admin(app: &TestApp, email: &str, password: Option<&str>, flags: &[&str]) -> (bool, String) {
    let mut command = tokio::process::Command::new(crate::helpers::BINARY);
    command
        .env_clear()
        .env("DATABASE_URL", &app.settings.database_url)
        .env("OIDC_SIGNING_KEY_PATH", crate::helpers::test_oidc_key())
        .env("JWT_SECRET", TEST_SECRET)
        .env("BCRYPT_COST", "4")
        .env("LOG_FORMAT", "json")
        .args(["create-admin", "--email", email])
        .args(flags)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if password.is_some() {
        command.arg("--password-stdin");
    }
    let mut child = command.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{}\n", password.unwrap_or_default()).as_bytes()).await.unwrap();
    drop(stdin);
    let output = child.wait_with_output().await.unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), printed)
}

/// A fresh admin: (email, tokens).
pub(crate) async fn signed_in_admin(app: &TestApp) -> (String, Tokens) {
    let email = unique_email();
    let printed = create_admin(app, &email, Some(PASSWORD)).await;
    assert!(!printed.contains(PASSWORD));
    let tokens = Tokens::from(app.login(&email, PASSWORD).await).await;
    assert_eq!(claims_of(&tokens.access)["role"], "admin");
    (email, tokens)
}

fn user_id(tokens: &Tokens) -> String {
    claims_of(&tokens.access)["sub"].as_str().unwrap().to_owned()
}

async fn patch(app: &TestApp, admin: &Tokens, id: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/admin/users/{id}")))
        .bearer_auth(&admin.access)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn non_admins_are_forbidden_and_anonymous_callers_unauthorized(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, user) = app.signed_in_user().await;
    let id = user_id(&user);
    assert_problem(app.get_bearer("/admin/users", &user.access).await, StatusCode::FORBIDDEN, "insufficient_role")
        .await;
    assert_problem(patch(&app, &user, &id, json!({"role": "admin"})).await, StatusCode::FORBIDDEN, "insufficient_role")
        .await;
    let anonymous = app.client.get(app.url("/admin/users")).send().await.unwrap();
    assert_problem(anonymous, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

const OPERATOR_PASSWORD: &str = "operator chose this one";

async fn create_admin_creates_a_new_account_as_admin_with_the_password(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();

    let printed = create_admin(&app, &email, Some(OPERATOR_PASSWORD)).await;

    assert!(!printed.contains(OPERATOR_PASSWORD), "{printed}");
    let tokens = Tokens::from(app.login(&email, OPERATOR_PASSWORD).await).await;
    assert_eq!(claims_of(&tokens.access)["role"], "admin");
    assert_eq!(app.get_bearer("/admin/users", &tokens.access).await.status(), StatusCode::OK);
}

async fn create_admin_refuses_an_existing_account_without_the_flag(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Anyone may register the address an operator is about to make an admin.
    let (email, _) = app.signed_in_user().await;

    for password in [None, Some(OPERATOR_PASSWORD)] {
        let (succeeded, printed) = run_create_admin(&app, &email, password, &[]).await;
        assert!(!succeeded, "refused: {printed}");
        assert!(printed.contains("--promote-existing"), "says how to opt in: {printed}");
    }

    let tokens = Tokens::from(app.login(&email, PASSWORD).await).await;
    assert_eq!(claims_of(&tokens.access)["role"], "user", "the account is unchanged");
    assert_eq!(app.login(&email, OPERATOR_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
}

async fn create_admin_promotes_an_existing_account_with_the_flag_and_says_the_password_was_not_set(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, _) = app.signed_in_user().await;

    let (succeeded, printed) = run_create_admin(&app, &email, Some(OPERATOR_PASSWORD), &["--promote-existing"]).await;

    assert!(succeeded, "{printed}");
    assert!(printed.contains("NOT set"), "{printed}");
    let tokens = Tokens::from(app.login(&email, PASSWORD).await).await;
    assert_eq!(claims_of(&tokens.access)["role"], "admin");
    assert_eq!(app.login(&email, OPERATOR_PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    // Running it again on the admin it made changes nothing and still succeeds.
    let (again, printed) = run_create_admin(&app, &email, None, &[]).await;
    assert!(again, "{printed}");
}

async fn admins_list_users_by_pages_and_email_prefix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = signed_in_admin(&app).await;
    let tag = uuid::Uuid::new_v4().simple().to_string();
    for index in 0..5 {
        app.register(&format!("Page{index}.{tag}@Example.com"), PASSWORD).await;
    }

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(cursor) => format!("/admin/users?limit=2&email=PAGE&cursor={cursor}"),
            None => "/admin/users?limit=2&email=PAGE".to_owned(),
        };
        let page: Value = app.get_bearer(&query, &admin.access).await.json().await.unwrap();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|user| user["email"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    seen.sort();
    let mut expected: Vec<String> = (0..5).map(|index| format!("Page{index}.{tag}@Example.com")).collect();
    expected.sort();
    assert_eq!(seen, expected);
    let wildcard: Value = app.get_bearer("/admin/users?email=%25", &admin.access).await.json().await.unwrap();
    assert_eq!(wildcard["items"].as_array().unwrap().len(), 0, "LIKE wildcards match literally");
    assert_problem(
        app.get_bearer("/admin/users?limit=0", &admin.access).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_problem(
        app.get_bearer("/admin/users?limit=201", &admin.access).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
}

async fn admins_get_and_rename_users(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = signed_in_admin(&app).await;
    let (email, user) = app.signed_in_user().await;
    let id = user_id(&user);

    let fetched: Value = app.get_bearer(&format!("/admin/users/{id}"), &admin.access).await.json().await.unwrap();
    assert_eq!(fetched["email"], email);
    let renamed: Value = patch(&app, &admin, &id, json!({"full_name": "Renamed"})).await.json().await.unwrap();
    assert_eq!(renamed["full_name"], "Renamed");
    assert_eq!(app.validate(&user.access).await.status(), StatusCode::OK, "renaming revokes nothing");
    let cleared: Value = patch(&app, &admin, &id, json!({"full_name": null})).await.json().await.unwrap();
    assert_eq!(cleared["full_name"], Value::Null);
    assert_problem(
        patch(&app, &admin, &id, json!({"role": "superuser"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let missing = uuid::Uuid::new_v4();
    assert_problem(
        app.get_bearer(&format!("/admin/users/{missing}"), &admin.access).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
}

async fn deactivation_revokes_sessions_and_blocks_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = signed_in_admin(&app).await;
    let (email, user) = app.signed_in_user().await;
    let id = user_id(&user);

    let started = Instant::now();
    let body: Value = patch(&app, &admin, &id, json!({"is_active": false})).await.json().await.unwrap();
    assert_eq!(body["is_active"], false);

    assert_problem(app.validate(&user.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_problem(app.refresh(&user.refresh).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_problem(app.login(&email, PASSWORD).await, StatusCode::FORBIDDEN, "account_disabled").await;
    assert_problem(app.login(&email, "wrong password").await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;

    patch(&app, &admin, &id, json!({"is_active": true})).await;
    Tokens::from(app.login(&email, PASSWORD).await).await;
}

async fn demotion_revokes_sessions_and_promotion_applies_at_refresh(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = signed_in_admin(&app).await;
    let (_, user) = app.signed_in_user().await;
    let id = user_id(&user);

    let promoted: Value = patch(&app, &admin, &id, json!({"role": "admin"})).await.json().await.unwrap();
    assert_eq!(promoted["role"], "admin");
    assert_eq!(app.validate(&user.access).await.status(), StatusCode::OK, "promotion keeps the session");
    let refreshed = Tokens::from(app.refresh(&user.refresh).await).await;
    assert_eq!(claims_of(&refreshed.access)["role"], "admin");
    assert_eq!(app.post_bearer("/auth/validate?role=admin", &refreshed.access).await.status(), StatusCode::OK);

    patch(&app, &admin, &id, json!({"role": "user"})).await;
    assert_problem(app.validate(&refreshed.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_problem(app.refresh(&refreshed.refresh).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
}

async fn the_last_active_admin_cannot_be_demoted_or_deactivated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, first) = signed_in_admin(&app).await;
    let first_id = user_id(&first);

    assert_problem(patch(&app, &first, &first_id, json!({"role": "user"})).await, StatusCode::CONFLICT, "last_admin")
        .await;
    assert_problem(
        patch(&app, &first, &first_id, json!({"is_active": false})).await,
        StatusCode::CONFLICT,
        "last_admin",
    )
    .await;
    assert_eq!(app.validate(&first.access).await.status(), StatusCode::OK);

    let (_, second) = signed_in_admin(&app).await;
    let demoted: Value = patch(&app, &second, &first_id, json!({"role": "user"})).await.json().await.unwrap();
    assert_eq!(demoted["role"], "user");
    let second_id = user_id(&second);
    assert_problem(
        patch(&app, &second, &second_id, json!({"is_active": false})).await,
        StatusCode::CONFLICT,
        "last_admin",
    )
    .await;
}

async fn admins_can_force_a_logout_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = signed_in_admin(&app).await;
    let (_, user) = app.signed_in_user().await;
    let id = user_id(&user);

    let response = app.post_bearer(&format!("/admin/users/{id}/logout-all"), &admin.access).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(app.validate(&user.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(app.validate(&admin.access).await.status(), StatusCode::OK);
}

async fn admin_email_at_start_up_grants_the_role(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let email = unique_email();
    first.register(&email, PASSWORD).await;
    let settings = auth_service::Settings {
        admin_email: Some(email.to_uppercase()),
        admin_promote_existing: true,
        ..first.settings.clone()
    };
    first.stop().await;

    let app = TestApp::start(settings, backend).await;

    let tokens = Tokens::from(app.login(&email, PASSWORD).await).await;
    assert_eq!(claims_of(&tokens.access)["role"], "admin");
}

async fn admin_email_at_start_up_refuses_an_existing_account_without_opt_in(backend: Backend) {
    let first = TestApp::spawn(backend).await;
    let email = unique_email();
    first.register(&email, PASSWORD).await;
    let settings = auth_service::Settings { admin_email: Some(email.clone()), ..first.settings.clone() };
    first.stop().await;

    let refused = auth_service::Application::build(settings.clone()).await.err().expect("start-up fails");

    assert!(format!("{refused:#}").contains("ADMIN_PROMOTE_EXISTING"), "{refused:#}");
    let app = TestApp::start(auth_service::Settings { admin_email: None, ..settings }, backend).await;
    let tokens = Tokens::from(app.login(&email, PASSWORD).await).await;
    assert_eq!(claims_of(&tokens.access)["role"], "user");
}
