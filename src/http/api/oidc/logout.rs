//! `/oidc/logout`: RP-initiated logout. A sign-in ends only when the
//! request surely comes from its owner or its app:
//! - this browser's session (its host-only access cookie), when an ID
//!   token we signed names it, or on our own confirmation form (a
//!   same-origin post);
//! - with no session in sight (the access cookie ran out, or a cross-site
//!   post carried no cookie), the session a valid ID token names: the app
//!   holding that token asks to end its own sign-in.
//!
//! Anything else (a bare link or form another site could plant) gets the
//! confirmation page and clears nothing. Cookies are cleared when this
//! browser's own session ended, or on our own form.

use poem::http::HeaderMap;
use poem::web::cookie::CookieJar;
use poem_openapi::payload::Html;
use poem_openapi::{ApiResponse, Object};

use super::OidcApi;
use crate::auth::oidc::authorize::with_query;
use crate::auth::sessions::SessionEnd;
use crate::auth::Client;
use crate::http::api::oidc_pages::{self as pages, page};
use crate::http::api::{cookies, decide};
use crate::http::error::ApiResult;

#[derive(ApiResponse)]
pub enum LogoutAnswer {
    /// Back to the app.
    #[oai(status = 302)]
    Redirect(#[oai(header = "Location")] String),
    /// "Sign out of soloauth?": the request again, as a form to confirm.
    #[oai(status = 200)]
    Confirm(
        Html<String>,
        #[oai(header = "Content-Security-Policy")] String,
    ),
    /// Signed out, nowhere registered to go.
    #[oai(status = 200)]
    Done(Html<String>),
    /// Storage is failing.
    #[oai(status = 503)]
    Unavailable(Html<String>),
}

/// RP-initiated logout's parameters.
#[derive(Object, Default, serde::Deserialize)]
pub struct LogoutParams {
    pub id_token_hint: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub client_id: Option<String>,
}

impl LogoutParams {
    /// The parameters as form fields (for the confirmation page).
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("id_token_hint", &self.id_token_hint),
            ("post_logout_redirect_uri", &self.post_logout_redirect_uri),
            ("state", &self.state),
            ("client_id", &self.client_id),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .collect()
    }
}

/// What a logout ends (see the module notes).
#[derive(Debug, PartialEq)]
enum Ending<'a> {
    /// This session.
    Session(&'a str),
    /// No session: none in sight, on our own form.
    Nothing,
    /// Nothing yet: the owner confirms first.
    Confirm,
}

/// What ends, given the session this browser shows (`visible`), the one a
/// valid ID token names (`hinted`), and whether this is our own form.
fn ending<'a>(
    visible: Option<&'a str>,
    hinted: Option<&'a str>,
    from_our_page: bool,
) -> Ending<'a> {
    match (visible, hinted) {
        (Some(own), hinted) if from_our_page || hinted == Some(own) => Ending::Session(own),
        (None, Some(hinted)) => Ending::Session(hinted),
        (None, None) if from_our_page => Ending::Nothing,
        (Some(_), _) | (None, None) => Ending::Confirm,
    }
}

/// "Sign out of soloauth?", whose answer may redirect to `target`.
fn confirm(p: &LogoutParams, target: Option<&str>) -> LogoutAnswer {
    let page = pages::confirm_logout(&p.pairs());
    LogoutAnswer::Confirm(page, pages::csp_redirecting_to(target))
}

/// Signed out: back to the app's `target` with its `state`, or a page.
fn signed_out(target: Option<&str>, state: Option<&str>) -> LogoutAnswer {
    match target {
        Some(uri) => {
            let pairs: Vec<_> = state.map(|s| ("state", s)).into_iter().collect();
            LogoutAnswer::Redirect(with_query(uri, &pairs))
        }
        None => LogoutAnswer::Done(page("signed out", "You are signed out of soloauth.")),
    }
}

impl OidcApi {
    /// A logout request, answered (a page when storage fails).
    pub(super) async fn logout(
        &self,
        headers: &HeaderMap,
        jar: &CookieJar,
        client: &Client,
        p: LogoutParams,
        from_our_page: bool,
    ) -> LogoutAnswer {
        self.end_sign_in(headers, jar, client, p, from_our_page)
            .await
            .unwrap_or_else(|_| LogoutAnswer::Unavailable(pages::unavailable()))
    }

    async fn end_sign_in(
        &self,
        headers: &HeaderMap,
        jar: &CookieJar,
        client: &Client,
        p: LogoutParams,
        from_our_page: bool,
    ) -> ApiResult<LogoutAnswer> {
        let hint = self.verified_hint(&p).await?;
        let hinted_sid = hint.as_ref().and_then(|c| c["sid"].as_str());
        let target = self.logout_target(&p, hint.as_ref())?;
        let visible = self.signed_in(headers)?;
        let visible_sid = visible.as_ref().map(|s| s.id.as_str());
        match ending(visible_sid, hinted_sid, from_our_page) {
            Ending::Session(sid) => self.revoke_session(sid, client).await?,
            Ending::Nothing => {}
            Ending::Confirm => return Ok(confirm(&p, target.as_deref())),
        }
        if from_our_page || visible.is_some() {
            cookies::clear(jar, &self.state.config);
        }
        Ok(signed_out(target.as_deref(), p.state.as_deref()))
    }

    /// The claims of `id_token_hint`, if it is an ID token we signed (its
    /// expiry aside: see `KeyRing::verify_hint`).
    async fn verified_hint(&self, p: &LogoutParams) -> ApiResult<Option<serde_json::Value>> {
        let state = &self.state;
        let ring = (state.auth.oidc_keys)
            .ring(&state.auth.store, &state.auth.vault, state.now())
            .await?;
        let issuer = &state.auth.oidc_issuer;
        Ok((p.id_token_hint.as_deref()).and_then(|t| ring.verify_hint(t, issuer)))
    }

    /// Ends session `sid` (an event if it was live).
    async fn revoke_session(&self, sid: &str, client: &Client) -> ApiResult<()> {
        let (sessions, why) = (self.state.auth.sessions(), SessionEnd::OidcLogout);
        let end = async |events: &mut _, _| sessions.end(sid, why, client, events).await;
        decide(&self.state, end).await.map(|_| ())
    }

    /// Where a logout goes back to: `post_logout_redirect_uri` when it is a
    /// registered logout URI of the app (named by `client_id` or the hint's
    /// `aud`).
    fn logout_target(
        &self,
        p: &LogoutParams,
        hint: Option<&serde_json::Value>,
    ) -> ApiResult<Option<String>> {
        let hinted_app = hint.and_then(|c| c["aud"].as_str().map(str::to_string));
        let Some(client_id) = p.client_id.clone().or(hinted_app) else {
            return Ok(None);
        };
        let Some(uri) = p.post_logout_redirect_uri.as_deref() else {
            return Ok(None);
        };
        let app = self.state.auth.provider().app(&client_id)?;
        Ok(app
            .filter(|app| app.logout_allowed(uri))
            .map(|_| uri.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::{ending, Ending};

    #[test]
    fn a_sign_in_ends_only_for_its_owner_or_its_app() {
        // Our own form ends this browser's session, or nothing.
        assert_eq!(ending(Some("s"), None, true), Ending::Session("s"));
        assert_eq!(ending(Some("s"), Some("t"), true), Ending::Session("s"));
        assert_eq!(ending(None, None, true), Ending::Nothing);
        // An ID token that names this browser's session.
        assert_eq!(ending(Some("s"), Some("s"), false), Ending::Session("s"));
        // No session in sight: the one a valid ID token names.
        assert_eq!(ending(None, Some("t"), false), Ending::Session("t"));
        assert_eq!(ending(None, Some("t"), true), Ending::Session("t"));
        // Anything else: confirm first.
        assert_eq!(ending(Some("s"), None, false), Ending::Confirm);
        assert_eq!(ending(Some("s"), Some("t"), false), Ending::Confirm);
        assert_eq!(ending(None, None, false), Ending::Confirm);
    }
}
