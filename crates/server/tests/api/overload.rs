//! Overload: logins beyond what password hashing can finish within the request timeout are
//! answered 503 `unavailable` with `Retry-After` at once, not after the timeout, while the ones
//! admitted complete.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, TestApp, unique_email};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_beyond_what_hashing_can_finish_in_time_are_shed_at_once() {
    let app = TestApp::spawn_with(Backend::Sqlite, |settings| {
        settings.bcrypt_cost = 12;
        settings.password_hash_workers = Some(1);
        settings.request_timeout = 2;
    })
    .await;
    // One login first, so the hash time is measured (start-up measures it too, in the background).
    assert_eq!(app.login(&unique_email(), PASSWORD).await.status(), StatusCode::UNAUTHORIZED);

    let started = Instant::now();
    let answers = futures::future::join_all((0..16).map(|_| async {
        let response = app.login(&unique_email(), PASSWORD).await;
        (response.status(), started.elapsed(), response.headers().get("retry-after").cloned(), response.text().await)
    }))
    .await;
    let mut shed = Vec::new();
    let mut judged = 0;
    for (status, took, retry_after, body) in answers {
        match status {
            StatusCode::UNAUTHORIZED => judged += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                let body: Value = serde_json::from_str(&body.unwrap()).unwrap();
                assert_eq!(body["code"], "unavailable", "{body}");
                assert!(retry_after.is_some(), "a shed login says when to come back");
                shed.push(took);
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(judged >= 1, "the logins that fit were answered");
    assert!(!shed.is_empty(), "sixteen bcrypt-12 hashes on one worker do not fit in two seconds");
    shed.sort();
    let timeout = Duration::from_secs(app.settings.request_timeout);
    assert!(*shed.last().unwrap() < timeout, "every shed login answered before the timeout: {shed:?}");
    assert!(shed[shed.len() / 2] < Duration::from_millis(500), "most shed logins answered at once: {shed:?}");
}
