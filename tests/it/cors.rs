//! CORS on the OpenID Connect endpoints: a browser app on another origin
//! reads discovery and JWKS and calls token, userinfo and revocation; only
//! public clients' redirect origins and `AUTH_OIDC_CORS_ORIGINS` may, and
//! never with credentials.

use reqwest::Method;
use serde_json::json;

use crate::common::{Reply, Server};

const SPA: &str = "https://spa.example.com";
const EXTRA: &str = "https://extra.example.com";
const CONFIDENTIAL: &str = "https://photos.example.com";

async fn server() -> Server {
    Server::start_with(&[
        ("AUTH_OIDC_CLIENT_SPA_ID", "spa"),
        (
            "AUTH_OIDC_CLIENT_SPA_REDIRECT_URIS",
            "https://spa.example.com/callback",
        ),
        ("AUTH_OIDC_CLIENT_PHOTOS_ID", "photos"),
        ("AUTH_OIDC_CLIENT_PHOTOS_SECRET", &"s".repeat(32)),
        (
            "AUTH_OIDC_CLIENT_PHOTOS_REDIRECT_URIS",
            "https://photos.example.com/cb",
        ),
        ("AUTH_OIDC_CORS_ORIGINS", "https://extra.example.com/"),
    ])
    .await
}

/// A preflight from `origin` for `method` on `path`.
async fn preflight(s: &Server, path: &str, origin: &str, method: &str) -> Reply {
    let req = s
        .http
        .request(Method::OPTIONS, s.url(path))
        .header("origin", origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        );
    s.send(req).await
}

fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

/// The answer lets `origin`'s page read it, and nothing more.
fn readable_by(r: &Reply, origin: &str) {
    assert_eq!(header(r, "access-control-allow-origin"), Some(origin));
    assert_eq!(header(r, "access-control-allow-credentials"), None);
    let vary: Vec<&str> = r
        .headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(vary.iter().any(|v| v.contains("Origin")), "{vary:?}");
}

#[tokio::test]
async fn preflights_are_answered_for_public_clients_and_the_listed_origins() {
    let s = server().await;
    for (path, method) in [
        ("/.well-known/openid-configuration", "GET"),
        ("/oidc/jwks.json", "GET"),
        ("/oidc/token", "POST"),
        ("/oidc/userinfo", "GET"),
        ("/oidc/userinfo", "POST"),
        ("/oidc/revoke", "POST"),
    ] {
        for origin in [SPA, EXTRA] {
            let r = preflight(&s, path, origin, method).await;
            assert_eq!(r.status, 204, "{path} {method} from {origin}");
            readable_by(&r, origin);
            let methods = header(&r, "access-control-allow-methods").unwrap();
            assert!(methods.contains(method), "{methods}");
            let headers = header(&r, "access-control-allow-headers").unwrap();
            assert!(headers.contains("authorization"), "{headers}");
        }
    }
}

#[tokio::test]
async fn no_other_origin_path_or_method_gets_an_answer_it_can_read() {
    let s = server().await;
    for origin in [
        CONFIDENTIAL,
        "https://evil.example.com",
        "null",
        "https://spa.example.com:444",
    ] {
        let r = preflight(&s, "/oidc/token", origin, "POST").await;
        assert_ne!(r.status, 204, "{origin}");
        assert_eq!(header(&r, "access-control-allow-origin"), None, "{origin}");
        let req = s
            .http
            .get(s.url("/oidc/jwks.json"))
            .header("origin", origin);
        let r = s.send(req).await;
        assert_eq!(r.status, 200, "served as before");
        assert_eq!(header(&r, "access-control-allow-origin"), None, "{origin}");
    }
    // A method the endpoint does not have, and a path that is not the provider's.
    let r = preflight(&s, "/oidc/token", SPA, "DELETE").await;
    assert_eq!(
        (r.status.as_u16(), header(&r, "access-control-allow-origin")),
        (405, None)
    );
    let r = preflight(&s, "/auth/login", SPA, "POST").await;
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    let req = s.http.post(s.url("/auth/login")).header("origin", SPA);
    let r = s
        .send(req.json(&json!({"username": "admin", "password": "x"})))
        .await;
    assert_eq!(header(&r, "access-control-allow-origin"), None);
    // OPTIONS without Origin is no preflight: 405 as before.
    let r = s
        .send(s.http.request(Method::OPTIONS, s.url("/oidc/token")))
        .await;
    assert_eq!(r.status, 405);
}

#[tokio::test]
async fn the_app_reads_discovery_jwks_and_its_token_errors() {
    let s = server().await;
    for path in ["/.well-known/openid-configuration", "/oidc/jwks.json"] {
        let r = s.send(s.http.get(s.url(path)).header("origin", SPA)).await;
        assert_eq!(r.status, 200);
        readable_by(&r, SPA);
    }
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "nope"),
        ("client_id", "spa"),
        ("redirect_uri", "https://spa.example.com/callback"),
        ("code_verifier", &"v".repeat(43)),
    ];
    let req = s.http.post(s.url("/oidc/token")).header("origin", SPA);
    let r = s.send(req.form(&form)).await;
    assert_eq!(r.body["error"], "invalid_grant", "{}", r.body);
    readable_by(&r, SPA);
    let req = s.http.get(s.url("/oidc/userinfo")).header("origin", EXTRA);
    let r = s.send(req.bearer_auth("not-a-token")).await;
    assert_eq!(r.status, 401);
    readable_by(&r, EXTRA);
    let exposed = header(&r, "access-control-expose-headers").unwrap_or_default();
    assert!(exposed.contains("www-authenticate"), "{exposed}");
    // An error the framework answers (a method the endpoint lacks) is
    // readable too: its JSON body keeps the header.
    let r = s
        .send(s.http.put(s.url("/oidc/token")).header("origin", SPA))
        .await;
    assert_eq!(r.status, 405);
    readable_by(&r, SPA);
}

#[tokio::test]
async fn a_public_app_added_on_the_page_is_allowed_until_it_is_removed() {
    let s = server().await;
    let origin = "http://127.0.0.1:5173";
    let r = preflight(&s, "/oidc/token", origin, "POST").await;
    assert_eq!(header(&r, "access-control-allow-origin"), None, "not yet");
    let t = s.login().await;
    let app =
        json!({"name": "Local SPA", "redirect_uris": ["http://127.0.0.1/cb"], "public": true});
    let r = s.post("/auth/oidc/clients", app, Some(&t.access)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["client_id"].as_str().unwrap().to_string();
    let r = preflight(&s, "/oidc/token", origin, "POST").await;
    assert_eq!(
        r.status, 204,
        "a loopback redirect allows its host on any port"
    );
    readable_by(&r, origin);
    let req = s.http.delete(s.url(&format!("/auth/oidc/clients/{id}")));
    let r = s.send(req.bearer_auth(&t.access)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    let r = preflight(&s, "/oidc/token", origin, "POST").await;
    assert_eq!(header(&r, "access-control-allow-origin"), None, "removed");
}
