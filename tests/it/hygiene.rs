//! Every error is JSON, bodies are limited, headers are set, docs exist.

use serde_json::json;

use crate::common::{Reply, Server};

/// `POST /auth/login` with a body as it is, of type `content_type`.
async fn raw_login(s: &Server, content_type: &str, body: impl Into<reqwest::Body>) -> Reply {
    let req = s.http.post(s.url("/auth/login"));
    s.send(req.header("content-type", content_type).body(body))
        .await
}

#[tokio::test]
async fn unknown_route_and_wrong_method_are_json() {
    let s = Server::start().await;
    let r = s.get("/no/such/route", None).await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "not_found");
    assert!(r.body["message"].is_string());
    let r = s.send(s.http.put(s.url("/auth/login"))).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.error(), "method_not_allowed");
    assert_eq!(r.headers["allow"], "POST");
    for (path, allow) in [
        ("/auth/me", "GET, HEAD"),
        ("/auth/verify", "GET, HEAD"),
        ("/auth/sessions/abc", "DELETE"),
        ("/static/app.js", "GET, HEAD"),
    ] {
        let r = s.send(s.http.patch(s.url(path))).await;
        assert_eq!(
            (r.status.as_u16(), r.headers["allow"].to_str().unwrap()),
            (405, allow),
            "{path}"
        );
    }
}

#[tokio::test]
async fn malformed_bodies_are_400_json_and_change_nothing() {
    let s = Server::start().await;
    let cases: Vec<(&str, &str)> = vec![
        ("application/json", "{\"username\":"),
        ("application/json", "[]"),
        ("application/json", "{\"username\":\"admin\"}"),
        ("application/json", "{\"username\":1,\"password\":\"x\"}"),
        (
            "application/json",
            "{\"username\":\"admin\",\"password\":[1]}",
        ),
        ("text/plain", "username=admin"),
        ("application/json", "\u{0}\u{1}"),
    ];
    for (ct, body) in cases {
        let r = raw_login(&s, ct, body.to_string()).await;
        assert_eq!(r.status, 400, "{ct} {body:?}: {}", r.body);
        assert_eq!(r.error(), "bad_request");
    }
    let r = s
        .send(
            s.http
                .post(s.url("/auth/login"))
                .header("content-type", "application/json"),
        )
        .await;
    assert_eq!(r.status, 400);
    // Nothing was created by any of it.
    let t = s.login().await;
    let sessions = s.get("/auth/sessions", Some(&t.access)).await;
    assert_eq!(sessions.body.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bodies_over_16_kib_are_413_declared_or_streamed() {
    let s = Server::start().await;
    let big = format!(
        "{{\"username\":\"{}\",\"password\":\"x\"}}",
        "a".repeat(17 * 1024)
    );
    let r = raw_login(&s, "application/json", big.clone()).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.error(), "payload_too_large");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big
        .into_bytes()
        .chunks(1024)
        .map(|c| Ok(c.to_vec()))
        .collect();
    let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = raw_login(&s, "application/json", stream).await;
    assert_eq!(r.status, 413);
    // Just under the limit is parsed (and refused for the credentials).
    let ok = format!(
        "{{\"username\":\"admin\",\"password\":\"x\",\"pad\":\"{}\"}}",
        "a".repeat(16 * 1024 - 60)
    );
    let r = raw_login(&s, "application/json", ok).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn security_headers_on_every_response() {
    let s = Server::start().await;
    let t = s.login().await;
    for (path, bearer) in [
        ("/", None),
        ("/static/app.js", None),
        ("/health", None),
        ("/nope", None),
        ("/auth/me", Some(t.access.as_str())),
        ("/auth/me", None),
        ("/openapi.json", None),
    ] {
        let r = s.get(path, bearer).await;
        let h = &r.headers;
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        if path.starts_with("/auth") {
            assert_eq!(h["cache-control"], "no-store", "{path}");
        }
    }
    let docs = s.get("/docs", None).await;
    assert_eq!(docs.status, 200);
    assert_eq!(docs.headers["x-frame-options"], "DENY");
}

#[tokio::test]
async fn login_page_is_served_with_its_assets() {
    let s = Server::start().await;
    let page = s.get("/", None).await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    let html = page.body.as_str().unwrap();
    assert!(html.contains("/static/app.js"));
    assert!(!html.contains("<script>"), "no inline script");
    for asset in ["/static/app.js", "/static/style.css"] {
        assert_eq!(s.get(asset, None).await.status, 200, "{asset}");
    }
}

#[tokio::test]
async fn openapi_documents_every_endpoint() {
    let s = Server::start().await;
    let spec = s.get("/openapi.json", None).await.body;
    assert!(spec["openapi"].as_str().unwrap().starts_with("3."));
    let paths = spec["paths"].as_object().unwrap();
    for (path, method) in [
        ("/health", "get"),
        ("/auth/health", "get"),
        ("/auth/login", "post"),
        ("/auth/refresh", "post"),
        ("/auth/logout", "post"),
        ("/auth/me", "get"),
        ("/auth/sessions", "get"),
        ("/auth/sessions/{id}", "delete"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing"
        );
    }
    let login = paths["/auth/login"]["post"]["requestBody"]["content"]
        .as_object()
        .unwrap();
    assert!(
        login.keys().any(|k| k.starts_with("application/json")),
        "{login:?}"
    );
    assert!(login
        .keys()
        .any(|k| k.starts_with("application/x-www-form-urlencoded")));
}

#[tokio::test]
async fn health_checks_storage() {
    let s = Server::start().await;
    for path in ["/health", "/auth/health"] {
        let r = s.get(path, None).await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "storage": "ok"})
        );
    }
}

/// Regression: a browser reload sends the ETag back; poem's embedded-files
/// endpoint answered that with `400` and the page lost its script and style.
#[tokio::test]
async fn static_files_revalidate_with_their_etag() {
    let s = Server::start().await;
    let first = s.get("/static/app.js", None).await;
    let etag = first.headers["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let again = s
        .send(
            s.http
                .get(s.url("/static/app.js"))
                .header("if-none-match", &etag),
        )
        .await;
    assert_eq!(again.status, 304);
    let changed = s
        .send(
            s.http
                .get(s.url("/static/app.js"))
                .header("if-none-match", "\"other\""),
        )
        .await;
    assert_eq!(changed.status, 200);
    assert_eq!(s.get("/static/missing.js", None).await.error(), "not_found");
}

#[tokio::test]
async fn a_body_that_does_not_parse_is_never_echoed_back() {
    let s = Server::start().await;
    let token = "mfa-token-that-must-not-come-back";
    for (path, body) in [
        (
            "/auth/login/totp",
            json!({"mfa_token": token, "code": 987654}),
        ),
        (
            "/auth/login/totp",
            json!({"mfa_token": token, "code": "987654", "recovery_code": "ABCDE-FGHIJ"}),
        ),
        ("/auth/login", json!(["admin", token])),
        (
            "/auth/login",
            json!({"username": "admin", "password": [token]}),
        ),
        ("/auth/refresh", json!({"refresh_token": {"t": token}})),
    ] {
        let r = s.post(path, body.clone(), None).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (400, "bad_request"),
            "{body}"
        );
        let text = r.body.to_string();
        for secret in [token, "987654", "ABCDE-FGHIJ"] {
            assert!(!text.contains(secret), "{path} echoed {secret}: {text}");
        }
    }
}
