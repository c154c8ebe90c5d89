//! The HTTP client both kinds of server expose: requests by path, replies
//! read whole, and the login and refresh calls every test makes.

use reqwest::header::{HeaderMap, COOKIE};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{json, Value};

use super::PASSWORD;

/// A client that does not follow redirects (the tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    /// Values of every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

/// Tokens from a successful login or refresh.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub sid: String,
}

impl Tokens {
    pub fn from(body: &Value) -> Tokens {
        Tokens {
            access: body["access_token"].as_str().unwrap().into(),
            refresh: body["refresh_token"].as_str().unwrap().into(),
            sid: body["session_id"].as_str().unwrap().into(),
        }
    }
}

/// A server's address and a client to speak to it.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

/// A JSON body, unless `body` is null (then no body at all).
fn with_json(req: RequestBuilder, body: &Value) -> RequestBuilder {
    if body.is_null() {
        req
    } else {
        req.json(body)
    }
}

impl Api {
    pub fn new(base: String) -> Api {
        Api {
            base,
            http: client(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, req: RequestBuilder) -> Reply {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    fn request(&self, method: Method, path: &str, bearer: Option<&str>) -> RequestBuilder {
        let req = self.http.request(method, self.url(path));
        match bearer {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.send(self.request(Method::GET, path, bearer)).await
    }

    /// `POST`; a null `body` sends no body at all.
    pub async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> Reply {
        let req = self.request(Method::POST, path, bearer);
        self.send(with_json(req, &body)).await
    }

    /// `POST` with extra request headers (`Origin`, `X-Forwarded-For`, a cookie).
    pub async fn post_with(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
        let mut req = with_json(self.request(Method::POST, path, None), &body);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.send(req).await
    }

    pub async fn patch(&self, path: &str, body: Value, bearer: Option<&str>) -> Reply {
        let req = self.request(Method::PATCH, path, bearer);
        self.send(with_json(req, &body)).await
    }

    pub async fn put(&self, path: &str, body: Value, bearer: Option<&str>) -> Reply {
        let req = self.request(Method::PUT, path, bearer);
        self.send(with_json(req, &body)).await
    }

    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> Reply {
        self.send(self.request(Method::DELETE, path, bearer)).await
    }

    /// `POST /auth/login` with JSON credentials.
    pub async fn try_login(&self, username: &str, password: &str) -> Reply {
        let body = json!({"username": username, "password": password});
        self.post("/auth/login", body, None).await
    }

    /// `POST /auth/login` as `admin`, with extra request headers.
    pub async fn login_with(&self, password: &str, headers: &[(&str, &str)]) -> Reply {
        let body = json!({"username": "admin", "password": password});
        self.post_with("/auth/login", body, headers).await
    }

    /// Logs in with the test password; panics unless 200.
    pub async fn login(&self) -> Tokens {
        let r = self.try_login("admin", PASSWORD).await;
        assert_eq!(r.status, 200, "{}", r.body);
        Tokens::from(&r.body)
    }

    /// The text of `/metrics` (served without a token).
    pub async fn metrics(&self) -> String {
        let r = self.http.get(self.url("/metrics")).send().await.unwrap();
        r.text().await.unwrap()
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        let body = json!({ "refresh_token": refresh_token });
        self.post("/auth/refresh", body, None).await
    }

    /// The IPs of the stored events (reads them through a fresh login).
    pub async fn login_events_ip(&self) -> Vec<String> {
        let from = [("x-forwarded-for", "198.51.100.200")];
        let r = self.login_with(PASSWORD, &from).await;
        let access = r.body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let events = self
            .get("/auth/events?limit=1000", Some(&access))
            .await
            .body;
        events
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["ip"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The kinds of the stored audit events, newest first (up to 1000).
pub async fn event_kinds(api: &Api, access: &str) -> Vec<String> {
    let r = api.get("/auth/events?limit=1000", Some(access)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// `GET /auth/verify` with these request headers, as a proxy asks.
pub async fn verify(api: &Api, headers: &[(&str, &str)]) -> Reply {
    let mut req = api.http.get(api.url("/auth/verify"));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    api.send(req).await
}

/// `GET /oidc/authorize` with these query parameters and a `Cookie` header.
pub async fn authorize(api: &Api, cookies: &str, params: &[(&str, &str)]) -> Reply {
    let url = reqwest::Url::parse_with_params(&api.url("/oidc/authorize"), params).unwrap();
    api.send(api.http.get(url).header(COOKIE, cookies)).await
}

/// The value of one series in a `/metrics` text (0 when absent).
pub fn series(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
