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

use crate::auth::error::{FactorConflict, PasskeyRefusal};
use crate::auth::AuthError;
use crate::base::secret::{ExposeSecret, SecretString};
use crate::storage::StoreError;

/// The JSON body of every error response (no `Debug`: it may carry an
/// `mfa_token`).
#[derive(Clone, Object, serde::Serialize)]
pub struct ErrorBody {
    /// Machine-readable error code (see the contract's error table).
    pub error: String,
    /// Human-readable explanation.
    pub message: String,
    /// Only with `mfa_required`: the token for `/auth/login/totp` (5
    /// minutes, 3 attempts).
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mfa_token: Option<String>,
    /// Only with `mfa_required`: seconds the `mfa_token` stays valid.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
    /// Only with `mfa_required`: what the second step takes, some of
    /// `totp`, `recovery_code` and `passkey`.
    #[oai(skip_serializing_if_is_none)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub factors: Option<Vec<String>>,
}

/// Everything that can go wrong in a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A refusal the domain decided (wrong credentials or code, a bad token,
    /// a lock, a limit…): its code and status come from [`refusal`].
    #[error(transparent)]
    Refused(AuthError),
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    #[error("a second factor is required")]
    MfaRequired {
        mfa_token: SecretString,
        expires_in: i64,
        /// What the second step takes (`totp`, `recovery_code`, `passkey`).
        factors: Vec<&'static str>,
    },
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
    #[error("storage is unavailable")]
    Storage,
    #[error("internal error")]
    Internal,
}

/// The code, status and `Retry-After` of a domain refusal.
fn refusal(err: &AuthError) -> (&'static str, StatusCode, Option<u64>) {
    match err {
        AuthError::InvalidCredentials => ("invalid_credentials", StatusCode::UNAUTHORIZED, None),
        AuthError::InvalidCode => ("invalid_code", StatusCode::UNAUTHORIZED, None),
        AuthError::InvalidToken => ("invalid_token", StatusCode::UNAUTHORIZED, None),
        AuthError::TokenReused => ("token_reused", StatusCode::UNAUTHORIZED, None),
        AuthError::ReauthRequired => ("reauth_required", StatusCode::FORBIDDEN, None),
        AuthError::SecondFactorRequired => ("second_factor_required", StatusCode::FORBIDDEN, None),
        AuthError::PasskeyRequired => ("passkey_required", StatusCode::FORBIDDEN, None),
        AuthError::PasswordLoginOff => ("password_login_off", StatusCode::FORBIDDEN, None),
        AuthError::Forbidden => ("forbidden", StatusCode::FORBIDDEN, None),
        AuthError::Locked { retry_after } => {
            ("account_locked", StatusCode::LOCKED, Some(*retry_after))
        }
        AuthError::RateLimited { retry_after } => (
            "rate_limited",
            StatusCode::TOO_MANY_REQUESTS,
            Some(*retry_after),
        ),
        AuthError::Passkey(PasskeyRefusal::Challenge) => {
            ("invalid_challenge", StatusCode::BAD_REQUEST, None)
        }
        AuthError::Passkey(PasskeyRefusal::AlreadyRegistered) => {
            ("passkey_already_registered", StatusCode::CONFLICT, None)
        }
        AuthError::Passkey(_) => ("invalid_credentials", StatusCode::UNAUTHORIZED, None),
        AuthError::PasskeysOff(_) => ("passkeys_unavailable", StatusCode::CONFLICT, None),
        AuthError::Busy { retry_after } => {
            ("busy", StatusCode::SERVICE_UNAVAILABLE, Some(*retry_after))
        }
        // Converted into other variants by `From<AuthError>`; never refusals.
        AuthError::Conflict(_) | AuthError::Storage(_) | AuthError::Internal(_) => {
            ("internal", StatusCode::INTERNAL_SERVER_ERROR, None)
        }
    }
}

impl ApiError {
    /// `401 invalid_token`: the answer to every missing or bad credential.
    pub const INVALID_TOKEN: ApiError = ApiError::Refused(AuthError::InvalidToken);

    /// An internal failure: logs `detail` (which must hold no secret) and
    /// answers with a fixed message.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(detail = %detail, "internal error");
        ApiError::Internal
    }

    /// The contract's error code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Refused(err) => refusal(err).0,
            ApiError::BadRequest(_) => "bad_request",
            ApiError::MfaRequired { .. } => "mfa_required",
            ApiError::Csrf => "csrf",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict { code, .. } => code,
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Storage => "storage_unavailable",
            ApiError::Internal => "internal",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Refused(err) => refusal(err).2.map(|secs| secs.max(1)),
            _ => None,
        }
    }

    /// The JSON body for this error.
    pub fn body(&self) -> ErrorBody {
        let (mfa_token, expires_in, factors) = match self {
            ApiError::MfaRequired {
                mfa_token,
                expires_in,
                factors,
            } => (
                Some(mfa_token.expose_secret().to_string()),
                Some(*expires_in),
                Some(factors.iter().map(|f| f.to_string()).collect()),
            ),
            _ => (None, None, None),
        };
        ErrorBody {
            error: self.code().to_string(),
            message: self.to_string(),
            mfa_token,
            expires_in,
            factors,
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
            StatusCode::UNAUTHORIZED => ApiError::INVALID_TOKEN,
            s if s.is_server_error() => ApiError::internal(message),
            _ => ApiError::bad_request(&message),
        }
    }

    /// `400 bad_request` with a parser's message in plain words: cut
    /// before any echo of the submitted value (`…, found {"password": …}`:
    /// a body that does not parse may still hold a password, a code or a
    /// token), and without the names of the server's own types.
    pub fn bad_request(message: &str) -> Self {
        let cut = [", found ", " found "]
            .iter()
            .filter_map(|echo| message.find(echo))
            .min()
            .unwrap_or(message.len());
        let kept = plain_parse_message(&message[..cut]);
        let kept = kept.trim_end_matches(['.', ',', ' ']);
        ApiError::BadRequest(format!("{kept}."))
    }
}

/// A poem-openapi parse message without type names: `failed to parse
/// "ReauthBody": …` and `(occurred while parsing "…")` go, `Type "…" expects
/// an input value` says a field is missing, and `Expected input type "…"`
/// names the JSON kind expected.
fn plain_parse_message(message: &str) -> String {
    let mut text = message.replace("parse request payload error: ", "");
    while let Some(span) = quoted_span(&text, " (occurred while parsing \"", "\")") {
        text.replace_range(span, "");
    }
    while let Some(span) = quoted_span(&text, "failed to parse \"", "\": ") {
        text.replace_range(span, "");
    }
    while let Some(span) = quoted_span(&text, "Type \"", "\" expects an input value") {
        text.replace_range(span, "a required field is missing");
    }
    while let Some(start) = text.find("Expected input type \"") {
        let name_at = start + "Expected input type \"".len();
        let Some(len) = text[name_at..].find('"') else {
            break;
        };
        let kind = json_kind(&text[name_at..name_at + len]);
        text.replace_range(start..name_at + len + 1, &format!("expected {kind}"));
    }
    let text = text.trim();
    if text.is_empty() {
        "the request is not valid".into()
    } else {
        text.to_string()
    }
}

/// The byte range of `open…close` (both included) in `text`, if any.
fn quoted_span(text: &str, open: &str, close: &str) -> Option<std::ops::Range<usize>> {
    let start = text.find(open)?;
    let end = text[start + open.len()..].find(close)? + start + open.len() + close.len();
    Some(start..end)
}

/// How a type named in a parse message reads to a client: a JSON kind.
fn json_kind(type_name: &str) -> &'static str {
    match type_name {
        n if n.starts_with("string") => "a string",
        n if n.starts_with("integer") || n.starts_with("number") => "a number",
        n if n.starts_with("bool") => "true or false",
        n if n.starts_with("[") || n.starts_with("array") => "an array",
        _ => "an object",
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Conflict(conflict) => ApiError::Conflict {
                code: match conflict {
                    FactorConflict::AlreadyEnabled => "totp_already_enabled",
                    FactorConflict::NotEnabled | FactorConflict::NothingPending => {
                        "totp_not_enabled"
                    }
                    FactorConflict::ManagedByEnv => "totp_managed_by_env",
                    FactorConflict::NoPasskey => "no_passkey",
                    FactorConflict::LastPasskey => "last_passkey",
                    FactorConflict::PasswordLoginByEnv => "password_login_managed_by_env",
                },
                message: conflict.to_string(),
            },
            AuthError::Storage(e) => e.into(),
            AuthError::Internal(detail) => ApiError::internal(detail),
            refused => ApiError::Refused(refused),
        }
    }
}

/// `503 storage_unavailable`; the log says why (for a record that does not
/// decode, its tree and key, never its value).
impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        tracing::error!(error = %err, "storage error");
        ApiError::Storage
    }
}

impl ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Refused(err) => refusal(err).1,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MfaRequired { .. } | ApiError::Csrf => StatusCode::FORBIDDEN,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Storage => StatusCode::SERVICE_UNAVAILABLE,
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
        "bad_request (malformed body, missing field or wrong type) or invalid_challenge (a passkey ceremony unknown, used or expired)",
    ),
    (
        401,
        "invalid_credentials, invalid_code, invalid_token or token_reused",
    ),
    (
        403,
        "mfa_required (with mfa_token and factors), password_login_off, csrf or reauth_required",
    ),
    (404, "not_found"),
    (408, "request_timeout: the body did not arrive within 10 s"),
    (
        409,
        "enrollment state conflict, passkeys_unavailable, passkey_already_registered, no_passkey, last_passkey or password_login_managed_by_env",
    ),
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
        let resp = ApiError::from(AuthError::Locked { retry_after: 90 }).as_response();
        assert_eq!(resp.status(), StatusCode::LOCKED);
        assert_eq!(resp.headers()["Retry-After"], "90");
        assert_eq!(resp.headers()["Cache-Control"], "no-store");
    }

    #[test]
    fn bad_request_messages_never_echo_the_value() {
        let parsed = r#"failed to parse "LoginTotpBody": Expected input type "object", found {"code":"123456"}."#;
        let message = ApiError::bad_request(parsed).to_string();
        assert!(!message.contains("123456"), "{message}");
        assert_eq!(message, "expected an object.");
    }

    #[test]
    fn bad_request_messages_name_no_internal_type() {
        for (parsed, plain) in [
            (
                r#"failed to parse "string_password": expected a string (occurred while parsing "ReauthBody")"#,
                "expected a string.",
            ),
            (
                r#"parse request payload error: Type "string_password" expects an input value. (occurred while parsing "LoginBody")"#,
                "a required field is missing.",
            ),
            (
                r#"failed to parse parameter `limit`: failed to parse "integer(int32)": Expected input type "integer(int32)", found "x"."#,
                "failed to parse parameter `limit`: expected a number.",
            ),
            (
                r#"failed to parse "NewTokenBody": "#,
                "the request is not valid.",
            ),
        ] {
            assert_eq!(ApiError::bad_request(parsed).to_string(), plain);
        }
    }

    #[test]
    fn mfa_required_body_has_token() {
        let err = ApiError::MfaRequired {
            mfa_token: SecretString::from("t0ken".to_string()),
            expires_in: 300,
            factors: vec!["passkey"],
        };
        assert!(!format!("{err:?}").contains("t0ken"), "Debug is redacted");
        let body = err.body();
        assert_eq!(body.error, "mfa_required");
        assert_eq!(body.mfa_token.as_deref(), Some("t0ken"));
        assert_eq!(body.factors, Some(vec!["passkey".to_string()]));
        let other = ApiError::Csrf.body();
        assert!(other.factors.is_none() && other.mfa_token.is_none());
    }
}
