//! A real SMTP receiver on 127.0.0.1 for the email tests: it speaks enough of RFC 5321 for a
//! client to deliver, and keeps every message it receives.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;

pub struct SmtpReceiver {
    pub port: u16,
    messages: Arc<Mutex<Vec<String>>>,
    arrived: Arc<Notify>,
}

impl SmtpReceiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (store, notify) = (messages.clone(), arrived.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (store, notify) = (store.clone(), notify.clone());
                tokio::spawn(async move {
                    let (reader, mut writer) = stream.into_split();
                    let mut lines = BufReader::new(reader).lines();
                    let _ = writer.write_all(b"220 localhost test SMTP\r\n").await;
                    while let Ok(Some(line)) = lines.next_line().await {
                        let command = line.to_ascii_uppercase();
                        let reply: &[u8] = if command.starts_with("EHLO") || command.starts_with("HELO") {
                            b"250 localhost\r\n"
                        } else if command.starts_with("DATA") {
                            let _ = writer.write_all(b"354 end with .\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(line)) = lines.next_line().await {
                                if line == "." {
                                    break;
                                }
                                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                                data.push('\n');
                            }
                            store.lock().unwrap().push(data);
                            notify.notify_waiters();
                            b"250 queued\r\n"
                        } else if command.starts_with("QUIT") {
                            let _ = writer.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            b"250 OK\r\n"
                        };
                        if writer.write_all(reply).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Self { port, messages, arrived }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn count_to(&self, address: &str) -> usize {
        self.messages.lock().unwrap().iter().filter(|message| is_to(message, address)).count()
    }

    /// The newest message to `address` whose link leads to `path` (e.g. `password/reset`),
    /// waiting up to five seconds for one to arrive.
    pub async fn message_to(&self, address: &str, path: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let arrived = self.arrived.notified();
            if let Some(message) = self.newest_to(address, path) {
                return message;
            }
            assert!(tokio::time::timeout_at(deadline, arrived).await.is_ok(), "no email to {address} arrived");
        }
    }

    /// The newest message to `address` that mentions `path`, if one has arrived.
    pub fn newest_to(&self, address: &str, path: &str) -> Option<String> {
        let messages = self.messages.lock().unwrap();
        messages.iter().rev().find(|message| is_to(message, address) && readable(message).contains(path)).cloned()
    }
}

fn is_to(message: &str, address: &str) -> bool {
    message.lines().any(|line| line.to_ascii_lowercase().starts_with("to:") && line.contains(address))
}

/// The message with its quoted-printable and base64 parts decoded.
pub fn readable(message: &str) -> String {
    use base64::Engine as _;
    let mut output = decode_quoted_printable(message);
    let mut in_base64_header = false;
    let mut block = String::new();
    let mut collecting = false;
    for line in message.lines() {
        if line.to_ascii_lowercase().starts_with("content-transfer-encoding: base64") {
            in_base64_header = true;
        } else if in_base64_header && line.trim().is_empty() {
            in_base64_header = false;
            collecting = true;
        } else if collecting && (line.trim().is_empty() || line.starts_with("--")) {
            collecting = false;
            if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(block.trim()) {
                output.push_str(&String::from_utf8_lossy(&bytes));
            }
            block.clear();
        } else if collecting {
            block.push_str(line.trim());
        }
    }
    output
}

/// The `token=` value of the first link in a message.
pub fn token_in(message: &str) -> String {
    let decoded = readable(message);
    let start = decoded.find("token=").expect("a link with a token") + "token=".len();
    decoded[start..]
        .chars()
        .take_while(|character| character.is_ascii_alphanumeric() || *character == '-' || *character == '_')
        .collect()
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "").replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut output = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let escaped = (bytes[index] == b'=' && index + 2 < bytes.len())
            .then(|| std::str::from_utf8(&bytes[index + 1..index + 3]).ok())
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(value) = escaped {
            output.push(value);
            index += 3;
            continue;
        }
        output.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&output).into_owned()
}
