//! An alert in the shape its receiver reads: the event object as JSON, or
//! the text of [`Alert::title`] and [`Alert::message`] as ntfy, Gotify,
//! Discord or Slack take it.
//!
//! What a client sent is shown through [`Inert`]: as plain text with `://`
//! broken in JSON, ntfy and Gotify (which are sent as plain text: ntfy
//! without its `Markdown` header, Gotify without a markdown content type),
//! in a code span in Discord and Slack.

use serde_json::json;

use super::alert::Alert;
use super::inert::Inert;
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
/// The user agent's code span always ends before this: only a title, an
/// address and at most [`super::inert::MAX_CHARS`] characters (each at
/// most five when escaped) come before it.
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
/// `escape` applied to the server's text and the user agent shown by
/// `client`, cut to fit.
fn chat_text(
    alert: &Alert,
    bold: &str,
    escape: fn(&str) -> String,
    client: fn(&Inert) -> String,
) -> String {
    let message = alert.message_as(escape, client);
    let text = format!("{bold}{}{bold}\n{message}", alert.title());
    text.chars().take(MAX_TEXT).collect()
}

/// Discord markdown, for the server's text: every ASCII punctuation mark
/// behind a backslash, so nothing becomes formatting, a link, or a mention
/// that pings. (Inside a code span a backslash would show: what a client
/// sent is shown by [`Inert::code_span`] alone.)
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
/// or a mention (`<!channel>`). Slack reads them in code spans too.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What a client sent, for Slack: a code span, its entities escaped.
fn slack_span(text: &Inert) -> String {
    slack_escape(&text.code_span())
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
        Format::Discord => {
            let content = chat_text(alert, "**", discord_escape, Inert::code_span);
            json_body(&json!({ "content": content }))
        }
        Format::Slack => {
            let text = chat_text(alert, "*", slack_escape, slack_span);
            json_body(&json!({ "text": text }))
        }
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

    /// An agent that tries to write into the owner's alert.
    const HOSTILE: &str = "Mozilla *ACTION REQUIRED* _x_ ~y~ `code` <!channel> \
        <https://evil.example|click> confirm at https://evil.example/x";

    fn with_agent(agent: &str) -> Alert {
        let mut alert = lockout();
        alert.user_agent = agent.into();
        alert
    }

    /// `://` in `text` other than the server's own URL's.
    fn planted_links(text: &str) -> usize {
        text.replace("https://a.example", "").matches("://").count()
    }

    fn slack(alert: &Alert) -> String {
        body(&render(Format::Slack, alert))["text"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn discord(alert: &Alert) -> String {
        body(&render(Format::Discord, alert))["content"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// The inside of a chat text's one code span (and it is the only one).
    fn span(text: &str) -> String {
        let parts: Vec<&str> = text.split('`').collect();
        assert_eq!(
            parts.len(),
            3,
            "one code span and no other backtick: {text}"
        );
        parts[1].to_string()
    }

    /// The agent as a text format shows it, from its `Browser:` line.
    fn browser_line(text: &str) -> String {
        let lines: Vec<&str> = text.lines().collect();
        let agent: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("Browser: "))
            .collect();
        assert_eq!(agent.len(), 1, "{text}");
        agent[0].to_string()
    }

    fn ntfy(alert: &Alert) -> (String, Vec<(&'static str, String)>) {
        let r = render(Format::Ntfy, alert);
        (String::from_utf8(r.body).unwrap(), r.headers)
    }

    #[test]
    fn slack_shows_a_hostile_agent_in_one_code_span() {
        let text = slack(&with_agent(HOSTILE));
        assert!(text.starts_with("*soloauth: sign-in locked"), "{text}");
        assert_eq!(
            span(&text),
            "Mozilla *ACTION REQUIRED* _x_ ~y~ code &lt;!channel&gt; \
             &lt;https://evil.example|click&gt; confirm at https://evil.example/x"
        );
        assert!(text.contains("\nBrowser: `Mozilla "), "{text}");
        // Slack reads `<…>` even in code: none reaches it.
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        let outside = text.replace(&span(&text), "");
        assert!(!outside.contains("ACTION") && planted_links(&outside) == 0);
    }

    #[test]
    fn discord_shows_a_hostile_agent_in_one_code_span() {
        let text = discord(&with_agent(HOSTILE));
        assert!(text.starts_with("**soloauth: "), "our own bold stays");
        // Nothing is escaped inside a span: a backslash would show.
        assert_eq!(
            span(&text),
            "Mozilla *ACTION REQUIRED* _x_ ~y~ code <!channel> \
             <https://evil.example|click> confirm at https://evil.example/x"
        );
        assert!(text.contains("\nBrowser\\: `Mozilla "), "{text}");
        let outside = text.replace(&span(&text), "");
        assert!(!outside.contains("ACTION") && !outside.contains("evil"));

        let text = discord(&with_agent(
            "@everyone [Unlock](https://evil.example) ||x||",
        ));
        assert_eq!(
            span(&text),
            "@everyone [Unlock](https://evil.example) ||x||"
        );
        assert!(!text.replace(&span(&text), "").contains('@'), "{text}");
    }

    #[test]
    fn text_formats_break_every_link_a_client_sent() {
        let alert = with_agent(HOSTILE);
        let shown = "Mozilla *ACTION REQUIRED* _x_ ~y~ `code` <!channel> \
                     <https[:]//evil.example|click> confirm at https[:]//evil.example/x";

        let (text, headers) = ntfy(&alert);
        assert_eq!(browser_line(&text), shown);
        assert_eq!(planted_links(&text), 0, "{text}");
        assert!(text.ends_with("on https://a.example"), "our own link stays");
        // Plain text: never ntfy's Markdown, and no client text in a header.
        let names: Vec<&str> = headers.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["Title", "Priority", "Tags"]);
        for (_, value) in &headers {
            assert!(!value.contains("://") && !value.contains("Mozilla"));
        }

        let gotify = body(&render(Format::Gotify, &alert));
        assert_eq!(gotify.as_object().unwrap().len(), 3, "no markdown extras");
        let message = gotify["message"].as_str().unwrap();
        assert_eq!(browser_line(message), shown);
        assert_eq!(planted_links(message), 0, "{message}");
        assert_eq!(planted_links(gotify["title"].as_str().unwrap()), 0);

        let json = render(Format::Json, &alert);
        assert_eq!(body(&json)["user_agent"], shown);
        assert_eq!(planted_links(&String::from_utf8(json.body).unwrap()), 0);
    }

    #[test]
    fn a_long_agent_is_cut_to_200_characters_in_every_format() {
        let agent = format!("https://evil.example/{}", "é".repeat(1000));
        let alert = with_agent(&agent);
        let plain = format!("https[:]//evil.example/{}", "é".repeat(200 - 23));
        assert_eq!(browser_line(&ntfy(&alert).0), plain);
        let gotify = body(&render(Format::Gotify, &alert));
        assert_eq!(browser_line(gotify["message"].as_str().unwrap()), plain);
        assert_eq!(body(&render(Format::Json, &alert))["user_agent"], plain);
        let inside = format!("https://evil.example/{}", "é".repeat(200 - 21));
        assert_eq!(span(&slack(&alert)), inside);
        assert_eq!(span(&discord(&alert)), inside);
    }

    #[test]
    fn newlines_in_an_agent_never_start_a_line() {
        let agent = "Mozilla\nDetail: all clear\r\nAt: now on https://evil.example\u{2028}x";
        let alert = with_agent(agent);
        let (text, _) = ntfy(&alert);
        assert_eq!(text.lines().count(), 4, "{text}");
        assert_eq!(
            browser_line(&text),
            "Mozilla Detail: all clear  At: now on https[:]//evil.example x"
        );
        let gotify = body(&render(Format::Gotify, &alert));
        assert_eq!(gotify["message"].as_str().unwrap(), text);
        for chat in [slack(&alert), discord(&alert)] {
            assert_eq!(chat.lines().count(), 5, "{chat}");
            assert!(span(&chat).starts_with("Mozilla Detail: all clear  At: now"));
        }
    }

    #[test]
    fn chat_text_is_cut_to_fit_after_the_agent_s_span() {
        // The worst case before the span: the longest address, and an agent
        // that escapes to five times its length.
        let mut alert = with_agent(&"&".repeat(1000));
        alert.ip = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".into();
        alert.detail = "é".repeat(5000);
        let text = slack(&alert);
        assert_eq!(text.chars().count(), MAX_TEXT);
        assert_eq!(span(&text), "&amp;".repeat(200));
        let content = discord(&alert);
        assert_eq!(content.chars().count(), MAX_TEXT);
        assert_eq!(span(&content), "&".repeat(200));
    }
}
