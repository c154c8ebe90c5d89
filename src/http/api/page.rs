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

use poem_openapi::param::Query;
use poem_openapi::payload::Html;
use poem_openapi::{ApiResponse, OpenApi};

use crate::http::error::{ApiError, ApiResult};
use crate::http::forward;
use crate::http::state::AppState;
use crate::http::Assets;

/// Where the page template takes the redirect target.
const RD_SLOT: &str = "<!--soloauth-rd-->";

/// Escapes text for HTML (an attribute value or element text).
pub(crate) fn attr_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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
        let mut meta = allowed
            .map(|rd| {
                format!(
                    r#"<meta name="soloauth-rd" content="{}">"#,
                    attr_escape(&rd)
                )
            })
            .unwrap_or_default();
        // The page checks after a sign-in that the browser kept its cookies
        // (and says why not, if it did not): their domain and Secure flag.
        meta.push_str(&format!(
            r#"<meta name="soloauth-cookies" content="{}" data-secure="{}">"#,
            attr_escape(config.cookie_domain.as_deref().unwrap_or_default()),
            config.cookie_secure
        ));
        let page = Assets::get("index.html")
            .ok_or_else(|| ApiError::internal("index.html is missing from the build"))?;
        let html = String::from_utf8_lossy(&page.data).replace(RD_SLOT, &meta);
        Ok(PageResponse::Page(Html(html)))
    }
}
