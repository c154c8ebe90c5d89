//! `GET /health`, `GET /auth/health` (is the server up and its storage
//! working?) and `GET /metrics`.

use std::sync::Arc;

use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{ApiResponse, Object, OpenApi, Tags};

use crate::base::secret::{ct_eq, ExposeSecret};
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

#[derive(Tags)]
enum ApiTags {
    /// Liveness and storage health.
    Health,
}

/// Health report.
#[derive(Object)]
pub struct HealthBody {
    /// `ok` or `degraded`.
    status: String,
    version: String,
    /// `ok` or `error`.
    storage: String,
}

#[derive(ApiResponse)]
pub enum HealthResponse {
    /// Everything works.
    #[oai(status = 200)]
    Ok(Json<HealthBody>),
    /// Storage is failing.
    #[oai(status = 503)]
    Degraded(Json<HealthBody>),
}

pub struct HealthApi {
    pub state: Arc<AppState>,
}

impl HealthApi {
    fn report(&self) -> HealthResponse {
        let healthy = self.state.auth.store.is_healthy();
        let body = |status: &str, storage: &str| {
            Json(HealthBody {
                status: status.into(),
                version: env!("CARGO_PKG_VERSION").into(),
                storage: storage.into(),
            })
        };
        if healthy {
            HealthResponse::Ok(body("ok", "ok"))
        } else {
            HealthResponse::Degraded(body("degraded", "error"))
        }
    }
}

#[OpenApi(tag = "ApiTags::Health")]
impl HealthApi {
    /// Health check (storage is probed in the background every few seconds).
    #[oai(path = "/health", method = "get")]
    async fn health(&self) -> HealthResponse {
        self.report()
    }

    /// The same health check under `/auth`, for proxies that route only `/auth/*`.
    #[oai(path = "/auth/health", method = "get")]
    async fn auth_health(&self) -> HealthResponse {
        self.report()
    }

    /// Prometheus metrics (text exposition format). With `AUTH_METRICS_TOKEN`
    /// set, only for `Authorization: Bearer <that token>` (else `401`).
    #[oai(path = "/metrics", method = "get")]
    async fn metrics(&self, req: &poem::Request) -> ApiResult<PlainText<String>> {
        if let Some(token) = &self.state.config.metrics_token {
            let presented = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or("");
            if !ct_eq(
                presented.trim().as_bytes(),
                token.expose_secret().as_bytes(),
            ) {
                return Err(ApiError::INVALID_TOKEN);
            }
        }
        Ok(PlainText(
            self.state
                .metrics
                .render(self.state.auth.store.session_count()),
        ))
    }
}
