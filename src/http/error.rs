//! One error type for the whole API, mapped to HTTP in one place.
//!
//! Handlers return [`ApiError`]; the domain's `AuthError` converts into it
//! here and nowhere else ([`From<AuthError>`]). Its [`ResponseError`]
//! impl turns it into the contract's JSON body `{"error","message"}` with the
//! right status, `Retry-After` where the contract asks for it, and
//! `Cache-Control: no-store`. Internal failures carry a fixed message: the
//! detail goes to the log (never a secret), not to the client.

use poem::http::StatusCode;
use poem::{error::ResponseError, Body, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::{ApiResponse, Object};

use crate::auth::error::FactorConflict;
use crate::auth::AuthError;

/// The JSON body of every error response.
#[derive(Debug, Clone, Object, serde::Serialize)]
pub struct ErrorBody {
    /// Machine-readable error code (see the contract's error table).
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
    /// Only with `mfa_required`: the single-use token for `/auth/login/totp`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// Only with `mfa_required`: seconds the `mfa_token` stays valid.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
}

/// Everything that can go wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("invalid username or password")]
    InvalidCredentials,
    #[error("invalid or already used code")]
    InvalidCode,
    #[error("missing, invalid, expired or revoked token")]
    InvalidToken,
    #[error("this refresh token was already used; the session has been revoked")]
    TokenReused,
    #[error("this action needs a recent sign-in: send the current password as \"password\"")]
    ReauthRequired,
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("a second factor is required")]
    MfaRequired { mfa_token: String, expires_in: i64 },
    #[error("cross-site request refused: Origin does not match the public URL")]
    Csrf,
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("too many failed attempts; try again later")]
    AccountLocked { retry_after: u64 },
    #[error("too many requests; slow down")]
    RateLimited { retry_after: u64 },
    #[error("the server is busy; try again shortly")]
    Busy { retry_after: u64 },
    #[error("storage is unavailable")]
    Storage,
    #[error("internal error")]
    Internal,
}

impl ApiError {
    /// An internal failure: logs `detail` (which must hold no secret) and
    /// answers with a fixed message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(detail = %detail, "internal error");
        ApiError::Internal
    }

    /// The contract's error code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::InvalidCredentials => "invalid_credentials",
            ApiError::InvalidCode => "invalid_code",
            ApiError::InvalidToken => "invalid_token",
            ApiError::TokenReused => "token_reused",
            ApiError::MfaRequired { .. } => "mfa_required",
            ApiError::Csrf => "csrf",
            ApiError::ReauthRequired => "reauth_required",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict { code, .. } => code,
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::AccountLocked { .. } => "account_locked",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Busy { .. } => "busy",
            ApiError::Storage => "storage_unavailable",
            ApiError::Internal => "internal",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::AccountLocked { retry_after }
            | ApiError::RateLimited { retry_after }
            | ApiError::Busy { retry_after } => Some((*retry_after).max(1)),
            _ => None,
        }
    }

    /// The JSON body for this error.
    pub fn body(&self) -> ErrorBody {
        let (mfa_token, expires_in) = match self {
            ApiError::MfaRequired {
                mfa_token,
                expires_in,
            } => (Some(mfa_token.clone()), Some(*expires_in)),
            _ => (None, None),
        };
        ErrorBody {
            error: self.code().to_string(),
            message: self.to_string(),
            mfa_token,
            expires_in,
        }
    }

    /// Maps a framework error (bad JSON, unknown route, wrong method…) by status.
    pub fn from_status(status: StatusCode, message: String) -> Self {
        match status {
            StatusCode::NOT_FOUND => ApiError::NotFound("no such route".into()),
            StatusCode::METHOD_NOT_ALLOWED => {
                ApiError::MethodNotAllowed("this method is not allowed on this route".into())
            }
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(crate::http::BODY_LIMIT),
            StatusCode::UNAUTHORIZED => ApiError::InvalidToken,
            s if s.is_server_error() => ApiError::internal(message),
            _ => ApiError::BadRequest(message),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::InvalidCredentials => ApiError::InvalidCredentials,
            AuthError::InvalidCode => ApiError::InvalidCode,
            AuthError::InvalidToken => ApiError::InvalidToken,
            AuthError::TokenReused => ApiError::TokenReused,
            AuthError::ReauthRequired => ApiError::ReauthRequired,
            AuthError::Locked { retry_after } => ApiError::AccountLocked { retry_after },
            AuthError::RateLimited { retry_after } => ApiError::RateLimited { retry_after },
            AuthError::Busy { retry_after } => ApiError::Busy { retry_after },
            AuthError::Conflict(conflict) => ApiError::Conflict {
                code: match conflict {
                    FactorConflict::AlreadyEnabled => "totp_already_enabled",
                    FactorConflict::NotEnabled | FactorConflict::NothingPending => {
                        "totp_not_enabled"
                    }
                    FactorConflict::ManagedByEnv => "totp_managed_by_env",
                },
                message: conflict.to_string(),
            },
            AuthError::NotFound(what) => ApiError::NotFound(what.into()),
            AuthError::Storage(e) => e.into(),
            AuthError::Internal(detail) => ApiError::internal(detail),
        }
    }
}

impl From<sled::Error> for ApiError {
    fn from(err: sled::Error) -> Self {
        tracing::error!(error = %err, "storage error");
        ApiError::Storage
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidCredentials
            | ApiError::InvalidCode
            | ApiError::InvalidToken
            | ApiError::TokenReused => StatusCode::UNAUTHORIZED,
            ApiError::MfaRequired { .. } | ApiError::Csrf | ApiError::ReauthRequired => {
                StatusCode::FORBIDDEN
            }
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::AccountLocked { .. } => StatusCode::LOCKED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Busy { .. } | ApiError::Storage => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn as_response(&self) -> Response {
        let body = serde_json::to_vec(&self.body()).unwrap_or_default();
        let mut resp = Response::builder()
            .status(self.status())
            .content_type("application/json")
            .header("Cache-Control", "no-store")
            .body(Body::from(body));
        if let Some(secs) = self.retry_after() {
            resp.headers_mut()
                .insert("Retry-After", poem::http::HeaderValue::from(secs));
        }
        resp
    }
}

const DOCUMENTED: &[(u16, &str)] = &[
    (
        400,
        "bad_request: malformed body, missing field or wrong type",
    ),
    (
        401,
        "invalid_credentials, invalid_code, invalid_token or token_reused",
    ),
    (
        403,
        "mfa_required (with mfa_token), csrf or reauth_required",
    ),
    (404, "not_found"),
    (408, "request_timeout: the body did not arrive within 10 s"),
    (409, "enrollment state conflict"),
    (413, "payload_too_large"),
    (423, "account_locked (with Retry-After)"),
    (429, "rate_limited (with Retry-After)"),
    (503, "storage_unavailable or busy"),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: DOCUMENTED
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json; charset=utf-8",
                        schema: <ErrorBody as poem_openapi::types::Type>::schema_ref(),
                    }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        <ErrorBody as poem_openapi::types::Type>::register(registry);
    }
}

/// Shorthand for handler and domain results.
pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locked_carries_retry_after_and_json() {
        let resp = ApiError::AccountLocked { retry_after: 90 }.as_response();
        assert_eq!(resp.status(), StatusCode::LOCKED);
        assert_eq!(resp.headers()["Retry-After"], "90");
        assert_eq!(resp.headers()["Cache-Control"], "no-store");
    }

    #[test]
    fn mfa_required_body_has_token() {
        let body = ApiError::MfaRequired {
            mfa_token: "t".into(),
            expires_in: 300,
        }
        .body();
        assert_eq!(body.error, "mfa_required");
        assert_eq!(body.mfa_token.as_deref(), Some("t"));
    }
}
