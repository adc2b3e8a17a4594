//! A three-node Redis Cluster, started and torn down by the test on 127.0.0.1 ports: limits,
//! sign-in state and revocation broadcasts work through it for every instance.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::free_port;
use crate::helpers::{Backend, TestApp, assert_problem};
use crate::on_postgres;

on_postgres!(instances_share_a_redis_cluster);

struct RedisCluster {
    ports: Vec<u16>,
    nodes: Vec<std::process::Child>,
    directory: std::path::PathBuf,
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            let _ = node.kill();
            let _ = node.wait();
        }
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

fn start_cluster() -> RedisCluster {
    let directory = std::env::temp_dir().join(format!("redis-cluster-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&directory).unwrap();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let nodes = ports
        .iter()
        .map(|port| {
            std::process::Command::new("redis-server")
                .current_dir(&directory)
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--cluster-enabled", "yes"])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf"), "--save", "", "--appendonly", "no"])
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server")
        })
        .collect();
    let cluster = RedisCluster { ports, nodes, directory };
    for port in &cluster.ports {
        while std::net::TcpStream::connect(("127.0.0.1", *port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let addresses: Vec<String> = cluster.ports.iter().map(|port| format!("127.0.0.1:{port}")).collect();
    let created = std::process::Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addresses)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(created.success(), "redis-cli --cluster create");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let info = std::process::Command::new("redis-cli")
            .args(["-p", &cluster.ports[0].to_string(), "cluster", "info"])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok") {
            break;
        }
        assert!(Instant::now() < deadline, "the cluster did not become ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    cluster
}

async fn instances_share_a_redis_cluster() {
    let cluster = tokio::task::spawn_blocking(start_cluster).await.unwrap();
    let url = format!(
        "redis-cluster://{}",
        cluster.ports.iter().map(|port| format!("127.0.0.1:{port}")).collect::<Vec<_>>().join(",")
    );
    let first = TestApp::spawn_with(Backend::Postgres, |settings| {
        settings.redis_url = Some(auth_service::config::Secret::new(url.clone()));
        settings.rate_limit_per_minute = 5;
    })
    .await;
    let second = TestApp::start(first.settings.clone(), Backend::Postgres).await;
    let ready: serde_json::Value =
        first.client.get(first.url("/health/ready")).send().await.unwrap().json().await.unwrap();
    assert_eq!(ready["checks"]["redis"], "ok");

    // One budget across instances, whichever node holds its key.
    for app in [&first, &second, &first] {
        assert_eq!(app.login("nobody@example.com", "not the password").await.status(), StatusCode::UNAUTHORIZED);
    }
    let (_, tokens) = second.signed_in_user().await; // its fourth and fifth requests
    assert_problem(
        first.login("nobody@example.com", "not the password").await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    )
    .await;

    // A revocation on one instance reaches the other.
    assert_eq!(first.validate(&tokens.access).await.status(), StatusCode::OK);
    assert_eq!(second.post_bearer("/auth/logout", &tokens.access).await.status(), StatusCode::NO_CONTENT);
    let started = Instant::now();
    while first.validate(&tokens.access).await.status() == StatusCode::OK {
        assert!(started.elapsed() < Duration::from_secs(1), "the revocation did not arrive");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(cluster);
}
