//! Integration tests: the real server on 127.0.0.1:0 with a temp data dir,
//! spoken to over HTTP. In-process servers get a manual clock; the `process`
//! tests run the real binary (first run, kill -9, signals, logs, CLI), as
//! do the `backups` tests (snapshots while running, backup, restore).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod abuse;
mod alerts;
mod api_tokens;
mod backups;
mod boundaries;
mod common;
mod cors;
mod crash;
mod fixtures;
mod hardening;
mod hygiene;
mod login;
mod oidc;
mod oidc_policy;
mod passkeys;
mod passwordless;
mod process;
mod refresh;
mod rules;
mod sessions;
mod tokens;
mod totp;
mod unreadable;
mod verify;
