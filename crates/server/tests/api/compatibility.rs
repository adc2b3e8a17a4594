use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, unique_email};
use crate::on_both_backends;

on_both_backends!(the_fastapi_paths_serve_the_same_handlers);

async fn the_fastapi_paths_serve_the_same_handlers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let email = unique_email();

    let registered = app.post_json("/auth_api/v1/users/register", json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(registered.status(), StatusCode::CREATED);
    let form_login = app
        .client
        .post(app.url("/auth_api/v1/auth/login"))
        .form(&[("username", email.as_str()), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let tokens = Tokens::from(form_login).await;
    let me: Value = app.get_bearer("/auth_api/v1/users/me", &tokens.access).await.json().await.unwrap();
    assert_eq!(me["email"], email);
    let sessions: Vec<Value> = app.get_bearer("/auth_api/v1/auth/sessions", &tokens.access).await.json().await.unwrap();
    assert_eq!(sessions.len(), 1);
    let refreshed =
        Tokens::from(app.post_json("/auth_api/v1/auth/refresh", json!({"refresh_token": tokens.refresh})).await).await;
    assert_eq!(app.post_bearer("/auth_api/v1/auth/logout", &refreshed.access).await.status(), StatusCode::NO_CONTENT);
    let again = Tokens::from(app.login(&email, PASSWORD).await).await;
    assert_eq!(app.post_bearer("/auth_api/v1/auth/logout-all", &again.access).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.validate(&again.access).await.status(), StatusCode::UNAUTHORIZED);
}
