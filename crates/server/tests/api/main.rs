//! HTTP-level tests: every test starts its own instance on its own database, on both backends
//! (SQLite + in-process cache, and PostgreSQL + Redis).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fakes;
mod helpers;
mod smtp;

mod accounts;
mod admin;
mod assurance;
mod audit;
mod browser;
mod cluster;
mod compatibility;
mod deployment;
mod email;
mod email_change;
mod events;
mod gateway;
mod keys;
mod meta;
mod mfa;
mod oauth;
mod oauth_apple;
mod oauth_generic;
mod oauth_github;
mod oauth_telegram;
mod oauth_yandex;
mod oidc;
mod oidc_clients;
mod oidc_resources;
mod outages;
mod overload;
mod pages;
mod passkeys;
mod process;
mod scale_out;
mod security;
mod sessions;
mod validation;
