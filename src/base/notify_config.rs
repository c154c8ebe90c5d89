//! What sign-in alerts read from the environment: where to POST them
//! (`AUTH_NOTIFY_URL`, a secret: ntfy topics and Discord webhooks are
//! bearer URLs), in which shape (`AUTH_NOTIFY_FORMAT`) and about which
//! events (`AUTH_NOTIFY_EVENTS`). How hard delivery tries is fixed
//! ([`Delivery::STANDARD`]); tests shorten it.

use std::time::Duration;

use crate::auth::events::AUDITED;
use crate::base::secret::{ExposeSecret, SecretString};

/// The events alerted about when `AUTH_NOTIFY_EVENTS` is not set.
pub const DEFAULT_EVENTS: [&str; 9] = [
    "login_success",
    "lockout",
    "refresh_reuse",
    "recovery_code_used",
    "totp_disabled",
    "passkey_added",
    "token_created",
    "keys_rotated",
    "password_login_changed",
];

/// The body an alert is sent as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The event object as JSON.
    Json,
    /// Text, with `Title`, `Priority` and `Tags` headers.
    Ntfy,
    /// `{"title","message","priority"}`.
    Gotify,
    /// `{"content"}`.
    Discord,
    /// `{"text"}`.
    Slack,
}

impl Format {
    const ALL: [Format; 5] = [
        Format::Json,
        Format::Ntfy,
        Format::Gotify,
        Format::Discord,
        Format::Slack,
    ];

    /// The name `AUTH_NOTIFY_FORMAT` gives it.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Ntfy => "ntfy",
            Format::Gotify => "gotify",
            Format::Discord => "discord",
            Format::Slack => "slack",
        }
    }

    fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

/// How hard one alert is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The limit on one attempt, connection to answer.
    pub timeout: Duration,
    /// The waits before the second and the third attempt.
    pub backoff: [Duration; 2],
}

impl Delivery {
    /// 5 s per attempt, three attempts 1 s and 4 s apart.
    pub const STANDARD: Delivery = Delivery {
        timeout: Duration::from_secs(5),
        backoff: [Duration::from_secs(1), Duration::from_secs(4)],
    };
}

/// The alert settings, when `AUTH_NOTIFY_URL` is set.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    pub url: SecretString,
    pub format: Format,
    /// The kinds alerted about (names of audited kinds).
    pub events: Vec<&'static str>,
    pub delivery: Delivery,
}

impl NotifyConfig {
    /// True when events of kind `name` are alerted about.
    pub fn wants(&self, name: &str) -> bool {
        self.events.contains(&name)
    }
}

/// Validates the three variables (`url` already read as a secret); the
/// problems are listed without the URL, which is a secret.
pub fn read(
    url: Option<SecretString>,
    format: Option<&str>,
    events: Option<&str>,
) -> Result<Option<NotifyConfig>, Vec<String>> {
    let mut problems = Vec::new();
    let format = match format.map(str::trim) {
        None => Format::Json,
        Some(name) => Format::parse(name).unwrap_or_else(|| {
            problems.push(format!(
                "AUTH_NOTIFY_FORMAT={name:?} must be json, ntfy, gotify, discord or slack"
            ));
            Format::Json
        }),
    };
    let events = match events.map(str::trim) {
        None => DEFAULT_EVENTS.to_vec(),
        Some("all") => AUDITED.iter().map(|k| k.as_str()).collect(),
        Some(list) => {
            let mut chosen = Vec::new();
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                match AUDITED.iter().map(|k| k.as_str()).find(|k| *k == name) {
                    Some(kind) if !chosen.contains(&kind) => chosen.push(kind),
                    Some(_) => {}
                    None => problems.push(format!(
                        "AUTH_NOTIFY_EVENTS: {name:?} is not an event kind (all, or some of: {})",
                        AUDITED.map(|k| k.as_str()).join(", ")
                    )),
                }
            }
            if chosen.is_empty() && list.split(',').all(|n| n.trim().is_empty()) {
                problems.push(
                    "AUTH_NOTIFY_EVENTS names no event (leave it unset for the default)".into(),
                );
            }
            chosen
        }
    };
    if let Some(url) = &url {
        if !is_http_url(url.expose_secret()) {
            problems.push(
                "AUTH_NOTIFY_URL must be an absolute http:// or https:// URL \
                 (its value is not repeated here: it is a secret)"
                    .into(),
            );
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(url.map(|url| NotifyConfig {
        url,
        format,
        events,
        delivery: Delivery::STANDARD,
    }))
}

fn is_http_url(raw: &str) -> bool {
    url::Url::parse(raw)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Option<SecretString> {
        Some(SecretString::from(s.to_string()))
    }

    #[test]
    fn defaults_all_and_lists() {
        let c = read(secret("https://ntfy.sh/topic"), None, None)
            .unwrap()
            .unwrap();
        assert_eq!(c.format, Format::Json);
        assert!(c.wants("login_success") && !c.wants("login_failure"));

        let all = read(secret("http://10.0.0.2/x"), Some("ntfy"), Some("all"))
            .unwrap()
            .unwrap();
        assert_eq!(all.events.len(), AUDITED.len());
        assert_eq!(all.format, Format::Ntfy);

        let some = read(
            secret("https://h/x"),
            Some("discord"),
            Some(" lockout, login_failure ,lockout"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(some.events, vec!["lockout", "login_failure"]);
        // No URL: no alerts, but the other two are still checked.
        assert!(read(None, Some("slack"), None).unwrap().is_none());
        assert!(read(None, Some("email"), None).is_err());
        assert!(read(secret("https://h/x"), None, Some(" , ")).is_err());
    }

    /// The defaults are alerts the server can send: each the name of an
    /// audited kind (the only kinds stored, logged and offered to alerts),
    /// once, and accepted as they are by `AUTH_NOTIFY_EVENTS`.
    #[test]
    fn every_default_alert_kind_is_audited() {
        let audited: Vec<&str> = AUDITED.iter().map(|k| k.as_str()).collect();
        for name in DEFAULT_EVENTS {
            assert!(audited.contains(&name), "{name} is not an audited kind");
        }
        let mut once = DEFAULT_EVENTS.to_vec();
        once.sort_unstable();
        once.dedup();
        assert_eq!(once.len(), DEFAULT_EVENTS.len(), "a default listed twice");
        let spelled = DEFAULT_EVENTS.join(",");
        let c = read(secret("https://h/x"), None, Some(&spelled));
        assert_eq!(c.unwrap().unwrap().events, DEFAULT_EVENTS);
    }

    #[test]
    fn problems_are_listed_without_the_url() {
        let problems = read(
            secret("ftp://secret-topic"),
            Some("xml"),
            Some("login_success,reboot"),
        )
        .unwrap_err();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().all(|p| !p.contains("secret-topic")));
        assert!(problems.iter().any(|p| p.contains("\"reboot\"")));
        assert!(read(secret("not a url"), None, None).is_err());
        assert!(read(secret("mailto:owner@example.com"), None, None).is_err());
    }
}
