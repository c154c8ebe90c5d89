//! `Provider::authorize` and `Provider::issue` over a real store: the app
//! looked up, the code stored, a consent remembered by the session.

use super::*;
use crate::auth::events::Kind;
use crate::auth::testkit::{client, Kit};
use crate::base::secret::{sha256_hex, ExposeSecret};

#[tokio::test]
async fn the_app_is_looked_up_and_a_consent_given_is_remembered_with_the_code() {
    let kit = Kit::new(5);
    let public = stored("mobile", None, &[LOOPBACK]);
    kit.store.put_oidc_client(&public).unwrap();
    let pair = (kit.sessions())
        .start(vec![crate::base::amr::Amr::Pwd], &client(), true, NOW)
        .await
        .unwrap();
    let provider = kit.provider();
    let signed_in = pair.session;

    let req = request("mobile", ON_PORT);
    let d = provider.authorize(&authorizer(), &req, Some(&signed_in), NOW);
    asked(d.unwrap());
    let allow = with(req.clone(), |r| r.consent = Some(ConsentAnswer::Allow));
    let d = provider.authorize(&authorizer(), &allow, Some(&signed_in), NOW);
    let issue = issued(d.unwrap());
    let mut events = Events::new();
    let code = (provider.issue(&issue, NOW, &mut events, client().ip))
        .await
        .unwrap();
    let record = kit.store.code(&sha256_hex(code.expose_secret()));
    let stored = record.unwrap().expect("the code is stored");
    assert_eq!(stored.client_id, "mobile");
    assert_eq!(stored.redirect_uri, ON_PORT);
    assert_eq!(stored.session_id, signed_in.id);
    assert_eq!(stored.code_challenge.as_deref(), Some(CHALLENGE));
    assert_eq!(
        stored.expires_at,
        NOW + crate::auth::oidc::provider::CODE_TTL
    );
    assert_eq!(events.len(), 1);
    assert!(matches!(events[0].kind, Kind::OidcAuthorized));

    // The session remembers: no question the next time.
    let session = kit.store.live_session(&signed_in.id, NOW).unwrap().unwrap();
    assert_eq!(session.consents, ["mobile"]);
    let d = provider.authorize(&authorizer(), &req, Some(&session), NOW);
    assert!(!issued(d.unwrap()).remember_consent);

    let d = provider.authorize(&authorizer(), &request("nobody", WEB), None, NOW);
    assert!(matches!(page(d.unwrap()), ErrorPage::UnknownClient));
    let nameless = with(req, |r| r.client_id = None);
    let d = provider.authorize(&authorizer(), &nameless, None, NOW);
    assert!(matches!(page(d.unwrap()), ErrorPage::NoClientId));
}
