//! The few HTML pages of the OpenID Connect endpoints, for the person in
//! front of the browser: an error (for a redirect URI that is not
//! registered, what the app sent next to what is), "signed out", "Sign out
//! of soloauth?" and "Allow APP on this device to sign in as you?". They
//! are maud templates: checked when the crate compiles, and every value put
//! in them is escaped (only [`Markup`], already HTML, is not). The pages
//! load only the site's own stylesheet and scripts.

use maud::{html, Markup, PreEscaped};
use poem_openapi::payload::Html;

use crate::http::PAGE_CSP;

/// The page's Content-Security-Policy when its form's answer redirects to
/// `target`: the login page's, with `target` allowed in `form-action`
/// (browsers apply `form-action` to a form post's redirects, and would stop
/// the owner's answer short of the app). An exact origin where CSP can say
/// one, else the scheme (an IPv6 loopback, an app's own scheme).
pub fn csp_redirecting_to(target: Option<&str>) -> String {
    let source =
        target
            .and_then(|t| url::Url::parse(t).ok())
            .map(|url| match (url.scheme(), url.host()) {
                ("http" | "https", Some(url::Host::Domain(_) | url::Host::Ipv4(_))) => {
                    url.origin().ascii_serialization()
                }
                (scheme, _) => format!("{scheme}:"),
            });
    match source {
        Some(source) => PAGE_CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {source}"),
        ),
        None => PAGE_CSP.to_string(),
    }
}

/// A small page: a title, one paragraph and the way back to the account page.
pub fn page(title: &str, text: &str) -> Html<String> {
    app_error_page(title, text, None)
}

/// A page for a request no app can be told about (no `client_id`, or an
/// unknown one): `text`, and the `redirect_uri` the request sent, if any,
/// so the owner sees which app it came from.
pub fn app_error_page(title: &str, text: &str, sent: Option<&str>) -> Html<String> {
    let card = html! {
        div class="card" {
            h2 { (title) }
            p { (text) }
            @if let Some(uri) = sent {
                p { "The request came with this redirect_uri:" }
                p { code class="uri" id="sent-redirect-uri" { (truncated(uri, SHOWN_URI_CHARS)) } }
            }
            (back())
        }
    };
    layout(title, card, html! {})
}

/// The way back from a page the browser came to from an app: soloauth's
/// own page (the account, or the sign-in).
fn back() -> Markup {
    html! { p { a href="/" id="back" { "Go to your soloauth account page" } } }
}

/// soloauth's logo, as the login page has it: drawn in the text's accent
/// colour (readable in both colour schemes), no style attribute (the CSP).
fn logo() -> Markup {
    html! {
        svg class="logo" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true" {
            rect x="6" y="14" width="20" height="15" rx="3" fill="currentColor" {}
            path d="M10 14v-4a6 6 0 0 1 12 0v4" fill="none" stroke="currentColor" stroke-width="3" {}
        }
    }
}

/// The most characters of a redirect URI an app sent that a page or log
/// line shows.
pub const SHOWN_URI_CHARS: usize = 200;

/// `text` cut to `max` characters, with `…` when it was longer.
pub fn truncated(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// "cannot sign in to this app" when the `redirect_uri` the app sent
/// (`sent`, none when absent) is none registered for it: both shown, so
/// the owner sees the mismatch, and where to change the registered ones
/// (`from_env`: in the environment). Never redirected; nothing secret.
pub fn redirect_mismatch(
    app_name: &str,
    from_env: bool,
    sent: Option<&str>,
    registered: &[String],
) -> Html<String> {
    let card = html! {
        div class="card" {
            h2 { "cannot sign in to this app" }
            @if let Some(uri) = sent {
                p { (app_name) " asked to come back to a redirect_uri that is not registered for it:" }
                p { code class="uri" id="sent-redirect-uri" { (truncated(uri, SHOWN_URI_CHARS)) } }
            } @else {
                p { (app_name) " sent no redirect_uri." }
            }
            @if registered.is_empty() {
                p { "No redirect URI is registered for it." }
            } @else {
                p { "Registered for " (app_name) ":" }
                ul { @for uri in registered { li { code class="uri" { (uri) } } } }
            }
            p {
                "They must match exactly (an " code { "http://127.0.0.1" } " or "
                code { "http://[::1]" } " one on any port): change the app's setting, or "
                @if from_env {
                    "AUTH_OIDC_CLIENT_" (app_name.to_ascii_uppercase()) "_REDIRECT_URIS"
                } @else {
                    "the app on your soloauth page (remove it and add it again)"
                }
                "."
            }
            (back())
        }
    };
    layout("cannot sign in to this app", card, html! {})
}

/// The page when storage fails inside a flow (logged where it happened).
pub fn unavailable() -> Html<String> {
    page(
        "try again shortly",
        "The server cannot complete the request right now.",
    )
}

/// The page around `body`, titled `title`, with `head` added to its head.
fn layout(title: &str, body: Markup, head: Markup) -> Html<String> {
    let page = html! {
        (PreEscaped("<!doctype html>"))
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { "soloauth — " (title) }
                link rel="icon" href="/static/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/static/style.css";
                (head)
            }
            body { main { h1 { (logo()) " soloauth" } (body) } }
        }
    };
    Html(page.into_string())
}

/// Hidden form fields carrying `pairs`.
fn hidden<V: AsRef<str>>(pairs: &[(&str, V)]) -> Markup {
    html! {
        @for (name, value) in pairs {
            input type="hidden" name=(name) value=(value.as_ref());
        }
    }
}

/// "Sign out of soloauth?": the logout request again, as a form this page
/// posts (same origin). Its script first renews the access cookie if it has
/// expired, so the server sees which sign-in to end.
pub fn confirm_logout(pairs: &[(&str, &str)]) -> Html<String> {
    let form = html! {
        form class="card" id="logout-form" method="post" action="/oidc/logout" {
            h2 { "Sign out of soloauth?" }
            p { "An app asks to end your soloauth sign-in, on this device, for every app." }
            (hidden(pairs))
            div class="row" {
                button type="submit" id="logout-confirm" { "Sign out" }
                a href="/" class="button" { "Stay signed in" }
            }
        }
    };
    let script = html! { script src="/static/logout.js" defer {} };
    layout("sign out?", form, script)
}

/// "Allow APP on this device to sign in as you?": asked before a public
/// app gets a code at a loopback or custom-scheme redirect (any program on
/// the device could be listening there). The authorization request again,
/// as a form this page posts (same origin) with `consent=allow` or `deny`.
pub fn consent<V: AsRef<str>>(app: &str, redirect_uri: &str, pairs: &[(&str, V)]) -> Html<String> {
    let form = html! {
        form class="card" id="consent-form" method="post" action="/oidc/authorize" {
            h2 { "Allow " (app) " on this device to sign in as you?" }
            p {
                (app) " is an app on this device: it will be sent to " code { (redirect_uri) }
                " signed in as you. Allow it only if you just started signing in to " (app) " yourself."
            }
            (hidden(pairs))
            div class="row" {
                button type="submit" name="consent" value="allow" id="consent-allow" { "Allow" }
                button type="submit" name="consent" value="deny" id="consent-deny" class="secondary" { "Deny" }
            }
        }
    };
    layout("allow this app?", form, html! {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mismatch_page_shows_the_sent_and_the_registered_uris_escaped() {
        let registered = vec![
            "https://photos.example.com/auth/login".to_string(),
            "app.immich:///oauth-callback".to_string(),
        ];
        let sent = "https://photos.example.com/cb?a=1&b=<script>";
        let Html(html) = redirect_mismatch("immich", true, Some(sent), &registered);
        assert!(html.contains(
            "<code class=\"uri\" id=\"sent-redirect-uri\">\
             https://photos.example.com/cb?a=1&amp;b=&lt;script&gt;</code>"
        ));
        assert!(!html.contains("<script>"));
        for uri in &registered {
            assert!(html.contains(&format!("<li><code class=\"uri\">{uri}</code></li>")));
        }
        assert!(html.contains("AUTH_OIDC_CLIENT_IMMICH_REDIRECT_URIS"));
        assert!(html.contains("<a href=\"/\" id=\"back\">"));
        let Html(html) = redirect_mismatch("notes", false, None, &[]);
        assert!(html.contains("notes sent no redirect_uri."));
        assert!(html.contains("No redirect URI is registered"));
        assert!(!html.contains("AUTH_OIDC_CLIENT_"));
    }

    #[test]
    fn long_uris_are_cut_on_a_character_boundary() {
        assert_eq!(truncated("short", 10), "short");
        assert_eq!(truncated("exactly10!", 10), "exactly10!");
        assert_eq!(truncated("ééééé", 3), "ééé…");
        let long = format!("https://x.example/{}", "a".repeat(500));
        let Html(html) = redirect_mismatch("x", true, Some(&long), &[]);
        assert!(html.contains(&format!("{}…</code>", &long[..SHOWN_URI_CHARS])));
        assert!(!html.contains(&long));
    }

    #[test]
    fn the_consent_form_carries_the_request_escaped_with_the_owners_two_answers() {
        let pairs = [
            ("client_id", "mobile"),
            ("state", r#"x"><script>alert(1)</script>"#),
        ];
        let Html(html) = consent("<b>Notes</b>", "com.example.app:/oauth?a=1&b=2", &pairs);
        assert!(html.starts_with("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"));
        assert!(html.contains("<title>soloauth — allow this app?</title>"));
        assert!(html.contains(
            "<form class=\"card\" id=\"consent-form\" method=\"post\" action=\"/oidc/authorize\">\
             <h2>Allow &lt;b&gt;Notes&lt;/b&gt; on this device to sign in as you?</h2>"
        ));
        assert!(html.contains("<code>com.example.app:/oauth?a=1&amp;b=2</code>"));
        assert!(html.contains("<input type=\"hidden\" name=\"client_id\" value=\"mobile\">"));
        assert!(html.contains(
            "<input type=\"hidden\" name=\"state\" \
             value=\"x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;\">"
        ));
        assert!(html.contains(
            "<div class=\"row\">\
             <button type=\"submit\" name=\"consent\" value=\"allow\" id=\"consent-allow\">Allow</button>\
             <button type=\"submit\" name=\"consent\" value=\"deny\" id=\"consent-deny\" \
             class=\"secondary\">Deny</button></div></form>"
        ));
        assert!(!html.contains("<script>") && !html.contains("<b>"));
    }

    #[test]
    fn the_logout_confirmation_posts_the_request_again_and_loads_its_script() {
        let Html(html) =
            confirm_logout(&[("post_logout_redirect_uri", "https://a.example/?x=1&y=\"2\"")]);
        assert!(html.contains(
            "<link rel=\"stylesheet\" href=\"/static/style.css\">\
             <script src=\"/static/logout.js\" defer></script></head>"
        ));
        assert!(html.contains(
            "<form class=\"card\" id=\"logout-form\" method=\"post\" action=\"/oidc/logout\">\
             <h2>Sign out of soloauth?</h2>"
        ));
        assert!(html.contains(
            "<input type=\"hidden\" name=\"post_logout_redirect_uri\" \
             value=\"https://a.example/?x=1&amp;y=&quot;2&quot;\">\
             <div class=\"row\"><button type=\"submit\" id=\"logout-confirm\">Sign out</button>\
             <a href=\"/\" class=\"button\">Stay signed in</a></div></form>"
        ));
        let Html(html) = page("signed out", "You are signed out of <soloauth>.");
        assert!(html.contains(
            "<div class=\"card\"><h2>signed out</h2>\
             <p>You are signed out of &lt;soloauth&gt;.</p>\
             <p><a href=\"/\" id=\"back\">Go to your soloauth account page</a></p></div></main></body></html>"
        ));
        assert!(html.contains("<link rel=\"icon\" href=\"/static/favicon.svg\""));
        assert!(html.contains("<main><h1><svg class=\"logo\""));
        assert!(html.contains("</svg> soloauth</h1>"));
    }

    #[test]
    fn a_form_may_be_redirected_to_its_target_and_nowhere_else() {
        for (target, source) in [
            (
                "http://127.0.0.1:49152/callback",
                "form-action 'self' http://127.0.0.1:49152;",
            ),
            (
                "https://photos.example.com/bye?x=1",
                "form-action 'self' https://photos.example.com;",
            ),
            ("http://[::1]:8080/cb", "form-action 'self' http:;"),
            (
                "com.example.app:/oauth",
                "form-action 'self' com.example.app:;",
            ),
        ] {
            let csp = csp_redirecting_to(Some(target));
            assert!(csp.contains(source), "{target}: {csp}");
        }
        assert_eq!(csp_redirecting_to(None), PAGE_CSP);
        assert_eq!(csp_redirecting_to(Some("not a url")), PAGE_CSP);
    }
}
