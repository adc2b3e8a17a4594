//! Logging set-up: JSON lines in production, readable text on a terminal.

use std::fmt::{self, Write as _};
use std::io::IsTerminal;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::{FmtSpan, Writer};

/// Installs the global subscriber. `RUST_LOG` overrides the default filter.
pub fn init(format: Option<&str>) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=warn,hyper=warn"));
    let json = match format {
        Some(format) => format.eq_ignore_ascii_case("json"),
        None => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_span_events(FmtSpan::NONE);
    if json {
        // The JSON encoder escapes control characters itself.
        builder.json().flatten_event(true).with_current_span(false).with_span_list(true).init();
    } else {
        builder.fmt_fields(EscapedFields).init();
    }
}

/// The text format's fields (of events and spans) with control characters escaped. Field values
/// come from outside (a provider's `error` parameter, a path, an email), and a raw newline, CR
/// or terminal escape in them would let a client write a line of its own into the log.
pub struct EscapedFields;

impl<'writer> FormatFields<'writer> for EscapedFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = EscapingVisitor { writer: &mut writer, result: Ok(()), first: true };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct EscapingVisitor<'a, 'writer> {
    writer: &'a mut Writer<'writer>,
    result: fmt::Result,
    first: bool,
}

impl Visit for EscapingVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        // As the default formatter: the message as text, other strings quoted.
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // Fields the `log` bridge adds; the default formatter leaves them out too.
        if self.result.is_err() || field.name().starts_with("log.") {
            return;
        }
        self.result = (|| {
            if !self.first {
                self.writer.write_char(' ')?;
            }
            self.first = false;
            if field.name() != "message" {
                write!(self.writer, "{}=", field.name().trim_start_matches("r#"))?;
            }
            write!(Escaping(&mut *self.writer), "{value:?}")
        })();
    }
}

/// Writes through, with every control character (C0, DEL, C1) and the Unicode line and
/// paragraph separators replaced by an escape, so one record stays one line.
struct Escaping<'a, W: fmt::Write>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for character in text.chars() {
            match character {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                character if character.is_control() || matches!(character, '\u{2028}' | '\u{2029}') => {
                    write!(self.0, "\\u{{{:x}}}", u32::from(character))?;
                }
                character => self.0.write_char(character)?,
            }
        }
        Ok(())
    }
}

/// The process-wide Prometheus recorder (metrics macros are global by design).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new();
            let builder = builder
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5])
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[test]
    fn field_values_with_control_characters_stay_on_one_escaped_line() {
        let captured = Captured::default();
        let subscriber =
            tracing_subscriber::fmt().with_writer(captured.clone()).with_ansi(false).fmt_fields(EscapedFields).finish();
        let hostile = "x\nfake line\r\x1b[31mred\u{85}\u{2028}end";

        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", path = %hostile);
            let _entered = span.enter();
            tracing::info!(error = %hostile, quoted = hostile, "refused: {hostile}");
        });

        let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert_eq!(output.lines().count(), 1, "{output}");
        assert!(!output.contains('\x1b') && !output.contains('\r') && !output.contains('\u{2028}'), "{output}");
        assert!(output.contains(r"error=x\nfake line\r\u{1b}[31mred\u{85}\u{2028}end"), "{output}");
        assert!(output.contains(r"refused: x\nfake line"), "{output}");
        assert!(output.contains(r"path=x\nfake line"), "the span's fields too: {output}");
    }
}
