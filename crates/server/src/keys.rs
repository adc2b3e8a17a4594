//! Signing keys from the settings: PEM files for asymmetric algorithms, `JWT_SECRET` for HS256,
//! or, in development, a generated HS256 key kept in a file readable by its owner only.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use auth_core::sessions::keys::{self, KeyRing};

use crate::config::Settings;

/// Loads the signing keys; without `JWT_SECRET`, development uses a generated key kept on disk.
pub fn load_keys(settings: &Settings, shortcuts: &mut Vec<String>) -> anyhow::Result<KeyRing> {
    let algorithm = keys::parse_algorithm(&settings.jwt_algorithm)?;
    if algorithm != jsonwebtoken::Algorithm::HS256 {
        let read = |path: &Path| fs::read(path).with_context(|| format!("could not read key file {}", path.display()));
        let retired =
            settings.jwt_retired_public_key_paths.iter().map(|path| read(path)).collect::<anyhow::Result<Vec<_>>>()?;
        return Ok(KeyRing::asymmetric(
            algorithm,
            &read(&settings.jwt_private_key_path)?,
            &read(&settings.jwt_public_key_path)?,
            &retired,
        )?);
    }
    if let Some(secret) = &settings.jwt_secret {
        return Ok(KeyRing::hs256(secret.expose().as_bytes())?);
    }
    let path = development_key_path(settings);
    shortcuts.push(format!("generated HS256 key in {}", path.display()));
    let secret = read_or_create_secret(&path)?;
    Ok(KeyRing::hs256(secret.as_bytes())?)
}

/// The ring that signs ID tokens, always asymmetric: the access-token keys when they are,
/// else `OIDC_SIGNING_KEY_PATH`, else (development) an RS256 key generated once beside the
/// database. `None` in production with none of these: instances would each generate their own
/// key, so the provider stays off.
pub fn load_id_token_keys(settings: &Settings, shortcuts: &mut Vec<String>) -> anyhow::Result<Option<KeyRing>> {
    if keys::parse_algorithm(&settings.jwt_algorithm)? != jsonwebtoken::Algorithm::HS256 {
        return load_keys(settings, &mut Vec::new()).map(Some);
    }
    let path = match &settings.oidc_signing_key_path {
        Some(path) => path.clone(),
        None if settings.is_production() => return Ok(None),
        None => {
            let path = development_path(settings, "oidc-key.pem");
            shortcuts.push(format!("generated OpenID signing key in {}", path.display()));
            if !path.exists() {
                create_key_once(&path)?;
            }
            path
        }
    };
    let pem = fs::read_to_string(&path).with_context(|| format!("could not read key file {}", path.display()))?;
    KeyRing::from_private_pem(&pem).map(Some).with_context(|| format!("OIDC_SIGNING_KEY_PATH {}", path.display()))
}

/// Writes a new RS256 key to `path` unless another process got there first: written beside it,
/// then linked into place, which fails if the name exists, so nobody reads half a key.
fn create_key_once(path: &Path) -> anyhow::Result<()> {
    let pair = keys::generate_key_pair(jsonwebtoken::Algorithm::RS256)?;
    let mut staging = path.as_os_str().to_owned();
    staging.push(format!(".{}.tmp", std::process::id()));
    let staging = PathBuf::from(staging);
    let _ = fs::remove_file(&staging);
    write_private_file(&staging, &pair.private_pem)?;
    let linked = fs::hard_link(&staging, path);
    let _ = fs::remove_file(&staging);
    match linked {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error).with_context(|| format!("could not create {}", path.display())),
    }
}

/// Beside the SQLite file, else in the working directory.
fn development_key_path(settings: &Settings) -> PathBuf {
    development_path(settings, "jwt-key")
}

fn development_path(settings: &Settings, suffix: &str) -> PathBuf {
    match settings.sqlite_path() {
        Some(database) => {
            let mut name = database.file_name().map(|name| name.to_os_string()).unwrap_or_default();
            name.push(".");
            name.push(suffix);
            database.with_file_name(name)
        }
        None => PathBuf::from(format!(".auth-service.{suffix}")),
    }
}

fn read_or_create_secret(path: &Path) -> anyhow::Result<String> {
    if let Ok(existing) = fs::read_to_string(path) {
        return Ok(existing.trim().to_owned());
    }
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("could not create {}", parent.display()))?;
    }
    let secret = keys::generate_hmac_secret();
    write_private_file(path, &secret)?;
    Ok(secret)
}

/// Writes a file readable by its owner only (0600), refusing to overwrite.
pub fn write_private_file(path: &Path, contents: &str) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("could not create {}", path.display()))?;
    file.write_all(contents.as_bytes()).with_context(|| format!("could not write {}", path.display()))?;
    Ok(())
}
