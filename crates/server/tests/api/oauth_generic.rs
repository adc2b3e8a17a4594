//! OpenID Connect providers by configuration (`OIDC_PROVIDERS`): two at once against two real
//! OpenID Providers (the oidc-provider stand-in), registered differently: `corp` authenticates
//! with HTTP Basic and signs RS256, `gitlab` sends the secret in the body and signs ES256.

use std::time::Duration;

use auth_service::config::{OidcProviderSettings, Secret};
use auth_service::providers::ClientAuthentication;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, free_port, fresh_settings};
use crate::oauth::{
    OpenIdProvider, StandinClient, browser, browser_sign_in, browser_sign_in_with, location, me, mint_for,
    start_openid_provider_for, through_provider,
};
use crate::on_both_backends;

on_both_backends!(
    two_configured_providers_sign_in_side_by_side,
    linking_by_email_follows_each_providers_trust_setting,
    the_authorization_response_must_come_from_the_providers_issuer,
    a_wrong_client_secret_or_nonce_is_refused,
    the_app_flow_pins_the_algorithms_and_follows_a_key_rotation,
    a_multi_tenant_issuer_is_checked_against_each_tokens_tenant,
);

const CORP: StandinClient = StandinClient {
    client_id: "corp-client",
    client_secret: "corp-secret",
    auth_method: "client_secret_basic",
    algorithm: Algorithm::RS256,
    kid: "corp-key-1",
    port: None,
};

const GITLAB: StandinClient = StandinClient {
    client_id: "gitlab-client",
    client_secret: "gitlab-secret",
    auth_method: "client_secret_post",
    algorithm: Algorithm::ES256,
    kid: "gitlab-key",
    port: None,
};

struct Providers {
    app: TestApp,
    corp: OpenIdProvider,
    gitlab: OpenIdProvider,
    callback_base: String,
}

fn configured(name: &str, display_name: &str, issuer: &str, client: &StandinClient) -> OidcProviderSettings {
    OidcProviderSettings {
        name: name.into(),
        display_name: display_name.into(),
        issuer: issuer.into(),
        client_id: client.client_id.into(),
        client_secret: Secret::new(client.client_secret),
        scopes: "openid email profile".into(),
        trust_email: false,
        client_authentication: ClientAuthentication::parse(client.auth_method).unwrap(),
        id_token_algorithms: vec![client.algorithm],
    }
}

/// `corp` trusts its provider's `email_verified`; `gitlab` does not (the default).
async fn providers(backend: Backend, customize: impl FnOnce(&mut [OidcProviderSettings])) -> Providers {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let corp = start_openid_provider_for(&format!("{base}/auth/oauth/corp/callback"), &CORP).await;
    let gitlab = start_openid_provider_for(&format!("{base}/auth/oauth/gitlab/callback"), &GITLAB).await;
    let mut settings = fresh_settings(backend).await;
    settings.service_port = port;
    settings.public_url = Some(base.clone());
    let mut configured = vec![
        OidcProviderSettings { trust_email: true, ..configured("corp", "Corp SSO", &corp.issuer, &CORP) },
        configured("gitlab", "GitLab", &gitlab.issuer, &GITLAB),
    ];
    customize(&mut configured);
    settings.oidc_provider_settings = configured;
    let app = TestApp::start(settings, backend).await;
    Providers { app, corp, gitlab, callback_base: base }
}

async fn two_configured_providers_sign_in_side_by_side(backend: Backend) {
    let world = providers(backend, |_| {}).await;
    let app = &world.app;
    let listed: Value = app.client.get(app.url("/auth/providers")).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        listed,
        json!([{"name": "corp", "display_name": "Corp SSO"}, {"name": "gitlab", "display_name": "GitLab"}])
    );
    let page = app.client.get(app.url("/ui/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"id="social-corp""#) && page.contains("Continue with Corp SSO"), "{page}");
    assert!(page.contains(r#"id="social-gitlab""#) && page.contains("Continue with GitLab"), "{page}");

    let via_corp = Tokens::from(browser_sign_in(app, "corp", "alice").await).await;
    let alice = me(app, &via_corp).await;
    assert_eq!(alice["email"], "alice@gmail.com");
    assert_eq!(alice["providers"], json!(["corp"]));
    assert_eq!(alice["full_name"], "Alice Gmail");
    let again = Tokens::from(browser_sign_in(app, "corp", "alice").await).await;
    assert_eq!(me(app, &again).await["id"], alice["id"]);

    // ES256 ID tokens and the secret in the body: the other registration works side by side.
    let via_gitlab = Tokens::from(browser_sign_in(app, "gitlab", "bob").await).await;
    let bob = me(app, &via_gitlab).await;
    assert_eq!(bob["providers"], json!(["gitlab"]));
    assert_ne!(bob["id"], alice["id"]);

    // A state started for one provider cannot finish at the other (mix-up defence).
    let browser = browser();
    let start = browser.get(app.url("/auth/oauth/corp/authorize")).send().await.unwrap();
    let callback = through_provider(&browser, app, format!("{}&login_hint=alice", location(&start))).await;
    let crossed = callback.replace("/oauth/corp/", "/oauth/gitlab/");
    assert_problem(browser.get(&crossed).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_state").await;
}

async fn linking_by_email_follows_each_providers_trust_setting(backend: Backend) {
    let world = providers(backend, |_| {}).await;
    let app = &world.app;
    // corp is trusted: its verified address links to the password account with it.
    let registered: Value = app.register("carol@example.org", PASSWORD).await.json().await.unwrap();
    let linked = Tokens::from(browser_sign_in(app, "corp", "carol").await).await;
    assert_eq!(me(app, &linked).await["id"], registered["id"]);
    // Trusted or not, an unverified address never links.
    app.register("dave@gmail.com", PASSWORD).await;
    assert_problem(browser_sign_in(app, "corp", "dave").await, StatusCode::CONFLICT, "email_taken").await;
    // gitlab is not trusted: the same verified address does not link, whatever it claims.
    app.register("erin@gmail.com", PASSWORD).await;
    let clash = assert_problem(browser_sign_in(app, "gitlab", "erin").await, StatusCode::CONFLICT, "email_taken").await;
    assert!(clash["detail"].as_str().unwrap().contains("/auth/oauth/gitlab/link"), "{clash}");
    let erin = Tokens::from(app.login("erin@gmail.com", PASSWORD).await).await;
    assert_eq!(me(app, &erin).await["providers"], json!(["password"]), "nothing was linked");
}

/// Runs a browser sign-in at `provider` and lets `adjust` edit the callback URL, as an attacker
/// who mixes up providers would.
async fn sign_in_with_callback(
    app: &TestApp,
    provider: &str,
    adjust: impl FnOnce(String) -> String,
) -> reqwest::Response {
    let browser = browser();
    let start = browser.get(app.url(&format!("/auth/oauth/{provider}/authorize"))).send().await.unwrap();
    let callback = through_provider(&browser, app, format!("{}&login_hint=alice", location(&start))).await;
    browser.get(adjust(callback)).send().await.unwrap()
}

async fn the_authorization_response_must_come_from_the_providers_issuer(backend: Backend) {
    let world = providers(backend, |_| {}).await;
    let app = &world.app;
    let gitlab_issuer = world.gitlab.issuer.clone();
    // RFC 9207: the stand-in announces `iss`, so a response naming another issuer, or none, is
    // refused before the code is redeemed.
    let other = sign_in_with_callback(app, "corp", |callback| {
        let encoded: String = url::form_urlencoded::byte_serialize(gitlab_issuer.as_bytes()).collect();
        let (before, after) = callback.split_once("iss=").unwrap();
        let rest = after.find('&').map_or("", |at| &after[at..]);
        format!("{before}iss={encoded}{rest}")
    })
    .await;
    assert_problem(other, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let missing = sign_in_with_callback(app, "corp", |callback| {
        let url = url::Url::parse(&callback).unwrap();
        let kept: Vec<(String, String)> = url.query_pairs().into_owned().filter(|(name, _)| name != "iss").collect();
        let mut stripped = url.clone();
        stripped.query_pairs_mut().clear().extend_pairs(kept);
        stripped.to_string()
    })
    .await;
    assert_problem(missing, StatusCode::UNAUTHORIZED, "provider_denied").await;
    Tokens::from(sign_in_with_callback(app, "corp", |callback| callback).await).await;
}

async fn a_wrong_client_secret_or_nonce_is_refused(backend: Backend) {
    let world = providers(backend, |configured| {
        // Refused whichever way the secret travels (HTTP Basic for corp, the body for gitlab).
        configured[0].client_secret = Secret::new("not-the-corp-secret");
        configured[1].client_secret = Secret::new("not-the-gitlab-secret");
    })
    .await;
    let app = &world.app;
    assert_problem(browser_sign_in(app, "corp", "alice").await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    assert_problem(browser_sign_in(app, "gitlab", "alice").await, StatusCode::UNAUTHORIZED, "provider_denied").await;

    let world = providers(backend, |_| {}).await;
    let response = browser_sign_in_with(&world.app, "gitlab", "", |url| {
        let start = url.find("nonce=").unwrap() + "nonce=".len();
        let end = url[start..].find('&').map_or(url.len(), |offset| start + offset);
        format!("{}someone-elses-nonce{}&login_hint=alice", &url[..start], &url[end..])
    })
    .await;
    assert_problem(response, StatusCode::UNAUTHORIZED, "provider_denied").await;
}

async fn the_app_flow_pins_the_algorithms_and_follows_a_key_rotation(backend: Backend) {
    let world = providers(backend, |_| {}).await;
    let app = &world.app;
    let post = |provider: &str, id_token: String| {
        let path = format!("/auth/oauth/{provider}/token");
        async move { app.post_json(&path, json!({"id_token": id_token})).await }
    };
    let corp_token = |key: &str, kid: &str, claims: Value| {
        mint_for(&world.corp.issuer, "corp-client", Algorithm::RS256, key, kid, claims)
    };

    let tokens = Tokens::from(post("corp", corp_token(&world.corp.private_pem, "corp-key-1", json!({}))).await).await;
    assert_eq!(me(app, &tokens).await["providers"], json!(["corp"]));
    let gitlab = mint_for(
        &world.gitlab.issuer,
        "gitlab-client",
        Algorithm::ES256,
        &world.gitlab.private_pem,
        "gitlab-key",
        json!({"email": "app@gitlab.example"}),
    );
    Tokens::from(post("gitlab", gitlab).await).await;

    // The client secret as an HMAC key (algorithm confusion) is refused, as is a token for
    // another audience, another issuer, or one provider's token at the other.
    let claims = json!({"iss": world.corp.issuer, "aud": "corp-client", "sub": "x", "iat": chrono::Utc::now().timestamp(),
                        "exp": chrono::Utc::now().timestamp() + 600});
    let header = Header { kid: Some("corp-key-1".into()), ..Header::new(Algorithm::HS256) };
    let confused = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"corp-secret")).unwrap();
    assert_problem(post("corp", confused).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let audience = corp_token(&world.corp.private_pem, "corp-key-1", json!({"aud": "gitlab-client"}));
    assert_problem(post("corp", audience).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let crossed = corp_token(&world.corp.private_pem, "corp-key-1", json!({}));
    assert_problem(post("gitlab", crossed).await, StatusCode::UNAUTHORIZED, "provider_denied").await;

    // The provider rotates its key (same issuer, a new kid): the cached key set is refetched.
    let Providers { app, corp, gitlab: _gitlab, callback_base } = world;
    let port = corp.port;
    corp.stop().await;
    let rotated = StandinClient { kid: "corp-key-2", port: Some(port), ..CORP };
    let corp = start_openid_provider_for(&format!("{callback_base}/auth/oauth/corp/callback"), &rotated).await;
    let retired = mint_for(&corp.issuer, "corp-client", Algorithm::RS256, &corp.private_pem, "corp-key-1", json!({}));
    assert_problem(
        app.post_json("/auth/oauth/corp/token", json!({"id_token": retired})).await,
        StatusCode::UNAUTHORIZED,
        "provider_denied",
    )
    .await;
    // Unknown kids refetch at most every few seconds; past that, the new key is found.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let fresh = mint_for(&corp.issuer, "corp-client", Algorithm::RS256, &corp.private_pem, "corp-key-2", json!({}));
    Tokens::from(app.post_json("/auth/oauth/corp/token", json!({"id_token": fresh})).await).await;
    Tokens::from(browser_sign_in(&app, "corp", "alice").await).await;
}

/// Microsoft Entra's multi-tenant endpoint: its discovery names the issuer template
/// `…/{tenantid}/v2.0`, and each token must carry that template filled with its own `tid`.
async fn a_multi_tenant_issuer_is_checked_against_each_tokens_tenant(backend: Backend) {
    use crate::fakes::entra::{self, EntraUser};
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let microsoft = entra::start(&format!("{base}/auth/oauth/microsoft/callback")).await;
    let mut settings = fresh_settings(backend).await;
    settings.service_port = port;
    settings.public_url = Some(base);
    settings.oidc_provider_settings = vec![OidcProviderSettings {
        name: "microsoft".into(),
        display_name: "Microsoft".into(),
        issuer: microsoft.common_issuer(),
        client_id: entra::CLIENT_ID.into(),
        client_secret: Secret::new(entra::CLIENT_SECRET),
        scopes: "openid email profile".into(),
        trust_email: false,
        client_authentication: ClientAuthentication::Post,
        id_token_algorithms: vec![Algorithm::RS256],
    }];
    let app = TestApp::start(settings, backend).await;
    let contoso = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    let fabrikam = "9188040d-6c67-4c5b-b112-36a304b66dad";
    let user = |tid: &str, sub: &str, email: &str| EntraUser {
        tid: tid.into(),
        sub: sub.into(),
        email: email.into(),
        name: "Megan Bowen".into(),
    };

    // Accounts of two tenants sign in through the one registration.
    microsoft.sign_in_as(user(contoso, "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "megan@contoso.example"));
    let megan = me(&app, &Tokens::from(browser_sign_in(&app, "microsoft", "").await).await).await;
    assert_eq!(megan["providers"], json!(["microsoft"]));
    assert_eq!(megan["email"], format!("microsoft-AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ@users.invalid"));
    microsoft.sign_in_as(user(fabrikam, "BBBBBBBBBBBBBBBBBBBBBIkzqFVrSaSaFHy782bbtaQ", "alex@fabrikam.example"));
    let alex = me(&app, &Tokens::from(browser_sign_in(&app, "microsoft", "").await).await).await;
    assert_ne!(alex["id"], megan["id"]);

    // The app flow: a token whose `iss` names another tenant than its `tid`, or whose `tid` is
    // missing or not a tenant id, is refused; a consistent one is taken.
    let post = |id_token: String| {
        let app = &app;
        async move { app.post_json("/auth/oauth/microsoft/token", json!({"id_token": id_token})).await }
    };
    let person = user(contoso, "CCCCCCCCCCCCCCCCCCCCCIkzqFVrSaSaFHy782bbtaQ", "lee@contoso.example");
    let crossed = microsoft.id_token(&person, json!({"tid": fabrikam}));
    assert_problem(post(crossed).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let shaped =
        microsoft.id_token(&person, json!({"tid": "../evil", "iss": format!("{}/../evil/v2.0", microsoft.base_url)}));
    assert_problem(post(shaped).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    let untenanted = microsoft.id_token(&person, json!({"tid": null}));
    assert_problem(post(untenanted).await, StatusCode::UNAUTHORIZED, "provider_denied").await;
    Tokens::from(post(microsoft.id_token(&person, json!({}))).await).await;
}
