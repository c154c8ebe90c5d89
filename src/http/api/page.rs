//! `GET /`: the login page (hidden from the OpenAPI document). Its assets are
//! served from `/static/*` by `crate::http` (`static_file`, embedded from `static/`).
//!
//! With `?rd=…`, the server decides whether the page may go there after login
//! (the allow-list of `forward::allowed_redirect`) and, if so, puts the target
//! in a `<meta name="soloauth-rd">` the page script reads. One rule, in one
//! place; a refused `rd` simply never reaches the page.
//! `<meta name="soloauth-cookies">` names the cookie domain (if any) and
//! whether cookies are Secure, so the page can tell the owner when a
//! browser refuses them.

use std::sync::Arc;

use maud::{html, Markup};
use poem_openapi::param::Query;
use poem_openapi::payload::Html;
use poem_openapi::{ApiResponse, OpenApi};

use crate::http::error::{ApiError, ApiResult};
use crate::http::forward;
use crate::http::state::AppState;
use crate::http::Assets;

/// Where the page template takes the redirect target.
const RD_SLOT: &str = "<!--soloauth-rd-->";

/// The page's `<meta>` tags: the redirect target `rd` (allowed already),
/// if any, and the cookies' domain and Secure flag, which the page checks
/// the browser kept after a sign-in (and says why not, if it did not).
fn meta_tags(rd: Option<&str>, cookie_domain: Option<&str>, secure: bool) -> Markup {
    html! {
        @if let Some(rd) = rd {
            meta name="soloauth-rd" content=(rd);
        }
        meta name="soloauth-cookies" content=(cookie_domain.unwrap_or_default()) data-secure=(secure);
    }
}

#[derive(ApiResponse)]
pub enum PageResponse {
    #[oai(status = 200)]
    Page(Html<String>),
}

pub struct PageApi {
    pub state: Arc<AppState>,
}

#[OpenApi]
impl PageApi {
    /// The login page.
    #[oai(path = "/", method = "get", hidden)]
    async fn index(&self, rd: Query<Option<String>>) -> ApiResult<PageResponse> {
        let config = &self.state.config;
        let allowed = rd.0.and_then(|rd| {
            forward::allowed_redirect(
                &rd,
                &config.public_host,
                config.cookie_domain.as_deref(),
                config.public_url_is_https(),
            )
        });
        let page = Assets::get("index.html")
            .ok_or_else(|| ApiError::internal("index.html is missing from the build"))?;
        let meta = meta_tags(
            allowed.as_deref(),
            config.cookie_domain.as_deref(),
            config.cookie_secure,
        );
        let html = String::from_utf8_lossy(&page.data).replace(RD_SLOT, &meta.into_string());
        Ok(PageResponse::Page(Html(html)))
    }
}

#[cfg(test)]
mod tests {
    use super::meta_tags;

    #[test]
    fn the_meta_tags_carry_their_values_escaped() {
        let rd = r#"https://app.example.com/x?a=1&b="><script>"#;
        let meta = meta_tags(Some(rd), Some("example.com"), true).into_string();
        assert_eq!(
            meta,
            "<meta name=\"soloauth-rd\" \
             content=\"https://app.example.com/x?a=1&amp;b=&quot;&gt;&lt;script&gt;\">\
             <meta name=\"soloauth-cookies\" content=\"example.com\" data-secure=\"true\">"
        );
        let meta = meta_tags(None, None, false).into_string();
        assert_eq!(
            meta,
            "<meta name=\"soloauth-cookies\" content=\"\" data-secure=\"false\">"
        );
    }
}
