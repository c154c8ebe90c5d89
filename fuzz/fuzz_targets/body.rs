//! Request bodies, parsed the way the server parses them.
//!
//! 1. `serde_json::from_slice::<Value>` then `ParseFromJSON::parse_from_json`
//!    for every JSON body type the API takes (what poem-openapi's `Json<T>`
//!    payload does after reading the body).
//! 2. The same bytes through the real extractors: `LoginRequest` as JSON and
//!    as an OAuth2-style form, and `OptionalJson<RefreshBody>` (an empty body
//!    is allowed). These are async but finish on the first poll: the body is
//!    in memory.
//! 3. The codes a body carries: every JSON string (and the raw input) through
//!    `recovery::normalize` and `totp::check`, with every JSON integer (and a
//!    fixed instant) as `now`.
//!
//! Property: nothing panics; normalisation is idempotent; the current code
//! is accepted at any `now >= 0`.

#![no_main]

use std::future::Future;
use std::task::{Context, Poll, Waker};

use libfuzzer_sys::fuzz_target;
use poem::http::Method;
use poem::Request;
use poem_openapi::types::ParseFromJSON;
use poem_openapi::{ApiExtractor, ExtractParamOptions};
use serde_json::Value;
use soloauth::auth::{recovery, totp};
use soloauth::http::api::login::{LoginBody, LoginRequest, LoginTotpBody, RefreshBody};
use soloauth::http::api::totp::{CodeBody, DisableBody};
use soloauth::http::api::OptionalJson;

const NOW: i64 = 1_800_000_000;
const SECRET: &[u8; 20] = b"12345678901234567890"; // RFC 6238's test secret
/// Strings and integers taken from one body, at most (keeps an execution cheap).
const MAX_VALUES: usize = 64;

/// Polls a future that never waits on I/O or timers to completion.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..64 {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("harness: an in-memory request body did not complete");
}

fn request(content_type: &str, data: &[u8]) -> (Request, poem::RequestBody) {
    Request::builder()
        .method(Method::POST)
        .uri_str("/auth/login")
        .content_type(content_type)
        .body(data.to_vec())
        .split()
}

fn collect<'a>(value: &'a Value, strings: &mut Vec<&'a str>, numbers: &mut Vec<i64>) {
    if strings.len() + numbers.len() >= MAX_VALUES {
        return;
    }
    match value {
        Value::String(s) => strings.push(s),
        Value::Number(n) => {
            if let Some(n) = n.as_i64() {
                numbers.push(n);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect(v, strings, numbers)),
        Value::Object(map) => map.iter().for_each(|(k, v)| {
            strings.push(k);
            collect(v, strings, numbers)
        }),
        Value::Null | Value::Bool(_) => {}
    }
}

fn check_code(code: &str, nows: &[i64]) {
    if let Some(normal) = recovery::normalize(code) {
        assert_eq!(
            recovery::normalize(&normal).as_deref(),
            Some(normal.as_str())
        );
    }
    for &now in nows {
        for last in [
            None,
            Some(totp::step_of(now)),
            Some(i64::MIN),
            Some(i64::MAX),
        ] {
            if let Some(step) = totp::check(SECRET, code, now, last) {
                assert!(now >= 0);
                assert!(
                    (step - totp::step_of(now)).abs() <= 1,
                    "step {step} at {now}"
                );
                assert!(
                    last.is_none_or(|l| step > l),
                    "replayed step {step} after {last:?}"
                );
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    // 1. JSON value → body types.
    let value = serde_json::from_slice::<Value>(data).ok();
    if let Some(value) = &value {
        let _ = LoginBody::parse_from_json(Some(value.clone()));
        let _ = LoginTotpBody::parse_from_json(Some(value.clone()));
        let _ = RefreshBody::parse_from_json(Some(value.clone()));
        let _ = CodeBody::parse_from_json(Some(value.clone()));
        let _ = DisableBody::parse_from_json(Some(value.clone()));
    }

    // 2. The extractors the handlers declare.
    for content_type in ["application/json", "application/x-www-form-urlencoded"] {
        let (req, mut body) = request(content_type, data);
        let _ = block_on(LoginRequest::from_request(
            &req,
            &mut body,
            ExtractParamOptions::default(),
        ));
    }
    let (req, mut body) = request("application/json", data);
    let _ = block_on(OptionalJson::<RefreshBody>::from_request(
        &req,
        &mut body,
        ExtractParamOptions::default(),
    ));

    // 3. Codes: TOTP and recovery.
    let mut strings = Vec::new();
    let mut nows = vec![NOW];
    if let Some(value) = &value {
        collect(value, &mut strings, &mut nows);
    }
    let raw = String::from_utf8_lossy(data);
    strings.push(&raw);
    for code in strings {
        check_code(code, &nows);
    }
    for &now in &nows {
        if now >= 0 {
            let code = totp::code_at(SECRET, now);
            assert!(
                totp::check(SECRET, &code, now, None).is_some(),
                "the current code {code} is refused at {now}"
            );
        }
    }
});
