//! Sign-in alerts against a local HTTP receiver: one alert per configured
//! event, with no secret in it; each format's shape; whether a sign-in's
//! address and user agent are new; a slow or down receiver changes nothing
//! for the login; retries are bounded; `soloauth notify-test` and the
//! command line's own events; what a client sent is inert text in them.

use std::time::Duration;

use serde_json::{json, Value};
use soloauth::auth::totp;
use soloauth::base::notify_config::Delivery;

use crate::common::receiver::{down_url, Answer, Received, Receiver};
use crate::common::{
    binary, code_step, known, password_step, series, sign_in_and_enroll, Server, Tokens, PASSWORD,
};

/// Short waits between attempts, and time enough for an answer however
/// loaded the machine: for receivers that answer (or refuse to connect).
const PROMPT: Delivery = Delivery {
    timeout: Duration::from_secs(30),
    backoff: [Duration::from_millis(10), Duration::from_millis(20)],
};

/// [`PROMPT`] with a short timeout, for receivers that never answer.
const QUICK: Delivery = Delivery {
    timeout: Duration::from_millis(300),
    ..PROMPT
};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";

async fn server(url: &str, extra: &[(&str, &str)]) -> Server {
    let mut env = vec![("AUTH_NOTIFY_URL", url)];
    env.extend_from_slice(extra);
    Server::start_with(&env).await
}

/// A sign-in from `ip` (through the trusted proxy) with `agent`.
async fn sign_in_from(s: &Server, ip: &str, agent: &str) -> Tokens {
    let r = s
        .login_with(PASSWORD, &[("x-forwarded-for", ip), ("user-agent", agent)])
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    Tokens::from(&r.body)
}

/// The value of one series in `/metrics` (0 when absent).
async fn metric(s: &Server, name: &str) -> f64 {
    series(&s.metrics().await, name)
}

/// Waits until the courier has counted `outcome` `n` times: it does so on
/// its own task, after the receiver has seen the attempt.
async fn wait_for_outcome(s: &Server, outcome: &str, n: f64) {
    let series = format!("soloauth_notify_total{{outcome=\"{outcome}\"}}");
    for _ in 0..3000 {
        if metric(s, &series).await >= n {
            return;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{series} never reached {n}");
}

#[tokio::test]
async fn one_json_alert_per_configured_event_and_no_secret_in_any() {
    let mut hook = Receiver::ok().await;
    let s = server(
        &hook.url,
        &[
            ("AUTH_NOTIFY_EVENTS", "all"),
            ("AUTH_TRUSTED_PROXIES", "127.0.0.1/32"),
            ("AUTH_MAX_FAILED_ATTEMPTS", "2"),
        ],
    )
    .await;
    let wrong = "Wrong-Password-9f8e7d";
    // Two failures from one address lock it out.
    for _ in 0..2 {
        let body = json!({"username": "admin", "password": wrong});
        let from = [
            ("x-forwarded-for", "198.51.100.66"),
            ("user-agent", "curl/8.5"),
        ];
        assert_eq!(s.post_with("/auth/login", body, &from).await.status, 401);
    }
    // TOTP on, then a sign-in with a recovery code.
    let (t, enrolled) = sign_in_and_enroll(&s, &s.clock).await;
    let mfa_token = password_step(&s).await;
    let recovery = enrolled.codes[0].clone();
    let r = code_step(&s, &mfa_token, json!({ "recovery_code": recovery })).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t2 = Tokens::from(&r.body);
    // An API token, and a refresh token presented twice.
    let r = s
        .post("/auth/tokens", json!({"name": "backup"}), Some(&t2.access))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let api_token = r.body["token"].as_str().unwrap().to_string();
    let token_id = r.body["id"].as_str().unwrap().to_string();
    let rotated = Tokens::from(&s.refresh(&t.refresh).await.body);
    s.clock.advance(11);
    assert_eq!(s.refresh(&t.refresh).await.error(), "token_reused");
    // Revoking the API token is the last event.
    let path = format!("/auth/tokens/{token_id}");
    assert_eq!(s.delete(&path, Some(&t2.access)).await.status, 204);

    let mut alerts: Vec<(Value, String)> = Vec::new();
    loop {
        let received = hook.next().await;
        assert_eq!(received.header("content-type"), "application/json");
        let alert = received.json();
        let last = alert["kind"] == "token_revoked";
        alerts.push((alert, received.text()));
        if last {
            break;
        }
    }
    let mut events = s
        .get("/auth/events?limit=1000", Some(&t2.access))
        .await
        .body;
    let events = events.as_array_mut().unwrap();
    events.reverse();
    let kinds = |list: Vec<&Value>| -> Vec<String> {
        list.iter()
            .map(|v| v["kind"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        kinds(alerts.iter().map(|(a, _)| a).collect()),
        kinds(events.iter().collect()),
        "one alert per event, in order"
    );
    for kind in [
        "login_failure",
        "lockout",
        "login_success",
        "totp_enabled",
        "recovery_code_used",
        "token_created",
        "refresh_reuse",
        "token_revoked",
    ] {
        assert!(alerts.iter().any(|(a, _)| a["kind"] == kind), "{kind}");
    }
    for ((alert, _), event) in alerts.iter().zip(events.iter()) {
        for field in ["at", "ip", "detail"] {
            assert_eq!(alert[field], event[field], "{field} of {}", alert["kind"]);
        }
        assert_eq!(alert["server"], "http://localhost:8001");
    }
    let failure = &alerts[0].0;
    assert_eq!(failure["ip"], "198.51.100.66");
    assert_eq!(failure["user_agent"], "curl/8.5");
    assert!(failure.get("new_ip").is_none(), "novelty is for sign-ins");

    let secrets = [
        PASSWORD.to_string(),
        wrong.to_string(),
        totp::to_base32(&enrolled.secret),
        enrolled.confirm_code.clone(),
        recovery.clone(),
        recovery.replace('-', ""),
        t.access.clone(),
        t.refresh.clone(),
        t2.access.clone(),
        t2.refresh.clone(),
        rotated.refresh.clone(),
        api_token.clone(),
        api_token.rsplit('_').next().unwrap().to_string(),
    ];
    for (alert, raw) in &alerts {
        for secret in &secrets {
            assert!(
                !raw.contains(secret.as_str()),
                "{} holds a secret",
                alert["kind"]
            );
        }
    }
    // Nothing beyond one per event.
    assert!(hook.pending().is_none());
}

#[tokio::test]
async fn the_default_events_leave_out_failures_and_say_what_is_new() {
    let mut hook = Receiver::ok().await;
    let mut s = server(&hook.url, &[("AUTH_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    assert_eq!(s.try_login("admin", "wrong").await.status, 401);
    sign_in_from(&s, "203.0.113.10", BROWSER).await;
    let first = hook.next_json().await;
    assert_eq!(
        first["kind"], "login_success",
        "failures are not a default event"
    );
    assert_eq!(
        (first["new_ip"].clone(), first["new_user_agent"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(first["ip"], "203.0.113.10");
    assert_eq!(first["user_agent"], BROWSER);
    assert!(
        first["detail"]
            .as_str()
            .unwrap()
            .contains("ip=new user_agent=new"),
        "{}",
        first["detail"]
    );

    sign_in_from(&s, "203.0.113.10", BROWSER).await;
    let again = hook.next_json().await;
    assert_eq!(
        (again["new_ip"].clone(), again["new_user_agent"].clone()),
        (json!(false), json!(false))
    );
    // An IPv6 address is known by its /64.
    sign_in_from(&s, "2001:db8:1:2::10", BROWSER).await;
    assert_eq!(hook.next_json().await["new_ip"], true);
    sign_in_from(&s, "2001:db8:1:2:aaaa::77", BROWSER).await;
    assert_eq!(hook.next_json().await["new_ip"], false);

    // Known after a sign-out and a restart: what counts is earlier sign-ins.
    let t = sign_in_from(&s, "203.0.113.10", "Safari/17").await;
    assert_eq!(hook.next_json().await["new_user_agent"], true);
    assert_eq!(
        s.post("/auth/logout", Value::Null, Some(&t.access))
            .await
            .status,
        204
    );
    s = s.restart().await;
    sign_in_from(&s, "198.51.100.20", "Safari/17").await;
    let later = hook.next_json().await;
    assert_eq!(
        (later["new_ip"].clone(), later["new_user_agent"].clone()),
        (json!(true), json!(false))
    );
    assert!(
        hook.pending().is_none(),
        "sign-outs are not a default event"
    );
}

#[tokio::test]
async fn each_format_has_its_shape() {
    for format in ["ntfy", "gotify", "discord", "slack"] {
        let mut hook = Receiver::ok().await;
        let s = server(&hook.url, &[("AUTH_NOTIFY_FORMAT", format)]).await;
        s.login_with(PASSWORD, &[("user-agent", BROWSER)]).await;
        let got = hook.next().await;
        let text = match format {
            "ntfy" => {
                assert!(got.header("content-type").starts_with("text/plain"));
                assert_eq!(
                    got.header("title"),
                    "soloauth: new sign-in from a new address"
                );
                assert_eq!(got.header("priority"), "4");
                assert_eq!(got.header("tags"), "warning,login_success");
                got.text()
            }
            "gotify" => {
                let body = got.json();
                assert_eq!(body.as_object().unwrap().len(), 3, "{body}");
                assert_eq!(body["title"], "soloauth: new sign-in from a new address");
                assert_eq!(body["priority"], 8);
                body["message"].as_str().unwrap().to_string()
            }
            "discord" => {
                let body = got.json();
                assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
                let content = body["content"].as_str().unwrap();
                assert!(
                    content.contains(r"From\: 127\.0\.0\.1"),
                    "escaped: {content}"
                );
                content.replace('\\', "")
            }
            _ => {
                let body = got.json();
                assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
                body["text"].as_str().unwrap().to_string()
            }
        };
        assert!(text.contains("From: 127.0.0.1 (new)"), "{format}: {text}");
        // What the client sent: in a code span in a chat.
        let agent = match format {
            "discord" | "slack" => format!("`{BROWSER}`"),
            _ => BROWSER.to_string(),
        };
        assert!(
            text.contains(&format!("Browser: {agent} (new)")),
            "{format}: {text}"
        );
        assert!(!text.contains(PASSWORD));
    }
}

/// A user agent that tries to write into the owner's urgent alert: Slack
/// formatting, a mention, a link with a label, and a bare link.
const HOSTILE: &str = "Mozilla *ACTION REQUIRED* _x_ ~y~ `code` <!channel> \
    <https://evil.example|click> confirm at https://evil.example/x";

/// The server's own URL, the one link an alert may carry.
const OWN_URL: &str = "http://localhost:8001";

/// Five wrong passwords with `agent` (the default limit): the lockout
/// alert, as received.
async fn lockout_alert_with_agent(format: &str, agent: &str) -> Received {
    let mut hook = Receiver::ok().await;
    let env = [
        ("AUTH_NOTIFY_FORMAT", format),
        ("AUTH_MAX_FAILED_ATTEMPTS", "5"),
    ];
    let s = server(&hook.url, &env).await;
    for _ in 0..5 {
        let r = s
            .login_with("Wrong-Password-9f8e7d", &[("user-agent", agent)])
            .await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let got = hook.next().await;
    assert!(hook.pending().is_none(), "one alert: the lockout");
    got
}

#[tokio::test]
async fn a_hostile_user_agent_reaches_the_lockout_alert_as_inert_text() {
    // Slack: the agent in one code span, no backtick in it, `<` and `>` as
    // entities (Slack reads them even in code), nothing else formatted.
    let text = lockout_alert_with_agent("slack", HOSTILE).await.json()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.starts_with("*soloauth: sign-in locked after repeated failures*\n"),
        "{text}"
    );
    let span = "`Mozilla *ACTION REQUIRED* _x_ ~y~ code &lt;!channel&gt; \
        &lt;https://evil.example|click&gt; confirm at https://evil.example/x`";
    assert!(text.contains(&format!("\nBrowser: {span}\n")), "{text}");
    assert_eq!(text.matches('`').count(), 2, "only the span's own: {text}");
    assert!(!text.contains('<') && !text.contains('>'), "{text}");
    let outside = text.replace(span, "");
    assert!(
        !outside.contains("ACTION") && !outside.contains("evil"),
        "{text}"
    );
    assert!(!outside.replace(OWN_URL, "").contains("://"), "{text}");

    // ntfy: plain text, never Markdown, and no link a client planted.
    let got = lockout_alert_with_agent("ntfy", HOSTILE).await;
    assert_eq!(
        got.header("title"),
        "soloauth: sign-in locked after repeated failures"
    );
    for markdown in ["x-markdown", "markdown", "x-md", "md"] {
        assert!(got.headers.get(markdown).is_none(), "{markdown}");
    }
    assert!(got.header("content-type").starts_with("text/plain"));
    let body = got.text();
    let agent = "Mozilla *ACTION REQUIRED* _x_ ~y~ `code` <!channel> \
        <https[:]//evil.example|click> confirm at https[:]//evil.example/x";
    assert!(body.contains(&format!("\nBrowser: {agent}\n")), "{body}");
    assert!(!body.replace(OWN_URL, "").contains("://"), "{body}");
    assert!(body.contains(&format!("on {OWN_URL}")), "{body}");
}

#[tokio::test]
async fn a_long_user_agent_reaches_the_alert_cut_to_200_characters() {
    let long = format!("Mozilla/5.0 https://evil.example/{}", "a".repeat(300));
    let body = lockout_alert_with_agent("ntfy", &long).await.text();
    let line = body
        .lines()
        .find_map(|l| l.strip_prefix("Browser: "))
        .unwrap();
    assert_eq!(line.chars().count(), 200, "{line}");
    assert!(
        line.starts_with("Mozilla/5.0 https[:]//evil.example/aaa"),
        "{line}"
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_changes_nothing_for_the_login() {
    let mut hook = Receiver::start(&[], Answer::Never).await;
    // Slower than any receiver: a minute per attempt.
    let patient = Delivery {
        timeout: Duration::from_secs(60),
        ..Delivery::STANDARD
    };
    let mut s = Server::start_delivering(&[("AUTH_NOTIFY_URL", &hook.url)], patient).await;
    let t = s.login().await;
    // The alert reached the receiver, which is still holding it open: the
    // login was answered without waiting for it.
    let held = hook.next_json().await;
    assert_eq!(hook.open(), 1, "the alert is still waiting for its answer");
    assert_eq!(held["kind"], "login_success");
    assert_eq!(
        held["detail"].as_str().unwrap().rsplit(' ').next().unwrap(),
        format!("session={}", t.sid)
    );
    assert_eq!(s.get("/auth/me", Some(&t.access)).await.status, 200);
    // More sign-ins while the courier waits: answered too.
    for _ in 0..3 {
        let r = s.try_login("admin", PASSWORD).await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(hook.open(), 1);
    assert!(hook.pending().is_none(), "the others wait their turn");
    // Shutdown gives queued alerts a few seconds, then lets go.
    s.stop().await;
}

#[tokio::test]
async fn a_down_receiver_changes_nothing_and_the_alert_is_dropped_after_three_tries() {
    let s = Server::start_delivering(&[("AUTH_NOTIFY_URL", &down_url())], PROMPT).await;
    let t = s.login().await;
    assert_eq!(s.get("/auth/me", Some(&t.access)).await.status, 200);
    wait_for_outcome(&s, "dropped", 1.0).await;
    let series = |o: &str| format!("soloauth_notify_total{{outcome=\"{o}\"}}");
    assert_eq!(metric(&s, &series("retried")).await, 2.0);
    assert_eq!(metric(&s, &series("sent")).await, 0.0);
}

#[tokio::test]
async fn retries_are_bounded() {
    // An error status three times, then (for the next alert) success.
    let errors = [
        Answer::Status(500),
        Answer::Status(502),
        Answer::Status(429),
    ];
    let mut hook = Receiver::start(&errors, Answer::Status(200)).await;
    let s = Server::start_delivering(&[("AUTH_NOTIFY_URL", &hook.url)], PROMPT).await;
    let first = s.login().await;
    for _ in 0..3 {
        let attempt = hook.next_json().await;
        assert!(attempt["detail"].as_str().unwrap().ends_with(&first.sid));
    }
    wait_for_outcome(&s, "dropped", 1.0).await;
    // The next request is the next alert's, not a fourth try.
    let second = s.login().await;
    let next = hook.next_json().await;
    assert!(next["detail"].as_str().unwrap().ends_with(&second.sid));
    wait_for_outcome(&s, "sent", 1.0).await;
    assert!(hook.pending().is_none());

    // A receiver that never answers: each try ends at the timeout.
    let mut hook = Receiver::start(&[], Answer::Never).await;
    let s = Server::start_delivering(&[("AUTH_NOTIFY_URL", &hook.url)], QUICK).await;
    s.login().await;
    for _ in 0..3 {
        assert_eq!(hook.next_json().await["kind"], "login_success");
    }
    wait_for_outcome(&s, "dropped", 1.0).await;
    assert!(hook.pending().is_none());
}

#[tokio::test]
async fn a_failed_try_is_tried_again() {
    let mut hook = Receiver::start(&[Answer::Status(503)], Answer::Status(200)).await;
    let s = Server::start_delivering(&[("AUTH_NOTIFY_URL", &hook.url)], PROMPT).await;
    s.login().await;
    let first = hook.next().await.body;
    assert_eq!(hook.next().await.body, first, "the same alert again");
    wait_for_outcome(&s, "sent", 1.0).await;
    let series = "soloauth_notify_total{outcome=\"retried\"}";
    assert_eq!(metric(&s, series).await, 1.0);
}

#[tokio::test]
async fn notify_test_sends_one_alert_and_says_when_it_cannot() {
    let mut hook = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let url = hook.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        known(dir.path())
            .arg("notify-test")
            .env("AUTH_NOTIFY_URL", url)
            .env("AUTH_NOTIFY_FORMAT", "ntfy")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = hook.next().await;
    assert_eq!(got.header("title"), "soloauth: test alert");
    assert!(got.header("tags").ends_with(",notify_test"));

    // Down: a non-zero exit with the reason, and the URL (a secret) unsaid.
    let down = down_url();
    let out = binary()
        .arg("notify-test")
        .env("AUTH_NOTIFY_URL", &down)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not delivered"), "{stderr}");
    assert!(!stderr.contains("hook-secret-topic"), "{stderr}");
    // Not configured.
    let out = binary().arg("notify-test").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("AUTH_NOTIFY_URL is not set"));
}

#[tokio::test]
async fn commands_send_the_alerts_of_their_events() {
    let mut hook = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let (path, url) = (dir.path().to_path_buf(), hook.url.clone());
    let run = move |command: &'static str, events: &'static str| {
        let (path, url) = (path.clone(), url.clone());
        tokio::task::spawn_blocking(move || {
            let out = known(&path)
                .arg(command)
                .env("AUTH_NOTIFY_URL", url)
                .env("AUTH_NOTIFY_EVENTS", events)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stderr).to_string()
        })
    };
    // keys_rotated is a default event; unlock is not, unless chosen.
    let stderr = run("rotate-keys", "keys_rotated").await.unwrap();
    assert!(stderr.is_empty(), "{stderr}");
    let alert = hook.next_json().await;
    assert_eq!(alert["kind"], "keys_rotated");
    assert_eq!(alert["ip"], "");
    assert!(alert["detail"].as_str().unwrap().ends_with("by=cli"));
    run("unlock", "keys_rotated").await.unwrap();
    run("unlock", "unlock,lockout").await.unwrap();
    assert_eq!(hook.next_json().await["kind"], "unlock");
    assert!(hook.pending().is_none());
}

#[tokio::test]
async fn a_command_frees_the_data_directory_before_it_tries_alerts() {
    let mut hook = Receiver::start(&[], Answer::Never).await;
    let dir = tempfile::tempdir().unwrap();
    let mut child = known(dir.path())
        .arg("unlock")
        .env("AUTH_NOTIFY_URL", &hook.url)
        .env("AUTH_NOTIFY_EVENTS", "unlock")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The command is waiting for the receiver, and the server could start.
    assert_eq!(hook.next_json().await["kind"], "unlock");
    assert!(soloauth::storage::Store::open(dir.path()).is_ok());
    child.kill().unwrap();
    child.wait().unwrap();
}
