//! The shipped nginx configuration (deploy/gateway/nginx.conf), run for real in front of a
//! protected upstream: nginx asks `/auth/validate` about every request.

use std::process::Stdio;
use std::time::Duration;

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;

use crate::helpers::{Backend, TEST_SECRET, TestApp, claims_of};
use crate::helpers::{backends_required, free_port};

/// nginx's binary. `None` when it is not installed: the test skips, saying so, except under
/// CI, where that fails it (scripts/test.sh installs nginx).
pub fn nginx_binary() -> Option<String> {
    let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|path| std::path::Path::new(path).exists())
        .map(str::to_owned);
    if binary.is_none() {
        assert!(!backends_required(), "nginx is required under CI (scripts/test.sh installs it)");
        eprintln!("skipping: nginx is not installed");
    }
    binary
}

/// An upstream that answers with the user id the gateway forwarded.
pub async fn start_upstream() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let router = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let user = headers.get("x-user-id").and_then(|value| value.to_str().ok()).unwrap_or("").to_owned();
        format!("upstream sees user {user}")
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    port
}

/// A running nginx with its own prefix directory; killed when dropped.
pub struct Nginx {
    pub port: u16,
    _process: tokio::process::Child,
    _directory: std::path::PathBuf,
}

/// Starts nginx with `http_block` (the inside of `http { ... }`, which may use `{port}`), with
/// scratch paths of its own so it runs anywhere, on a free 127.0.0.1 port.
pub async fn start_nginx(binary: &str, http_block: &str) -> Nginx {
    let port = free_port();
    let directory = std::env::temp_dir().join(format!("nginx-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&directory).unwrap();
    let temp = directory.display();
    let config = format!(
        "events {{}}\nhttp {{\n    access_log off;\n    client_body_temp_path {temp}/body;\n    proxy_temp_path {temp}/proxy;\n    \
         fastcgi_temp_path {temp}/fastcgi;\n    uwsgi_temp_path {temp}/uwsgi;\n    scgi_temp_path {temp}/scgi;\n{}\n}}\n",
        http_block.replace("{port}", &port.to_string())
    );
    let config_path = directory.join("nginx.conf");
    std::fs::write(&config_path, config).unwrap();
    let process = tokio::process::Command::new(binary)
        .args(["-p", &directory.display().to_string(), "-c", &config_path.display().to_string()])
        .args(["-g", &format!("daemon off; master_process off; pid {temp}/nginx.pid; error_log {temp}/error.log;")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Nginx { port, _process: process, _directory: directory };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("nginx did not start: {}", std::fs::read_to_string(directory.join("error.log")).unwrap_or_default());
}

/// The inside of the `http` block of the shipped configuration `deploy/gateway/{file}`, with
/// its placeholders filled in for a service and an upstream on 127.0.0.1.
pub fn shipped_config(file: &str, auth_port: u16, upstream_port: u16) -> String {
    let path = format!("{}/../../deploy/gateway/{file}", env!("CARGO_MANIFEST_DIR"));
    let template = std::fs::read_to_string(&path).unwrap();
    let start = template.find("http {").unwrap() + "http {".len();
    let end = template.rfind('}').unwrap();
    template[start..end]
        .replace("LISTEN_ADDRESS", "127.0.0.1:{port}")
        .replace("AUTH_SERVICE", &format!("127.0.0.1:{auth_port}"))
        .replace("UPSTREAM", &format!("127.0.0.1:{upstream_port}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_lets_valid_tokens_through_and_refuses_the_rest() {
    let Some(binary) = nginx_binary() else { return };
    let app = TestApp::spawn(Backend::Sqlite).await;
    let auth_port: u16 = app.address.rsplit(':').next().unwrap().parse().unwrap();
    let nginx = start_nginx(&binary, &shipped_config("nginx.conf", auth_port, start_upstream().await)).await;
    let through = |token: Option<String>| {
        let request = app.client.get(format!("http://127.0.0.1:{}/orders", nginx.port));
        match token {
            Some(token) => request.bearer_auth(token).send(),
            None => request.send(),
        }
    };
    let (_, tokens) = app.signed_in_user().await;
    let user_id = claims_of(&tokens.access)["sub"].as_str().unwrap().to_owned();

    let allowed = through(Some(tokens.access.clone())).await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.text().await.unwrap(), format!("upstream sees user {user_id}"));

    assert_eq!(through(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let mut expired = claims_of(&tokens.access);
    let now = chrono::Utc::now().timestamp();
    expired["iat"] = serde_json::json!(now - 1000);
    expired["exp"] = serde_json::json!(now - 10);
    let expired = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &expired,
        &EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(through(Some(expired)).await.unwrap().status(), StatusCode::UNAUTHORIZED);

    app.post_bearer("/auth/logout", &tokens.access).await;
    assert_eq!(through(Some(tokens.access.clone())).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}
