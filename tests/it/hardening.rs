//! Hardening regressions: bounded metric labels, slow and idle connections,
//! login CSRF, recent sign-in for TOTP setup, atomic lockouts, the refresh
//! race grace, data-dir file modes, the `/metrics` token, HSTS, access-token
//! `typ` and `sub`, no `rd` downgrade, `ip:port` in `X-Forwarded-For`, a
//! restart that releases the data dir, and the `mfa_token` ended by one wrong
//! code. Each test speaks HTTP to the real server, in-process with the manual
//! clock or the real binary.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use base64::Engine;
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{
    begin, behind_proxy, client, code, code_step, confirm, disable, event_kinds, serve, setup,
    sign_in_and_enroll, start_binary, try_confirm, wrong_code, Reply, Server, Tokens, PASSWORD,
};

/// Requests in flight at once when flooding the server.
const CONCURRENCY: usize = 16;
/// Slack for `/metrics` growth: the one new `other` label set, and a few counters.
const METRICS_SLACK: usize = 8 * 1024;
/// Request headers that never end (no blank line).
const PARTIAL_REQUEST: &[u8] = b"GET /health HTTP/1.1\r\nHost: x\r\n";
const FOREIGN_ORIGIN: &str = "https://evil.example";
const PUBLIC_ORIGIN: &str = "http://localhost:8001";

// ---------------------------------------------------------------- helpers

async fn metrics_text(http: &reqwest::Client, url: &str) -> String {
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200, "GET /metrics");
    r.text().await.unwrap()
}

/// One request per method to `url`, [`CONCURRENCY`] at a time. Any answer
/// (or none) is fine: only what the server keeps afterwards matters.
async fn send_methods(http: &reqwest::Client, url: &str, methods: Vec<Method>) {
    futures_util::stream::iter(methods)
        .map(|method| {
            let req = http.request(method, url);
            async move {
                let _ = req.send().await;
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
}

/// Resident memory of process `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// `host:port` of a server's base URL.
fn socket_addr(base: &str) -> String {
    base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the stream (EOF or an error), discarding data.
async fn closed_by_server(mut stream: TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Reads one whole response (headers and `Content-Length` body) from a raw stream.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "the server closed before a whole response");
        data.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&data).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0);
            if data.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

/// A reply body for an assertion message, cut short (QR codes, tokens).
fn brief(body: &Value) -> String {
    let text = body.to_string();
    if text.chars().count() > 200 {
        format!("{}...", text.chars().take(200).collect::<String>())
    } else {
        text
    }
}

/// Every directory and file under `dir` (itself included) whose mode is not
/// 0700 (directories) or 0600 (files), as `path mode` lines.
fn loose_modes(dir: &Path) -> Vec<String> {
    let mut loose = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        let want = if meta.is_dir() { 0o700 } else { 0o600 };
        if mode != want {
            loose.push(format!("{} {mode:o}", path.display()));
        }
        if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                pending.push(entry.unwrap().path());
            }
        }
    }
    loose
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The payload of a JWT, decoded.
fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

// ---------------------------------------------------------------- 1. metric labels

#[tokio::test]
async fn made_up_http_methods_do_not_grow_the_metrics() {
    let s = Server::start().await;
    let metrics = s.url("/metrics");
    s.get("/health", None).await;
    let before = metrics_text(&s.http, &metrics).await.len();
    let methods = (0..3000)
        .map(|i| Method::from_bytes(format!("X{i:011}").as_bytes()).unwrap())
        .collect();
    send_methods(&s.http, &s.url("/health"), methods).await;
    let after = metrics_text(&s.http, &metrics).await;
    assert!(
        after.len() < before + METRICS_SLACK,
        "/metrics grew from {before} to {} bytes after 3000 made-up methods: \
         client input became metric labels",
        after.len()
    );
    assert!(
        after.contains("method=\"other\""),
        "an unknown method is labelled `other`"
    );
}

#[tokio::test]
async fn long_made_up_methods_do_not_grow_the_binarys_memory() {
    let dir = tempfile::tempdir().unwrap();
    let p = start_binary(dir.path(), &[]);
    let pid = p.child.id();
    let http = client();
    let metrics = p.url("/metrics");
    // Warm up: connections, buffers and the usual label sets exist before the baseline.
    let warm_up = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                Method::GET
            } else {
                Method::POST
            }
        })
        .collect();
    send_methods(&http, &p.url("/health"), warm_up).await;
    let metrics_before = metrics_text(&http, &metrics).await.len();
    let rss_before = rss_kib(pid);
    let methods = (0..1000)
        .map(|i| {
            // 16 KiB each: kept as labels, they would add ~16 MiB.
            let name = format!("X{i:04}{}", "Y".repeat(16 * 1024 - 5));
            Method::from_bytes(name.as_bytes()).unwrap()
        })
        .collect();
    send_methods(&http, &p.url("/health"), methods).await;
    let rss_after = rss_kib(pid);
    let metrics_after = metrics_text(&http, &metrics).await.len();
    assert!(
        metrics_after < metrics_before + METRICS_SLACK,
        "/metrics grew from {metrics_before} to {metrics_after} bytes after 1000 16 KiB methods \
         (RSS {rss_before} -> {rss_after} KiB)"
    );
    assert!(
        rss_after < rss_before + 8 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB after 1000 16 KiB methods"
    );
}

// ---------------------------------------------------------------- 2. connections

#[tokio::test]
async fn clients_that_never_finish_their_headers_are_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let p = start_binary(dir.path(), &[]);
    let addr = socket_addr(&p.base);
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream.write_all(PARTIAL_REQUEST).await.unwrap();
        slow.push(stream);
    }
    let health = tokio::time::timeout(
        Duration::from_secs(30),
        client().get(p.url("/health")).send(),
    )
    .await
    .expect("GET /health answered while 300 slow clients are connected")
    .unwrap();
    assert_eq!(health.status(), 200);
    let outcomes = futures_util::future::join_all(
        slow.into_iter()
            .map(|s| tokio::time::timeout(Duration::from_secs(40), closed_by_server(s))),
    )
    .await;
    let open = outcomes.iter().filter(|o| o.is_err()).count();
    assert_eq!(
        open, 0,
        "{open} of 300 clients with unfinished headers were still connected after 40 s"
    );
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let dir = tempfile::tempdir().unwrap();
    let p = start_binary(dir.path(), &[("AUTH_IDLE_TIMEOUT_SECONDS", "2")]);
    let mut stream = TcpStream::connect(socket_addr(&p.base)).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(30), read_response(&mut stream))
        .await
        .expect("a response to GET /health");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let closed = tokio::time::timeout(Duration::from_secs(30), closed_by_server(stream)).await;
    assert!(
        closed.is_ok(),
        "an idle keep-alive connection was still open 30 s after its response \
         (AUTH_IDLE_TIMEOUT_SECONDS=2)"
    );
}

/// Sockets the process `pid` holds open.
fn open_sockets(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("socket:"))
        .count()
}

/// Waits (at most `limit`) until `pid` holds `sockets` sockets or fewer.
async fn sockets_drop_to(pid: u32, sockets: usize, limit: Duration) -> bool {
    tokio::time::timeout(limit, async {
        while open_sockets(pid) > sockets {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn a_client_that_stops_reading_its_answer_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let p = start_binary(dir.path(), &[("AUTH_IDLE_TIMEOUT_SECONDS", "2")]);
    let pid = p.child.id();
    let before = open_sockets(pid);
    // A tiny receive window and thirty pipelined requests for the API docs
    // page (megabytes of answers) never read: the server's writes stall.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    let addr = socket_addr(&p.base).parse().unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    let requests = "GET /docs HTTP/1.1\r\nHost: x\r\n\r\n".repeat(30);
    stream.write_all(requests.as_bytes()).await.unwrap();
    let accepted = tokio::time::timeout(Duration::from_secs(30), async {
        while open_sockets(pid) <= before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    accepted.await.expect("the server accepted the connection");
    assert!(
        sockets_drop_to(pid, before, Duration::from_secs(30)).await,
        "a connection whose client stopped reading was still open 30 s later \
         (AUTH_IDLE_TIMEOUT_SECONDS=2)"
    );
    drop(stream);
}

// ---------------------------------------------------------------- 3. login CSRF

#[tokio::test]
async fn cross_origin_logins_are_refused_before_any_check_and_not_counted() {
    let s = Server::start_with(&[("AUTH_MAX_FAILED_ATTEMPTS", "3")]).await;
    for i in 0..10 {
        let r = s.login_with("wrong", &[("origin", FOREIGN_ORIGIN)]).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (403, "csrf"),
            "attempt {i} with Origin: {FOREIGN_ORIGIN}: {}",
            brief(&r.body)
        );
    }
    let r = s.try_login("admin", PASSWORD).await;
    assert_eq!(
        r.status,
        200,
        "not locked by refused attempts: {}",
        brief(&r.body)
    );
    let t = Tokens::from(&r.body);
    let kinds = event_kinds(&s, &t.access).await;
    assert!(
        !kinds.iter().any(|k| k == "login_failure"),
        "refused attempts are no login failures: {kinds:?}"
    );
}

#[tokio::test]
async fn cross_site_fetch_metadata_refuses_logins() {
    let s = Server::start().await;
    for site in ["cross-site", "same-site"] {
        let r = s.login_with(PASSWORD, &[("sec-fetch-site", site)]).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (403, "csrf"),
            "Sec-Fetch-Site: {site}: {}",
            brief(&r.body)
        );
    }
    // The second step too (its token is checked only after the origin).
    let r = s
        .post_with(
            "/auth/login/totp",
            json!({"mfa_token": "x", "code": "123456"}),
            &[("origin", FOREIGN_ORIGIN)],
        )
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (403, "csrf"),
        "/auth/login/totp with Origin: {FOREIGN_ORIGIN}: {}",
        brief(&r.body)
    );
}

#[tokio::test]
async fn a_foreign_origin_wins_over_same_origin_fetch_metadata() {
    let s = Server::start().await;
    let same_origin = [
        ("origin", FOREIGN_ORIGIN),
        ("sec-fetch-site", "same-origin"),
    ];
    let r = s.login_with(PASSWORD, &same_origin).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (403, "csrf"),
        "login: {}",
        brief(&r.body)
    );
    let t = s.login().await;
    let cookie = format!("soloauth_access={}", t.access);
    let mut headers = vec![("cookie", cookie.as_str())];
    headers.extend(same_origin); // the same Origin and Sec-Fetch-Site as the login
    let r = s.post_with("/auth/logout", Value::Null, &headers).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (403, "csrf"),
        "cookie logout with a foreign Origin and Sec-Fetch-Site: same-origin: {}",
        brief(&r.body)
    );
    assert_eq!(
        s.get("/auth/me", Some(&t.access)).await.status,
        200,
        "the session was not logged out"
    );
}

#[tokio::test]
async fn logins_from_the_public_origin_or_without_browser_headers_are_checked_as_before() {
    let s = Server::start().await;
    let r = s.login_with("wrong", &[("origin", PUBLIC_ORIGIN)]).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (401, "invalid_credentials"),
        "Origin: {PUBLIC_ORIGIN}: {}",
        brief(&r.body)
    );
    let public = [("origin", PUBLIC_ORIGIN), ("sec-fetch-site", "same-origin")];
    let r = s.login_with(PASSWORD, &public).await;
    assert_eq!(r.status, 200, "{}", brief(&r.body));
    let r = s.try_login("admin", "wrong").await;
    assert_eq!(
        r.error(),
        "invalid_credentials",
        "no Origin, no Sec-Fetch-Site"
    );
}

// ---------------------------------------------------------------- 4. recent sign-in

#[tokio::test]
async fn totp_setup_right_after_sign_in_needs_no_password() {
    let s = Server::start().await;
    let t = s.login().await;
    let r = setup(&s, &t.access, None).await;
    assert_eq!(r.status, 200, "{}", brief(&r.body));
    assert!(r.body["secret"].is_string());
}

#[tokio::test]
async fn another_session_cannot_read_or_confirm_a_pending_enrollment() {
    let s = Server::start().await;
    let owner = s.login().await;
    let thief = s.login().await; // another session's token, say from a leaked cookie
    let secret = begin(&s, &owner.access).await;
    let r = s.get("/auth/totp/qr.png", Some(&thief.access)).await;
    assert_eq!((r.status.as_u16(), r.error()), (409, "totp_not_enabled"));
    let r = try_confirm(&s, &thief.access, &code(&secret, s.clock.now())).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (409, "totp_not_enabled"),
        "the owner's pending enrollment is not the thief's to confirm"
    );
    assert_eq!(s.get("/auth/me", Some(&owner.access)).await.status, 200);
    assert_eq!(
        s.get("/auth/totp/qr.png", Some(&owner.access)).await.status,
        200
    );
    confirm(&s, &owner.access, &code(&secret, s.clock.now())).await;
}

#[tokio::test]
async fn totp_setup_after_the_reauth_window_needs_the_password() {
    let s = Server::start().await;
    let t = s.login().await;
    s.clock.advance(601);
    let r = setup(&s, &t.access, None).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (403, "reauth_required"),
        "601 s after sign-in, no password: {}",
        brief(&r.body)
    );
    let r = setup(&s, &t.access, Some("wrong")).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (401, "invalid_credentials"),
        "a wrong password: {}",
        brief(&r.body)
    );
    let r = setup(&s, &t.access, Some(PASSWORD)).await;
    assert_eq!(r.status, 200, "the right password: {}", brief(&r.body));
    assert!(r.body["secret"].is_string(), "{}", brief(&r.body));
}

#[tokio::test]
async fn a_wrong_reauth_password_counts_towards_the_lockout() {
    let s = Server::start_with(&[("AUTH_MAX_FAILED_ATTEMPTS", "2")]).await;
    let t = s.login().await;
    s.clock.advance(601);
    for i in 0..2 {
        let r = setup(&s, &t.access, Some("wrong")).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (401, "invalid_credentials"),
            "wrong password {i}: {}",
            brief(&r.body)
        );
    }
    let r = s.try_login("admin", PASSWORD).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (423, "account_locked"),
        "two wrong re-auth passwords lock like two wrong logins: {}",
        brief(&r.body)
    );
}

#[tokio::test]
async fn a_refresh_does_not_count_as_signing_in_again() {
    let s = Server::start().await;
    let t = s.login().await;
    s.clock.advance(601);
    let r = s.refresh(&t.refresh).await;
    assert_eq!(r.status, 200, "{}", brief(&r.body));
    let fresh = Tokens::from(&r.body);
    let r = setup(&s, &fresh.access, None).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (403, "reauth_required"),
        "a just-refreshed token of a session signed in 601 s ago: {}",
        brief(&r.body)
    );
}

#[tokio::test]
async fn the_reauth_window_follows_auth_reauth_seconds() {
    let s = Server::start_with(&[("AUTH_REAUTH_SECONDS", "60")]).await;
    let t = s.login().await;
    s.clock.advance(61);
    let r = setup(&s, &t.access, None).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (403, "reauth_required"),
        "61 s after sign-in with AUTH_REAUTH_SECONDS=60: {}",
        brief(&r.body)
    );
}

// ---------------------------------------------------------------- 5. atomic lockout

#[tokio::test]
async fn simultaneous_wrong_passwords_check_at_most_the_limit() {
    let s = Server::start_with(&[("AUTH_MAX_FAILED_ATTEMPTS", "5")]).await;
    let replies =
        futures_util::future::join_all((0..60).map(|_| s.try_login("admin", "wrong"))).await;
    let count = |status: u16| replies.iter().filter(|r| r.status == status).count();
    let (checked, locked) = (count(401), count(423));
    let others: Vec<String> = replies
        .iter()
        .filter(|r| r.status != 401 && r.status != 423)
        .map(|r| format!("{} {}", r.status, brief(&r.body)))
        .collect();
    assert!(others.is_empty(), "only 401 or 423: {others:?}");
    assert!(
        checked <= 5,
        "{checked} of 60 simultaneous wrong passwords were checked (401), {locked} locked (423); \
         at most AUTH_MAX_FAILED_ATTEMPTS=5 may be"
    );
    for r in replies.iter().filter(|r| r.status == 423) {
        assert_eq!(r.error(), "account_locked");
    }
    s.clock.advance(15 * 60 + 1);
    let t = s.login().await;
    let failures = event_kinds(&s, &t.access)
        .await
        .iter()
        .filter(|k| *k == "login_failure")
        .count();
    assert!(failures <= 5, "{failures} login_failure events");
}

#[tokio::test]
async fn totp_disable_is_rate_limited() {
    let s = Server::start().await;
    let (t, e) = sign_in_and_enroll(&s, &s.clock).await;
    // A fresh, small bucket; the session survives the restart.
    let s = s
        .restart_with(&[("AUTH_RATE_PER_MINUTE", "1"), ("AUTH_RATE_BURST", "2")])
        .await;
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let r = disable(
            &s,
            &t.access,
            "wrong",
            &wrong_code(&e.secret, s.clock.now()),
        )
        .await;
        if r.status == 429 {
            assert_eq!(r.error(), "rate_limited");
            assert!(
                r.headers.contains_key("retry-after"),
                "429 without Retry-After"
            );
            return;
        }
        statuses.push(r.status.as_u16());
    }
    panic!("20 quick disable attempts, none rate limited (AUTH_RATE_BURST=2): {statuses:?}");
}

// ---------------------------------------------------------------- 6. refresh race

#[tokio::test]
async fn simultaneous_refreshes_have_one_winner_and_keep_the_session() {
    let s = Server::start().await;
    let t = s.login().await;
    let replies = futures_util::future::join_all((0..10).map(|_| s.refresh(&t.refresh))).await;
    let winners: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    let losers: Vec<(u16, &str)> = replies
        .iter()
        .filter(|r| r.status != 200)
        .map(|r| (r.status.as_u16(), r.error()))
        .collect();
    assert_eq!(winners.len(), 1, "exactly one winner; losers: {losers:?}");
    assert!(
        losers.iter().all(|l| *l == (401, "invalid_token")),
        "losers within the grace period get 401 invalid_token, not reuse: {losers:?}"
    );
    let won = Tokens::from(&winners[0].body);
    let me = s.get("/auth/me", Some(&won.access)).await;
    assert_eq!(
        me.status,
        200,
        "the winner's session is alive: {}",
        brief(&me.body)
    );
    let r = s.refresh(&won.refresh).await;
    assert_eq!(
        r.status,
        200,
        "the winner's refresh token works: {}",
        brief(&r.body)
    );
}

#[tokio::test]
async fn an_old_refresh_token_is_harmless_in_the_grace_period_and_reuse_after() {
    let s = Server::start().await;
    let old = s.login().await;
    let r = s.refresh(&old.refresh).await;
    assert_eq!(r.status, 200);
    let new = Tokens::from(&r.body);
    let r = s.refresh(&old.refresh).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (401, "invalid_token"),
        "the old token again at once: {}",
        brief(&r.body)
    );
    assert_eq!(s.get("/auth/me", Some(&new.access)).await.status, 200);
    let r = s.refresh(&new.refresh).await;
    assert_eq!(
        r.status,
        200,
        "the new refresh token still works: {}",
        brief(&r.body)
    );
    let newest = Tokens::from(&r.body);
    s.clock.advance(11);
    let r = s.refresh(&old.refresh).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (401, "token_reused"),
        "the old token 11 s later: {}",
        brief(&r.body)
    );
    assert_eq!(
        s.get("/auth/me", Some(&newest.access)).await.status,
        401,
        "reuse revoked the session"
    );
}

// ---------------------------------------------------------------- 7. file modes

#[tokio::test]
async fn start_tightens_the_data_dir_and_everything_in_it() {
    let mut s = Server::start().await;
    s.stop().await;
    let dir = s.dir.path().to_path_buf();
    chmod(&dir, 0o755);
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "hello").unwrap();
    chmod(&notes, 0o644);
    chmod(&dir.join("db"), 0o755);
    chmod(&dir.join("db").join("conf"), 0o644);
    let mut s = s.restart().await;
    assert_eq!(s.get("/health", None).await.status, 200);
    // Stopped, so that no snapshot is being written (its temporary file
    // coming and going) while the files are looked at.
    s.stop().await;
    let loose = loose_modes(&dir);
    assert!(
        loose.is_empty(),
        "want directories 0700 and files 0600 after start: {loose:#?}"
    );
}

#[tokio::test]
async fn check_reports_loose_modes() {
    let dir = tempfile::tempdir().unwrap();
    drop(start_binary(dir.path(), &[]));
    chmod(dir.path(), 0o755);
    let secret = dir.path().join("jwt_secret");
    assert!(secret.exists(), "the first run generated jwt_secret");
    chmod(&secret, 0o644);
    let out = serve(dir.path()).arg("check").output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "check passed with a 0755 data dir and a 0644 jwt_secret: {text}"
    );
    let real = std::fs::canonicalize(dir.path()).unwrap();
    for (path, mode) in [(real.clone(), "0755"), (real.join("jwt_secret"), "0644")] {
        let line = format!("{} has mode {mode}", path.display());
        assert!(text.contains(&line), "check says {line:?}: {text}");
    }
}

// ---------------------------------------------------------------- 8. /metrics token

const METRICS_TOKEN: &str = "metrics-token-0123456789abcdefghijklmnopqrstuv";

async fn assert_metrics_need_the_token(s: &Server) {
    let r = s.get("/metrics", None).await;
    assert_eq!(r.status, 401, "no Authorization: {}", brief(&r.body));
    assert!(!r.error().is_empty(), "a JSON error: {}", brief(&r.body));
    let r = s.get("/metrics", Some("not-the-metrics-token")).await;
    assert_eq!(r.status, 401, "a wrong Bearer: {}", brief(&r.body));
    let r = s.get("/metrics", Some(METRICS_TOKEN)).await;
    assert_eq!(r.status, 200, "the right Bearer");
    assert!(
        r.body.as_str().unwrap_or_default().contains("soloauth_"),
        "{}",
        brief(&r.body)
    );
}

#[tokio::test]
async fn metrics_need_the_metrics_token_when_set() {
    let s = Server::start_with(&[("AUTH_METRICS_TOKEN", METRICS_TOKEN)]).await;
    assert_metrics_need_the_token(&s).await;
}

#[tokio::test]
async fn metrics_token_can_come_from_a_file() {
    let secrets = tempfile::tempdir().unwrap();
    let file = secrets.path().join("metrics_token");
    std::fs::write(&file, format!("{METRICS_TOKEN}\n")).unwrap();
    let s = Server::start_with(&[("AUTH_METRICS_TOKEN_FILE", file.to_str().unwrap())]).await;
    assert_metrics_need_the_token(&s).await;
}

#[tokio::test]
async fn metrics_are_open_without_a_metrics_token() {
    let s = Server::start().await;
    let r = s.get("/metrics", None).await;
    assert_eq!(r.status, 200);
    assert!(r.body.as_str().unwrap_or_default().contains("soloauth_"));
}

// ---------------------------------------------------------------- 9. HSTS

#[tokio::test]
async fn an_https_public_url_sends_hsts_on_every_response() {
    let s = Server::start_with(&[
        ("AUTH_PUBLIC_URL", "https://auth.example.com"),
        ("AUTH_COOKIE_SECURE", "true"),
    ])
    .await;
    for path in ["/health", "/no-such-route", "/"] {
        let r = s.get(path, None).await;
        let hsts = r
            .headers
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap().to_string());
        assert!(
            hsts.as_deref()
                .is_some_and(|v| v.starts_with("max-age=31536000")),
            "{path} ({}): Strict-Transport-Security = {hsts:?}",
            r.status
        );
    }
}

#[tokio::test]
async fn an_http_public_url_sends_no_hsts() {
    let s = Server::start().await;
    for path in ["/health", "/no-such-route", "/"] {
        let r = s.get(path, None).await;
        assert!(
            !r.headers.contains_key("strict-transport-security"),
            "{path}"
        );
    }
}

// ---------------------------------------------------------------- 10. token typ and sub

const JWT_SECRET: &str = "hardening-test-jwt-secret-0123456789abcdef";

/// An HS256 token with the server's key, `typ` and claims as given.
fn forge(claims: &Value, typ: Option<&str>) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.typ = typ.map(str::to_string);
    header.kid = Some(soloauth::auth::tokens::key_id(JWT_SECRET.as_bytes()));
    let key = jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()).unwrap();
    jsonwebtoken::encode(&header, claims, &key).unwrap()
}

#[tokio::test]
async fn access_tokens_need_typ_jwt_and_the_admin_as_sub() {
    let s = Server::start_with(&[("AUTH_JWT_SECRET", JWT_SECRET)]).await;
    let t = s.login().await;
    let claims = jwt_claims(&t.access);
    for field in [
        "iss", "aud", "sub", "sid", "iat", "nbf", "exp", "jti", "amr",
    ] {
        assert!(!claims[field].is_null(), "a real token has {field}");
    }
    let control = forge(&claims, Some("JWT"));
    let r = s.get("/auth/me", Some(&control)).await;
    assert_eq!(
        r.status,
        200,
        "control: a forged token like a real one works: {}",
        brief(&r.body)
    );
    let mut root = claims.clone();
    root["sub"] = json!("root");
    for (what, token) in [
        ("no typ", forge(&claims, None)),
        ("typ at+jwt", forge(&claims, Some("at+jwt"))),
        ("sub root", forge(&root, Some("JWT"))),
    ] {
        let r = s.get("/auth/me", Some(&token)).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (401, "invalid_token"),
            "{what}: {}",
            brief(&r.body)
        );
    }
}

// ---------------------------------------------------------------- 11. rd

#[tokio::test]
async fn the_login_page_never_follows_rd_down_to_http() {
    let s = Server::start_with(&[
        ("AUTH_PUBLIC_URL", "https://auth.example.com"),
        ("AUTH_COOKIE_DOMAIN", "example.com"),
    ])
    .await;
    let page = |rd: &'static str| {
        let req = s.http.get(s.url("/")).query(&[("rd", rd)]);
        async move {
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 200);
            r.text().await.unwrap()
        }
    };
    let html = page("https://app.example.com/x").await;
    assert!(
        html.contains(r#"<meta name="soloauth-rd" content="https://app.example.com/x">"#),
        "an https target under the cookie domain is followed"
    );
    let html = page("http://app.example.com/x").await;
    assert!(
        !html.contains(r#"<meta name="soloauth-rd""#),
        "an http target is refused when the public URL is https: {}",
        html.lines()
            .find(|l| l.contains("soloauth-rd"))
            .unwrap_or("")
    );
}

// ---------------------------------------------------------------- 12. ip:port

#[tokio::test]
async fn a_forwarded_address_with_a_port_is_the_client_address() {
    let s = behind_proxy(&[]).await;
    for (forwarded, want) in [
        ("198.51.100.7:4711", "198.51.100.7"),
        ("[2001:db8::1]:443", "2001:db8::1"),
    ] {
        let r = s
            .login_with(PASSWORD, &[("x-forwarded-for", forwarded)])
            .await;
        assert_eq!(r.status, 200, "{}", brief(&r.body));
        let t = Tokens::from(&r.body);
        let sessions = s.get("/auth/sessions", Some(&t.access)).await.body;
        let ip = sessions
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == t.sid.as_str())
            .map(|x| x["ip"].clone());
        assert_eq!(
            ip,
            Some(json!(want)),
            "X-Forwarded-For: {forwarded}: {sessions}"
        );
    }
}

#[tokio::test]
async fn a_forwarded_address_is_one_client_whatever_its_port() {
    let s = behind_proxy(&[("AUTH_MAX_FAILED_ATTEMPTS", "3")]).await;
    for port in 1..=3 {
        let from = format!("203.0.113.5:{port}");
        let r = s.login_with("wrong", &[("x-forwarded-for", &from)]).await;
        assert_eq!(
            r.error(),
            "invalid_credentials",
            "{from}: {}",
            brief(&r.body)
        );
    }
    let r = s
        .login_with(PASSWORD, &[("x-forwarded-for", "203.0.113.5:4")])
        .await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (423, "account_locked"),
        "203.0.113.5 is locked, whatever the port: {}",
        brief(&r.body)
    );
    let r = s
        .login_with(PASSWORD, &[("x-forwarded-for", "198.51.100.9:5")])
        .await;
    assert_eq!(
        r.status,
        200,
        "another client behind the same proxy is not locked: {}",
        brief(&r.body)
    );
}

// ---------------------------------------------------------------- 13. restart

#[tokio::test]
async fn stopping_releases_the_data_dir_even_with_open_connections() {
    let mut s = Server::start().await;
    for round in 0..5 {
        let http = client();
        let replies =
            futures_util::future::join_all((0..20).map(|_| http.get(s.url("/health")).send()))
                .await;
        for r in replies {
            assert_eq!(r.unwrap().status(), 200);
        }
        let mut slow = Vec::new();
        for _ in 0..5 {
            let mut stream = TcpStream::connect(socket_addr(&s.base)).await.unwrap();
            stream.write_all(PARTIAL_REQUEST).await.unwrap();
            slow.push(stream);
        }
        s.stop().await;
        let reopened = soloauth::storage::Store::open(s.dir.path());
        assert!(
            reopened.is_ok(),
            "round {round}: the data dir is still held after stop: {}",
            reopened.err().map(|e| e.to_string()).unwrap_or_default()
        );
        drop(reopened);
        drop(slow);
        drop(http);
        s = s.restart().await;
    }
}

// ---------------------------------------------------------------- 14. mfa_token

#[tokio::test]
async fn the_mfa_token_forgives_typos_and_the_third_wrong_code_spends_it() {
    let s = Server::start().await;
    let (_, e) = sign_in_and_enroll(&s, &s.clock).await;
    let mfa_token = || async {
        let r = s.try_login("admin", PASSWORD).await;
        assert_eq!(r.error(), "mfa_required", "{}", brief(&r.body));
        r.body["mfa_token"].as_str().unwrap().to_string()
    };
    let wrong = json!({ "code": wrong_code(&e.secret, s.clock.now()) });
    // Two typos, then the right code.
    let mfa = mfa_token().await;
    for _ in 0..2 {
        let r = code_step(&s, &mfa, wrong.clone()).await;
        assert_eq!((r.status.as_u16(), r.error()), (401, "invalid_code"));
    }
    let right = json!({ "code": code(&e.secret, s.clock.now()) });
    let r = code_step(&s, &mfa, right.clone()).await;
    assert_eq!(r.status, 200, "the third try: {}", brief(&r.body));
    let r = code_step(&s, &mfa, right).await;
    assert_eq!((r.status.as_u16(), r.error()), (401, "invalid_token"));
    // Three wrong codes spend the token: the right one is too late.
    s.clock.advance(30);
    let mfa = mfa_token().await;
    for _ in 0..3 {
        let r = code_step(&s, &mfa, wrong.clone()).await;
        assert_eq!((r.status.as_u16(), r.error()), (401, "invalid_code"));
    }
    let right = json!({ "code": code(&e.secret, s.clock.now()) });
    let r = code_step(&s, &mfa, right).await;
    assert_eq!(
        (r.status.as_u16(), r.error()),
        (401, "invalid_token"),
        "the third wrong code spent the mfa_token: {}",
        brief(&r.body)
    );
    // Tries in parallel share the three: the rest find the token spent.
    let mfa = mfa_token().await;
    let tries = (0..8).map(|_| code_step(&s, &mfa, wrong.clone()));
    let answers = futures_util::future::join_all(tries).await;
    let counted = answers
        .iter()
        .filter(|r| r.error() == "invalid_code")
        .count();
    let spent = answers
        .iter()
        .filter(|r| r.error() == "invalid_token")
        .count();
    assert_eq!((counted, spent), (3, 5));
}
