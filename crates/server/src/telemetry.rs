//! Logging set-up: JSON lines in production, readable text on a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

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
        builder.json().flatten_event(true).with_current_span(false).with_span_list(true).init();
    } else {
        builder.init();
    }
}
