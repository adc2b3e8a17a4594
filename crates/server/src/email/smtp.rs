//! SMTP delivery off the request path: a queue drained by a background worker that retries
//! with backoff, so a slow or failing mail server never fails or slows an HTTP request.

use std::time::Duration;

use auth_core::ports::{Mailer, OutgoingEmail};
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::mpsc;

use super::render;

const QUEUE_CAPACITY: usize = 1024;
const ATTEMPTS: u32 = 5;
const SEND_TIMEOUT: Duration = Duration::from_secs(15);

pub struct SmtpMailer {
    queue: mpsc::Sender<OutgoingEmail>,
}

impl SmtpMailer {
    /// `smtp://user:pass@host:port` (add `?tls=required` for STARTTLS) or `smtps://...` (implicit
    /// TLS). Spawns the delivery worker on the current runtime.
    pub fn start(smtp_url: &str, from: &str) -> anyhow::Result<Self> {
        let transport: AsyncSmtpTransport<Tokio1Executor> = AsyncSmtpTransport::<Tokio1Executor>::from_url(smtp_url)
            .map_err(|error| anyhow::anyhow!("SMTP_URL is not valid: {error}"))?
            .timeout(Some(SEND_TIMEOUT))
            .build();
        let from: Mailbox =
            from.parse().map_err(|error| anyhow::anyhow!("EMAIL_FROM is not a valid address: {error}"))?;
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(deliver(transport, from, receiver));
        Ok(Self { queue })
    }
}

impl Mailer for SmtpMailer {
    fn enqueue(&self, email: OutgoingEmail) {
        if self.queue.try_send(email).is_err() {
            tracing::error!("email queue full or closed; message dropped");
        }
    }
}

async fn deliver(
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    mut queue: mpsc::Receiver<OutgoingEmail>,
) {
    while let Some(email) = queue.recv().await {
        let message = match build(&from, &email) {
            Ok(message) => message,
            Err(error) => {
                tracing::error!(%error, "email could not be built");
                continue;
            }
        };
        let transport = transport.clone();
        // Each message retries on its own task, so one bad message does not hold up the rest.
        tokio::spawn(async move {
            let mut backoff = Duration::from_millis(500);
            for attempt in 1..=ATTEMPTS {
                match transport.send(message.clone()).await {
                    Ok(_) => {
                        tracing::info!(attempt, "email sent");
                        return;
                    }
                    Err(error) if attempt < ATTEMPTS => {
                        tracing::warn!(attempt, %error, "email delivery failed; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                    }
                    Err(error) => tracing::error!(attempt, %error, "email delivery failed; giving up"),
                }
            }
        });
    }
}

fn build(from: &Mailbox, email: &OutgoingEmail) -> anyhow::Result<Message> {
    let rendered = render(email);
    Ok(Message::builder()
        .from(from.clone())
        .to(email.to.parse()?)
        .subject(rendered.subject)
        .multipart(MultiPart::alternative_plain_html(rendered.text, rendered.html))?)
}
