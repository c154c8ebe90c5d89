//! Password login (JSON and form), cookies, sessions, logout, CSRF.

use serde_json::json;

use crate::common::{Reply, Server, Tokens, PASSWORD};

#[tokio::test]
async fn json_login_returns_the_contract_token_response_and_cookies() {
    let s = Server::start().await;
    let r = s.try_login("admin", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let b = &r.body;
    assert_eq!(b["token_type"], "Bearer");
    assert_eq!(b["expires_in"], 1800);
    assert_eq!(b["refresh_expires_in"], 604800);
    assert_eq!(
        b["user"],
        json!({"username": "admin", "totp_enabled": false})
    );
    assert!(b["refresh_token"].as_str().unwrap().len() >= 43);
    assert_eq!(r.headers["cache-control"], "no-store");
    let cookies = r.set_cookies();
    let access = cookies
        .iter()
        .find(|c| c.starts_with("soloauth_access="))
        .unwrap();
    let refresh = cookies
        .iter()
        .find(|c| c.starts_with("soloauth_refresh="))
        .unwrap();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(access.contains(attr), "{access}");
    }
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/auth"] {
        assert!(refresh.contains(attr), "{refresh}");
    }
    assert!(
        !access.contains("Secure"),
        "http public URL: not Secure by default"
    );
}

#[tokio::test]
async fn only_the_session_cookie_is_scoped_to_the_cookie_domain() {
    let s = Server::start_with(&[
        ("AUTH_PUBLIC_URL", "https://auth.example.com"),
        ("AUTH_COOKIE_DOMAIN", "example.com"),
    ])
    .await;
    let r = s.try_login("admin", PASSWORD).await;
    let cookies = r.set_cookies();
    assert_eq!(cookies.len(), 3, "{cookies:?}");
    assert!(cookies.iter().all(|c| c.contains("Secure")), "{cookies:?}");
    let find = |name: &str| {
        let raw = cookies.iter().find(|c| c.starts_with(name)).unwrap();
        cookie::Cookie::parse(raw.clone()).unwrap()
    };
    assert_eq!(find("soloauth_session=").domain(), Some("example.com"));
    assert_eq!(find("soloauth_access=").domain(), None, "host-only");
    assert_eq!(find("soloauth_refresh=").domain(), None, "host-only");

    // A browser from 0.1 holds the access and refresh cookies on the
    // cookie domain: new ones come with those old copies expired.
    let t = Tokens::from(&r.body);
    let req = s
        .http
        .post(s.url("/auth/refresh"))
        .header("origin", "https://auth.example.com")
        .header("cookie", format!("soloauth_refresh={}", t.refresh));
    let r = s.send(req).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let retired: Vec<cookie::Cookie> = r
        .set_cookies()
        .into_iter()
        .map(|raw| cookie::Cookie::parse(raw).unwrap())
        .filter(|c| c.domain() == Some("example.com"))
        .collect();
    let names: Vec<(&str, Option<&str>, i64)> = retired
        .iter()
        .map(|c| (c.name(), c.path(), c.max_age().unwrap().whole_seconds()))
        .collect();
    assert_eq!(
        names,
        [
            ("soloauth_access", Some("/"), 0),
            ("soloauth_refresh", Some("/auth"), 0)
        ]
    );
}

#[tokio::test]
async fn form_login_works_for_oauth2_password_clients() {
    let s = Server::start().await;
    let r = s
        .send(s.http.post(s.url("/auth/login")).form(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", PASSWORD),
        ]))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body["access_token"].is_string());
}

#[tokio::test]
async fn wrong_username_and_wrong_password_look_identical() {
    let s = Server::start().await;
    let wrong_pw = s.try_login("admin", "nope").await;
    let wrong_user = s.try_login("root", PASSWORD).await;
    assert_eq!(wrong_pw.status, 401);
    assert_eq!(wrong_pw.error(), "invalid_credentials");
    assert_eq!(wrong_pw.status, wrong_user.status);
    assert_eq!(wrong_pw.body, wrong_user.body);
    assert!(wrong_pw.set_cookies().is_empty());
}

#[tokio::test]
async fn me_and_sessions_describe_the_caller() {
    let s = Server::start().await;
    let first = s.login().await;
    let second = s.login().await;
    let me = s.get("/auth/me", Some(&second.access)).await;
    assert_eq!(me.status, 200);
    assert_eq!(
        me.body,
        json!({"username": "admin", "totp_enabled": false, "recovery_codes_remaining": 0,
               "session_id": second.sid, "amr": ["pwd"], "passkeys": 0,
               "factors": ["password"], "password_login": true,
               "password_login_from_env": false})
    );
    let list = s.get("/auth/sessions", Some(&second.access)).await.body;
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2);
    let current: Vec<_> = list.iter().filter(|x| x["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["id"], second.sid.as_str());
    for entry in list {
        for field in [
            "id",
            "created_at",
            "last_seen_at",
            "expires_at",
            "ip",
            "user_agent",
        ] {
            assert!(entry[field].is_string(), "{field} in {entry}");
        }
        assert_eq!(entry["ip"], "127.0.0.1");
        assert!(entry["created_at"].as_str().unwrap().ends_with('Z'));
    }
    assert!(list.iter().any(|x| x["id"] == first.sid.as_str()));
}

#[tokio::test]
async fn revoking_a_session_kills_its_token_at_once() {
    let s = Server::start().await;
    let victim = s.login().await;
    let me = s.login().await;
    assert_eq!(s.get("/auth/me", Some(&victim.access)).await.status, 200);
    let r = s
        .delete(&format!("/auth/sessions/{}", victim.sid), Some(&me.access))
        .await;
    assert_eq!(r.status, 204);
    let r = s.get("/auth/me", Some(&victim.access)).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "invalid_token");
    assert_eq!(s.refresh(&victim.refresh).await.status, 401);
    let r = s
        .delete(&format!("/auth/sessions/{}", victim.sid), Some(&me.access))
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "not_found");
    assert_eq!(s.delete("/auth/sessions/whatever", None).await.status, 401);
}

#[tokio::test]
async fn deleting_all_sessions_ends_every_other_one_and_keeps_the_callers() {
    let s = Server::start().await;
    let others = [s.login().await, s.login().await];
    let me = s.login().await;
    let r = s.delete("/auth/sessions", Some(&me.access)).await;
    assert_eq!(r.status, 204, "{}", r.body);
    for other in &others {
        assert_eq!(s.get("/auth/me", Some(&other.access)).await.status, 401);
        assert_eq!(s.refresh(&other.refresh).await.status, 401);
    }
    assert_eq!(s.get("/auth/me", Some(&me.access)).await.status, 200);
    let list = s.get("/auth/sessions", Some(&me.access)).await.body;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [me.sid.as_str()]);
    assert_eq!(s.delete("/auth/sessions", None).await.status, 401);
    // By cookie, it is a write like any other: it needs the public Origin.
    let r = s
        .send(
            s.http
                .delete(s.url("/auth/sessions"))
                .header("cookie", format!("soloauth_access={}", me.access))
                .header("origin", "https://evil.example"),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.error()), (403, "csrf"));
}

#[tokio::test]
async fn logout_revokes_and_clears_cookies() {
    let s = Server::start().await;
    let t = s.login().await;
    let r = s.post("/auth/logout", json!(null), Some(&t.access)).await;
    assert_eq!(r.status, 204);
    let cleared = r.set_cookies();
    assert_eq!(cleared.len(), 3, "session, access and refresh cookies");
    assert!(
        cleared.iter().all(|c| c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert_eq!(s.get("/auth/me", Some(&t.access)).await.status, 401);
    assert_eq!(
        s.post("/auth/logout", json!(null), Some(&t.access))
            .await
            .status,
        401
    );
}

/// `POST /auth/logout` authenticated by cookie, with one extra header.
async fn cookie_logout(s: &Server, access: &str, header: Option<(&str, &str)>) -> Reply {
    let mut req = s
        .http
        .post(s.url("/auth/logout"))
        .header("cookie", format!("soloauth_access={access}"));
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    s.send(req).await
}

#[tokio::test]
async fn cookie_writes_need_a_matching_origin_bearer_does_not() {
    let s = Server::start().await;
    let t = s.login().await;
    let cookie = format!("soloauth_access={}", t.access);
    // Reads by cookie need no Origin.
    let r = s
        .send(s.http.get(s.url("/auth/me")).header("cookie", &cookie))
        .await;
    assert_eq!(r.status, 200);
    // Writes by cookie without (or with a foreign) Origin are refused, and change nothing.
    for header in [
        None,
        Some(("origin", "https://evil.example")),
        Some(("origin", "http://localhost:8001.evil.com")),
        Some(("sec-fetch-site", "cross-site")),
    ] {
        let r = cookie_logout(&s, &t.access, header).await;
        assert_eq!(r.status, 403, "{header:?}");
        assert_eq!(r.error(), "csrf");
    }
    assert_eq!(s.get("/auth/me", Some(&t.access)).await.status, 200);
    // A matching Origin or a same-origin fetch passes.
    let r = cookie_logout(&s, &t.access, Some(("origin", "http://localhost:8001"))).await;
    assert_eq!(r.status, 204);
    let t2 = s.login().await;
    let r = cookie_logout(&s, &t2.access, Some(("sec-fetch-site", "same-origin"))).await;
    assert_eq!(r.status, 204);
    // Bearer writes are exempt.
    let t3 = s.login().await;
    assert_eq!(
        s.post("/auth/logout", json!(null), Some(&t3.access))
            .await
            .status,
        204
    );
}

#[tokio::test]
async fn sessions_expire_and_are_cleaned_up() {
    let s = Server::start_with(&[("AUTH_REFRESH_TTL_SECONDS", "3600")]).await;
    let t = s.login().await;
    s.clock.advance(3600);
    assert_eq!(s.refresh(&t.refresh).await.status, 401);
    let fresh = s.login().await;
    let list = s.get("/auth/sessions", Some(&fresh.access)).await.body;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "expired session not listed"
    );
}

#[tokio::test]
async fn cookie_delete_of_a_session_needs_origin_too() {
    let s = Server::start().await;
    let victim = s.login().await;
    let me = s.login().await;
    let path = s.url(&format!("/auth/sessions/{}", victim.sid));
    let cookie = format!("soloauth_access={}", me.access);
    let r = s.send(s.http.delete(&path).header("cookie", &cookie)).await;
    assert_eq!((r.status.as_u16(), r.error()), (403, "csrf"));
    assert_eq!(
        s.get("/auth/me", Some(&victim.access)).await.status,
        200,
        "nothing changed"
    );
    let r = s
        .send(
            s.http
                .delete(&path)
                .header("cookie", &cookie)
                .header("origin", "http://localhost:8001"),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(s.get("/auth/me", Some(&victim.access)).await.status, 401);
}

#[tokio::test]
async fn form_login_with_a_missing_field_is_400_and_reads_need_a_token() {
    let s = Server::start().await;
    let r = s
        .send(
            s.http
                .post(s.url("/auth/login"))
                .form(&[("username", "admin")]),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.error()), (400, "bad_request"));
    for path in ["/auth/sessions", "/auth/me"] {
        let r = s.get(path, None).await;
        assert_eq!(
            (r.status.as_u16(), r.error()),
            (401, "invalid_token"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn cookie_secure_can_be_turned_off_explicitly() {
    let s = Server::start_with(&[
        ("AUTH_PUBLIC_URL", "https://auth.example.com"),
        ("AUTH_COOKIE_SECURE", "false"),
    ])
    .await;
    let r = s.try_login("admin", PASSWORD).await;
    assert!(r.set_cookies().iter().all(|c| !c.contains("Secure")));
}
