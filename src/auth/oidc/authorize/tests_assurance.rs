//! Per-app requirements: an app's policy and `acr_values` ask for a
//! stronger sign-in than the session's, which is then sent to sign in
//! again with `need`; the code carries the `amr` the ID token's `acr`
//! is read from.

use super::tests::{decide, issued, photos, request, session, signs_in, to_app, NOW, WEB};
use super::*;
use crate::base::amr::Amr;

/// A session made a minute ago with `amr`.
fn signed_in_with(amr: &[Amr]) -> Session {
    Session {
        amr: amr.to_vec(),
        ..session(NOW - 60)
    }
}

fn requiring(policy: Assurance) -> App {
    let mut app = photos();
    app.policy = policy;
    app
}

#[test]
fn an_app_that_needs_two_factors_sends_a_password_only_session_to_sign_in_again() {
    let app = requiring(Assurance::TwoFactor);
    let weak = signed_in_with(&[Amr::Pwd]);
    let sign_in = signs_in(decide(
        &request("photos", WEB),
        app.clone(),
        Some(&weak),
        NOW,
    ));
    assert_eq!(sign_in.need, Some(Assurance::TwoFactor));
    assert!(sign_in.fresh, "a session was in sight");
    for amr in [
        &[Amr::Pwd, Amr::Otp][..],
        &[Amr::Hwk, Amr::Mfa],
        &[Amr::Pwd, Amr::Hwk],
    ] {
        let strong = signed_in_with(amr);
        let issue = issued(decide(
            &request("photos", WEB),
            app.clone(),
            Some(&strong),
            NOW,
        ));
        assert_eq!(issue.amr, amr, "the code carries the amr");
    }
    // With no session at all, the login page is told what it must get.
    let sign_in = signs_in(decide(&request("photos", WEB), app, None, NOW));
    assert_eq!(sign_in.need, Some(Assurance::TwoFactor));
}

#[test]
fn an_app_that_needs_a_passkey_takes_no_code_in_its_place() {
    let app = requiring(Assurance::Passkey);
    let code = signed_in_with(&[Amr::Pwd, Amr::Otp]);
    let sign_in = signs_in(decide(
        &request("photos", WEB),
        app.clone(),
        Some(&code),
        NOW,
    ));
    assert_eq!(sign_in.need, Some(Assurance::Passkey));
    let passkey = signed_in_with(&[Amr::Hwk, Amr::Mfa]);
    issued(decide(&request("photos", WEB), app, Some(&passkey), NOW));
}

#[test]
fn acr_values_ask_for_more_never_for_less_and_unknown_values_are_ignored() {
    let weak = signed_in_with(&[Amr::Pwd]);
    let with_acr = |values: &str| AuthorizationRequest {
        acr_values: Some(values.into()),
        ..request("photos", WEB)
    };
    let d = decide(
        &with_acr("urn:x:gold passkey two_factor"),
        photos(),
        Some(&weak),
        NOW,
    );
    assert_eq!(
        signs_in(d).need,
        Some(Assurance::Passkey),
        "the first known, in order"
    );
    let d = decide(&with_acr("two_factor"), photos(), Some(&weak), NOW);
    let sign_in = signs_in(d);
    assert_eq!(sign_in.need, Some(Assurance::TwoFactor));
    assert!(
        sign_in.return_to.contains("acr_values=two_factor"),
        "they come back with the request: {}",
        sign_in.return_to
    );
    let app = requiring(Assurance::TwoFactor);
    let d = decide(&with_acr("one_factor"), app, Some(&weak), NOW);
    assert_eq!(
        signs_in(d).need,
        Some(Assurance::TwoFactor),
        "the app's policy stands"
    );
    issued(decide(
        &with_acr("urn:x:gold silver"),
        photos(),
        Some(&weak),
        NOW,
    ));
    issued(decide(&with_acr(""), photos(), Some(&weak), NOW));
}

#[test]
fn a_strong_session_too_old_for_max_age_is_asked_for_a_fresh_sign_in_not_a_need() {
    let app = requiring(Assurance::TwoFactor);
    let old = Session {
        amr: vec![Amr::Pwd, Amr::Otp],
        ..session(NOW - 3600)
    };
    let req = AuthorizationRequest {
        max_age: Some("60".into()),
        ..request("photos", WEB)
    };
    let sign_in = signs_in(decide(&req, app, Some(&old), NOW));
    assert!(sign_in.fresh && sign_in.need.is_none(), "{sign_in:?}");
}

#[test]
fn prompt_none_with_a_session_too_weak_is_login_required() {
    let app = requiring(Assurance::TwoFactor);
    let weak = signed_in_with(&[Amr::Pwd]);
    let none = AuthorizationRequest {
        prompt: Some("none".into()),
        ..request("photos", WEB)
    };
    let error = to_app(decide(&none, app, Some(&weak), NOW)).error;
    assert_eq!(error.error, "login_required");
    assert!(
        error.description.contains("two_factor"),
        "{}",
        error.description
    );
}
