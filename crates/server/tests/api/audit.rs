//! The security audit's findings, each reproduced through HTTP: these tests failed before the
//! fixes (SECURITY.md, "Audit findings", names each test next to its finding).

use std::sync::Arc;
use std::time::Duration;

use auth_core::clock::FixedClock;
use chrono::Utc;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin::signed_in_admin;
use crate::events::{Receiver, of_user, types, with_webhook};
use crate::fakes::FakeUser;
use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, claims_of, unique_email};
use crate::oauth::{
    browser, browser_sign_in, link_in_browser, location, me, through_provider, world, world_with_clock,
};
use crate::smtp::{SmtpReceiver, token_in};
use crate::{on_both_backends, on_postgres};

on_both_backends!(
    an_unverified_provider_email_never_becomes_the_accounts_address,
    a_password_reset_by_the_mailbox_owner_detaches_identities_attached_before,
    verifying_the_address_detaches_identities_attached_before_and_says_so,
    an_authoritative_provider_detaches_the_squatters_password_and_identities,
    a_sign_in_finished_in_another_browser_is_invalid_state,
    linking_takes_a_one_time_ticket_and_the_browser_that_redeemed_it,
    concurrent_wrong_passwords_are_all_counted_against_the_account,
    a_sign_in_in_flight_does_not_survive_logout_everywhere_or_deactivation,
    password_confirming_endpoints_are_rate_limited_and_count_failures,
    the_last_active_admin_cannot_delete_their_own_account,
    the_placeholder_domain_cannot_be_registered,
    a_password_change_kills_outstanding_reset_links,
    over_long_login_emails_are_refused_before_any_counting,
    deleting_a_social_account_needs_a_recent_sign_in_not_a_recent_refresh,
);

on_postgres!(two_instances_share_the_failed_login_reservations_through_redis);

fn vk_user(id: &str, email: Option<&str>) -> FakeUser {
    FakeUser { id: id.into(), email: email.map(str::to_owned), name: "Mallory".into(), deny: false }
}

fn smtp_settings(smtp: &SmtpReceiver) -> impl FnOnce(&mut auth_service::Settings) + use<> {
    let url = smtp.url();
    move |settings| {
        settings.smtp_url = Some(auth_service::config::Secret::new(url));
        settings.email_from = "auth <auth@example.com>".into();
    }
}

/// Finding 1: a VK identity reporting someone else's address must not own that address.
async fn an_unverified_provider_email_never_becomes_the_accounts_address(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    world.vk.sign_in_as(vk_user("666", Some("victim@example.com")));
    let attacker = Tokens::from(browser_sign_in(app, "vk", "").await).await;
    let account = me(app, &attacker).await;
    assert_eq!(account["email"], "vk-666@users.invalid");
    assert_eq!(account["email_verified"], false);

    // The owner of the mailbox can still take their address, and it is theirs alone.
    assert_eq!(app.register("victim@example.com", PASSWORD).await.status(), StatusCode::CREATED);
    let victim = Tokens::from(app.login("victim@example.com", PASSWORD).await).await;
    assert_ne!(me(app, &victim).await["id"], account["id"]);
    let again = Tokens::from(browser_sign_in(app, "vk", "").await).await;
    assert_eq!(me(app, &again).await["id"], account["id"], "the VK identity stays on its own account");
    assert_eq!(me(app, &victim).await["providers"], json!(["password"]));
}

/// Finding 1: an identity attached while the address was unproven goes when the mailbox owner
/// resets the password.
async fn a_password_reset_by_the_mailbox_owner_detaches_identities_attached_before(backend: Backend) {
    let smtp = SmtpReceiver::start().await;
    let world = world(backend, smtp_settings(&smtp)).await;
    let app = &world.app;
    // The attacker claims the address with a password and attaches their own VK account.
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
    let squatter = Tokens::from(app.login(&email, PASSWORD).await).await;
    world.vk.sign_in_as(vk_user("777", None));
    Tokens::from(link_in_browser(app, "vk", &squatter.access, "").await).await;
    let victim_id = me(app, &squatter).await["id"].clone();
    assert_eq!(me(app, &squatter).await["providers"], json!(["password", "vk"]));

    // The real owner resets the password from their mailbox.
    app.post_json("/auth/password/forgot", json!({"email": email})).await;
    let token = token_in(&smtp.message_to(&email, "reset-password").await);
    let reset = app.post_json("/auth/password/reset", json!({"token": token, "new_password": "owner's own password"}));
    assert_eq!(reset.await.status(), StatusCode::NO_CONTENT);

    let owner = Tokens::from(app.login(&email, "owner's own password").await).await;
    let account = me(app, &owner).await;
    assert_eq!(account["providers"], json!(["password"]), "the attacker's VK identity is gone");
    assert_eq!(account["email_verified"], true, "the reset proved the mailbox");
    assert_problem(app.validate(&squatter.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let via_vk = Tokens::from(browser_sign_in(app, "vk", "").await).await;
    assert_ne!(me(app, &via_vk).await["id"], victim_id, "VK no longer leads into the owner's account");
}

/// Finding 1: the same when the owner uses the verification link; the events say so.
async fn verifying_the_address_detaches_identities_attached_before_and_says_so(backend: Backend) {
    let smtp = SmtpReceiver::start().await;
    let (receiver, url) = Receiver::start().await;
    let mail = smtp_settings(&smtp);
    let world = world(backend, move |settings| {
        mail(settings);
        with_webhook(settings, &url);
    })
    .await;
    let app = &world.app;
    let email = unique_email();
    assert_eq!(app.register(&email, PASSWORD).await.status(), StatusCode::CREATED);
    let squatter = Tokens::from(app.login(&email, PASSWORD).await).await;
    let user_id = claims_of(&squatter.access)["sub"].as_str().unwrap().to_owned();
    world.vk.sign_in_as(vk_user("778", None));
    let via_vk = Tokens::from(link_in_browser(app, "vk", &squatter.access, "").await).await;

    // The registration sent the verification link to the mailbox: its owner follows it.
    let token = token_in(&smtp.message_to(&email, "verify-email").await);
    assert_eq!(app.post_json("/auth/email/verify", json!({"token": token})).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(app, &Tokens::from(app.login(&email, PASSWORD).await).await).await["providers"], json!(["password"]));
    for tokens in [&squatter, &via_vk] {
        assert_problem(app.validate(&tokens.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    }

    let events = receiver
        .wait_for("the detachment", |accepted| {
            of_user(accepted, &user_id).iter().any(|event| event["data"]["reason"] == "identities_detached")
        })
        .await;
    let events = of_user(&events, &user_id);
    let updated = events.iter().find(|event| event["type"] == "user.updated").unwrap();
    assert_eq!(updated["data"]["changed"], json!(["providers"]));
    assert_eq!(updated["data"]["detached_providers"], json!(["vk"]));
    assert_eq!(updated["data"]["providers"], json!(["password"]));
    let reasons: Vec<&Value> = events
        .iter()
        .filter(|event| event["type"] == "session.revoked")
        .map(|event| &event["data"]["reason"])
        .collect();
    assert!(reasons.iter().any(|reason| *reason == "identities_detached"), "{reasons:?}");
    assert!(types(&events).iter().any(|kind| kind == "user.email_verified"));
}

/// Finding 1: Google, authoritative for the address, replaces what the squatter attached.
async fn an_authoritative_provider_detaches_the_squatters_password_and_identities(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    assert_eq!(app.register("bob@corp.example", PASSWORD).await.status(), StatusCode::CREATED);
    let squatter = Tokens::from(app.login("bob@corp.example", PASSWORD).await).await;
    world.vk.sign_in_as(vk_user("779", None));
    Tokens::from(link_in_browser(app, "vk", &squatter.access, "").await).await;

    let owner = Tokens::from(browser_sign_in(app, "google", "bob").await).await;
    assert_eq!(me(app, &owner).await["providers"], json!(["google"]));
    assert_problem(app.validate(&squatter.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    let via_vk = Tokens::from(browser_sign_in(app, "vk", "").await).await;
    assert_ne!(me(app, &via_vk).await["id"], me(app, &owner).await["id"]);
}

/// Finding 2: login CSRF. A state started in one browser cannot be finished in another.
async fn a_sign_in_finished_in_another_browser_is_invalid_state(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    let attacker = browser();
    let start = attacker.get(app.url("/auth/oauth/google/authorize")).send().await.unwrap();
    let cookie = start.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/auth/oauth"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let callback = through_provider(&attacker, app, format!("{}&login_hint=alice", location(&start))).await;

    // The victim's browser, lured to the attacker's callback URL, has no binding...
    let victim = browser();
    assert_problem(victim.get(&callback).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_state").await;
    // ...or a binding of a sign-in of its own, which is not this one's.
    let start = victim.get(app.url("/auth/oauth/google/authorize")).send().await.unwrap();
    assert!(start.status().is_redirection());
    let start = attacker.get(app.url("/auth/oauth/google/authorize")).send().await.unwrap();
    let callback = through_provider(&attacker, app, format!("{}&login_hint=alice", location(&start))).await;
    assert_problem(victim.get(&callback).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_state").await;
    // The browser that started a sign-in still finishes it.
    let start = attacker.get(app.url("/auth/oauth/google/authorize")).send().await.unwrap();
    let callback = through_provider(&attacker, app, format!("{}&login_hint=alice", location(&start))).await;
    Tokens::from(attacker.get(&callback).send().await.unwrap()).await;
}

/// Finding 2: link CSRF. `/link` hands out a one-time ticket; the provider step it starts is
/// bound to the browser that redeemed it.
async fn linking_takes_a_one_time_ticket_and_the_browser_that_redeemed_it(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    let (_, attacker) = app.signed_in_user().await;
    let link: Value = app.post_bearer("/auth/oauth/google/link", &attacker.access).await.json().await.unwrap();
    let ticket_url = link["authorization_url"].as_str().unwrap().to_owned();
    assert_eq!(link["expires_in"], 60);

    // The attacker redeems the ticket and hands the provider URL to a victim signed in at Google.
    let attackers_browser = browser();
    let start = attackers_browser.get(&ticket_url).send().await.unwrap();
    assert!(start.status().is_redirection());
    let victims_browser = browser();
    let callback = through_provider(&victims_browser, app, format!("{}&login_hint=alice", location(&start))).await;
    assert_problem(victims_browser.get(&callback).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_state")
        .await;
    assert_eq!(me(app, &attacker).await["providers"], json!(["password"]), "nothing was linked");

    // A ticket works once, and only for its provider.
    let reused = browser().get(&ticket_url).send().await.unwrap();
    assert_problem(reused, StatusCode::BAD_REQUEST, "invalid_state").await;
    let link: Value = app.post_bearer("/auth/oauth/google/link", &attacker.access).await.json().await.unwrap();
    let other_provider = link["authorization_url"].as_str().unwrap().replace("/oauth/google/", "/oauth/vk/");
    assert_problem(browser().get(&other_provider).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_state")
        .await;
    let forged = app.url("/auth/oauth/google/authorize?link_ticket=made-up");
    assert_problem(browser().get(&forged).send().await.unwrap(), StatusCode::BAD_REQUEST, "invalid_state").await;
}

/// Finding 3: the failed-login budget is reserved before the password is checked.
async fn concurrent_wrong_passwords_are_all_counted_against_the_account(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        settings.login_failure_limit = 10;
        // Slow enough that every guess is in flight before the first one is judged.
        settings.bcrypt_cost = 10;
    })
    .await;
    let (email, _) = app.signed_in_user().await;
    let guesses: Vec<String> = (0..30).map(|attempt| format!("guess {attempt}")).collect();
    let responses = futures::future::join_all(guesses.iter().map(|guess| app.login(&email, guess))).await;
    let statuses: Vec<StatusCode> = responses.iter().map(|response| response.status()).collect();
    let judged = statuses.iter().filter(|status| **status == StatusCode::UNAUTHORIZED).count();
    let refused = statuses.iter().filter(|status| **status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!((judged, refused), (10, 20), "{statuses:?}");
    assert_problem(app.login(&email, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// Finding 3, across instances: the reservations live in Redis.
async fn two_instances_share_the_failed_login_reservations_through_redis() {
    let first = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.login_failure_limit = 10;
        settings.bcrypt_cost = 10;
    })
    .await;
    let second = TestApp::start(first.settings.clone(), Backend::Postgres).await;
    let (email, _) = first.signed_in_user().await;
    let guesses: Vec<String> = (0..30).map(|attempt| format!("guess {attempt}")).collect();
    let responses = futures::future::join_all(guesses.iter().enumerate().map(|(index, guess)| {
        let instance = if index % 2 == 0 { &first } else { &second };
        instance.login(&email, guess)
    }))
    .await;
    let judged = responses.iter().filter(|response| response.status() == StatusCode::UNAUTHORIZED).count();
    assert_eq!(judged, 10);
    assert_problem(second.login(&email, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

/// Finding 4: a login that read the account before a revoking change must not open a session
/// after it.
async fn a_sign_in_in_flight_does_not_survive_logout_everywhere_or_deactivation(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| {
        // One slow hashing worker: the logins are still checking the password when the
        // revoking change commits.
        settings.bcrypt_cost = 12;
        settings.password_hash_workers = Some(1);
    })
    .await;
    let (_, admin) = signed_in_admin(&app).await;
    let (email, tokens) = app.signed_in_user().await;
    let user_id = claims_of(&tokens.access)["sub"].as_str().unwrap().to_owned();

    let logins = futures::future::join_all((0..3).map(|_| app.login(&email, PASSWORD)));
    let revoke = async {
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(app.post_bearer("/auth/logout-all", &tokens.access).await.status(), StatusCode::NO_CONTENT);
    };
    let (responses, ()) = tokio::join!(logins, revoke);
    for response in responses {
        if response.status() == StatusCode::OK {
            let pair = Tokens::from(response).await;
            // Whatever was opened was opened before the revocation, so it was revoked with it.
            assert_problem(app.refresh(&pair.refresh).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
        } else {
            assert_problem(response, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
    }

    let logins = futures::future::join_all((0..3).map(|_| app.login(&email, PASSWORD)));
    let deactivate = async {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let response = app
            .client
            .patch(app.url(&format!("/admin/users/{user_id}")))
            .bearer_auth(&admin.access)
            .json(&json!({"is_active": false}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    };
    let (responses, ()) = tokio::join!(logins, deactivate);
    for response in responses {
        if response.status() == StatusCode::OK {
            let pair = Tokens::from(response).await;
            assert_ne!(app.refresh(&pair.refresh).await.status(), StatusCode::OK);
            assert_problem(app.validate(&pair.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
        } else {
            assert!(response.status().is_client_error(), "{}", response.status());
        }
    }
}

/// Finding 7: a stolen access token does not buy unlimited password guesses.
async fn password_confirming_endpoints_are_rate_limited_and_count_failures(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.login_failure_limit = 3).await;
    let (email, tokens) = app.signed_in_user().await;
    let change = |current: &str| {
        app.client
            .post(app.url("/auth/password/change"))
            .bearer_auth(&tokens.access)
            .json(&json!({"current_password": current, "new_password": "a brand new password"}))
            .send()
    };
    for attempt in 0..3 {
        assert_problem(
            change(&format!("guess {attempt}")).await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        )
        .await;
    }
    assert_problem(change(PASSWORD).await.unwrap(), StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let delete = app
        .client
        .delete(app.url("/auth/me"))
        .bearer_auth(&tokens.access)
        .json(&json!({"password": "guess"}))
        .send()
        .await
        .unwrap();
    assert_problem(delete, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_problem(app.login(&email, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    // And each client has its budget on them, as on login.
    let limited = TestApp::spawn_with(backend, |settings| settings.rate_limit_per_minute = 4).await;
    let email = unique_email();
    limited.register(&email, PASSWORD).await;
    let tokens = Tokens::from(limited.login(&email, PASSWORD).await).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = limited
            .client
            .delete(limited.url("/auth/me"))
            .bearer_auth(&tokens.access)
            .json(&json!({"password": "guess"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
    }
    assert_eq!(statuses, [StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS]);
    // Reading the account is not limited.
    assert_eq!(limited.get_bearer("/auth/me", &tokens.access).await.status(), StatusCode::OK);
}

/// Finding 10.
async fn the_last_active_admin_cannot_delete_their_own_account(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, admin) = signed_in_admin(&app).await;
    let delete = |tokens: Tokens| {
        app.client.delete(app.url("/auth/me")).bearer_auth(tokens.access).json(&json!({"password": PASSWORD})).send()
    };
    assert_problem(delete(admin.clone()).await.unwrap(), StatusCode::CONFLICT, "last_admin").await;
    assert_eq!(app.get_bearer("/auth/me", &admin.access).await.status(), StatusCode::OK, "nothing changed");
    let (_, colleague) = signed_in_admin(&app).await;
    assert_eq!(delete(admin).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_problem(delete(colleague).await.unwrap(), StatusCode::CONFLICT, "last_admin").await;
}

/// Finding 11.
async fn the_placeholder_domain_cannot_be_registered(backend: Backend) {
    let world = world(backend, |_| {}).await;
    let app = &world.app;
    for taken in ["vk-5553@users.invalid", "VK-5553@Users.Invalid", "someone@example.invalid"] {
        let body =
            assert_problem(app.register(taken, PASSWORD).await, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
                .await;
        assert_eq!(body["errors"][0]["field"], "email");
    }
    world.vk.sign_in_as(vk_user("5553", None));
    let tokens = Tokens::from(browser_sign_in(app, "vk", "").await).await;
    assert_eq!(me(app, &tokens).await["email"], "vk-5553@users.invalid");
}

/// Finding 12.
async fn a_password_change_kills_outstanding_reset_links(backend: Backend) {
    let smtp = SmtpReceiver::start().await;
    let app = TestApp::spawn_with(backend, smtp_settings(&smtp)).await;
    let (email, tokens) = app.signed_in_user().await;
    app.post_json("/auth/password/forgot", json!({"email": email})).await;
    let token = token_in(&smtp.message_to(&email, "reset-password").await);
    let change = app
        .client
        .post(app.url("/auth/password/change"))
        .bearer_auth(&tokens.access)
        .json(&json!({"current_password": PASSWORD, "new_password": "changed on purpose"}))
        .send()
        .await
        .unwrap();
    assert_eq!(change.status(), StatusCode::NO_CONTENT);
    let reset = app.post_json("/auth/password/reset", json!({"token": token, "new_password": "from the old link"}));
    assert_problem(reset.await, StatusCode::BAD_REQUEST, "invalid_email_token").await;
    Tokens::from(app.login(&email, "changed on purpose").await).await;
}

/// Finding 14: a 10 000-character "email" never reaches a counter (nor a query): with a budget
/// of one failure, every attempt is still judged, never cooled off.
async fn over_long_login_emails_are_refused_before_any_counting(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.login_failure_limit = 1).await;
    let long = format!("{}@example.com", "a".repeat(10_000));
    for _ in 0..3 {
        assert_problem(app.login(&long, "guess").await, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
}

/// Finding 16: refreshing renews `iat`, not the sign-in.
async fn deleting_a_social_account_needs_a_recent_sign_in_not_a_recent_refresh(backend: Backend) {
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let world = world_with_clock(backend, clock.clone(), |settings| settings.reauthentication_window = 1).await;
    let app = &world.app;
    let signed_in = Tokens::from(browser_sign_in(app, "google", "alice").await).await;
    clock.advance(chrono::Duration::milliseconds(1001));
    let refreshed = Tokens::from(app.refresh(&signed_in.refresh).await).await;
    let delete = |tokens: &Tokens| app.client.delete(app.url("/auth/me")).bearer_auth(&tokens.access).send();
    assert_problem(delete(&refreshed).await.unwrap(), StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    let fresh = Tokens::from(browser_sign_in(app, "google", "alice").await).await;
    assert_eq!(delete(&fresh).await.unwrap().status(), StatusCode::NO_CONTENT);
}
