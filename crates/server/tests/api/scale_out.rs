//! Two instances on one PostgreSQL + Redis behind a real nginx doing round-robin behave as one
//! service.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::gateway::{Nginx, nginx_binary, start_nginx};
use crate::helpers::{Backend, PASSWORD, TestApp, Tokens, assert_problem, unique_email};
use crate::on_postgres;

on_postgres!(two_instances_behind_nginx_behave_as_one_service);

fn port_of(app: &TestApp) -> &str {
    app.address.rsplit(':').next().unwrap()
}

/// nginx doing round-robin over the instances.
async fn start_balancer(binary: &str, instances: &[&TestApp]) -> Nginx {
    let servers: String = instances.iter().map(|app| format!("        server 127.0.0.1:{};\n", port_of(app))).collect();
    let block = format!(
        "    upstream auth {{\n{servers}    }}\n    server {{\n        listen 127.0.0.1:{{port}};\n        location / {{\n            \
         proxy_pass http://auth;\n            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n        }}\n    }}"
    );
    start_nginx(binary, &block).await
}

async fn two_instances_behind_nginx_behave_as_one_service() {
    let Some(binary) = nginx_binary() else { return };
    let first = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.rate_limit_per_minute = 30;
        settings.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let second = TestApp::start(first.settings.clone(), Backend::Postgres).await;
    let nginx = start_balancer(&binary, &[&first, &second]).await;
    let balancer = format!("http://127.0.0.1:{}", nginx.port);
    let client = reqwest::Client::new();
    let from = |address: &'static str, path: &str, body: serde_json::Value| {
        client.post(format!("{balancer}{path}")).header("x-forwarded-for", address).json(&body).send()
    };

    // Accounts and rotation across instances: consecutive refreshes land on different ones.
    let email = unique_email();
    assert_eq!(
        from("198.51.100.1", "/auth/register", json!({"email": email, "password": PASSWORD})).await.unwrap().status(),
        StatusCode::CREATED
    );
    let mut tokens =
        Tokens::from(from("198.51.100.1", "/auth/login", json!({"email": email, "password": PASSWORD})).await.unwrap())
            .await;
    let mut history = vec![tokens.clone()];
    for _ in 0..4 {
        tokens = Tokens::from(
            from("198.51.100.1", "/auth/refresh", json!({"refresh_token": tokens.refresh})).await.unwrap(),
        )
        .await;
        history.push(tokens.clone());
    }
    // A replay of a grandparent, wherever it lands, is reuse and revokes the family everywhere.
    let replay = from("198.51.100.1", "/auth/refresh", json!({"refresh_token": history[2].refresh})).await.unwrap();
    assert_problem(replay, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    for app in [&first, &second] {
        assert_problem(app.validate(&tokens.access).await, StatusCode::UNAUTHORIZED, "token_revoked").await;
    }

    // A logout through the balancer is seen by both instances within a second.
    let fresh =
        Tokens::from(from("198.51.100.1", "/auth/login", json!({"email": email, "password": PASSWORD})).await.unwrap())
            .await;
    for app in [&first, &second] {
        assert_eq!(app.validate(&fresh.access).await.status(), StatusCode::OK);
    }
    let logout = client.post(format!("{balancer}/auth/logout")).bearer_auth(&fresh.access).send().await.unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let started = Instant::now();
    for app in [&first, &second] {
        while app.validate(&fresh.access).await.status() == StatusCode::OK {
            assert!(started.elapsed() < Duration::from_secs(1), "an instance still accepts a logged-out token");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    // One client's budget is shared by the instances.
    for attempt in 0..30 {
        let response =
            from("203.0.113.77", "/auth/login", json!({"email": "nobody@example.com", "password": "x-wrong-x"}))
                .await
                .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {attempt}");
    }
    let over = from("203.0.113.77", "/auth/login", json!({"email": "nobody@example.com", "password": "x-wrong-x"}))
        .await
        .unwrap();
    assert_problem(over, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}
