//! The authorization policy, decided with injected time: every decision and
//! every error kind, then the provider's part (looking the app up, issuing
//! the code, remembering a consent) over a real store.

use super::*;
use crate::auth::oidc::clients::hash_secret;
use crate::storage::oidc::StoredClient;

pub(super) const NOW: i64 = 1_800_000_000;
const ISSUER: &str = "https://auth.example.com";
const KEY: &[u8] = b"the recovery-code pepper";
pub(super) const WEB: &str = "https://photos.example.com/cb";
const LOOPBACK: &str = "http://127.0.0.1/callback";
const ON_PORT: &str = "http://127.0.0.1:51234/callback";
const CUSTOM: &str = "com.example.app:/oauth";
const SPA: &str = "https://spa.example.com/cb";
/// An S256 challenge (43 base64url characters).
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

fn authorizer() -> Authorizer<'static> {
    Authorizer {
        issuer: ISSUER,
        key: LoginAfterKey::new(KEY),
        max_return: 16 * 1024,
    }
}

pub(super) fn stored(client_id: &str, secret: Option<&str>, uris: &[&str]) -> StoredClient {
    StoredClient {
        client_id: client_id.into(),
        name: client_id.to_uppercase(),
        secret_hash: secret.map(hash_secret),
        redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
        logout_uris: Vec::new(),
        created_at: NOW,
        policy: Default::default(),
    }
}

/// A confidential app at a web redirect.
pub(super) fn photos() -> App {
    App::from_stored(&stored("photos", Some("s3cret"), &[WEB]))
}

/// A public app: on this device (loopback, custom scheme) or a web SPA.
fn mobile() -> App {
    App::from_stored(&stored("mobile", None, &[LOOPBACK, CUSTOM, SPA]))
}

/// A complete, valid request for `client_id` at `redirect_uri`.
pub(super) fn request(client_id: &str, redirect_uri: &str) -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: Some(client_id.into()),
        redirect_uri: Some(redirect_uri.into()),
        response_type: Some("code".into()),
        scope: Some("openid profile".into()),
        state: Some("xyz".into()),
        nonce: Some("n-0S6".into()),
        code_challenge: Some(CHALLENGE.into()),
        code_challenge_method: Some("S256".into()),
        ..Default::default()
    }
}

fn with(
    mut req: AuthorizationRequest,
    change: impl FnOnce(&mut AuthorizationRequest),
) -> AuthorizationRequest {
    change(&mut req);
    req
}

/// A session signed in at `created_at`.
pub(super) fn session(created_at: i64) -> Session {
    Session {
        id: format!("s{created_at}"),
        created_at,
        last_seen_at: created_at,
        expires_at: created_at + 86_400,
        ip: "198.51.100.7".into(),
        user_agent: "unit test".into(),
        amr: vec![crate::base::amr::Amr::Pwd, crate::base::amr::Amr::Otp],
        refresh_hash: "r".into(),
        cookie_hash: String::new(),
        remember: true,
        consents: Vec::new(),
    }
}

pub(super) fn decide(
    req: &AuthorizationRequest,
    app: App,
    session: Option<&Session>,
    now: i64,
) -> Decision {
    authorizer().decide(req, Some(app), session, now)
}

pub(super) fn issued(d: Decision) -> CodeIssue {
    match d {
        Decision::Issue(issue) => *issue,
        other => panic!("not a code: {other:?}"),
    }
}

pub(super) fn signs_in(d: Decision) -> SignIn {
    match d {
        Decision::SignIn(sign_in) => sign_in,
        other => panic!("not the login page: {other:?}"),
    }
}

fn asked(d: Decision) -> ConsentAsk {
    match d {
        Decision::Consent(ask) => ask,
        other => panic!("not the consent page: {other:?}"),
    }
}

pub(super) fn to_app(d: Decision) -> AppError {
    match d {
        Decision::ToApp(e) => e,
        other => panic!("not an error for the app: {other:?}"),
    }
}

fn page(d: Decision) -> ErrorPage {
    match d {
        Decision::ErrorPage(why) => why,
        other => panic!("not an error page: {other:?}"),
    }
}

/// The query of `url`, in order.
fn query(url: &str) -> Vec<(String, String)> {
    let url = url::Url::parse(url).unwrap();
    url.query_pairs().into_owned().collect()
}

fn param(url: &str, name: &str) -> Option<String> {
    query(url)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

#[test]
fn no_client_id_an_unknown_app_or_an_unregistered_redirect_uri_get_a_page() {
    let signed_in = session(NOW - 10);
    let none = with(request("photos", WEB), |r| {
        r.client_id = None;
        r.prompt = Some("none".into());
    });
    let d = authorizer().decide(&none, Some(photos()), Some(&signed_in), NOW);
    assert!(matches!(page(d), ErrorPage::NoClientId));
    let d = authorizer().decide(&request("nobody", WEB), None, Some(&signed_in), NOW);
    assert!(matches!(page(d), ErrorPage::UnknownClient));
    // An app that is not the one the request names is no app at all.
    let d = authorizer().decide(&request("other", WEB), Some(photos()), None, NOW);
    assert!(matches!(page(d), ErrorPage::UnknownClient));

    for sent in [
        "https://photos.example.com/cb/",
        "https://evil.example/cb",
        "http://localhost:51234/callback",
        "",
    ] {
        let d = decide(&request("photos", sent), photos(), Some(&signed_in), NOW);
        match page(d) {
            ErrorPage::RedirectMismatch { app, sent: shown } => {
                assert_eq!(app.client_id, "photos");
                assert_eq!(app.redirect_uris, vec![WEB.to_string()]);
                assert_eq!(shown.as_deref(), Some(sent));
            }
            other => panic!("{sent}: {other:?}"),
        }
    }
    let missing = with(request("photos", WEB), |r| r.redirect_uri = None);
    let d = decide(&missing, photos(), Some(&signed_in), NOW);
    assert!(matches!(
        page(d),
        ErrorPage::RedirectMismatch { sent: None, .. }
    ));
}

/// Asserts that the request for `client`, changed by `change`, goes back to
/// the app with `error` (its description holding `why`), the app's own
/// `state` and the issuer, even for a signed-in browser.
#[track_caller]
fn refused(client: &str, change: fn(&mut AuthorizationRequest), error: &str, why: &str) {
    let (app, uri) = match client {
        "photos" => (photos(), WEB),
        _ => (mobile(), SPA),
    };
    let req = with(request(client, uri), change);
    let e = to_app(decide(&req, app, Some(&session(NOW - 10)), NOW));
    assert_eq!(e.error.error, error, "{req:?}");
    assert!(e.error.description.contains(why), "{e:?}");
    let location = e.location(ISSUER);
    assert!(location.starts_with(&format!("{uri}?error=")), "{location}");
    let names: Vec<String> = query(&location).into_iter().map(|(k, _)| k).collect();
    assert_eq!(names, ["error", "error_description", "state", "iss"]);
    assert_eq!(param(&location, "state"), req.state, "the app's own state");
    assert_eq!(param(&location, "iss").as_deref(), Some(ISSUER));
}

#[test]
fn every_other_error_goes_back_to_the_app_with_state_and_iss() {
    let unsupported = "unsupported_response_type";
    refused(
        "photos",
        |r| r.response_type = Some("token".into()),
        unsupported,
        "=code",
    );
    refused("photos", |r| r.response_type = None, unsupported, "=code");
    refused(
        "photos",
        |r| r.scope = Some("profile".into()),
        "invalid_scope",
        "openid",
    );
    let invalid = "invalid_request";
    refused(
        "photos",
        |r| r.state = Some("s".repeat(513)),
        invalid,
        "512 bytes",
    );
    refused(
        "photos",
        |r| r.nonce = Some("n".repeat(513)),
        invalid,
        "512 bytes",
    );
    refused(
        "photos",
        |r| r.code_challenge_method = None,
        invalid,
        "must be S256",
    );
    refused(
        "photos",
        |r| r.code_challenge = Some("short".into()),
        invalid,
        "43 base64url",
    );
    refused(
        "mobile",
        |r| r.code_challenge = None,
        invalid,
        "must use PKCE",
    );
    refused(
        "photos",
        |r| r.max_age = Some("-1".into()),
        invalid,
        "max_age must be",
    );
    refused(
        "photos",
        |r| r.max_age = Some("soon".into()),
        invalid,
        "max_age must be",
    );
    refused(
        "photos",
        |r| r.max_age = Some("1.5".into()),
        invalid,
        "max_age must be",
    );
    refused(
        "photos",
        |r| r.prompt = Some("login ".repeat(11)),
        invalid,
        "prompt is at most",
    );
}

#[test]
fn without_a_session_the_browser_signs_in_and_comes_back_to_the_same_request() {
    let req = request("photos", WEB);
    let sign_in = signs_in(decide(&req, photos(), None, NOW));
    assert_eq!(sign_in.threshold, Threshold::Any);
    assert!(!sign_in.fresh, "any sign-in will do");
    let prefix = format!("{ISSUER}/oidc/authorize?");
    assert!(
        sign_in.return_to.starts_with(&prefix),
        "{}",
        sign_in.return_to
    );
    let expected: Vec<(String, String)> = (req.pairs().into_iter())
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    assert_eq!(query(&sign_in.return_to), expected);
    assert_eq!(param(&sign_in.return_to, "login_after"), None);

    let none = with(req, |r| r.prompt = Some("none".into()));
    let e = to_app(decide(&none, photos(), None, NOW));
    assert_eq!(e.error.error, "login_required");
}

#[test]
fn a_session_gets_a_code_with_what_the_request_and_the_sign_in_say() {
    let signed_in = session(NOW - 10);
    for prompt in [None, Some("none"), Some("consent"), Some("select_account")] {
        let req = with(request("photos", WEB), |r| {
            r.prompt = prompt.map(str::to_string)
        });
        let issue = issued(decide(&req, photos(), Some(&signed_in), NOW));
        assert_eq!(issue.app.client_id, "photos");
        assert_eq!(
            issue.request,
            AuthorizeRequest {
                redirect_uri: WEB.into(),
                response_type: "code".into(),
                scope: "openid profile".into(),
                state: Some("xyz".into()),
                nonce: Some("n-0S6".into()),
                code_challenge: Some(CHALLENGE.into()),
                code_challenge_method: Some("S256".into()),
            }
        );
        assert_eq!(issue.session_id, signed_in.id);
        assert_eq!(issue.auth_time, NOW - 10);
        assert_eq!(
            issue.amr,
            [crate::base::amr::Amr::Pwd, crate::base::amr::Amr::Otp]
        );
        assert!(!issue.remember_consent);
        assert_eq!(
            issue.back().location(&[("code", "c0de")], ISSUER),
            format!("{WEB}?code=c0de&state=xyz&iss=https%3A%2F%2Fauth.example.com")
        );
    }
}

#[test]
fn prompt_login_asks_for_a_new_sign_in_and_only_a_newer_one_passes() {
    let old = session(NOW - 100);
    let req = with(request("photos", WEB), |r| r.prompt = Some("login".into()));
    let sign_in = signs_in(decide(&req, photos(), Some(&old), NOW));
    assert_eq!(sign_in.threshold, Threshold::Login { after: NOW - 100 });
    assert!(sign_in.fresh, "the session in sight will not do");
    assert_eq!(param(&sign_in.return_to, "prompt"), None, "asked once");
    let login_after = param(&sign_in.return_to, "login_after").unwrap();
    let key = LoginAfterKey::new(KEY);
    assert_eq!(key.verify(&login_after, "photos", WEB), Some(NOW - 100));

    // Back from the login page (as the page sends it back).
    let back = with(request("photos", WEB), |r| {
        r.login_after = Some(login_after)
    });
    let again = signs_in(decide(&back, photos(), Some(&old), NOW + 5));
    assert_eq!(again.threshold, Threshold::LoginAfter { after: NOW - 100 });
    assert!(again.fresh);
    let newer = session(NOW + 3);
    let issue = issued(decide(&back, photos(), Some(&newer), NOW + 5));
    assert_eq!(issue.auth_time, NOW + 3);

    // prompt=login without a session: newer than a second ago.
    let sign_in = signs_in(decide(&req, photos(), None, NOW));
    assert_eq!(sign_in.threshold, Threshold::Login { after: NOW - 1 });
    assert!(!sign_in.fresh);
    // prompt=login and prompt=none together: no sign-in may be shown.
    let both = with(req, |r| r.prompt = Some("none login".into()));
    let e = to_app(decide(&both, photos(), Some(&old), NOW));
    assert_eq!(e.error.error, "login_required");
}

#[test]
fn max_age_is_met_by_a_session_that_young_or_a_new_sign_in() {
    let aged = |age: &str| with(request("photos", WEB), |r| r.max_age = Some(age.into()));
    let signed_in = session(NOW - 60);
    issued(decide(&aged("60"), photos(), Some(&signed_in), NOW));
    issued(decide(&aged("3600"), photos(), Some(&signed_in), NOW));
    let sign_in = signs_in(decide(&aged("59"), photos(), Some(&signed_in), NOW));
    assert_eq!(
        sign_in.threshold,
        Threshold::MaxAge {
            max_age: 59,
            after: NOW - 60
        }
    );
    assert!(sign_in.fresh);
    let prompt_none = with(aged("59"), |r| r.prompt = Some("none".into()));
    let e = to_app(decide(&prompt_none, photos(), Some(&signed_in), NOW));
    assert_eq!(e.error.error, "login_required");
    // max_age=0: only a session of this very second.
    issued(decide(&aged("0"), photos(), Some(&session(NOW)), NOW));
    signs_in(decide(&aged("0"), photos(), Some(&session(NOW - 1)), NOW));

    // No session, max_age=0: the sign-in that follows is enough, however
    // many seconds it takes to come back.
    let sign_in = signs_in(decide(&aged("0"), photos(), None, NOW));
    assert_eq!(
        sign_in.threshold,
        Threshold::MaxAge {
            max_age: 0,
            after: NOW - 1
        }
    );
    assert!(!sign_in.fresh);
    assert_eq!(param(&sign_in.return_to, "max_age").as_deref(), Some("0"));
    let back = with(aged("0"), |r| {
        r.login_after = param(&sign_in.return_to, "login_after");
    });
    let issue = issued(decide(&back, photos(), Some(&session(NOW + 3)), NOW + 6));
    assert_eq!(issue.auth_time, NOW + 3);
}

#[test]
fn login_after_passes_only_when_it_is_ours_and_the_session_is_newer() {
    let key = LoginAfterKey::new(KEY);
    let back = |value: String| {
        with(request("photos", WEB), |r| {
            r.login_after = Some(value);
            r.max_age = Some("0".into());
        })
    };
    let valid = key.sign(NOW - 10, "photos", WEB).unwrap();
    // Newer than its threshold: met, and so is max_age.
    let issue = issued(decide(
        &back(valid.clone()),
        photos(),
        Some(&session(NOW - 9)),
        NOW + 100,
    ));
    assert_eq!(issue.auth_time, NOW - 9);
    // Not newer (the sign-in it was made for, or older): sign in again.
    for created_at in [NOW - 10, NOW - 500] {
        let stale = session(created_at);
        let sign_in = signs_in(decide(&back(valid.clone()), photos(), Some(&stale), NOW));
        assert_eq!(
            sign_in.threshold,
            Threshold::LoginAfter { after: created_at }
        );
        assert!(sign_in.fresh);
        let renewed = param(&sign_in.return_to, "login_after").unwrap();
        assert_eq!(key.verify(&renewed, "photos", WEB), Some(created_at));
    }

    // Forged, mangled, or made for another app, redirect URI or key: never
    // met, whatever the session.
    let (_, mac) = valid.split_once('.').unwrap();
    for forged in [
        "0".to_string(),
        format!("{}.{mac}", NOW + 1_000),
        key.sign(NOW - 10, "mobile", WEB).unwrap(),
        key.sign(NOW - 10, "photos", SPA).unwrap(),
        LoginAfterKey::new(b"another key")
            .sign(NOW - 10, "photos", WEB)
            .unwrap(),
    ] {
        let young = session(NOW);
        let sign_in = signs_in(decide(&back(forged.clone()), photos(), Some(&young), NOW));
        assert_eq!(
            sign_in.threshold,
            Threshold::LoginAfter { after: NOW },
            "{forged}"
        );
        assert!(sign_in.fresh);
        let sign_in = signs_in(decide(&back(forged.clone()), photos(), None, NOW));
        assert_eq!(sign_in.threshold, Threshold::LoginAfter { after: NOW - 1 });
        assert!(!sign_in.fresh);
        let none = with(back(forged), |r| r.prompt = Some("none".into()));
        let e = to_app(decide(&none, photos(), Some(&young), NOW));
        assert_eq!(e.error.error, "login_required");
    }
}

#[test]
fn a_public_app_on_this_device_needs_the_owners_consent_once_per_sign_in() {
    let signed_in = session(NOW - 10);
    for uri in [ON_PORT, CUSTOM] {
        let req = with(request("mobile", uri), |r| {
            r.prompt = Some("consent".into())
        });
        let ask = asked(decide(&req, mobile(), Some(&signed_in), NOW));
        assert_eq!(ask.app_name, "MOBILE");
        assert_eq!(ask.redirect_uri, uri);
        assert_eq!(ask.fields, req.pairs(), "the request again, prompt and all");

        let allow = with(req.clone(), |r| r.consent = Some(ConsentAnswer::Allow));
        let issue = issued(decide(&allow, mobile(), Some(&signed_in), NOW));
        assert!(issue.remember_consent);
        assert_eq!(issue.request.redirect_uri, uri);

        let deny = with(req.clone(), |r| {
            r.consent = Some(ConsentAnswer::parse("maybe"))
        });
        let e = to_app(decide(&deny, mobile(), Some(&signed_in), NOW));
        assert_eq!(e.error.error, "access_denied");
        assert!(e.location(ISSUER).starts_with(uri), "back to the app");

        let none = with(req.clone(), |r| r.prompt = Some("none".into()));
        let e = to_app(decide(&none, mobile(), Some(&signed_in), NOW));
        assert_eq!(e.error.error, "consent_required");

        // Remembered for this sign-in: no question.
        let mut allowed = signed_in.clone();
        allowed.consents.push("mobile".into());
        let issue = issued(decide(&req, mobile(), Some(&allowed), NOW));
        assert!(!issue.remember_consent);
        issued(decide(&none, mobile(), Some(&allowed), NOW));
    }
    // A public app at a web redirect, a confidential app: no question, and
    // an answer changes nothing.
    let spa = request("mobile", SPA);
    issued(decide(&spa, mobile(), Some(&signed_in), NOW));
    let denied = with(request("photos", WEB), |r| {
        r.consent = Some(ConsentAnswer::Deny)
    });
    assert!(!issued(decide(&denied, photos(), Some(&signed_in), NOW)).remember_consent);
    // Without a session, signing in comes first.
    let req = request("mobile", ON_PORT);
    signs_in(decide(&req, mobile(), None, NOW));
}

#[test]
fn a_request_too_long_to_come_back_to_goes_back_to_the_app() {
    let short = Authorizer {
        max_return: 300,
        ..authorizer()
    };
    let long = with(request("photos", WEB), |r| r.state = Some("s".repeat(300)));
    let e = to_app(short.decide(&long, Some(photos()), None, NOW));
    assert_eq!(e.error.error, "invalid_request");
    assert!(e.error.description.contains("too long"), "{e:?}");
    signs_in(short.decide(&request("photos", WEB), Some(photos()), None, NOW));
}

#[test]
fn back_locations_keep_the_redirect_uris_own_query() {
    let back = Back {
        redirect_uri: "https://app.example/cb?x=1".into(),
        state: Some("a b&c".into()),
    };
    assert_eq!(
        back.location(&[("code", "c")], ISSUER),
        "https://app.example/cb?x=1&code=c&state=a+b%26c&iss=https%3A%2F%2Fauth.example.com"
    );
    let back = Back {
        redirect_uri: CUSTOM.into(),
        state: None,
    };
    assert_eq!(
        back.location(&[("code", "c")], ISSUER),
        "com.example.app:/oauth?code=c&iss=https%3A%2F%2Fauth.example.com"
    );
    assert_eq!(with_query("not a url", &[("code", "c")]), "not a url");
    assert_eq!(with_query(WEB, &[]), WEB);
}

mod store;
