//! The [`Reader`] every part of the configuration reads through: plain
//! variables, secrets (from `NAME` or the file `NAME_FILE`, placeholders
//! refused), numbers with bounds, and parsed values, with one list of
//! problems so that all of them are reported together.

use crate::base::secret::{ExposeSecret, SecretString};

/// Reads variables through a lookup function and collects the problems.
pub(super) struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    problems: Vec<String>,
}

impl<'a> Reader<'a> {
    /// A reader with no problems yet.
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Reader<'a> {
        Reader {
            lookup,
            problems: Vec::new(),
        }
    }

    /// Every problem found, or `Ok` when there is none.
    pub(super) fn finish(self) -> Result<(), Vec<String>> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(self.problems)
        }
    }

    /// Notes one problem.
    pub(super) fn problem(&mut self, problem: impl Into<String>) {
        self.problems.push(problem.into());
    }

    /// Notes several problems.
    pub(super) fn problems(&mut self, problems: impl IntoIterator<Item = String>) {
        self.problems.extend(problems);
    }

    /// True when `name` is set to nothing but whitespace (which
    /// [`Reader::var`] takes for unset).
    pub(super) fn is_set_but_empty(&self, name: &str) -> bool {
        (self.lookup)(name).is_some_and(|v| v.trim().is_empty())
    }

    /// A plain variable; empty counts as unset.
    pub(super) fn var(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    /// A plain variable, trimmed, or `default` when unset.
    pub(super) fn text(&self, name: &str, default: &str) -> String {
        self.var(name)
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| default.to_string())
    }

    /// A secret, from `NAME` or the file named by `NAME_FILE`; a
    /// placeholder (see [`is_placeholder`]) is a problem, never a secret.
    pub(super) fn secret(&mut self, name: &str) -> Option<SecretString> {
        let value = self.raw_secret(name)?;
        if is_placeholder(value.expose_secret()) {
            let source = self.secret_source(name);
            self.problem(format!(
                "{source} holds a placeholder, not a secret: run `soloauth gen-secrets` \
                 and use the value it prints"
            ));
            return None;
        }
        Some(value)
    }

    /// The variable a secret came from: `NAME_FILE` when that is set, else `NAME`.
    pub(super) fn secret_source(&self, name: &str) -> String {
        let file_var = format!("{name}_FILE");
        match self.var(&file_var) {
            Some(_) => file_var,
            None => name.to_string(),
        }
    }

    /// A secret as given, from `NAME` or the file named by `NAME_FILE`.
    fn raw_secret(&mut self, name: &str) -> Option<SecretString> {
        let file_var = format!("{name}_FILE");
        match (self.var(name), self.var(&file_var)) {
            (Some(_), Some(_)) => {
                self.problem(format!("set {name} or {file_var}, not both"));
                None
            }
            (Some(v), None) => Some(SecretString::from(v.trim().to_string())),
            (None, Some(path)) => match std::fs::read_to_string(path.trim()) {
                Ok(v) if !v.trim().is_empty() => Some(SecretString::from(v.trim().to_string())),
                Ok(_) => {
                    self.problem(format!("{file_var}: the file is empty"));
                    None
                }
                Err(e) => {
                    self.problem(format!("{file_var}: cannot read {}: {e}", path.trim()));
                    None
                }
            },
            (None, None) => None,
        }
    }

    /// A value parsed with [`std::str::FromStr`], or `default` when unset;
    /// one that does not parse is a problem saying it is not `what`.
    pub(super) fn parse<T: std::str::FromStr>(&mut self, name: &str, default: T, what: &str) -> T {
        match self.var(name) {
            None => default,
            Some(v) => v.trim().parse().unwrap_or_else(|_| {
                self.problem(format!("{name}={v:?} is not {what}"));
                default
            }),
        }
    }

    /// A whole number of at least `min`.
    pub(super) fn number(&mut self, name: &str, default: u32, min: u32) -> u32 {
        let n = self.parse(name, default, "a whole number");
        if n < min {
            self.problem(format!("{name} must be at least {min}"));
            return default;
        }
        n
    }

    /// A whole number from `min` to `max`.
    pub(super) fn ranged(&mut self, name: &str, default: u32, min: u32, max: u32) -> u32 {
        let n = self.number(name, default, min);
        if n > max {
            self.problem(format!("{name} must be at most {max}"));
            return default;
        }
        n
    }
}

/// True for a value copied from an example rather than generated: one
/// starting with `change-me` or `changeme` (any case, as the
/// `.env.example` secrets do), or ending in `$...` (its password hash).
/// Each part of a comma-separated list counts.
pub fn is_placeholder(value: &str) -> bool {
    value.split(',').map(str::trim).any(|part| {
        let lower = part.to_ascii_lowercase();
        lower.starts_with("change-me")
            || lower.starts_with("changeme")
            || lower.ends_with("$...")
            || lower.ends_with("$\u{2026}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::config::load;

    #[test]
    fn placeholders_are_recognised() {
        for placeholder in [
            "change-me",
            "CHANGE-ME-please",
            "changeme",
            "ChangeMe123",
            "change-me-to-48-random-bytes-from-gen-secrets",
            "change-me-to-a-fernet-key-from-gen-secrets",
            "$argon2id$v=19$m=19456,t=2,p=1$...",
            "real-key, change-me",
        ] {
            assert!(is_placeholder(placeholder), "{placeholder}");
        }
        for real in [
            "x".repeat(48),
            "please-change-me".into(),
            "$argon2id$v=19$abc".into(),
        ] {
            assert!(!is_placeholder(&real), "{real}");
        }
    }

    #[test]
    fn the_env_example_placeholders_are_refused_naming_the_variable() {
        let example = [
            ("AUTH_ENV", "production"),
            (
                "AUTH_ADMIN_PASSWORD_HASH",
                "$argon2id$v=19$m=19456,t=2,p=1$...",
            ),
            (
                "AUTH_JWT_SECRET",
                "change-me-to-48-random-bytes-from-gen-secrets",
            ),
            (
                "AUTH_ENCRYPTION_KEY",
                "change-me-to-a-fernet-key-from-gen-secrets",
            ),
            ("AUTH_METRICS_TOKEN", "ChangeMe"),
            (
                "AUTH_OIDC_CLIENT_GRAFANA_SECRET",
                "change-me-to-a-long-random-client-secret",
            ),
        ];
        let problems = load(&crate::base::config::grafana(&example)).unwrap_err();
        let expected: Vec<String> = [
            "AUTH_ADMIN_PASSWORD_HASH",
            "AUTH_JWT_SECRET",
            "AUTH_ENCRYPTION_KEY",
            "AUTH_METRICS_TOKEN",
            "AUTH_OIDC_CLIENT_GRAFANA_SECRET",
        ]
        .iter()
        .map(|name| {
            format!(
                "{name} holds a placeholder, not a secret: run `soloauth gen-secrets` and use \
                 the value it prints"
            )
        })
        .collect();
        assert_eq!(problems, expected, "one problem each, no other");
        for (_, value) in &example[1..] {
            assert!(!problems.join(" ").contains(value), "{value} echoed");
        }
        // Outside production too: a placeholder is never a secret anyone means.
        let problems = load(&example[2..3]).unwrap_err();
        assert_eq!(problems, expected[1..2]);
        // From a file, the problem names the file's variable.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt");
        std::fs::write(&path, "CHANGEME\n").unwrap();
        let problems = load(&[("AUTH_JWT_SECRET_FILE", path.to_str().unwrap())]).unwrap_err();
        assert!(
            problems[0].starts_with("AUTH_JWT_SECRET_FILE holds a placeholder"),
            "{problems:?}"
        );
    }

    #[test]
    fn secret_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt");
        std::fs::write(&path, "x".repeat(40) + "\n").unwrap();
        let c = load(&[("AUTH_JWT_SECRET_FILE", path.to_str().unwrap())]).unwrap();
        assert_eq!(c.jwt_secret.unwrap().expose_secret(), "x".repeat(40));
        let problems = load(&[
            ("AUTH_JWT_SECRET_FILE", "/nonexistent/file"),
            ("AUTH_ENCRYPTION_KEY", &fernet::Fernet::generate_key()),
        ])
        .unwrap_err();
        assert_eq!(problems.len(), 1);
    }
}
