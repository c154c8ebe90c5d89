//! An alert in the shape its receiver reads: the event object as JSON, or
//! the text of [`Alert::title`] and [`Alert::message`] as ntfy, Gotify,
//! Discord or Slack take it.

use serde_json::json;

use super::alert::Alert;
use crate::base::notify_config::Format;

/// What is POSTed.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub content_type: &'static str,
    /// Extra headers (ntfy's).
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Discord refuses content over 2000 characters; the text stays well under.
const MAX_TEXT: usize = 1800;

fn json_body(value: &impl serde::Serialize) -> Rendered {
    Rendered {
        content_type: "application/json",
        headers: Vec::new(),
        // Serializing strings, booleans and numbers cannot fail.
        body: serde_json::to_vec(value).unwrap_or_default(),
    }
}

/// The text of a chat message: the title in bold, then the message with
/// `escape` applied (it carries what a client sent, such as its user
/// agent), cut to fit.
fn chat_text(alert: &Alert, bold: &str, escape: fn(&str) -> String) -> String {
    let message = escape(&alert.message());
    let text = format!("{bold}{}{bold}\n{message}", alert.title());
    text.chars().take(MAX_TEXT).collect()
}

/// Discord markdown: every ASCII punctuation mark behind a backslash, so
/// nothing becomes formatting, a link, or a mention that pings.
fn discord_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Slack's rule: `&`, `<` and `>` as entities, so nothing becomes a link
/// or a mention (`<!channel>`).
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The request body and headers for `alert` in `format`.
pub fn render(format: Format, alert: &Alert) -> Rendered {
    let urgent = alert.urgent();
    match format {
        Format::Json => json_body(alert),
        Format::Ntfy => {
            let (priority, tag) = if urgent {
                ("4", "warning")
            } else {
                ("3", "closed_lock_with_key")
            };
            Rendered {
                content_type: "text/plain; charset=utf-8",
                headers: vec![
                    ("Title", alert.title()),
                    ("Priority", priority.into()),
                    ("Tags", format!("{tag},{}", alert.kind)),
                ],
                body: alert.message().into_bytes(),
            }
        }
        Format::Gotify => json_body(&json!({
            "title": alert.title(),
            "message": alert.message(),
            "priority": if urgent { 8 } else { 5 },
        })),
        Format::Discord => json_body(&json!({ "content": chat_text(alert, "**", discord_escape) })),
        Format::Slack => json_body(&json!({ "text": chat_text(alert, "*", slack_escape) })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn lockout() -> Alert {
        let mut alert = Alert::from_host("lockout", "scope=ip failures=5", 0, "https://a.example");
        alert.ip = "198.51.100.4".into();
        alert.user_agent = "curl/8".into();
        alert
    }

    fn body(r: &Rendered) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[test]
    fn each_format_has_its_shape() {
        let alert = lockout();
        let json = render(Format::Json, &alert);
        assert_eq!(json.content_type, "application/json");
        assert_eq!(body(&json)["kind"], "lockout");
        assert_eq!(body(&json)["user_agent"], "curl/8");

        let ntfy = render(Format::Ntfy, &alert);
        assert!(ntfy.content_type.starts_with("text/plain"));
        let header = |name| {
            ntfy.headers
                .iter()
                .find(|(n, _)| *n == name)
                .unwrap()
                .1
                .clone()
        };
        assert_eq!(
            header("Title"),
            "soloauth: sign-in locked after repeated failures"
        );
        assert_eq!(header("Priority"), "4");
        assert_eq!(header("Tags"), "warning,lockout");
        let text = String::from_utf8(ntfy.body).unwrap();
        assert!(text.contains("From: 198.51.100.4") && text.contains("scope=ip"));

        let gotify = body(&render(Format::Gotify, &alert));
        assert_eq!(gotify["priority"], 8);
        assert_eq!(gotify["title"], alert.title());
        assert_eq!(gotify["message"], alert.message());

        let discord = body(&render(Format::Discord, &alert));
        assert!(discord["content"]
            .as_str()
            .unwrap()
            .starts_with("**soloauth: sign-in locked"));
        assert_eq!(discord.as_object().unwrap().len(), 1);
        let slack = body(&render(Format::Slack, &alert));
        assert!(slack["text"]
            .as_str()
            .unwrap()
            .starts_with("*soloauth: sign-in locked"));
    }

    #[test]
    fn what_a_client_sent_is_never_markup_in_a_chat() {
        let mut alert = lockout();
        alert.user_agent = "@everyone [Unlock](https://evil.example) <!channel> *x*".into();
        let discord = body(&render(Format::Discord, &alert))["content"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(discord.contains(r"\@everyone \[Unlock\]\(https\:\/\/evil\.example\)"));
        assert!(discord.contains(r"\<\!channel\> \*x\*"));
        assert!(discord.starts_with("**soloauth: "), "our own bold stays");
        let slack = body(&render(Format::Slack, &alert))["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(slack.contains("&lt;!channel&gt;") && !slack.contains("<!"));
    }

    #[test]
    fn chat_text_is_cut_to_fit() {
        let mut alert = lockout();
        alert.user_agent = "é".repeat(5000);
        let content = body(&render(Format::Discord, &alert))["content"]
            .as_str()
            .unwrap()
            .chars()
            .count();
        assert_eq!(content, MAX_TEXT);
    }
}
