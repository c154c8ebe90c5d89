//! One alert: an audit event as the owner's phone shows it. It holds the
//! kind, the time, the address, the user agent and the event's detail (a
//! short classification), never a password, token, code or secret; for a
//! sign-in, whether its address and user agent are new.
//!
//! The user agent is the one text a client chose that reaches an alert: it
//! is held as [`Inert`] and every format shows it through that. The rest is
//! the server's: the kind, an address parsed as one, details built of
//! fixed words, counts and identifiers the server made or stored.

use serde::Serialize;

use super::inert::Inert;
use crate::auth::events::Event;
use crate::base::clock::rfc3339;

/// What is sent; serialized as is for the `json` format.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// RFC 3339, as `/auth/events` shows it.
    pub at: String,
    pub kind: &'static str,
    /// Empty for an event from the command line.
    pub ip: String,
    /// What the client sent, inert (`://` broken when serialized).
    pub user_agent: Inert,
    pub detail: String,
    /// For `login_success`: the address was not seen at an earlier sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_ip: Option<bool>,
    /// For `login_success`: the user agent was not seen at an earlier sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_user_agent: Option<bool>,
    /// The server's public URL, so alerts from two servers tell apart.
    pub server: String,
}

/// The kind of the alert `soloauth notify-test` sends.
pub const TEST_KIND: &str = "notify_test";

impl Alert {
    /// The alert for a recorded event; `detail` is the event's detail as
    /// stored (with its session).
    pub fn of_event(event: &Event, detail: String, at: i64, server: &str) -> Alert {
        Alert {
            at: rfc3339(at),
            kind: event.kind.as_str(),
            ip: event.ip.clone(),
            user_agent: Inert::new(&event.user_agent),
            detail,
            new_ip: event.seen.map(|s| !s.ip),
            new_user_agent: event.seen.map(|s| !s.user_agent),
            server: server.to_string(),
        }
    }

    /// An alert with no client: from the command line.
    pub fn from_host(kind: &'static str, detail: &str, at: i64, server: &str) -> Alert {
        Alert {
            at: rfc3339(at),
            kind,
            ip: String::new(),
            user_agent: Inert::default(),
            detail: detail.to_string(),
            new_ip: None,
            new_user_agent: None,
            server: server.to_string(),
        }
    }

    /// A short title for people.
    pub fn title(&self) -> String {
        let what = match self.kind {
            "login_success" if self.new_ip == Some(true) => "new sign-in from a new address",
            "login_success" if self.new_user_agent == Some(true) => {
                "new sign-in from a new browser"
            }
            "login_success" => "new sign-in",
            "login_failure" => "failed sign-in",
            "mfa_failure" => "wrong second factor",
            "lockout" => "sign-in locked after repeated failures",
            "unlock" => "sign-in unlocked",
            "recovery_code_used" => "a recovery code was used",
            "refresh_reuse" => "a refresh token was reused: session revoked",
            "session_revoked" => "session revoked",
            "totp_enabled" => "two-factor sign-in turned on",
            "totp_disabled" => "two-factor sign-in turned off",
            "recovery_codes_regenerated" => "new recovery codes",
            "keys_rotated" => "keys rotated",
            "passkey_added" => "passkey added",
            "passkey_removed" => "passkey removed",
            "passkey_login" => "signed in with a passkey",
            "passkey_clone_suspected" => "a passkey may have been cloned",
            "oidc_authorized" => "an app signed in with soloauth",
            "oidc_code_reuse" => "an authorization code was reused",
            "oidc_client_added" => "app added",
            "oidc_client_removed" => "app removed",
            "token_created" => "API token created",
            "token_revoked" => "API token revoked",
            "password_login_changed" if self.detail.contains("enabled=true") => {
                "password sign-in turned back on"
            }
            "password_login_changed" => "password sign-in turned off: passkeys only",
            TEST_KIND => "test alert",
            other => other,
        };
        format!("soloauth: {what}")
    }

    /// True for what the owner should look at now: a warning, or a sign-in
    /// from a new address or user agent.
    pub fn urgent(&self) -> bool {
        matches!(
            self.kind,
            "lockout"
                | "refresh_reuse"
                | "recovery_code_used"
                | "totp_disabled"
                | "passkey_clone_suspected"
                | "oidc_code_reuse"
        ) || (self.kind == "password_login_changed" && self.detail.contains("enabled=true"))
            || self.new_ip == Some(true)
            || self.new_user_agent == Some(true)
    }

    /// The body for people as plain text: where from, with what, what
    /// exactly, when; the user agent as [`Inert::plain`].
    pub fn message(&self) -> String {
        self.message_as(str::to_string, Inert::plain)
    }

    /// [`Alert::message`] with `own` applied to the server's text and the
    /// user agent shown by `client` (a chat's escaping and code span).
    pub fn message_as(&self, own: fn(&str) -> String, client: fn(&Inert) -> String) -> String {
        let novelty = |new: Option<bool>| match new {
            Some(true) => " (new)",
            Some(false) => " (known)",
            None => "",
        };
        let mut lines = Vec::new();
        if self.ip.is_empty() {
            lines.push(own("From: the server's command line"));
        } else {
            lines.push(own(&format!("From: {}{}", self.ip, novelty(self.new_ip))));
        }
        if !self.user_agent.is_empty() {
            let agent = client(&self.user_agent);
            let new = own(novelty(self.new_user_agent));
            lines.push(format!("{}{agent}{new}", own("Browser: ")));
        }
        if !self.detail.is_empty() {
            lines.push(own(&format!("Detail: {}", self.detail)));
        }
        lines.push(own(&format!("At: {} on {}", self.at, self.server)));
        lines.join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::events::{Kind, Seen};
    use crate::auth::Client;

    fn sign_in(seen: Seen) -> Alert {
        let client = Client {
            ip: "203.0.113.9".parse().unwrap(),
            user_agent: "Firefox/140".into(),
        };
        let event = Event::new(Kind::LoginSuccess, &client).seen(seen);
        Alert::of_event(&event, "amr=pwd".into(), 0, "https://auth.example.com")
    }

    #[test]
    fn a_sign_in_says_what_is_new() {
        let known = sign_in(Seen {
            ip: true,
            user_agent: true,
        });
        assert_eq!(
            (known.new_ip, known.new_user_agent),
            (Some(false), Some(false))
        );
        assert!(!known.urgent());
        assert_eq!(known.title(), "soloauth: new sign-in");
        let fresh = sign_in(Seen {
            ip: false,
            user_agent: true,
        });
        assert!(fresh.urgent());
        assert_eq!(fresh.title(), "soloauth: new sign-in from a new address");
        let browser = sign_in(Seen {
            ip: true,
            user_agent: false,
        });
        assert_eq!(browser.title(), "soloauth: new sign-in from a new browser");
        let text = fresh.message();
        assert!(text.contains("From: 203.0.113.9 (new)"), "{text}");
        assert!(text.contains("Browser: Firefox/140 (known)"), "{text}");
        assert!(text.contains("1970-01-01T00:00:00Z on https://auth.example.com"));
        let json = serde_json::to_value(&fresh).unwrap();
        assert_eq!(json["new_ip"], true);
        assert_eq!(json["kind"], "login_success");
    }

    #[test]
    fn the_user_agent_is_held_inert() {
        let client = Client {
            ip: "203.0.113.9".parse().unwrap(),
            user_agent: "Firefox\nDetail: ok https://evil.example".into(),
        };
        let event = Event::new(Kind::LoginFailure, &client);
        let alert = Alert::of_event(&event, String::new(), 0, "https://a.example");
        assert_eq!(
            alert.message().lines().nth(1),
            Some("Browser: Firefox Detail: ok https[:]//evil.example")
        );
        let json = serde_json::to_value(&alert).unwrap();
        assert_eq!(
            json["user_agent"],
            "Firefox Detail: ok https[:]//evil.example"
        );
        let host = Alert::from_host("unlock", "", 0, "https://a.example");
        assert!(!host.message().contains("Browser"));
    }

    #[test]
    fn other_events_have_no_novelty_fields() {
        let alert = Alert::from_host("keys_rotated", "by=cli", 0, "http://x");
        let json = serde_json::to_value(&alert).unwrap();
        assert!(json.get("new_ip").is_none());
        assert!(alert
            .message()
            .starts_with("From: the server's command line"));
        assert_eq!(alert.title(), "soloauth: keys rotated");
        let weaker = Alert::from_host("password_login_changed", "enabled=true by=cli", 1, "s");
        assert_eq!(weaker.title(), "soloauth: password sign-in turned back on");
        assert!(weaker.urgent(), "a weakening is looked at now");
        let stronger = Alert::from_host("password_login_changed", "enabled=false", 1, "s");
        assert!(!stronger.urgent() && stronger.title().contains("passkeys only"));
    }
}
