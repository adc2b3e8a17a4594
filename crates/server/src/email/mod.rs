//! Outgoing email: templates (kept as files, English and Russian) and the two mailers: SMTP
//! through `lettre` when `SMTP_URL` is set, else the log (the development default).

mod smtp;

use auth_core::ports::{EmailKind, Mailer, OutgoingEmail};

pub use smtp::SmtpMailer;

/// A rendered message: subject, plain-text and HTML parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// (text, html) templates of one message in one language, as files under `templates/email/`.
macro_rules! template {
    ($language:literal, $name:literal) => {
        (
            include_str!(concat!("../../templates/email/", $language, "/", $name, ".txt")),
            include_str!(concat!("../../templates/email/", $language, "/", $name, ".html")),
        )
    };
}

/// (text, html) templates; the first line of the text template is the subject.
fn templates(kind: EmailKind, language: &str) -> (&'static str, &'static str) {
    match (kind, language == "ru") {
        (EmailKind::VerifyEmail, true) => template!("ru", "verify_email"),
        (EmailKind::ResetPassword, true) => template!("ru", "reset_password"),
        (EmailKind::ConfirmEmailChange, true) => template!("ru", "confirm_email_change"),
        (EmailKind::EmailChangeNotice, true) => template!("ru", "email_change_notice"),
        (EmailKind::VerifyEmail, false) => template!("en", "verify_email"),
        (EmailKind::ResetPassword, false) => template!("en", "reset_password"),
        (EmailKind::ConfirmEmailChange, false) => template!("en", "confirm_email_change"),
        (EmailKind::EmailChangeNotice, false) => template!("en", "email_change_notice"),
    }
}

pub fn render(email: &OutgoingEmail) -> RenderedEmail {
    let (text_template, html_template) = templates(email.kind, &email.language);
    let (subject, text_body) = text_template.split_once('\n').unwrap_or((text_template, ""));
    let text = text_body.replace("{{email}}", &email.to).replace("{{link}}", &email.link);
    let html =
        html_template.replace("{{email}}", &escape_html(&email.to)).replace("{{link}}", &escape_html(&email.link));
    RenderedEmail { subject: subject.trim().to_owned(), text, html }
}

fn escape_html(value: &str) -> String {
    value.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Development default: the message, link included, goes to the log at info level.
pub struct LogMailer;

impl Mailer for LogMailer {
    fn enqueue(&self, email: OutgoingEmail) {
        let rendered = render(&email);
        tracing::info!(to = %email.to, subject = %rendered.subject, link = %email.link,
            "email not sent (SMTP_URL is unset); its text follows\n{}", rendered.text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(language: &str) -> OutgoingEmail {
        OutgoingEmail {
            to: "a<b>@example.com".into(),
            kind: EmailKind::ResetPassword,
            language: language.into(),
            link: "https://app.example/reset?token=abc&x=1".into(),
        }
    }

    #[test]
    fn templates_render_in_both_languages_with_escaped_html() {
        let english = render(&email("en"));
        assert_eq!(english.subject, "Reset your password");
        assert!(english.text.contains("https://app.example/reset?token=abc&x=1"));
        assert!(english.html.contains("token=abc&amp;x=1") && english.html.contains("a&lt;b&gt;@example.com"));
        let russian = render(&email("ru"));
        assert_eq!(russian.subject, "Сброс пароля");
        assert!(!russian.text.contains("{{"));
    }

    #[test]
    fn every_message_has_a_subject_and_both_parts_in_both_languages() {
        for kind in [
            EmailKind::VerifyEmail,
            EmailKind::ResetPassword,
            EmailKind::ConfirmEmailChange,
            EmailKind::EmailChangeNotice,
        ] {
            for language in ["en", "ru"] {
                let rendered = render(&OutgoingEmail { kind, language: language.into(), ..email(language) });
                assert!(!rendered.subject.is_empty() && !rendered.text.contains("{{"), "{kind:?} {language}");
                assert!(rendered.html.contains("a&lt;b&gt;@example.com"), "{kind:?} {language}");
            }
        }
    }
}
