use std::process::ExitCode;

use auth_service::cli::{self, Cli};
use auth_service::{config, telemetry};
use clap::Parser;

fn main() -> ExitCode {
    // Before any thread exists: `.env` and the legacy variable names.
    config::prepare_environment();
    let cli = Cli::parse();
    telemetry::init(cli.settings.log_format.as_deref());
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("auth-service: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "auth-service stopped");
            eprintln!("auth-service: {error:#}");
            ExitCode::FAILURE
        }
    }
}
