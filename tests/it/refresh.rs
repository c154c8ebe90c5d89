//! Refresh-token rotation, reuse detection and the concurrent-refresh race.

use crate::common::{Server, Tokens};

#[tokio::test]
async fn refresh_rotates_and_the_old_token_dies() {
    let s = Server::start().await;
    let t = s.login().await;
    s.clock.advance(60);
    let r = s.refresh(&t.refresh).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let next = Tokens::from(&r.body);
    assert_eq!(next.sid, t.sid, "same session");
    assert_ne!(next.refresh, t.refresh);
    assert_ne!(next.access, t.access);
    assert_eq!(s.get("/auth/me", Some(&next.access)).await.status, 200);
    // Rotating again with the new token works; the chain goes on.
    let r = s.refresh(&next.refresh).await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn reuse_of_a_rotated_token_revokes_the_session() {
    let s = Server::start().await;
    let t = s.login().await;
    let next = Tokens::from(&s.refresh(&t.refresh).await.body);
    s.clock.advance(11); // past the grace period for racing tabs
    let r = s.refresh(&t.refresh).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "token_reused");
    // The whole session is gone: its newest tokens too.
    assert_eq!(s.get("/auth/me", Some(&next.access)).await.status, 401);
    let r = s.refresh(&next.refresh).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "invalid_token");
}

#[tokio::test]
async fn garbage_refresh_tokens_are_invalid_and_revoke_nothing() {
    let s = Server::start().await;
    let t = s.login().await;
    let forged = format!("{}.{}", t.sid, "A".repeat(43));
    for junk in ["", "x", "a.b", forged.as_str(), &t.access] {
        let r = s.refresh(junk).await;
        assert_eq!(r.status, 401, "{junk:?}");
        assert_eq!(r.error(), "invalid_token");
    }
    assert_eq!(s.get("/auth/me", Some(&t.access)).await.status, 200);
    assert_eq!(s.refresh(&t.refresh).await.status, 200);
}

#[tokio::test]
async fn refresh_by_cookie_needs_a_same_origin_request() {
    let s = Server::start().await;
    let t = s.login().await;
    let cookie = format!("soloauth_refresh={}", t.refresh);
    let r = s
        .send(
            s.http
                .post(s.url("/auth/refresh"))
                .header("cookie", &cookie),
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.error(), "csrf");
    let r = s
        .send(
            s.http
                .post(s.url("/auth/refresh"))
                .header("cookie", &cookie)
                .header("origin", "http://localhost:8001"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.set_cookies().len(), 2);
    let r = s.send(s.http.post(s.url("/auth/refresh"))).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "invalid_token");
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_have_exactly_one_winner() {
    let s = Server::start().await;
    for round in 0..5 {
        let t = s.login().await;
        let attempts = (0..8).map(|_| s.refresh(&t.refresh));
        let replies = futures_util::future::join_all(attempts).await;
        let winners: Vec<_> = replies.iter().filter(|r| r.status == 200).collect();
        assert_eq!(winners.len(), 1, "round {round}");
        for r in replies.iter().filter(|r| r.status != 200) {
            assert_eq!(r.status, 401);
            // A loser finds the token retired (reuse) or, after another loser
            // revoked the session, finds no session at all.
            assert!(
                ["token_reused", "invalid_token"].contains(&r.error()),
                "{}",
                r.body
            );
        }
    }
}

#[tokio::test]
async fn refresh_slides_the_session_expiry() {
    let s = Server::start_with(&[("AUTH_REFRESH_TTL_SECONDS", "3600")]).await;
    let mut t = s.login().await;
    for _ in 0..3 {
        s.clock.advance(3000);
        let r = s.refresh(&t.refresh).await;
        assert_eq!(r.status, 200, "an active session stays alive");
        assert_eq!(r.body["refresh_expires_in"], 3600);
        t = Tokens::from(&r.body);
    }
}
