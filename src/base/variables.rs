//! Every environment variable soloauth reads, in one table ([`VARIABLES`]):
//! its name, its default as the owner sees it, whether it is a secret (and
//! so may come from `NAME_FILE` instead), and one line of documentation.
//!
//! The configuration reader takes its list of known names from here (an
//! unknown `AUTH_*` name draws a warning), and `docs/configuration.md` is
//! this table rendered by [`markdown`] (`soloauth config-docs`); a test
//! keeps the file and the table equal, another that the reader reads
//! nothing the table lacks.

/// One environment variable (or, with `<NAME>` in it, one per app).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    pub name: &'static str,
    /// The default as shown to the owner (markdown): `` `24` ``, "empty"…
    pub default: &'static str,
    /// A secret: never echoed, and may be read from the file `NAME_FILE`.
    pub secret: bool,
    /// A secret `AUTH_ENV=production` requires (it generates none).
    pub required_in_production: bool,
    /// What it does, in one line of markdown.
    pub doc: &'static str,
}

impl Variable {
    /// True for the per-app pattern variables, `AUTH_OIDC_CLIENT_<NAME>_…`.
    pub fn is_pattern(&self) -> bool {
        self.name.contains("<NAME>")
    }
}

/// A plain variable.
const fn plain(name: &'static str, default: &'static str, doc: &'static str) -> Variable {
    Variable {
        name,
        default,
        secret: false,
        required_in_production: false,
        doc,
    }
}

/// A secret, optional everywhere.
const fn secret(name: &'static str, default: &'static str, doc: &'static str) -> Variable {
    Variable {
        secret: true,
        ..plain(name, default, doc)
    }
}

/// A secret production requires and other runs generate when missing.
const fn required(name: &'static str, doc: &'static str) -> Variable {
    Variable {
        required_in_production: true,
        ..secret(name, "generated (not in production)", doc)
    }
}

/// Every variable, in the order the documentation lists them. Add new ones
/// at the end: the fuzz target for the configuration
/// (`fuzz/fuzz_targets/config.rs`, and its seeds) reads its input in this
/// order.
pub const VARIABLES: &[Variable] = &[
    plain(
        "AUTH_ENV",
        "`development`",
        "`production` refuses to start until the three secrets it needs (hash, JWT secret, \
         encryption key) are given; it lists every missing one",
    ),
    plain(
        "AUTH_ADMIN_USERNAME",
        "`admin`",
        "the one account's username: at most 128 printable characters, without `:`",
    ),
    required(
        "AUTH_ADMIN_PASSWORD_HASH",
        "argon2id PHC string from `soloauth hash-password` (or `soloauth gen-secrets`); when \
         generated, the random password is printed to the log once",
    ),
    required("AUTH_JWT_SECRET", "signs access tokens; at least 32 bytes"),
    secret(
        "AUTH_JWT_PREVIOUS_SECRETS",
        "empty",
        "comma-separated, each at least 32 bytes; used only to verify tokens",
    ),
    required(
        "AUTH_ENCRYPTION_KEY",
        "Fernet key(s), comma-separated: the first encrypts, all decrypt",
    ),
    secret(
        "AUTH_TOTP_SECRET",
        "empty",
        "base32; when set, TOTP is always on and can't be changed through the API",
    ),
    plain(
        "AUTH_DATA_DIR",
        "`./data`",
        "the sled database, generated secrets and snapshots",
    ),
    plain("AUTH_BIND", "`0.0.0.0:8001`", "listen address"),
    plain(
        "AUTH_PUBLIC_URL",
        "`http://localhost:8001`",
        "where the login page is reachable; sets the CSRF origin, redirects, HSTS, the cookie \
         default and the OpenID Connect issuer",
    ),
    plain(
        "AUTH_COOKIE_DOMAIN",
        "empty",
        "e.g. `example.com`, for single sign-on across subdomains (the session cookie only); \
         must be the public host or a parent of it, and not a public suffix (`com`, \
         `home.arpa`, `github.io`: the Public Suffix List)",
    ),
    plain(
        "AUTH_COOKIE_SECURE",
        "`true`, or `false` for an `http://` public URL",
        "the cookies' `Secure` flag",
    ),
    plain(
        "AUTH_ACCESS_TTL_SECONDS",
        "`1800`",
        "access token lifetime; at least 10",
    ),
    plain(
        "AUTH_REFRESH_TTL_SECONDS",
        "`604800`",
        "idle limit of a session (and its refresh token's lifetime), renewed by every \
         authenticated request; at least 60 and not shorter than `AUTH_ACCESS_TTL_SECONDS`",
    ),
    plain(
        "AUTH_MAX_FAILED_ATTEMPTS",
        "`5`",
        "failures in a row before one address is locked",
    ),
    plain("AUTH_LOCKOUT_MINUTES", "`15`", "lockout length"),
    plain(
        "AUTH_RATE_PER_MINUTE",
        "`10`",
        "per-address refill rate on login and refresh",
    ),
    plain(
        "AUTH_RATE_BURST",
        "`5`",
        "per-address burst on login and refresh",
    ),
    plain(
        "AUTH_ACCOUNT_MAX_FAILURES",
        "`100`",
        "failures in a row, from anywhere, before the account is locked for all",
    ),
    plain(
        "AUTH_TOTP_ISSUER",
        "`soloauth`",
        "the name authenticator apps show; without `:`",
    ),
    plain(
        "AUTH_TRUSTED_PROXIES",
        "empty",
        "comma-separated IPs or CIDRs whose forwarded headers are believed",
    ),
    plain(
        "AUTH_LOG_FORMAT",
        "`pretty`",
        "or `json`, one object per line",
    ),
    plain(
        "AUTH_REAUTH_SECONDS",
        "`600`",
        "how recent a sign-in must be for TOTP setup or adding a passkey without the password",
    ),
    plain(
        "AUTH_REFRESH_GRACE_SECONDS",
        "`10`",
        "how long a just-rotated refresh token gets `invalid_token` instead of `token_reused`",
    ),
    plain(
        "AUTH_IDLE_TIMEOUT_SECONDS",
        "`60`",
        "idle keep-alive connections close after this",
    ),
    secret(
        "AUTH_METRICS_TOKEN",
        "empty",
        "when set, `/metrics` requires it as a Bearer token",
    ),
    plain(
        "AUTH_SESSION_MAX_DAYS",
        "`30`",
        "absolute limit of a session after its login",
    ),
    plain(
        "AUTH_RULES",
        "empty",
        "access rules for forward auth (see Access rules in [API.md](API.md#access-rules))",
    ),
    plain(
        "AUTH_DEFAULT_POLICY",
        "`one_factor`",
        "the policy where no rule matches: `one_factor`, `two_factor`, `passkey` or `deny`",
    ),
    plain(
        "AUTH_WEBAUTHN_RP_ID",
        "the host of `AUTH_PUBLIC_URL`",
        "the domain passkeys are bound to: that host or a parent domain of it, never an IP \
         address. Unset with a public URL on an IP address: passkeys are off",
    ),
    plain(
        "AUTH_ADMIN_NAME",
        "the username",
        "the `name` claim apps receive",
    ),
    plain(
        "AUTH_ADMIN_EMAIL",
        "empty",
        "the `email` claim (left out when empty; Immich and others refuse a profile without \
         one, and `soloauth check` warns when apps are configured without it)",
    ),
    plain(
        "AUTH_ADMIN_GROUPS",
        "`admin`",
        "the `groups` claim, comma-separated",
    ),
    secret(
        "AUTH_OIDC_PRIVATE_KEY",
        "generated",
        "a PEM RSA key to sign ID tokens with (else one is generated and kept, encrypted, in \
         the database)",
    ),
    plain(
        "AUTH_OIDC_CLIENT_<NAME>_ID",
        "—",
        "an app of the OpenID Connect provider, one set of `AUTH_OIDC_CLIENT_<NAME>_…` \
         variables each: its client id, which no other app may share",
    ),
    secret(
        "AUTH_OIDC_CLIENT_<NAME>_SECRET",
        "none: a public client (PKCE)",
        "the app's client secret, at least 32 characters (`soloauth gen-secrets` prints one); \
         set but empty is refused",
    ),
    plain(
        "AUTH_OIDC_CLIENT_<NAME>_REDIRECT_URIS",
        "—",
        "where the app receives its code: absolute URIs separated by commas or spaces, matched \
         exactly (a loopback `http://127.0.0.1` or `http://[::1]` one on any port)",
    ),
    plain(
        "AUTH_OIDC_CLIENT_<NAME>_LOGOUT_URIS",
        "empty",
        "where the app may send the browser after signing out, separated by commas or spaces",
    ),
    plain(
        "AUTH_OIDC_CLIENT_<NAME>_POLICY",
        "`one_factor`",
        "how strong a sign-in the app requires: `one_factor`, `two_factor` or `passkey`; a \
         session that falls short is sent to sign in again with what is needed, then back",
    ),
    plain(
        "AUTH_OIDC_CORS_ORIGINS",
        "empty",
        "origins (`https://app.example.com`) of browser apps that may call discovery, JWKS, \
         token, userinfo and revocation from their pages, besides the origins of public \
         clients' redirect URIs, which always may; separated by commas or spaces",
    ),
    secret(
        "AUTH_NOTIFY_URL",
        "empty",
        "where sign-in alerts are POSTed, an absolute `http://` or `https://` URL; empty: no \
         alerts (see Sign-in alerts in [API.md](API.md#sign-in-alerts))",
    ),
    plain(
        "AUTH_NOTIFY_FORMAT",
        "`json`",
        "the alerts' shape: `json`, `ntfy`, `gotify`, `discord` or `slack`",
    ),
    plain(
        "AUTH_NOTIFY_EVENTS",
        "`login_success,lockout,refresh_reuse,recovery_code_used,totp_disabled,passkey_added,\
         token_created,keys_rotated,password_login_changed`",
        "the event kinds to alert about, comma-separated, or `all`",
    ),
    plain(
        "AUTH_BACKUP_INTERVAL_HOURS",
        "`24`",
        "hours between snapshots of the data directory (the first at start), 0 to 8760; `0`: \
         none (see Snapshots in [API.md](API.md#snapshots))",
    ),
    plain(
        "AUTH_BACKUP_KEEP",
        "`7`",
        "how many snapshots are kept in `DATA/backups/`, the newest, 1 to 1000",
    ),
    plain(
        "AUTH_PASSWORD_LOGIN",
        "`on`",
        "`off`: only a passkey signs in; every password step is refused (`password_login_off`), \
         except the password with a recovery code, the way back when every passkey is lost. \
         Start-up fails while no passkey is registered",
    ),
];

/// The table's entry for `name` (a pattern entry matches any app's variable).
pub fn find(name: &str) -> Option<&'static Variable> {
    VARIABLES
        .iter()
        .find(|v| match v.name.split_once("<NAME>") {
            Some((prefix, suffix)) => name
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(suffix))
                .is_some_and(|app| !app.is_empty()),
            None => v.name == name,
        })
}

/// The names of the variables that are not per-app patterns, in table order.
pub fn known_vars() -> impl Iterator<Item = &'static str> {
    VARIABLES.iter().filter(|v| !v.is_pattern()).map(|v| v.name)
}

/// Whether soloauth reads `name`: a variable of the table, or `NAME_FILE`
/// for a secret one.
pub fn is_known(name: &str) -> bool {
    find(name).is_some()
        || name
            .strip_suffix("_FILE")
            .and_then(find)
            .is_some_and(|v| v.secret)
}

/// The secrets `AUTH_ENV=production` requires.
pub fn required_in_production() -> impl Iterator<Item = &'static str> {
    VARIABLES
        .iter()
        .filter(|v| v.required_in_production)
        .map(|v| v.name)
}

/// What `docs/configuration.md` says before the table.
const INTRO: &str = "\
# Configuration

<!-- Generated from src/base/variables.rs: do not edit. Run
     `cargo run -q -- config-docs > docs/configuration.md` after changing the table. -->

All settings are environment variables; unknown `AUTH_*` names draw a warning, and
every problem is reported at once, at start-up and by `soloauth check`.

- **First run.** Outside production, a missing JWT secret, encryption key or password
  hash is generated once and kept in `AUTH_DATA_DIR` (a generated admin password is
  printed to the log once; only its hash is kept).
- **Secrets from files.** A *secret* may instead be read from the file named by
  `NAME_FILE`, e.g. `AUTH_JWT_SECRET_FILE=/run/secrets/jwt` (setting both is an error).
- **Production.** `AUTH_ENV=production` generates nothing: it requires
  `AUTH_ADMIN_PASSWORD_HASH`, `AUTH_JWT_SECRET` and `AUTH_ENCRYPTION_KEY`
  (`soloauth gen-secrets` prints all three). A placeholder copied from an example
  (`change-me…`, a hash ending in `$...`) is refused everywhere.
- **Apps.** Each app that signs in with soloauth (OpenID Connect) has its own set of
  `AUTH_OIDC_CLIENT_<NAME>_…` variables, `<NAME>` a name you choose (`IMMICH`, `GRAFANA`).

| variable | default | meaning |
|---|---|---|
";

/// One row of the table.
fn row(v: &Variable) -> String {
    let secret = if v.secret { " *(secret)*" } else { "" };
    format!("| `{}`{secret} | {} | {} |\n", v.name, v.default, v.doc)
}

/// `docs/configuration.md`: the introduction, then the table.
pub fn markdown() -> String {
    let rows: String = VARIABLES.iter().map(row).collect();
    format!("{INTRO}{rows}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");

    #[test]
    fn config_docs_are_the_table() {
        let expected = markdown();
        if std::env::var_os("SOLOAUTH_WRITE_DOCS").is_some() {
            std::fs::write(DOCS, &expected).unwrap();
        }
        let written = std::fs::read_to_string(DOCS).unwrap_or_default();
        assert!(
            written == expected,
            "docs/configuration.md is not the variable table of src/base/variables.rs; \
             regenerate it: cargo run -q -- config-docs > docs/configuration.md \
             (or SOLOAUTH_WRITE_DOCS=1 cargo test --lib config_docs)"
        );
    }

    #[test]
    fn every_entry_is_one_table_cell_each() {
        for v in VARIABLES {
            for cell in [v.name, v.default, v.doc] {
                assert!(!cell.is_empty(), "{}", v.name);
                assert!(!cell.contains(['|', '\n']), "{}: {cell}", v.name);
            }
            assert!(v.name.starts_with("AUTH_"), "{}", v.name);
            assert!(!v.required_in_production || v.secret, "{}", v.name);
        }
        let mut names: Vec<&str> = VARIABLES.iter().map(|v| v.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), VARIABLES.len(), "a name is listed twice");
    }

    #[test]
    fn the_bounds_the_table_shows_are_the_readers() {
        use crate::base::config::{MAX_BACKUP_INTERVAL_HOURS, MAX_BACKUP_KEEP, MIN_JWT_SECRET_LEN};
        use crate::base::oidc_config::MIN_CLIENT_SECRET_LEN;
        let doc = |name: &str| find(name).map(|v| v.doc).unwrap_or_default();
        for (name, bound) in [
            (
                "AUTH_BACKUP_INTERVAL_HOURS",
                format!("0 to {MAX_BACKUP_INTERVAL_HOURS}"),
            ),
            ("AUTH_BACKUP_KEEP", format!("1 to {MAX_BACKUP_KEEP}")),
            (
                "AUTH_JWT_SECRET",
                format!("at least {MIN_JWT_SECRET_LEN} bytes"),
            ),
            (
                "AUTH_OIDC_CLIENT_X_SECRET",
                format!("at least {MIN_CLIENT_SECRET_LEN} characters"),
            ),
        ] {
            assert!(doc(name).contains(&bound), "{name}: {bound}");
        }
    }

    #[test]
    fn the_app_patterns_are_the_client_variables() {
        use crate::base::oidc_config::{CLIENT_PREFIX, CLIENT_SUFFIXES};
        let patterns: Vec<String> = VARIABLES
            .iter()
            .filter(|v| v.is_pattern())
            .map(|v| v.name.to_string())
            .collect();
        let expected: Vec<String> = CLIENT_SUFFIXES
            .iter()
            .map(|s| format!("{CLIENT_PREFIX}<NAME>{s}"))
            .collect();
        assert_eq!(patterns, expected);
    }

    #[test]
    fn names_are_known_with_their_files_for_secrets_only() {
        assert!(is_known("AUTH_BIND"));
        assert!(!is_known("AUTH_BIND_FILE"));
        assert!(is_known("AUTH_JWT_SECRET_FILE"));
        assert!(is_known("AUTH_OIDC_CLIENT_IMMICH_REDIRECT_URIS"));
        assert!(is_known("AUTH_OIDC_CLIENT_IMMICH_SECRET_FILE"));
        assert!(!is_known("AUTH_OIDC_CLIENT_IMMICH_ID_FILE"));
        assert!(!is_known("AUTH_OIDC_CLIENT__ID"));
        assert!(!is_known("AUTH_BINDD"));
        assert!(!known_vars().any(|n| n.contains('<')));
        assert_eq!(
            required_in_production().collect::<Vec<_>>(),
            [
                "AUTH_ADMIN_PASSWORD_HASH",
                "AUTH_JWT_SECRET",
                "AUTH_ENCRYPTION_KEY"
            ]
        );
    }
}
