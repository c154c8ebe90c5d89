//! `GET /`: the login page (hidden from the OpenAPI document). Its assets are
//! served from `/static/*` by `web`.

use poem_openapi::payload::Html;
use poem_openapi::{ApiResponse, OpenApi};

use crate::web::Assets;

#[derive(ApiResponse)]
pub enum PageResponse {
    #[oai(status = 200)]
    Page(Html<String>),
}

pub struct PageApi;

#[OpenApi]
impl PageApi {
    /// The login page.
    #[oai(path = "/", method = "get", hidden)]
    async fn index(&self) -> PageResponse {
        let html = Assets::get("index.html")
            .map(|f| String::from_utf8_lossy(&f.data).into_owned())
            .unwrap_or_default();
        PageResponse::Page(Html(html))
    }
}
