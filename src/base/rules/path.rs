//! How the rules read a path: a rule's own path ([`PathPattern`]), the
//! readings of a request path, each also case-folded, and the paths that
//! never get `bypass` ([`suspicious`]). The parent module's notes say why.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

/// A rule's path: normalised as a request path's first reading, exact or a
/// prefix, and case-folded for the folded readings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PathPattern {
    path: String,
    folded: String,
    prefix: bool,
}

impl PathPattern {
    /// Reads a rule's `PATH` (it may end in `*`).
    pub(super) fn parse(path: &str) -> Result<PathPattern, String> {
        let (body, prefix) = match path.strip_suffix('*') {
            Some(body) => (body, true),
            None => (path, false),
        };
        if body.contains('*') || body.contains('?') {
            return Err(format!(
                "{path:?}: a path may end in * but holds no other * or ?"
            ));
        }
        let mut path = normalize_path(body);
        // Normalising drops a trailing slash; a prefix keeps it (`/api/*`
        // must not match `/apiary`).
        if body.ends_with('/') && path != "/" {
            path.push('/');
        }
        let folded = fold(&path).into_owned();
        Ok(PathPattern {
            path,
            folded,
            prefix,
        })
    }

    /// Whether `reading` matches; `folded` for a case-folded reading, which
    /// meets the rule's path folded the same way.
    pub(super) fn matches(&self, reading: &str, folded: bool) -> bool {
        let pattern = if folded { &self.folded } else { &self.path };
        if self.prefix {
            reading.starts_with(pattern.as_str())
        } else {
            reading == pattern
        }
    }
}

/// A path as the rules' own paths are read: decoded first, `\` as `/`,
/// `;params` dropped, dot segments resolved; always starts with `/`.
pub fn normalize_path(raw: &str) -> String {
    readings(raw).swap_remove(0)
}

/// The readings of a raw request path, not yet case-folded (see the
/// parent module's notes); the first is [`normalize_path`]'s.
pub(super) fn readings(raw: &str) -> Vec<String> {
    let raw = without_query(raw);
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let decoded = decode(raw);
    let decoded_first: Vec<String> = decoded
        .split(['/', '\\'])
        .map(|segment| segment.split(';').next().unwrap_or_default().to_string())
        .collect();
    // An encoded `/` stays inside its segment: it must not read as a separator.
    let split_first: Vec<String> = raw
        .split('/')
        .map(|s| decode(s).replace('/', "%2F"))
        .collect();
    // Empty segments merged before `..` (nginx, Go) or kept, so `..` takes
    // one of them (WHATWG URLs: `/admin//..` is `/admin/`).
    let mut readings = Vec::with_capacity(6);
    for segments in [&decoded_first, &split_first] {
        readings.push(resolve(segments, false));
        readings.push(resolve(segments, true));
    }
    // As a WHATWG URL parser leaves it (browsers, Node): `\` is `/`, `%2e`
    // a dot, empty segments kept; an app then matches it raw, or decoded
    // as a whole.
    let whatwg_segments: Vec<String> = raw
        .split(['/', '\\'])
        .map(|s| {
            let dots = s.replace("%2e", ".").replace("%2E", ".");
            if dots == "." || dots == ".." {
                dots
            } else {
                s.to_string()
            }
        })
        .collect();
    let whatwg = resolve(&whatwg_segments, true);
    readings.push(decode(&whatwg));
    readings.push(whatwg);
    readings
}

/// A reading as a backend that ignores case compares it: upper case, then
/// lower, by Unicode's rules, as Java's `equalsIgnoreCase` and .NET's
/// `OrdinalIgnoreCase` match (so `K`, the Kelvin sign, is `k`, `ı` is `i`,
/// and `İ`, which Unicode lowers to `i` and a combining dot, is `i` as in
/// Java). Borrowed when there is nothing to fold.
pub(super) fn fold(reading: &str) -> Cow<'_, str> {
    if !reading.is_ascii() {
        let folded = reading.to_uppercase().to_lowercase();
        Cow::Owned(folded.replace("i\u{307}", "i"))
    } else if reading.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(reading.to_ascii_lowercase())
    } else {
        Cow::Borrowed(reading)
    }
}

/// Look-alikes of `.`, `/`, `\` and `%` that some backend turns into them:
/// NFKC (compatibility) normalisation, Windows' "best fit" conversion to a
/// code page, or, for the ideographic full stops, IDNA's reading of them
/// as dots.
const LOOK_ALIKES: [char; 12] = [
    '\u{FF0E}', // fullwidth full stop: .
    '\u{FE52}', // small full stop: .
    '\u{2024}', // one dot leader: .
    '\u{2025}', // two dot leader: ..
    '\u{3002}', // ideographic full stop
    '\u{FF61}', // halfwidth ideographic full stop
    '\u{FF0F}', // fullwidth solidus: /
    '\u{2215}', // division slash: / (best fit)
    '\u{FF3C}', // fullwidth reverse solidus: \
    '\u{FE68}', // small reverse solidus: \
    '\u{FF05}', // fullwidth percent sign: %
    '\u{FE6A}', // small percent sign: %
];

/// Whether a raw request path (query ignored) reads as something else to
/// some backend, whatever the readings say: a `%` left once it is decoded
/// (`%252e`, decoded twice, is a dot), invalid UTF-8 (an overlong `%c0%ae`
/// is a dot to a lenient decoder) or a [`LOOK_ALIKES`] character, raw or
/// encoded. Such a path never gets `bypass`.
pub(super) fn suspicious(raw: &str) -> bool {
    let decoded: Cow<'_, [u8]> = percent_decode_str(without_query(raw)).into();
    match std::str::from_utf8(&decoded) {
        Ok(text) => text.contains(|c| c == '%' || LOOK_ALIKES.contains(&c)),
        Err(_) => true,
    }
}

/// The path without its query string or fragment.
fn without_query(raw: &str) -> &str {
    raw.split(['?', '#']).next().unwrap_or_default()
}

/// Joins path segments: `.` dropped, `..` resolved; empty segments merged
/// away, or (`keep_empty`) kept as segments, as a WHATWG URL keeps them.
fn resolve(segments: &[String], keep_empty: bool) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        match segment.as_str() {
            "." => {}
            "" if !keep_empty || i == 0 => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    format!("/{}", kept.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reading_of_a_path() {
        // decoded first (merged, kept), split first (merged, kept), WHATWG
        // decoded, WHATWG raw.
        assert_eq!(
            readings("/a/..%2fb//../c;x/%2e%2e/d?q=/e"),
            [
                "/d",
                "/b/d",
                "/a/d",
                "/a/..%2Fb/d",
                "/a/../b/d",
                "/a/..%2fb/d",
            ]
        );
        assert_eq!(
            readings("/x\\..\\admin%ff"),
            [
                "/admin\u{FFFD}",
                "/admin\u{FFFD}",
                "/x\\..\\admin\u{FFFD}",
                "/x\\..\\admin\u{FFFD}",
                "/admin\u{FFFD}",
                "/admin%ff",
            ]
        );
        assert_eq!(normalize_path("/a/./b/../c/"), "/a/c");
    }

    #[test]
    fn the_folded_reading() {
        assert!(matches!(fold("/already/lower%2f"), Cow::Borrowed(_)));
        assert_eq!(fold("/ADMIN/X%2F"), "/admin/x%2f");
        assert_eq!(fold("/\u{212A}ibana"), "/kibana");
        assert_eq!(fold("/adm\u{131}n"), "/admin");
        assert_eq!(fold("/ADM\u{130}N"), "/admin");
        assert_eq!(fold("/\u{17F}ecret"), "/secret");
        assert_eq!(fold("/ÜBER/Straße"), "/über/strasse");
        let pattern = PathPattern::parse("/Docs/*").unwrap();
        assert!(pattern.matches("/Docs/x", false));
        assert!(!pattern.matches("/docs/x", false));
        assert!(pattern.matches("/docs/x", true));
        let exact = PathPattern::parse("/Health").unwrap();
        assert!(exact.matches("/health", true));
        assert!(!exact.matches("/health/x", true));
    }

    #[test]
    fn suspicious_readings() {
        for raw in [
            "/a%252e",
            "/a%25",
            "/%%32%65",
            "/100%",
            "/%c0%ae",
            "/%C0%AF",
            "/%e0%80%ae",
            "/%f0%80%80%ae",
            "/%ed%a0%80",
            "/%ff",
            "/\u{FF0E}",
            "/%EF%BC%8E",
            "/\u{3002}",
            "/%e3%80%82",
            "/%ef%bd%a1",
            "/\u{FF0F}",
            "/\u{FF3C}",
            "/%ef%bc%85%32%65",
        ] {
            assert!(suspicious(raw), "{raw}");
        }
        for raw in [
            "/",
            "/a%20b",
            "/%2e%2e/%2f",
            "/été/%C3%A9",
            "/日本語",
            "/x?%25%c0%ae\u{FF0E}",
            "/x#%25",
        ] {
            assert!(!suspicious(raw), "{raw}");
        }
    }
}
