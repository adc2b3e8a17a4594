//! The command line: `serve` (the default), `migrate`, `check-config`, `create-admin`,
//! `keys generate`, `clients create|list|delete|rotate-secret`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use auth_core::accounts::admin::AdminGrant;
use auth_core::accounts::check_password_rules;
use auth_core::clock::SystemClock;
use auth_core::sessions::keys;
use clap::{Parser, Subcommand};

use crate::config::Settings;
use crate::startup::Application;
use crate::wiring;

#[derive(Debug, Parser)]
#[command(name = "auth-service", version, about = "Authentication and authorization service")]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply the embedded database migrations and exit.
    Migrate,
    /// Load and check the configuration (keys, URLs) without serving.
    CheckConfig,
    /// Create an admin account (or, with --promote-existing, give an existing account the role).
    CreateAdmin {
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input (never from the command line).
        #[arg(long)]
        password_stdin: bool,
        /// Give the admin role to an account that already exists (anyone may have registered it);
        /// its own password stays, a given one is not set.
        #[arg(long)]
        promote_existing: bool,
    },
    /// Time password hashing with the configured algorithm and cost (used by bench/run.sh).
    #[command(hide = true)]
    HashBenchmark {
        #[arg(long, default_value_t = 8)]
        iterations: u32,
    },
    /// Signing-key management.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// OAuth clients of the OpenID provider (the admin API's `/admin/clients`).
    #[command(subcommand)]
    Clients(ClientsCommand),
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register a client; prints it as JSON, with the secret of a confidential client (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// `confidential` or `public`.
        #[arg(long = "type", default_value = "confidential")]
        kind: String,
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// `authorization_code`, `refresh_token`, `client_credentials` (repeat or comma-separate).
        #[arg(long = "grant-type", value_delimiter = ',', default_value = "authorization_code,refresh_token")]
        grant_types: Vec<String>,
        #[arg(long = "scope", value_delimiter = ',', default_value = "openid,profile,email")]
        scopes: Vec<String>,
        /// Skip the consent page (the team's own apps).
        #[arg(long)]
        first_party: bool,
        #[arg(long)]
        audience: Option<String>,
        /// An RFC 8707 resource indicator the client may ask tokens for (repeatable).
        #[arg(long = "resource")]
        resources: Vec<String>,
    },
    /// List the clients as JSON (never a secret).
    List,
    /// Delete a client and revoke every token issued to it.
    Delete { client_id: String },
    /// Print a new secret; the old one keeps working for `CLIENT_SECRET_OVERLAP`.
    RotateSecret { client_id: String },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a key pair (RS256, ES256, EdDSA) or an HS256 secret into a directory.
    Generate {
        /// RS256, ES256, EdDSA or HS256.
        #[arg(long, default_value = "RS256")]
        algorithm: String,
        /// Directory for `private.pem` and `public.pem` (or `jwt-secret`).
        #[arg(long, default_value = "certs")]
        out_dir: PathBuf,
    },
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut settings = cli.settings;
    settings.load_oidc_providers(|name| std::env::var(name).ok())?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let application = Application::build(settings).await?;
            application.run_until_stopped(shutdown_signal()).await
        }
        Command::Migrate => {
            let store = wiring::connect_store(&settings, &mut Vec::new())?;
            store.migrate().await.context("applying database migrations failed")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::CheckConfig => {
            let components = wiring::build(&settings, std::sync::Arc::new(SystemClock))?;
            for shortcut in &components.shortcuts {
                println!("development shortcut: {shortcut}");
            }
            println!("configuration is valid");
            Ok(())
        }
        Command::CreateAdmin { email, password_stdin, promote_existing } => {
            create_admin(&settings, &email, password_stdin, promote_existing).await
        }
        Command::Keys(KeysCommand::Generate { algorithm, out_dir }) => generate_keys(&algorithm, &out_dir),
        Command::Clients(command) => clients(&settings, command).await,
        Command::HashBenchmark { iterations } => {
            let components = wiring::build(&settings, std::sync::Arc::new(SystemClock))?;
            let hasher = components.accounts.hasher();
            let started = std::time::Instant::now();
            for _ in 0..iterations.max(1) {
                hasher.hash("benchmark password").await?;
            }
            println!("{:.6}", started.elapsed().as_secs_f64() / f64::from(iterations.max(1)));
            Ok(())
        }
    }
}

async fn create_admin(
    settings: &Settings,
    email: &str,
    password_stdin: bool,
    promote_existing: bool,
) -> anyhow::Result<()> {
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("could not read the password from standard input")?;
        let password = line.trim_end_matches(['\r', '\n']).to_owned();
        check_password_rules("password", &password)
            .map_err(|_| anyhow::anyhow!("the password must be 8 to 128 characters"))?;
        Some(password)
    } else {
        None
    };
    let components = wiring::build(settings, std::sync::Arc::new(SystemClock))?;
    if settings.auto_migrate {
        components.store.migrate().await.context("applying database migrations failed")?;
    }
    let password_hash = match &password {
        Some(password) => Some(components.accounts.hasher().hash(password).await?),
        None => None,
    };
    let user = match components.admin.ensure_admin(email, password_hash, promote_existing).await? {
        AdminGrant::Created(user) => {
            println!("created {} ({}) with the admin role", user.email, user.id);
            user
        }
        AdminGrant::Promoted { user, password_ignored } => {
            println!("{} ({}) already existed and now has the admin role", user.email, user.id);
            report_ignored_password(password_ignored);
            user
        }
        AdminGrant::AlreadyAdmin { user, password_ignored } => {
            println!("{} ({}) already has the admin role; nothing changed", user.email, user.id);
            report_ignored_password(password_ignored);
            user
        }
        AdminGrant::Refused { user, already_admin: true, .. } => bail!(
            "{} is already an admin; the given password was NOT set and nothing changed. Run without \
             --password-stdin, or pass --promote-existing to accept that the account keeps its own password",
            user.email
        ),
        AdminGrant::Refused { user, password_given, .. } => bail!(
            "{} belongs to an existing account that is not an admin (anyone may have registered it); nothing \
             changed. Check who owns it, then pass --promote-existing to give it the admin role{}",
            user.email,
            if password_given { " (the given password would NOT be set: the account keeps its own)" } else { "" }
        ),
    };
    if user.password_hash.is_none() {
        println!("the account has no password yet: set one with POST /auth/password/forgot");
    }
    Ok(())
}

async fn clients(settings: &Settings, command: ClientsCommand) -> anyhow::Result<()> {
    use crate::http::oidc::clients::{ClientResponse, client_kind, grant_types};
    let components = wiring::build(settings, std::sync::Arc::new(SystemClock))?;
    if settings.auto_migrate {
        components.store.migrate().await.context("applying database migrations failed")?;
    }
    let oidc = components.oidc.ok_or_else(|| {
        anyhow::anyhow!("the OpenID provider is off: set OIDC_SIGNING_KEY_PATH (or an asymmetric JWT_ALGORITHM)")
    })?;
    let printed = match command {
        ClientsCommand::Create {
            name,
            kind,
            redirect_uris,
            post_logout_redirect_uris,
            grant_types: grants,
            scopes,
            first_party,
            audience,
            resources,
        } => {
            let registered = oidc
                .register_client(auth_core::oidc::ClientRegistration {
                    name,
                    kind: client_kind(&kind).map_err(describe)?,
                    redirect_uris,
                    post_logout_redirect_uris,
                    grant_types: grant_types(&grants).map_err(describe)?,
                    scopes,
                    first_party,
                    audience,
                    resources,
                })
                .await
                .map_err(describe)?;
            let mut response = ClientResponse::from(registered.client);
            response.client_secret = registered.secret.map(|secret| secret.expose().to_owned());
            serde_json::to_string_pretty(&response)?
        }
        ClientsCommand::List => {
            let clients: Vec<ClientResponse> =
                oidc.clients().await.map_err(describe)?.into_iter().map(ClientResponse::from).collect();
            serde_json::to_string_pretty(&clients)?
        }
        ClientsCommand::Delete { client_id } => {
            oidc.delete_client(&client_id).await.map_err(describe)?;
            format!("deleted {client_id}; every token issued to it is revoked")
        }
        ClientsCommand::RotateSecret { client_id } => {
            let secret = oidc.rotate_client_secret(&client_id).await.map_err(describe)?;
            serde_json::to_string_pretty(
                &serde_json::json!({ "client_id": client_id, "client_secret": secret.expose() }),
            )?
        }
    };
    println!("{printed}");
    Ok(())
}

/// A domain refusal as an operator reads it: which field, and why.
fn describe(error: auth_core::DomainError) -> anyhow::Error {
    match error {
        auth_core::DomainError::Validation(fields) => anyhow::anyhow!(
            "{}",
            fields.iter().map(|field| format!("{}: {}", field.field, field.message)).collect::<Vec<_>>().join("; ")
        ),
        auth_core::DomainError::NotFound => anyhow::anyhow!("no such client"),
        other => anyhow::anyhow!("{other}"),
    }
}

fn report_ignored_password(password_ignored: bool) {
    if password_ignored {
        println!("the given password was NOT set: the account keeps its own password");
    }
}

fn generate_keys(algorithm: &str, out_dir: &std::path::Path) -> anyhow::Result<()> {
    let algorithm = keys::parse_algorithm(algorithm)?;
    std::fs::create_dir_all(out_dir).with_context(|| format!("could not create {}", out_dir.display()))?;
    if algorithm == jsonwebtoken::Algorithm::HS256 {
        let path = out_dir.join("jwt-secret");
        crate::keys::write_private_file(&path, &keys::generate_hmac_secret())?;
        println!("wrote {} (0600); set JWT_SECRET to its contents", path.display());
        return Ok(());
    }
    let private_path = out_dir.join("private.pem");
    let public_path = out_dir.join("public.pem");
    if private_path.exists() || public_path.exists() {
        bail!("{} already holds a key pair; move it aside first (see README, key rotation)", out_dir.display());
    }
    let pair = keys::generate_key_pair(algorithm)?;
    crate::keys::write_private_file(&private_path, &pair.private_pem)?;
    std::fs::write(&public_path, &pair.public_pem)
        .with_context(|| format!("could not write {}", public_path.display()))?;
    println!("wrote {} (0600) and {}", private_path.display(), public_path.display());
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
