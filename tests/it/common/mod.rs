//! Test harness: boot the real app in-process on 127.0.0.1:0 with a manual
//! clock ([`Server`]), or the real binary as a child process ([`Process`]).
//! Both are an [`Api`] (they deref to one), so the same HTTP and TOTP helpers
//! serve either.

mod api;
pub mod authenticator;
mod binary;
mod jar;
mod mfa;
pub mod receiver;
mod server;

use std::sync::OnceLock;

pub use api::{authorize, client, event_kinds, series, verify, Api, Reply, Tokens};
pub use binary::{binary, data_dir, known, release_binary, serve, start_binary, succeed, Process};
pub use jar::Jar;
pub use mfa::{
    begin, code, code_step, confirm, disable, enroll, one_step_login, password_step,
    recovery_codes, regenerate, setup, sign_in_and_enroll, try_confirm, wrong_code,
};
pub use server::{behind_proxy, Server};

pub const PASSWORD: &str = "correct horse battery staple";
/// Where the manual clock starts (2027-01-15).
pub const START: i64 = 1_800_000_000;

/// The argon2id hash of [`PASSWORD`], computed once per test process.
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| soloauth::auth::password::hash_password(PASSWORD.as_bytes()).unwrap())
}
