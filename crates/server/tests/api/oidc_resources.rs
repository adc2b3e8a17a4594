//! RFC 8707 resource indicators through HTTP, on both backends: a client registered for some
//! APIs gets tokens whose `aud` is the one asked for, never one it is not registered for or that
//! the authorization did not name, and the gateway checks the audience with `?audience=`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_problem, claims_of};
use crate::oidc::{
    REDIRECT, authorize_path, basic, code_for, introspect, oauth_error, pkce, query_of, register_client, registered,
    signed_in_browser, spawn, token,
};
use crate::on_both_backends;
use crate::pages::browser::Browser;

on_both_backends!(
    an_authorization_for_one_resource_gives_tokens_for_it_alone,
    client_credentials_tokens_are_for_the_resources_asked_and_the_gateway_checks_them,
    resources_are_checked_at_registration_and_at_the_authorization_endpoint,
);

const ORDERS: &str = "https://orders.example.com";
const BILLING: &str = "https://billing.example.com/api";

async fn web_client_for_resources(app: &TestApp, admin: &str) -> (String, String) {
    let client = register_client(
        app,
        admin,
        json!({
            "name": "Shop", "type": "confidential", "redirect_uris": [REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"], "scopes": ["openid", "orders:read"],
            "first_party": true, "resources": [ORDERS, BILLING],
        }),
    )
    .await;
    assert_eq!(client["resources"], json!([ORDERS, BILLING]));
    (client["client_id"].as_str().unwrap().to_owned(), client["client_secret"].as_str().unwrap().to_owned())
}

async fn tokens_for_code(
    app: &TestApp,
    auth: &str,
    code: &str,
    verifier: &str,
    resource: Option<&str>,
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    form.extend(resource.map(|resource| ("resource", resource)));
    token(app, Some(auth), &form).await
}

async fn gateway(app: &TestApp, query: &str, access: &str) -> reqwest::Response {
    app.client.get(app.url(&format!("/auth/validate?{query}"))).bearer_auth(access).send().await.unwrap()
}

async fn an_authorization_for_one_resource_gives_tokens_for_it_alone(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let (client_id, secret) = web_client_for_resources(&app, &admin.access).await;
    let auth = basic(&client_id, &secret);
    let email = registered(&app).await;
    let mut browser = signed_in_browser(&app, &email).await;

    // Without a resource, the token is for the client's audience (its id), as before.
    let (verifier, challenge) = pkce();
    let code = code_for(&mut browser, &authorize_path(&client_id, &challenge, "openid orders:read", &[])).await;
    let plain: Value = tokens_for_code(&app, &auth, &code, &verifier, None).await.json().await.unwrap();
    assert_eq!(claims_of(plain["access_token"].as_str().unwrap())["aud"], client_id.as_str());
    // The ID token is for the client, whatever the resource.
    assert_eq!(claims_of(plain["id_token"].as_str().unwrap())["aud"], client_id.as_str());

    // An authorization naming the orders API: its code gives tokens for it by default.
    let (verifier, challenge) = pkce();
    let path = authorize_path(&client_id, &challenge, "openid orders:read", &[("resource", ORDERS)]);
    let code = code_for(&mut browser, &path).await;
    // Asking the token endpoint for a resource the authorization did not name is refused, and
    // spends the code like any other refused redemption.
    oauth_error(
        tokens_for_code(&app, &auth, &code, &verifier, Some(BILLING)).await,
        StatusCode::BAD_REQUEST,
        "invalid_target",
    )
    .await;
    let (verifier, challenge) = pkce();
    let code =
        code_for(&mut browser, &authorize_path(&client_id, &challenge, "openid orders:read", &[("resource", ORDERS)]))
            .await;
    let answer = tokens_for_code(&app, &auth, &code, &verifier, Some(ORDERS)).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let answer: Value = answer.json().await.unwrap();
    let access = answer["access_token"].as_str().unwrap();
    assert_eq!(claims_of(access)["aud"], ORDERS);
    assert_eq!(introspect(&app, &client_id, &secret, access).await["aud"], ORDERS);
    assert_eq!(gateway(&app, &format!("audience={ORDERS}"), access).await.status(), StatusCode::OK);
    assert_problem(
        gateway(&app, &format!("audience={BILLING}"), access).await,
        StatusCode::FORBIDDEN,
        "invalid_audience",
    )
    .await;

    // A refresh keeps to the grant's resource: by default, or asked; never another.
    let refresh = answer["refresh_token"].as_str().unwrap();
    oauth_error(
        token(&app, Some(&auth), &[("grant_type", "refresh_token"), ("refresh_token", refresh), ("resource", BILLING)])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_target",
    )
    .await;
    // The refusal did not spend the token.
    let refreshed: Value = token(&app, Some(&auth), &[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims_of(refreshed["access_token"].as_str().unwrap())["aud"], ORDERS);

    // An authorization naming both: each token may be for one, or for both at once.
    let (verifier, challenge) = pkce();
    let mut path = authorize_path(&client_id, &challenge, "openid orders:read", &[("resource", ORDERS)]);
    path.push_str(&format!("&resource={}", urlencoding(BILLING)));
    let code = code_for(&mut browser, &path).await;
    let both: Value = tokens_for_code(&app, &auth, &code, &verifier, None).await.json().await.unwrap();
    let access = both["access_token"].as_str().unwrap();
    assert_eq!(claims_of(access)["aud"], json!([ORDERS, BILLING]));
    assert_eq!(gateway(&app, &format!("audience={BILLING}"), access).await.status(), StatusCode::OK);
    let narrowed: Value = token(
        &app,
        Some(&auth),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", both["refresh_token"].as_str().unwrap()),
            ("resource", BILLING),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(claims_of(narrowed["access_token"].as_str().unwrap())["aud"], BILLING);
}

async fn client_credentials_tokens_are_for_the_resources_asked_and_the_gateway_checks_them(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let worker = register_client(
        &app,
        &admin.access,
        json!({"name": "Worker", "type": "confidential", "grant_types": ["client_credentials"],
               "scopes": ["orders:read"], "audience": "internal", "resources": [ORDERS, BILLING]}),
    )
    .await;
    let auth = basic(worker["client_id"].as_str().unwrap(), worker["client_secret"].as_str().unwrap());
    let issue = |form: Vec<(&'static str, &'static str)>| {
        let app = &app;
        let auth = auth.clone();
        async move {
            let mut form = form;
            form.insert(0, ("grant_type", "client_credentials"));
            token(app, Some(&auth), &form).await
        }
    };
    let default: Value = issue(vec![]).await.json().await.unwrap();
    let default = default["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&default)["aud"], "internal");
    let orders: Value = issue(vec![("resource", ORDERS)]).await.json().await.unwrap();
    let orders = orders["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&orders)["aud"], ORDERS);
    let both: Value = issue(vec![("resource", ORDERS), ("resource", BILLING)]).await.json().await.unwrap();
    assert_eq!(claims_of(both["access_token"].as_str().unwrap())["aud"], json!([ORDERS, BILLING]));

    for refused in [
        vec![("resource", "https://evil.example.com")],
        vec![("resource", "orders")],
        vec![("resource", "https://orders.example.com/#x")],
    ] {
        oauth_error(issue(refused).await, StatusCode::BAD_REQUEST, "invalid_target").await;
    }

    // The gateway: the right audience passes, another is 403, and the service's own tokens
    // are judged by JWT_AUDIENCE (unset here, so any audience asked of them fails).
    assert_eq!(gateway(&app, &format!("audience={ORDERS}&scope=orders:read"), &orders).await.status(), StatusCode::OK);
    assert_eq!(gateway(&app, "audience=internal", &default).await.status(), StatusCode::OK);
    for (query, access) in [(format!("audience={ORDERS}"), &default), ("audience=internal".to_owned(), &orders)] {
        assert_problem(gateway(&app, &query, access).await, StatusCode::FORBIDDEN, "invalid_audience").await;
    }
    assert_problem(gateway(&app, "audience=internal", &admin.access).await, StatusCode::FORBIDDEN, "invalid_audience")
        .await;
    let body: Value = gateway(&app, "", &orders).await.json().await.unwrap();
    assert_eq!(body["aud"], ORDERS);
}

async fn resources_are_checked_at_registration_and_at_the_authorization_endpoint(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    for bad in ["orders.example.com", "https://orders.example.com/#fragment"] {
        let refused = app
            .client
            .post(app.url("/admin/clients"))
            .bearer_auth(&admin.access)
            .json(&json!({"name": "Bad", "type": "confidential", "grant_types": ["client_credentials"], "resources": [bad]}))
            .send()
            .await
            .unwrap();
        assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let (client_id, _) = web_client_for_resources(&app, &admin.access).await;
    // A patch can narrow the registered resources.
    let patched = app
        .client
        .patch(app.url(&format!("/admin/clients/{client_id}")))
        .bearer_auth(&admin.access)
        .json(&json!({"resources": [ORDERS]}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    assert_eq!(patched.json::<Value>().await.unwrap()["resources"], json!([ORDERS]));

    let email = registered(&app).await;
    let mut browser: Browser<'_> = signed_in_browser(&app, &email).await;
    let (_, challenge) = pkce();
    for resource in [BILLING, "not a uri"] {
        let answer = browser.get(&authorize_path(&client_id, &challenge, "openid", &[("resource", resource)])).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        let location = answer.location.unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        let query = query_of(&location);
        assert_eq!(query["error"], "invalid_target");
        assert_eq!(query["state"], "st-123");
        assert!(!query.contains_key("code"));
    }
}

fn urlencoding(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
