//! Text a client sent (its user agent), made inert for alerts, in one
//! place: every format shows it through [`Inert`].
//!
//! [`Inert::new`] replaces control characters and line breaks by spaces,
//! drops invisible formatting characters (bidirectional overrides,
//! zero-width characters), trims, and keeps at most [`MAX_CHARS`]
//! characters (never splitting one). Then each format shows it its way:
//!
//! - [`Inert::code_span`] (Slack, Discord): in one inline code span, with
//!   every backtick removed, so nothing in it formats, links or mentions;
//!   Slack's `&`, `<` and `>` entities still apply inside it (Slack reads
//!   `<!channel>` and `<https://…>` everywhere), which `format` does;
//! - [`Inert::plain`] (ntfy, Gotify, JSON, where `serde` uses it): `://`
//!   broken as `[:]//`, so no client can plant a link.
//!
//! Either way the text shown is at most [`MAX_CHARS`] characters.

use serde::{Serialize, Serializer};

/// The most characters of client text an alert shows.
pub const MAX_CHARS: usize = 200;

/// Client text, cleaned and cut; shown only as [`Inert::plain`] or
/// [`Inert::code_span`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inert(String);

/// Invisible characters that change how the text around them reads:
/// bidirectional marks, embeddings, overrides and isolates, zero-width
/// spaces and joiners, the word joiner and invisible operators, the BOM.
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
    )
}

/// The first [`MAX_CHARS`] characters of `text`, with no trailing space.
fn cut(text: &str) -> String {
    let kept: String = text.chars().take(MAX_CHARS).collect();
    kept.trim_end().to_string()
}

impl Inert {
    /// `raw` on one line, with no invisible formatting, cut to fit.
    pub fn new(raw: &str) -> Inert {
        let line: String = raw
            .chars()
            .filter(|c| !invisible(*c))
            .map(|c| match c {
                // Control characters (tabs, CR, LF, NEL, …) and the
                // Unicode line and paragraph separators.
                c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => ' ',
                c => c,
            })
            .collect();
        Inert(cut(line.trim()))
    }

    /// True when there is nothing to show.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// For text formats (ntfy, Gotify, JSON): every `://` broken as
    /// `[:]//`, cut again to [`MAX_CHARS`].
    pub fn plain(&self) -> String {
        cut(&self.0.replace("://", "[:]//"))
    }

    /// For chat formats (Slack, Discord): in one inline code span, with
    /// every backtick removed.
    pub fn code_span(&self) -> String {
        format!("`{}`", self.0.replace('`', ""))
    }
}

impl From<&str> for Inert {
    fn from(raw: &str) -> Inert {
        Inert::new(raw)
    }
}

impl From<String> for Inert {
    fn from(raw: String) -> Inert {
        Inert::new(&raw)
    }
}

/// As [`Inert::plain`]: the JSON format's `user_agent`.
impl Serialize for Inert {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.plain())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_without_invisible_characters() {
        let text = Inert::new("  Mozilla\r\n*ACTION*\tREQUIRED\u{2028}x\u{85}y\u{7f}z  ");
        assert_eq!(text.plain(), "Mozilla  *ACTION* REQUIRED x y z");
        let text = Inert::new("evil\u{202E}lpm\u{200B}xe.com\u{FEFF}");
        assert_eq!(text.plain(), "evillpmxe.com");
        assert!(Inert::new(" \n\t ").is_empty());
    }

    #[test]
    fn at_most_200_characters_never_a_split_one() {
        let text = Inert::new(&"é".repeat(1000));
        assert_eq!(text.plain().chars().count(), MAX_CHARS);
        assert_eq!(text.plain(), "é".repeat(MAX_CHARS));
        // Breaking links adds characters: cut again.
        let links = Inert::new(&"a://".repeat(100));
        assert_eq!(links.plain().chars().count(), MAX_CHARS);
        assert!(!links.plain().contains("://"));
        let span = Inert::new(&"`a".repeat(500)).code_span();
        assert_eq!(span, format!("`{}`", "a".repeat(MAX_CHARS / 2)));
    }

    #[test]
    fn links_are_broken_and_spans_hold_no_backtick() {
        let text = Inert::new("see https://evil.example/x and ftp://y `code` HTTP://Z");
        assert_eq!(
            text.plain(),
            "see https[:]//evil.example/x and ftp[:]//y `code` HTTP[:]//Z"
        );
        assert_eq!(
            text.code_span(),
            "`see https://evil.example/x and ftp://y code HTTP://Z`"
        );
        assert_eq!(
            serde_json::to_value(&text).unwrap(),
            serde_json::json!(text.plain())
        );
    }
}
