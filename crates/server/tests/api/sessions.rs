use std::collections::HashSet;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem};
use crate::on_both_backends;

on_both_backends!(
    refresh_rotates_the_pair_in_the_same_session,
    refresh_accepts_the_token_in_the_authorization_header,
    the_immediate_parent_inside_the_interval_answers_with_the_same_successor,
    a_parent_replayed_after_its_successor_was_used_is_reuse,
    a_grandparent_replay_revokes_the_whole_session,
    a_parent_replayed_after_the_interval_is_reuse,
    with_interval_zero_any_replay_is_reuse,
    fifty_racing_refreshes_leave_at_most_one_live_successor,
    fifty_racing_refreshes_in_strict_mode_leave_no_two_successors,
    access_tokens_and_garbage_are_not_refresh_tokens,
    logout_with_the_refresh_token_revokes_the_session,
    logout_with_the_access_token_revokes_the_session,
    logout_all_revokes_every_session_of_the_user,
    sessions_are_listed_newest_first_with_the_current_one_marked,
    a_user_can_revoke_only_their_own_sessions,
);

async fn refresh_rotates_the_pair_in_the_same_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, first) = app.signed_in_user().await;

    let second = Tokens::from(app.refresh(&first.refresh).await).await;

    assert_ne!(second.refresh, first.refresh);
    assert_ne!(second.access, first.access);
    let (old, new) = (crate::helpers::claims_of(&first.access), crate::helpers::claims_of(&second.access));
    assert_eq!(old["sid"], new["sid"]);
    assert_ne!(old["jti"], new["jti"]);
    assert_eq!(app.validate(&second.access).await.status(), StatusCode::OK);
    Tokens::from(app.refresh(&second.refresh).await).await;
}

async fn refresh_accepts_the_token_in_the_authorization_header(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;
    Tokens::from(app.post_bearer("/auth/refresh", &tokens.refresh).await).await;
}

async fn the_immediate_parent_inside_the_interval_answers_with_the_same_successor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, first) = app.signed_in_user().await;
    let second = Tokens::from(app.refresh(&first.refresh).await).await;

    let replay = Tokens::from(app.refresh(&first.refresh).await).await;

    assert_eq!(replay.refresh, second.refresh, "the same successor, not a new one");
    assert_eq!(app.validate(&replay.access).await.status(), StatusCode::OK);
    // The session is intact and the successor is still live.
    Tokens::from(app.refresh(&second.refresh).await).await;
}

async fn a_parent_replayed_after_its_successor_was_used_is_reuse(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, first) = app.signed_in_user().await;
    let second = Tokens::from(app.refresh(&first.refresh).await).await;
    let third = Tokens::from(app.refresh(&second.refresh).await).await;

    // `first` is now the grandparent of the live token; `second` the parent, but used.
    assert_problem(app.refresh(&first.refresh).await, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;

    assert_problem(app.refresh(&third.refresh).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_problem(app.validate(&third.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
}

async fn a_grandparent_replay_revokes_the_whole_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, first) = app.signed_in_user().await;
    let second = Tokens::from(app.refresh(&first.refresh).await).await;
    let third = Tokens::from(app.refresh(&second.refresh).await).await;
    let fourth = Tokens::from(app.refresh(&third.refresh).await).await;

    assert_problem(app.refresh(&second.refresh).await, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;

    assert_problem(app.refresh(&fourth.refresh).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    for access in [&second.access, &third.access, &fourth.access] {
        assert_problem(app.validate(access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    }
}

async fn a_parent_replayed_after_the_interval_is_reuse(backend: Backend) {
    // The default interval (10 s), passed on a clock the test moves: no sleeping.
    // Whole seconds: the databases keep microseconds, and the edge must be exact.
    let start = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap();
    let clock = std::sync::Arc::new(auth_core::clock::FixedClock::new(start));
    let app = TestApp::spawn_with_clock(backend, clock.clone(), |_| {}).await;
    let (_, first) = app.signed_in_user().await;
    let second = Tokens::from(app.refresh(&first.refresh).await).await;
    clock.advance(chrono::Duration::seconds(10));
    let replay = Tokens::from(app.refresh(&first.refresh).await).await;
    assert_eq!(replay.refresh, second.refresh, "the last second of the interval still replays");
    clock.advance(chrono::Duration::seconds(1));

    assert_problem(app.refresh(&first.refresh).await, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    assert_problem(app.refresh(&second.refresh).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
}

async fn with_interval_zero_any_replay_is_reuse(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.refresh_reuse_interval = 0).await;
    let (_, first) = app.signed_in_user().await;
    let second = Tokens::from(app.refresh(&first.refresh).await).await;

    assert_problem(app.refresh(&first.refresh).await, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    assert_problem(app.refresh(&second.refresh).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_problem(app.validate(&second.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
}

/// Sends 50 refreshes of one token at once; returns (status, refresh token) of each.
async fn race(app: &TestApp, refresh_token: &str) -> Vec<(StatusCode, Option<String>)> {
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let client = app.client.clone();
            let url = app.url("/auth/refresh");
            let body = json!({"refresh_token": refresh_token});
            tokio::spawn(async move {
                let response = client.post(url).json(&body).send().await.unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                (status, body["refresh_token"].as_str().map(str::to_owned))
            })
        })
        .collect();
    let mut results = Vec::new();
    for request in requests {
        results.push(request.await.unwrap());
    }
    results
}

/// How many of `candidates` can still be refreshed (each is spent by trying).
async fn live_count(app: &TestApp, candidates: &HashSet<String>) -> usize {
    let mut live = 0;
    for candidate in candidates {
        if app.refresh(candidate).await.status() == StatusCode::OK {
            live += 1;
        }
    }
    live
}

async fn fifty_racing_refreshes_leave_at_most_one_live_successor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;

    let results = race(&app, &tokens.refresh).await;

    assert!(results.iter().all(|(status, _)| *status == StatusCode::OK), "{results:?}");
    let successors: HashSet<String> = results.into_iter().filter_map(|(_, token)| token).collect();
    assert_eq!(successors.len(), 1, "every racer got the same successor");
    assert_eq!(live_count(&app, &successors).await, 1);
}

async fn fifty_racing_refreshes_in_strict_mode_leave_no_two_successors(backend: Backend) {
    let app = TestApp::spawn_with(backend, |settings| settings.refresh_reuse_interval = 0).await;
    let (_, tokens) = app.signed_in_user().await;

    let results = race(&app, &tokens.refresh).await;

    let winners = results.iter().filter(|(status, _)| *status == StatusCode::OK).count();
    assert_eq!(winners, 1, "{results:?}");
    assert!(results.iter().all(|(status, _)| *status == StatusCode::OK || *status == StatusCode::UNAUTHORIZED));
    let successors: HashSet<String> = results.into_iter().filter_map(|(_, token)| token).collect();
    assert!(live_count(&app, &successors).await <= 1);
}

async fn access_tokens_and_garbage_are_not_refresh_tokens(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;
    for presented in [tokens.access.as_str(), "garbage", "a".repeat(43).as_str(), "%%%"] {
        assert_problem(app.refresh(presented).await, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }
    let empty = app.client.post(app.url("/auth/refresh")).send().await.unwrap();
    assert_problem(empty, StatusCode::UNAUTHORIZED, "invalid_token").await;
    // The session survived all of that.
    Tokens::from(app.refresh(&tokens.refresh).await).await;
}

async fn logout_with_the_refresh_token_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, tokens) = app.signed_in_user().await;

    let response = app.post_json("/auth/logout", json!({"refresh_token": tokens.refresh})).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_problem(app.validate(&tokens.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_problem(app.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
}

async fn logout_with_the_access_token_revokes_the_session(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, tokens) = app.signed_in_user().await;
    let other = Tokens::from(app.login(&email, PASSWORD).await).await;

    assert_eq!(app.post_bearer("/auth/logout", &tokens.access).await.status(), StatusCode::NO_CONTENT);

    assert_problem(app.get_bearer("/auth/me", &tokens.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_problem(app.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(app.validate(&other.access).await.status(), StatusCode::OK, "other sessions live on");
}

async fn logout_all_revokes_every_session_of_the_user(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, first) = app.signed_in_user().await;
    let second = Tokens::from(app.login(&email, PASSWORD).await).await;
    let (_, bystander) = app.signed_in_user().await;

    assert_eq!(app.post_bearer("/auth/logout-all", &first.access).await.status(), StatusCode::NO_CONTENT);

    for tokens in [&first, &second] {
        assert_problem(app.validate(&tokens.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
        assert_problem(app.refresh(&tokens.refresh).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    }
    assert_eq!(app.validate(&bystander.access).await.status(), StatusCode::OK);
    // A fresh login still works.
    Tokens::from(app.login(&email, PASSWORD).await).await;
}

async fn sessions_are_listed_newest_first_with_the_current_one_marked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, _) = app.signed_in_user().await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    let newest = Tokens::from(
        app.client
            .post(app.url("/auth/login"))
            .header("user-agent", "Phone/1.0")
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;

    let response = app.get_bearer("/auth/sessions", &newest.access).await;
    assert_eq!(response.status(), StatusCode::OK);
    let sessions: Vec<Value> = response.json().await.unwrap();

    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["current"], true);
    assert_eq!(sessions[1]["current"], false);
    assert_eq!(sessions[0]["user_agent"], "Phone/1.0");
    assert_eq!(sessions[0]["ip_address"], "127.0.0.1");
    assert!(sessions[0]["created_at"].as_str().unwrap() >= sessions[1]["created_at"].as_str().unwrap());
    assert!(sessions[0]["last_seen_at"].is_string());

    // A user agent is stored bounded, so it cannot flood storage or logs.
    let long_agent = "A".repeat(5000);
    let flooded = Tokens::from(
        app.client
            .post(app.url("/auth/login"))
            .header("user-agent", long_agent)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let sessions: Vec<Value> = app.get_bearer("/auth/sessions", &flooded.access).await.json().await.unwrap();
    assert_eq!(sessions[0]["user_agent"].as_str().unwrap().len(), 512);
}

async fn a_user_can_revoke_only_their_own_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (email, mine) = app.signed_in_user().await;
    let other_device = Tokens::from(app.login(&email, PASSWORD).await).await;
    let (_, stranger) = app.signed_in_user().await;
    let stranger_session = crate::helpers::claims_of(&stranger.access)["sid"].as_str().unwrap().to_owned();
    let other_session = crate::helpers::claims_of(&other_device.access)["sid"].as_str().unwrap().to_owned();

    let delete = |session: String| {
        app.client.delete(app.url(&format!("/auth/sessions/{session}"))).bearer_auth(&mine.access).send()
    };
    assert_problem(delete(stranger_session).await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(delete(uuid::Uuid::new_v4().to_string()).await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    assert_problem(delete("not-a-uuid".into()).await.unwrap(), StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.validate(&stranger.access).await.status(), StatusCode::OK);

    assert_eq!(delete(other_session).await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_problem(app.validate(&other_device.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    assert_eq!(app.validate(&mine.access).await.status(), StatusCode::OK);
}
