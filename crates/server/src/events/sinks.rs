//! Where events go: a Redis Stream and signed webhooks. Each sink reports success or a short,
//! secret-free reason; the dispatcher decides about retries.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use auth_core::events::OutboxEvent;
use auth_core::redact::url_without_credentials;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::adapters::redis::RedisHandle;
use crate::config::Secret;

#[async_trait]
pub trait EventSink: Send + Sync {
    /// Stable name recorded with an event once this sink accepted it (no commas).
    fn key(&self) -> &str;
    /// Metrics label: `redis_stream` or `webhook`.
    fn kind(&self) -> &'static str;
    async fn deliver(&self, event: &OutboxEvent) -> Result<(), String>;
}

/// Appends each event to a Redis Stream, trimmed to about `max_length` entries.
pub struct RedisStreamSink {
    redis: Arc<RedisHandle>,
    stream: String,
    max_length: usize,
    key: String,
}

impl RedisStreamSink {
    pub fn new(redis: Arc<RedisHandle>, stream: &str, max_length: usize) -> Self {
        Self { redis, stream: stream.to_owned(), max_length, key: format!("redis:{stream}") }
    }
}

const STREAM_TIMEOUT: Duration = Duration::from_secs(2);

#[async_trait]
impl EventSink for RedisStreamSink {
    fn key(&self) -> &str {
        &self.key
    }

    fn kind(&self) -> &'static str {
        "redis_stream"
    }

    async fn deliver(&self, event: &OutboxEvent) -> Result<(), String> {
        let appended = async {
            let mut connection = self.redis.connection().await?;
            redis::cmd("XADD")
                .arg(&self.stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.max_length)
                .arg("*")
                .arg("id")
                .arg(event.id.to_string())
                .arg("type")
                .arg(&event.event_type)
                .arg("user_id")
                .arg(event.user_id.to_string())
                .arg("payload")
                .arg(&event.payload)
                .query_async::<String>(&mut connection)
                .await
        };
        match tokio::time::timeout(STREAM_TIMEOUT, appended).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(format!("redis stream {}: {:?}", self.stream, error.kind())),
            Err(_) => Err(format!("redis stream {}: timed out", self.stream)),
        }
    }
}

/// POSTs each event to one endpoint, signed with `WEBHOOK_SECRET`.
pub struct WebhookSink {
    client: reqwest::Client,
    url: String,
    /// The URL without credentials or query, for errors and logs.
    label: String,
    secret: Secret,
    key: String,
}

impl WebhookSink {
    pub fn new(client: reqwest::Client, url: &str, secret: Secret) -> Self {
        let label = url_without_credentials(url);
        // The key is stored in the outbox and listed by the admin API, so it is the label too.
        // Two URLs differing only in credentials or query would share a key; nobody configures that.
        Self { client, url: url.to_owned(), key: format!("webhook:{label}"), label, secret }
    }
}

#[async_trait]
impl EventSink for WebhookSink {
    fn key(&self) -> &str {
        &self.key
    }

    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&self, event: &OutboxEvent) -> Result<(), String> {
        let timestamp = chrono::Utc::now().timestamp();
        let signature = signature_header(self.secret.expose().as_bytes(), timestamp, event.payload.as_bytes());
        let response = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Auth-Event-Id", event.id.to_string())
            .header("X-Auth-Event-Type", &event.event_type)
            .header("X-Auth-Timestamp", timestamp.to_string())
            .header("X-Auth-Signature", signature)
            .body(event.payload.clone())
            .send()
            .await
            .map_err(|error| {
                let cause = if error.is_timeout() {
                    "timed out"
                } else if error.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                format!("webhook {}: {cause}", self.label)
            })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("webhook {} answered {}", self.label, response.status().as_u16()))
        }
    }
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: the timestamp is signed with the
/// body so a captured request cannot be replayed later with a fresh timestamp.
pub fn signature_header(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex::encode(sign(secret, timestamp, body)))
}

fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return Vec::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature_header(b"secret", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
        assert_ne!(
            signature_header(b"secret", 1_700_000_001, br#"{"a":1}"#),
            signature_header(b"secret", 1_700_000_000, br#"{"a":1}"#)
        );
        assert_ne!(
            signature_header(b"other", 1_700_000_000, br#"{"a":1}"#),
            signature_header(b"secret", 1_700_000_000, br#"{"a":1}"#)
        );
    }

    #[test]
    fn the_sink_key_has_no_credentials_or_query() {
        let client = reqwest::Client::new();
        let sink = WebhookSink::new(client, "https://user:pw@hooks.example.com/in?token=abc", Secret::new("s"));
        assert_eq!(sink.key(), "webhook:https://hooks.example.com/in");
    }

    #[test]
    fn labels_drop_credentials_and_query() {
        assert_eq!(
            url_without_credentials("https://user:pw@hooks.example.com:8443/in?token=abc"),
            "https://hooks.example.com:8443/in"
        );
    }
}
