//! The OpenID provider through HTTP, on both backends: discovery, the code flow with PKCE
//! through the hosted sign-in and consent pages, the token endpoint's three grants, userinfo,
//! introspection, revocation, logout, the client registry and a person's grants, and the
//! negative cases the conformance suites check.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, claims_of, free_port, unique_email};
use crate::pages::browser::Browser;
use crate::{on_both_backends, on_postgres};

on_both_backends!(
    discovery_lists_every_endpoint_and_the_jwks_holds_the_id_token_key,
    the_code_flow_signs_in_on_the_pages_asks_consent_and_issues_checked_tokens,
    codes_are_single_use_and_bound_to_client_redirect_uri_and_verifier,
    the_authorize_endpoint_never_redirects_to_an_unregistered_uri_and_refuses_plain_pkce,
    refresh_rotates_and_never_widens_the_scope,
    client_credentials_for_confidential_clients_only_and_deleting_the_client_revokes,
    revocation_and_a_withdrawn_grant_end_the_session_at_introspection_and_the_gateway,
    prompt_none_and_logout_follow_the_specifications,
    the_registry_checks_what_it_stores_and_rotated_secrets_overlap,
    the_clients_command_registers_lists_rotates_and_deletes,
    the_admin_console_registers_and_deletes_clients,
    max_age_asks_for_a_sign_in_younger_than_it,
);

on_postgres!(a_code_issued_on_one_instance_is_redeemed_on_another_and_revocation_reaches_both);

pub const REDIRECT: &str = "https://app.example.com/callback";
const LOGOUT_REDIRECT: &str = "https://app.example.com/signed-out";

pub(crate) async fn spawn(backend: Backend) -> TestApp {
    let port = free_port();
    TestApp::spawn_with(backend, move |settings| {
        settings.service_port = port;
        settings.public_url = Some(format!("http://127.0.0.1:{port}"));
    })
    .await
}

/// Registers a client through the admin API; the answer's JSON (with the secret, if any).
pub async fn register_client(app: &TestApp, admin: &str, body: Value) -> Value {
    let response = app.client.post(app.url("/admin/clients")).bearer_auth(admin).json(&body).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

async fn web_client(app: &TestApp, admin: &str, first_party: bool) -> (String, String) {
    let client = register_client(
        app,
        admin,
        json!({
            "name": "Team wiki", "type": "confidential", "redirect_uris": [REDIRECT],
            "post_logout_redirect_uris": [LOGOUT_REDIRECT],
            "grant_types": ["authorization_code", "refresh_token"],
            "scopes": ["openid", "profile", "email", "wiki:read", "wiki:write"], "first_party": first_party,
        }),
    )
    .await;
    (client["client_id"].as_str().unwrap().to_owned(), client["client_secret"].as_str().unwrap().to_owned())
}

pub(crate) fn pkce() -> (String, String) {
    let verifier = URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
        + &URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes());
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub(crate) fn authorize_path(client_id: &str, challenge: &str, scope: &str, extra: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "st-123")
        .append_pair("nonce", "n-456")
        .append_pair("code_challenge", challenge)
        .append_pair("code_challenge_method", "S256");
    for (name, value) in extra {
        query.append_pair(name, value);
    }
    format!("/oauth2/authorize?{}", query.finish())
}

pub(crate) fn query_of(location: &str) -> std::collections::HashMap<String, String> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs().into_owned().collect()
}

fn path_of(location: &str) -> String {
    match url::Url::parse(location) {
        Ok(url) => format!("{}?{}", url.path(), url.query().unwrap_or("")),
        Err(_) => location.to_owned(),
    }
}

/// A browser signed in on the pages (an ordinary session).
pub(crate) async fn signed_in_browser<'a>(app: &'a TestApp, email: &str) -> Browser<'a> {
    let mut browser = Browser::new(app);
    let answer = browser.sign_in(email, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    browser
}

/// Runs the authorization from a signed-in browser through consent (when asked) to the code.
pub(crate) async fn code_for(browser: &mut Browser<'_>, path: &str) -> String {
    let mut answer = browser.get(path).await;
    if answer.status == StatusCode::OK && answer.has("id=\"consent\"") {
        let request = between(&answer.body, "name=\"request\" value=\"", "\"");
        answer = browser.submit("/ui/consent", &[("request", &request), ("decision", "allow")]).await;
    }
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let location = answer.location.unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    let query = query_of(&location);
    assert_eq!(query["state"], "st-123");
    query["code"].clone()
}

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).unwrap_or_else(|| panic!("{start} in {text}")) + start.len();
    text[from..].split(end).next().unwrap().to_owned()
}

pub(crate) fn basic(client_id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{client_id}:{secret}")))
}

pub(crate) async fn token(app: &TestApp, authorization: Option<&str>, form: &[(&str, &str)]) -> reqwest::Response {
    let mut request = app.client.post(app.url("/oauth2/token")).form(form);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    request.send().await.unwrap()
}

pub(crate) async fn oauth_error(response: reqwest::Response, status: StatusCode, error: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
}

pub(crate) async fn introspect(app: &TestApp, client_id: &str, secret: &str, token: &str) -> Value {
    let response = app
        .client
        .post(app.url("/oauth2/introspect"))
        .header("authorization", basic(client_id, secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

pub(crate) async fn registered(app: &TestApp) -> String {
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
    email
}

async fn discovery_lists_every_endpoint_and_the_jwks_holds_the_id_token_key(backend: Backend) {
    let app = spawn(backend).await;
    let metadata: Value =
        app.client.get(app.url("/.well-known/openid-configuration")).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["issuer"], app.address.as_str());
    assert_eq!(metadata["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(metadata["authorization_response_iss_parameter_supported"], true);
    let same: Value =
        app.client.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap().json().await.unwrap();
    assert_eq!(same, metadata);
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
        "jwks_uri",
    ] {
        let url = metadata[endpoint].as_str().unwrap();
        assert!(url.starts_with(&app.address), "{endpoint}: {url}");
        let status = app.client.get(url).send().await.unwrap().status();
        assert_ne!(status, StatusCode::NOT_FOUND, "{endpoint} is served");
    }
    // HS256 signs access tokens here, so the one published key is the ID-token key.
    let jwks: Value = app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["alg"], metadata["id_token_signing_alg_values_supported"][0]);
}

async fn the_code_flow_signs_in_on_the_pages_asks_consent_and_issues_checked_tokens(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let (client_id, secret) = web_client(&app, &admin.access, false).await;
    let email = registered(&app).await;
    let (verifier, challenge) = pkce();
    let path = authorize_path(&client_id, &challenge, "openid email wiki:read", &[]);

    // Not signed in: to the login page, and back here after.
    let mut browser = Browser::new(&app);
    let first = browser.get(&path).await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    let login = first.location.unwrap();
    assert!(login.starts_with("/ui/login?rd=%2Foauth2%2Fauthorize"), "{login}");
    let rd = query_of(&format!("http://x{login}"))["rd"].clone();
    browser.get(&login).await;
    let signed = browser.submit("/ui/login", &[("email", &email), ("password", PASSWORD), ("rd", &rd)]).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER);
    let back = path_of(&signed.location.unwrap());
    assert!(back.starts_with("/oauth2/authorize?"), "{back}");

    // Consent for a client that is not first-party, naming it and the scopes.
    let consent = browser.get(&back).await;
    assert_eq!(consent.status, StatusCode::OK, "{}", consent.body);
    assert!(consent.has("id=\"consent-client\">Team wiki<"));
    assert!(consent.has("<code>wiki:read</code>"));
    let request = between(&consent.body, "name=\"request\" value=\"", "\"");
    // Without the page's CSRF token, nothing happens.
    let forged = browser.post_form("/ui/consent", &[("request", &request), ("decision", "allow")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let allowed = browser.submit("/ui/consent", &[("request", &request), ("decision", "allow")]).await;
    assert_eq!(allowed.status, StatusCode::SEE_OTHER);
    let location = allowed.location.unwrap();
    let query = query_of(&location);
    assert!(location.starts_with(REDIRECT));
    assert_eq!(query["state"], "st-123");
    assert_eq!(query["iss"], app.address.as_str(), "RFC 9207");
    let code = query["code"].clone();

    let response = token(
        &app,
        Some(&basic(&client_id, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["scope"], "email openid wiki:read");
    let access = tokens["access_token"].as_str().unwrap();
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(access.split('.').next().unwrap()).unwrap()).unwrap();
    assert_eq!(header["typ"], "at+jwt", "RFC 9068");
    let claims = claims_of(access);
    assert_eq!(claims["client_id"], client_id.as_str());
    assert_eq!(claims["aud"], client_id.as_str());
    assert_eq!(claims["acr"], "aal1");
    let id_token = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["aud"], client_id.as_str());
    assert_eq!(id_token["iss"], app.address.as_str());
    assert_eq!(id_token["nonce"], "n-456");
    assert_eq!(id_token["email"], email.as_str());
    assert_eq!(id_token["email_verified"], false);
    assert!(id_token.get("name").is_none(), "profile was not asked for");
    assert_eq!(id_token["amr"], json!(["pwd"]));
    assert_eq!(id_token["sid"], claims["sid"]);
    assert!(id_token["auth_time"].as_i64().unwrap() <= id_token["iat"].as_i64().unwrap());
    let expected_hash = URL_SAFE_NO_PAD.encode(&Sha256::digest(access.as_bytes())[..16]);
    assert_eq!(id_token["at_hash"], expected_hash.as_str());

    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|line| line.starts_with("oauth_tokens_total")
            && line.contains("grant=\"authorization_code\"")
            && line.contains("outcome=\"issued\"")),
        "a counter per grant and outcome"
    );
    let userinfo: Value =
        app.client.get(app.url("/oauth2/userinfo")).bearer_auth(access).send().await.unwrap().json().await.unwrap();
    assert_eq!(userinfo["sub"], id_token["sub"]);
    assert_eq!(userinfo["email"], email.as_str());

    // The gateway: the scope must be there; the client and scopes travel as headers.
    let validated = app.client.get(app.url("/auth/validate?scope=wiki:read")).bearer_auth(access).send().await.unwrap();
    assert_eq!(validated.status(), StatusCode::OK);
    assert_eq!(validated.headers()["x-auth-client-id"], client_id.as_str());
    assert_eq!(validated.headers()["x-auth-scopes"], "email openid wiki:read");
    assert_eq!(validated.headers()["x-user-id"], id_token["sub"].as_str().unwrap());
    let missing = app.client.get(app.url("/auth/validate?scope=wiki:write")).bearer_auth(access).send().await.unwrap();
    assert_problem(missing, StatusCode::FORBIDDEN, "insufficient_scope").await;
    let own = Tokens::from(app.login(&email, PASSWORD).await).await;
    let own_scoped =
        app.client.get(app.url("/auth/validate?scope=wiki:read")).bearer_auth(&own.access).send().await.unwrap();
    assert_problem(own_scoped, StatusCode::FORBIDDEN, "insufficient_scope").await;

    // The grant is remembered: the next authorization skips the consent page.
    let (_, challenge) = pkce();
    let again = browser.get(&authorize_path(&client_id, &challenge, "openid email", &[])).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert!(again.location.unwrap().starts_with(REDIRECT));
    // The app's session is not one of the person's own devices; it is listed as a grant.
    let sessions: Value =
        app.client.get(app.url("/auth/sessions")).bearer_auth(&own.access).send().await.unwrap().json().await.unwrap();
    assert!(sessions.as_array().unwrap().iter().all(|session| session["id"] != claims["sid"]));
    let grants: Value =
        app.client.get(app.url("/auth/grants")).bearer_auth(&own.access).send().await.unwrap().json().await.unwrap();
    assert_eq!(grants[0]["client_id"], client_id.as_str());
    assert_eq!(grants[0]["client_name"], "Team wiki");

    // Denying sends access_denied back.
    let (_, challenge) = pkce();
    let asked = browser.get(&authorize_path(&client_id, &challenge, "openid wiki:write", &[])).await;
    let request = between(&asked.body, "name=\"request\" value=\"", "\"");
    let denied = browser.submit("/ui/consent", &[("request", &request), ("decision", "deny")]).await;
    let denied = query_of(&denied.location.unwrap());
    assert_eq!(denied["error"], "access_denied");
    assert_eq!(denied["state"], "st-123");

    // The account page lists the app; removing its access there ends the app's session.
    let account = browser.get("/ui/account").await;
    assert!(account.has(&format!("data-client-id=\"{client_id}\"")), "{}", account.body);
    let removed = browser.submit(&format!("/ui/account/grants/{client_id}/revoke"), &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert_eq!(introspect(&app, &client_id, &secret, access).await["active"], false);
    assert!(!browser.get("/ui/account").await.has("id=\"grants\""));
}

async fn codes_are_single_use_and_bound_to_client_redirect_uri_and_verifier(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let (client_id, secret) = web_client(&app, &admin.access, true).await;
    let (other_id, other_secret) = web_client(&app, &admin.access, true).await;
    let email = registered(&app).await;
    let mut browser = signed_in_browser(&app, &email).await;
    let auth = basic(&client_id, &secret);

    let (verifier, challenge) = pkce();
    let code = code_for(&mut browser, &authorize_path(&client_id, &challenge, "openid", &[])).await;
    let redeem = |code: String, verifier: String| {
        let app = &app;
        let auth = auth.clone();
        async move {
            token(
                app,
                Some(&auth),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", &verifier),
                ],
            )
            .await
        }
    };
    let first = redeem(code.clone(), verifier.clone()).await;
    assert_eq!(first.status(), StatusCode::OK);
    let first: Value = first.json().await.unwrap();
    let access = first["access_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&app, &client_id, &secret, &access).await["active"], true);
    // A second redemption fails and revokes what the first one issued.
    oauth_error(redeem(code, verifier).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(introspect(&app, &client_id, &secret, &access).await["active"], false);
    oauth_error(
        token(
            &app,
            Some(&auth),
            &[("grant_type", "refresh_token"), ("refresh_token", first["refresh_token"].as_str().unwrap())],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    // Wrong verifier, missing verifier, other redirect_uri, other client: each burns the code.
    for case in ["wrong_verifier", "no_verifier", "redirect_uri", "other_client"] {
        let (verifier, challenge) = pkce();
        let code = code_for(&mut browser, &authorize_path(&client_id, &challenge, "openid", &[])).await;
        let (other_verifier, _) = pkce();
        let answer = match case {
            "wrong_verifier" => redeem(code.clone(), other_verifier).await,
            "no_verifier" => {
                token(
                    &app,
                    Some(&auth),
                    &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", REDIRECT)],
                )
                .await
            }
            "redirect_uri" => {
                token(
                    &app,
                    Some(&auth),
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", "https://app.example.com/other"),
                        ("code_verifier", &verifier),
                    ],
                )
                .await
            }
            _ => {
                token(
                    &app,
                    Some(&basic(&other_id, &other_secret)),
                    &[
                        ("grant_type", "authorization_code"),
                        ("code", &code),
                        ("redirect_uri", REDIRECT),
                        ("code_verifier", &verifier),
                    ],
                )
                .await
            }
        };
        oauth_error(answer, StatusCode::BAD_REQUEST, "invalid_grant").await;
        oauth_error(redeem(code, verifier).await, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }

    // Client authentication: a wrong secret, two methods at once, no client at all.
    let (verifier, challenge) = pkce();
    let code = code_for(&mut browser, &authorize_path(&client_id, &challenge, "openid", &[])).await;
    let wrong = token(
        &app,
        Some(&basic(&client_id, "not-the-secret")),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert!(wrong.headers().contains_key("www-authenticate"));
    oauth_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    oauth_error(
        token(&app, Some(&auth), &[("grant_type", "authorization_code"), ("client_secret", &secret), ("code", &code)])
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    oauth_error(
        token(&app, None, &[("grant_type", "authorization_code"), ("code", &code)]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
    // client_secret_post works as well as basic (the code is still live: no check spent it).
    let posted = token(
        &app,
        None,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(posted.status(), StatusCode::OK);
    oauth_error(
        token(&app, Some(&auth), &[("grant_type", "password")]).await,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;
}

async fn the_authorize_endpoint_never_redirects_to_an_unregistered_uri_and_refuses_plain_pkce(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let (client_id, _) = web_client(&app, &admin.access, true).await;
    let email = registered(&app).await;
    let mut browser = signed_in_browser(&app, &email).await;
    let (_, challenge) = pkce();

    let evil = authorize_path(&client_id, &challenge, "openid", &[]).replace(
        &url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        "https%3A%2F%2Fevil.example.com%2Fcallback",
    );
    let page = browser.get(&evil).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.location.is_none());
    assert!(page.has("id=\"oidc-bad-redirect-uri\""), "{}", page.body);
    let unknown = browser.get(&authorize_path("no-such-client", &challenge, "openid", &[])).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.location.is_none());

    let cases: Vec<(String, &str)> = vec![
        (authorize_path(&client_id, &challenge, "openid", &[]).replace("S256", "plain"), "invalid_request"),
        (authorize_path(&client_id, "", "openid", &[]), "invalid_request"),
        (
            authorize_path(&client_id, &challenge, "openid", &[]).replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (authorize_path(&client_id, &challenge, "openid admin", &[]), "invalid_scope"),
        (authorize_path(&client_id, &challenge, "openid", &[("state", "again")]), "invalid_request"),
    ];
    for (path, error) in cases {
        let answer = browser.get(&path).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{path}");
        let location = answer.location.unwrap();
        assert!(location.starts_with(REDIRECT), "{location}");
        let query = query_of(&location);
        assert_eq!(query["error"], error, "{path}");
        assert_eq!(query["iss"], app.address.as_str());
        assert!(!query.contains_key("code"));
    }
}

async fn refresh_rotates_and_never_widens_the_scope(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let (client_id, secret) = web_client(&app, &admin.access, true).await;
    let (other_id, other_secret) = web_client(&app, &admin.access, true).await;
    let email = registered(&app).await;
    let mut browser = signed_in_browser(&app, &email).await;
    let auth = basic(&client_id, &secret);
    let (verifier, challenge) = pkce();
    let code = code_for(&mut browser, &authorize_path(&client_id, &challenge, "openid wiki:read", &[])).await;
    let first: Value = token(
        &app,
        Some(&auth),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();

    // Wider than granted: refused, and the token is not spent by the refusal.
    oauth_error(
        token(
            &app,
            Some(&auth),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh), ("scope", "openid wiki:write")],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    )
    .await;
    // Another client cannot use it; the service's own refresh endpoint does not know it.
    oauth_error(
        token(
            &app,
            Some(&basic(&other_id, &other_secret)),
            &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_problem(app.refresh(refresh).await, StatusCode::UNAUTHORIZED, "invalid_token").await;

    let narrower = token(
        &app,
        Some(&auth),
        &[("grant_type", "refresh_token"), ("refresh_token", refresh), ("scope", "wiki:read")],
    )
    .await;
    assert_eq!(narrower.status(), StatusCode::OK);
    let narrower: Value = narrower.json().await.unwrap();
    assert_eq!(narrower["scope"], "wiki:read");
    assert!(narrower.get("id_token").is_none(), "no openid asked for this time");
    let successor = narrower["refresh_token"].as_str().unwrap();
    assert_ne!(successor, refresh);
    // The next refresh gets the full grant back: narrowing applied to that token only.
    let full: Value = token(&app, Some(&auth), &[("grant_type", "refresh_token"), ("refresh_token", successor)])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(full["scope"], "openid wiki:read");
    assert!(full["id_token"].is_string());
    // The grandparent coming back is reuse, whatever the window: the grant's session ends.
    let reused = token(&app, Some(&auth), &[("grant_type", "refresh_token"), ("refresh_token", refresh)]).await;
    oauth_error(reused, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let latest = full["refresh_token"].as_str().unwrap();
    oauth_error(
        token(&app, Some(&auth), &[("grant_type", "refresh_token"), ("refresh_token", latest)]).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(introspect(&app, &client_id, &secret, full["access_token"].as_str().unwrap()).await["active"], false);
}

async fn client_credentials_for_confidential_clients_only_and_deleting_the_client_revokes(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let service = register_client(
        &app,
        &admin.access,
        json!({"name": "Billing worker", "type": "confidential", "grant_types": ["client_credentials"], "scopes": ["orders:read", "orders:write"], "audience": "orders-api"}),
    )
    .await;
    let service_id = service["client_id"].as_str().unwrap();
    let service_secret = service["client_secret"].as_str().unwrap();
    let auth = basic(service_id, service_secret);
    let answer = token(&app, Some(&auth), &[("grant_type", "client_credentials"), ("scope", "orders:read")]).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let answer: Value = answer.json().await.unwrap();
    assert!(answer.get("refresh_token").is_none());
    let access = answer["access_token"].as_str().unwrap();
    let claims = claims_of(access);
    assert_eq!(claims["sub"], service_id);
    assert_eq!(claims["aud"], "orders-api");
    assert_eq!(claims["scope"], "orders:read");
    oauth_error(
        token(&app, Some(&auth), &[("grant_type", "client_credentials"), ("scope", "orders:delete")]).await,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    )
    .await;
    let validated =
        app.client.get(app.url("/auth/validate?scope=orders:read")).bearer_auth(access).send().await.unwrap();
    assert_eq!(validated.status(), StatusCode::OK);
    assert_eq!(validated.headers()["x-auth-client-id"], service_id);
    assert!(!validated.headers().contains_key("x-user-id"));
    let as_admin = app.client.get(app.url("/auth/validate?role=admin")).bearer_auth(access).send().await.unwrap();
    assert_problem(as_admin, StatusCode::FORBIDDEN, "insufficient_role").await;
    // A machine token cannot be revoked alone (RFC 7009 §2.2.1); its client can be deleted.
    let revoke = app
        .client
        .post(app.url("/oauth2/revoke"))
        .header("authorization", &auth)
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    oauth_error(revoke, StatusCode::BAD_REQUEST, "unsupported_token_type").await;

    // A public client cannot use client_credentials (and cannot be registered for it).
    let spa = register_client(&app, &admin.access, json!({"name": "SPA", "type": "public", "redirect_uris": [REDIRECT], "grant_types": ["authorization_code"], "scopes": ["openid"]})).await;
    assert!(spa.get("client_secret").is_none());
    let spa_id = spa["client_id"].as_str().unwrap();
    oauth_error(
        token(&app, None, &[("grant_type", "client_credentials"), ("client_id", spa_id)]).await,
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
    )
    .await;
    let refused = app
        .client
        .post(app.url("/admin/clients"))
        .bearer_auth(&admin.access)
        .json(&json!({"name": "Bad", "type": "public", "grant_types": ["client_credentials"]}))
        .send()
        .await
        .unwrap();
    assert_problem(refused, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let deleted = app
        .client
        .delete(app.url(&format!("/admin/clients/{service_id}")))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let after = app.client.get(app.url("/auth/validate")).bearer_auth(access).send().await.unwrap();
    assert_problem(after, StatusCode::UNAUTHORIZED, "token_revoked").await;
    oauth_error(
        token(&app, Some(&auth), &[("grant_type", "client_credentials")]).await,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    )
    .await;
}

async fn revocation_and_a_withdrawn_grant_end_the_session_at_introspection_and_the_gateway(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let (client_id, secret) = web_client(&app, &admin.access, true).await;
    let email = registered(&app).await;
    let own = Tokens::from(app.login(&email, PASSWORD).await).await;
    let mut browser = signed_in_browser(&app, &email).await;
    let auth = basic(&client_id, &secret);
    let issue = |verifier: String, code: String| {
        let (app, auth) = (&app, auth.clone());
        async move {
            let answer = token(
                app,
                Some(&auth),
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT),
                    ("code_verifier", &verifier),
                ],
            )
            .await;
            answer.json::<Value>().await.unwrap()
        }
    };

    // RFC 7009 with the refresh token: the access token dies with its session.
    let (verifier, challenge) = pkce();
    let tokens =
        issue(verifier, code_for(&mut browser, &authorize_path(&client_id, &challenge, "openid", &[])).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let live = introspect(&app, &client_id, &secret, refresh).await;
    assert_eq!(live["active"], true);
    assert_eq!(live["client_id"], client_id.as_str());
    let revoked = app
        .client
        .post(app.url("/oauth2/revoke"))
        .header("authorization", &auth)
        .form(&[("token", refresh), ("token_type_hint", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert_eq!(introspect(&app, &client_id, &secret, access).await, json!({"active": false}));
    assert_eq!(introspect(&app, &client_id, &secret, refresh).await["active"], false);
    assert_problem(
        app.client.get(app.url("/auth/validate")).bearer_auth(access).send().await.unwrap(),
        StatusCode::UNAUTHORIZED,
        "token_revoked",
    )
    .await;
    // Unknown tokens are answered as revoked (RFC 7009 §2.2), and garbage is inactive.
    let unknown = app
        .client
        .post(app.url("/oauth2/revoke"))
        .header("authorization", &auth)
        .form(&[("token", "nonsense")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::OK);
    assert_eq!(introspect(&app, &client_id, &secret, "nonsense").await, json!({"active": false}));

    // Taking the grant back ends the app's sessions, not the person's own.
    let (verifier, challenge) = pkce();
    let tokens =
        issue(verifier, code_for(&mut browser, &authorize_path(&client_id, &challenge, "openid", &[])).await).await;
    let access = tokens["access_token"].as_str().unwrap();
    let withdrawn =
        app.client.delete(app.url(&format!("/auth/grants/{client_id}"))).bearer_auth(&own.access).send().await.unwrap();
    assert_eq!(withdrawn.status(), StatusCode::NO_CONTENT);
    assert_eq!(introspect(&app, &client_id, &secret, access).await["active"], false);
    assert_eq!(app.validate(&own.access).await.status(), StatusCode::OK);
    let again =
        app.client.delete(app.url(&format!("/auth/grants/{client_id}"))).bearer_auth(&own.access).send().await.unwrap();
    assert_problem(again, StatusCode::NOT_FOUND, "not_found").await;
}

async fn prompt_none_and_logout_follow_the_specifications(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let (client_id, secret) = web_client(&app, &admin.access, false).await;
    let email = registered(&app).await;
    let (verifier, challenge) = pkce();

    // prompt=none answers without a page: no session, then no consent yet.
    // Without an access cookie, a silent hop through the sign-in page (which alone sees the
    // refresh cookie) comes straight back, showing nothing.
    let mut anonymous = Browser::new(&app);
    let answer = anonymous.get(&authorize_path(&client_id, &challenge, "openid", &[("prompt", "none")])).await;
    let hop = answer.location.unwrap();
    assert!(hop.starts_with("/ui/login?") && hop.contains("silent=1"), "{hop}");
    let back = anonymous.get(&hop).await;
    assert_eq!(back.status, StatusCode::SEE_OTHER, "the sign-in page shows nothing: {}", back.body);
    let answer = anonymous.get(&path_of(&back.location.unwrap())).await;
    assert_eq!(query_of(&answer.location.unwrap())["error"], "login_required");
    let mut browser = signed_in_browser(&app, &email).await;
    let answer = browser.get(&authorize_path(&client_id, &challenge, "openid", &[("prompt", "none")])).await;
    assert_eq!(query_of(&answer.location.unwrap())["error"], "consent_required");
    // prompt=login sends a signed-in browser to sign in again, and only that new sign-in counts.
    let answer = browser.get(&authorize_path(&client_id, &challenge, "openid", &[("prompt", "login")])).await;
    let login = answer.location.unwrap();
    assert!(login.contains("fresh=1"), "{login}");
    let form = browser.get(&login).await;
    assert_eq!(form.status, StatusCode::OK, "the form is shown although the browser is signed in");
    let rd = query_of(&format!("http://x{login}"))["rd"].clone();
    let back = browser.get(&rd).await;
    assert!(back.location.unwrap().starts_with("/ui/login"), "without signing in again, no code");
    let signed = browser.submit("/ui/login", &[("email", &email), ("password", PASSWORD), ("rd", &rd)]).await;
    let consent = browser.get(&path_of(&signed.location.unwrap())).await;
    assert!(consent.has("id=\"consent\""), "after the fresh sign-in the flow goes on: {consent:?}");

    let code = code_for(&mut browser, &authorize_path(&client_id, &challenge, "openid", &[])).await;
    let tokens: Value = token(
        &app,
        Some(&basic(&client_id, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();

    // An unregistered post_logout_redirect_uri is refused on a page, never followed.
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("id_token_hint", id_token).append_pair("post_logout_redirect_uri", "https://evil.example.com/");
    let refused = browser.get(&format!("/oauth2/logout?{}", query.finish())).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.location.is_none());
    assert_eq!(introspect(&app, &client_id, &secret, access).await["active"], true, "nothing was done");

    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", LOGOUT_REDIRECT)
        .append_pair("state", "bye");
    let out = browser.get(&format!("/oauth2/logout?{}", query.finish())).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(out.location.as_deref(), Some(format!("{LOGOUT_REDIRECT}?state=bye").as_str()));
    assert_eq!(introspect(&app, &client_id, &secret, access).await["active"], false);
    // The browser is signed out of the pages too.
    assert_eq!(browser.get("/ui/account").await.status, StatusCode::SEE_OTHER);
}

async fn the_registry_checks_what_it_stores_and_rotated_secrets_overlap(backend: Backend) {
    let app = spawn(backend).await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let email = registered(&app).await;
    let user = Tokens::from(app.login(&email, PASSWORD).await).await;
    let forbidden = app.client.get(app.url("/admin/clients")).bearer_auth(&user.access).send().await.unwrap();
    assert_problem(forbidden, StatusCode::FORBIDDEN, "insufficient_role").await;
    for bad in [
        json!({"name": "x", "type": "confidential", "grant_types": ["authorization_code"], "redirect_uris": ["http://app.example.com/cb"]}),
        json!({"name": "x", "type": "confidential", "grant_types": ["authorization_code"], "redirect_uris": ["https://app.example.com/cb#f"]}),
        json!({"name": "x", "type": "confidential", "grant_types": ["implicit"]}),
        json!({"name": "x", "type": "private", "grant_types": ["client_credentials"]}),
    ] {
        let response =
            app.client.post(app.url("/admin/clients")).bearer_auth(&admin.access).json(&bad).send().await.unwrap();
        assert_problem(response, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let (client_id, first_secret) = web_client(&app, &admin.access, false).await;
    let listed: Value = app
        .client
        .get(app.url("/admin/clients"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let text = listed.to_string();
    assert!(text.contains(&client_id));
    assert!(!text.contains(&first_secret) && !text.contains("secret"), "no secret, not even a hash: {text}");

    let patched = app
        .client
        .patch(app.url(&format!("/admin/clients/{client_id}")))
        .bearer_auth(&admin.access)
        .json(&json!({"name": "Wiki", "first_party": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), StatusCode::OK);
    let patched: Value = patched.json().await.unwrap();
    assert_eq!(patched["name"], "Wiki");
    assert_eq!(patched["redirect_uris"], json!([REDIRECT]));

    let rotated = app
        .client
        .post(app.url(&format!("/admin/clients/{client_id}/secret")))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let second_secret = rotated.json::<Value>().await.unwrap()["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(second_secret, first_secret);
    // Both work during the overlap: the introspection endpoint authenticates with either.
    for secret in [&first_secret, &second_secret] {
        assert_eq!(introspect(&app, &client_id, secret, "x").await["active"], false);
    }
    let missing = app.client.get(app.url("/admin/clients/nope")).bearer_auth(&admin.access).send().await.unwrap();
    assert_problem(missing, StatusCode::NOT_FOUND, "not_found").await;
}

/// `auth-service clients ...` against the app's database, as an operator runs it.
async fn clients_command(app: &TestApp, arguments: &[&str]) -> String {
    let output = tokio::process::Command::new(crate::helpers::BINARY)
        .env_clear()
        .env("DATABASE_URL", &app.settings.database_url)
        .env("OIDC_SIGNING_KEY_PATH", crate::helpers::test_oidc_key())
        .env("JWT_SECRET", crate::helpers::TEST_SECRET)
        .env("LOG_FORMAT", "json")
        .arg("clients")
        .args(arguments)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    // What the command printed, without the JSON log lines beside it.
    stdout
        .lines()
        .filter(|line| serde_json::from_str::<Value>(line).map_or(true, |value| value.get("timestamp").is_none()))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn the_clients_command_registers_lists_rotates_and_deletes(backend: Backend) {
    let app = spawn(backend).await;
    let created: Value = serde_json::from_str(
        &clients_command(
            &app,
            &["create", "--name", "reports", "--grant-type", "client_credentials", "--scope", "reports:read"],
        )
        .await,
    )
    .unwrap();
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    let listed = clients_command(&app, &["list"]).await;
    assert!(listed.contains(&client_id) && !listed.contains(&secret));
    let rotated: Value = serde_json::from_str(&clients_command(&app, &["rotate-secret", &client_id]).await).unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap();
    let answer = token(&app, Some(&basic(&client_id, new_secret)), &[("grant_type", "client_credentials")]).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let access = answer.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.client.get(app.url("/auth/validate")).bearer_auth(&access).send().await.unwrap().status(),
        StatusCode::OK
    );

    clients_command(&app, &["delete", &client_id]).await;
    // Another process revoked it: this instance hears it from the revocation log within a second.
    let started = std::time::Instant::now();
    loop {
        let status = app.client.get(app.url("/auth/validate")).bearer_auth(&access).send().await.unwrap().status();
        if status == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "still valid after the client was deleted");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn a_code_issued_on_one_instance_is_redeemed_on_another_and_revocation_reaches_both() {
    let first = spawn(Backend::Postgres).await;
    let second = TestApp::start(
        auth_service::Settings { service_port: free_port(), ..first.settings.clone() },
        Backend::Postgres,
    )
    .await;
    let (_, admin) = crate::admin::signed_in_admin(&first).await;
    let (client_id, secret) = web_client(&first, &admin.access, true).await;
    let email = registered(&first).await;
    let mut browser = signed_in_browser(&first, &email).await;
    let (verifier, challenge) = pkce();
    let code = code_for(&mut browser, &authorize_path(&client_id, &challenge, "openid", &[])).await;
    // The code lives in Redis: the other instance redeems it, once.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier.as_str()),
    ];
    let answer = token(&second, Some(&basic(&client_id, &secret)), &form).await;
    assert_eq!(answer.status(), StatusCode::OK);
    oauth_error(
        token(&first, Some(&basic(&client_id, &secret)), &form).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    // The replay on the first instance revoked what the second issued; the second hears it within a second.
    let tokens: Value = answer.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let started = std::time::Instant::now();
    while introspect(&second, &client_id, &secret, access).await["active"] != false {
        assert!(started.elapsed() < std::time::Duration::from_secs(1), "the other instance still says active");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn the_admin_console_registers_and_deletes_clients(backend: Backend) {
    let app = spawn(backend).await;
    let (admin_email, _) = crate::admin::signed_in_admin(&app).await;
    let email = registered(&app).await;
    let mut user = signed_in_browser(&app, &email).await;
    assert_eq!(user.get("/ui/admin/clients").await.status, StatusCode::FORBIDDEN);

    let mut admin = signed_in_browser(&app, &admin_email).await;
    assert!(admin.get("/ui/admin").await.has("id=\"admin-clients-link\""));
    let empty = admin.get("/ui/admin/clients").await;
    assert_eq!(empty.status, StatusCode::OK);
    let refused = admin
        .submit(
            "/ui/admin/clients",
            &[
                ("name", "Bad"),
                ("purpose", "person"),
                ("kind", "confidential"),
                ("redirect_uris", "http://evil.example.com/cb"),
                ("scopes", "openid"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.has("role=\"alert\""));
    let created = admin
        .submit(
            "/ui/admin/clients",
            &[
                ("name", "Grafana"),
                ("purpose", "person"),
                ("kind", "confidential"),
                ("redirect_uris", "https://grafana.example.com/login/generic_oauth\n"),
                ("scopes", "openid email"),
                ("first_party", "1"),
            ],
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let client_id = between(&created.body, "id=\"created-client-id\">", "<");
    let secret = between(&created.body, "id=\"created-client-secret\">", "<");
    // The secret works, and the list never shows it again.
    assert_eq!(introspect(&app, &client_id, &secret, "x").await["active"], false);
    let listed = admin.get("/ui/admin/clients").await;
    assert!(listed.has(&format!("data-client-id=\"{client_id}\"")) && !listed.has(&secret));
    let forged = admin.post_form(&format!("/ui/admin/clients/{client_id}/delete"), &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "no CSRF token, nothing deleted");
    let deleted = admin.submit(&format!("/ui/admin/clients/{client_id}/delete"), &[]).await;
    assert_eq!(deleted.status, StatusCode::SEE_OTHER);
    assert!(!admin.get("/ui/admin/clients").await.has(&format!("data-client-id=\"{client_id}\"")));
}

async fn max_age_asks_for_a_sign_in_younger_than_it(backend: Backend) {
    let clock = std::sync::Arc::new(auth_core::clock::FixedClock::new(chrono::Utc::now()));
    let port = free_port();
    let app = TestApp::spawn_with_clock(backend, clock.clone(), move |settings| {
        settings.service_port = port;
        settings.public_url = Some(format!("http://127.0.0.1:{port}"));
    })
    .await;
    let (_, admin) = crate::admin::signed_in_admin(&app).await;
    let (client_id, secret) = web_client(&app, &admin.access, true).await;
    let email = registered(&app).await;
    let mut browser = signed_in_browser(&app, &email).await;
    let (verifier, challenge) = pkce();
    let path = authorize_path(&client_id, &challenge, "openid", &[("max_age", "600")]);
    // Ten minutes after the sign-in: still young enough.
    clock.advance(chrono::Duration::seconds(590));
    let code = code_for(&mut browser, &path).await;
    let tokens: Value = token(
        &app,
        Some(&basic(&client_id, &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let id_token = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(
        id_token["iat"].as_i64().unwrap() - id_token["auth_time"].as_i64().unwrap(),
        590,
        "auth_time is the sign-in"
    );
    // Past it: the browser must sign in again (and with prompt=none, the client hears so).
    clock.advance(chrono::Duration::seconds(20));
    let answer = browser.get(&path).await;
    let location = answer.location.unwrap();
    assert!(location.starts_with("/ui/login") && location.contains("fresh=1"), "{location}");
    let none =
        browser.get(&authorize_path(&client_id, &challenge, "openid", &[("max_age", "600"), ("prompt", "none")])).await;
    assert_eq!(query_of(&none.location.unwrap())["error"], "login_required");
}
