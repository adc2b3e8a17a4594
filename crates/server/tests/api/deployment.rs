//! The deployment files cannot be run here (no container engine), so this checks what can be:
//! every variable they set is one the binary reads, and every command they run exists.

use std::collections::BTreeSet;
use std::path::Path;

use auth_service::cli::Cli;
use clap::CommandFactory;

fn repository() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn known_variables() -> BTreeSet<String> {
    let mut known: BTreeSet<String> = Cli::command()
        .get_arguments()
        .filter_map(|argument| argument.get_env().map(|name| name.to_string_lossy().into_owned()))
        .collect();
    known.extend(auth_service::config::ENV_ALIASES.iter().map(|(alias, _)| (*alias).to_owned()));
    known.extend(
        ["POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_DB", "POSTGRES_USER", "POSTGRES_PASSWORD", "RUST_LOG"]
            .map(String::from),
    );
    known
}

fn is_variable(name: &str) -> bool {
    name.len() > 2
        && name
            .chars()
            .all(|character| character.is_ascii_uppercase() || character.is_ascii_digit() || character == '_')
}

/// Variables a file sets, by its kind.
fn variables_in(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repository().join(path)).unwrap();
    let mut found = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('#') {
            continue;
        }
        if path.ends_with(".env.example") {
            found.extend(line.split_once('=').map(|(name, _)| name.to_owned()));
        } else if let Some(rest) = line.strip_prefix("ENV ") {
            found.extend(
                rest.split_whitespace().filter_map(|pair| pair.split_once('=').map(|(name, _)| name.to_owned())),
            );
        } else if path.ends_with(".yaml") {
            // `- { name: X, value: ... }` and `- name: X` followed by valueFrom.
            if let Some(after) = line.split("name: ").nth(1) {
                let name: String =
                    after.chars().take_while(|character| !matches!(character, ',' | ' ' | '}')).collect();
                if is_variable(&name) {
                    found.push(name);
                }
            }
        } else if let Some((name, _)) = line.split_once(':')
            && is_variable(name)
        {
            found.push(name.to_owned());
        }
    }
    found
}

#[test]
fn every_variable_the_deployment_files_set_is_a_real_setting() {
    let known = known_variables();
    for file in ["Dockerfile", ".env.example", "docker-compose.yml", "deploy/k8s/auth-service.yaml"] {
        let variables = variables_in(file);
        assert!(!variables.is_empty(), "{file} sets variables");
        for variable in variables {
            assert!(known.contains(&variable), "{file} sets {variable}, which auth-service does not read");
        }
    }
}

#[test]
fn the_commands_the_deployment_files_run_exist() {
    let subcommands: BTreeSet<String> =
        Cli::command().get_subcommands().map(|command| command.get_name().to_owned()).collect();
    for command in ["serve", "migrate", "create-admin", "keys"] {
        assert!(subcommands.contains(command), "{command}");
    }
    let manifest = std::fs::read_to_string(repository().join("deploy/k8s/auth-service.yaml")).unwrap();
    assert!(manifest.contains(r#"args: ["migrate"]"#) && manifest.contains(r#"args: ["serve"]"#));
    assert!(manifest.contains("/health/ready") && manifest.contains("/health/live"));
}
