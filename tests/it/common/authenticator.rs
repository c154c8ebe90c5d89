//! A software WebAuthn authenticator (a passkey) for the passkey tests.
//!
//! [`SoftAuthenticator`] plays both the browser and the authenticator: it
//! takes the options JSON the server sends (what a page would hand to
//! `navigator.credentials.create()` / `.get()`) and returns what the
//! browser's `PublicKeyCredential.toJSON()` gives back (WebAuthn Level 3
//! `RegistrationResponseJSON` / `AuthenticationResponseJSON`).
//!
//! It mimics a platform authenticator (`authenticatorAttachment: "platform"`,
//! transport `internal`) holding one ES256 (P-256) key, with "none"
//! attestation, no extensions and no backup (the BE/BS flags are never set).
//! Its public fields let a test misbehave on purpose: set the signature
//! counter back (a cloned key), drop user verification, or sign the wrong
//! bytes.
//!
//! The little CBOR it needs (the COSE key and the attestation object) is
//! written by hand, in CTAP2 canonical form.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{DerSignature, SigningKey};
use p256::pkcs8::EncodePublicKey as _;
use rand::RngCore as _;
use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

/// COSE algorithm identifier of ES256 (ECDSA with P-256 and SHA-256).
const ES256: i64 = -7;

/// Authenticator data flag: user present.
const FLAG_UP: u8 = 0x01;
/// Authenticator data flag: user verified.
const FLAG_UV: u8 = 0x04;
/// Authenticator data flag: attested credential data included.
const FLAG_AT: u8 = 0x40;

/// A software passkey: one P-256 (ES256) key, its credential id, a signature counter.
#[derive(Clone)]
pub struct SoftAuthenticator {
    /// The relying party id the key is bound to, e.g. `"localhost"`.
    pub rp_id: String,
    /// The origin the "browser" reports in `clientDataJSON`, e.g. `"http://localhost:8001"`.
    pub origin: String,
    /// The signature counter: [`create`](Self::create) reports it as is, and
    /// [`get`](Self::get) adds one before each use. Set it back to play a cloned key.
    pub counter: u32,
    /// Whether the user is verified (the UV flag); `true` by default.
    pub user_verified: bool,
    /// When `true`, [`get`](Self::get) returns a well-formed (DER) signature
    /// over other bytes than the ones the server checks.
    pub bad_signature: bool,
    /// The credential's private key.
    key: SigningKey,
    /// The credential id: 16 random bytes.
    credential_id: Vec<u8>,
    /// The user handle (`user.id`, base64url) of the last `create()`; `None` before one.
    user_handle: Option<String>,
}

impl SoftAuthenticator {
    /// A new passkey for `rp_id`, used from pages at `origin`: a fresh key, a
    /// random credential id, counter 0, user verification on.
    pub fn new(rp_id: &str, origin: &str) -> Self {
        let mut rng = rand::thread_rng();
        let mut credential_id = vec![0; 16];
        rng.fill_bytes(&mut credential_id);
        Self {
            rp_id: rp_id.to_owned(),
            origin: origin.to_owned(),
            counter: 0,
            user_verified: true,
            bad_signature: false,
            key: SigningKey::random(&mut rng),
            credential_id,
            user_handle: None,
        }
    }

    /// Everything the passkey holds, as JSON (its private key as PKCS#8 DER,
    /// base64url): an upgrade fixture keeps it to sign in again later.
    pub fn to_json(&self) -> Value {
        use p256::pkcs8::EncodePrivateKey as _;
        let der = self.key.to_pkcs8_der().unwrap();
        json!({
            "rp_id": self.rp_id,
            "origin": self.origin,
            "counter": self.counter,
            "key": b64(der.as_bytes()),
            "credential_id": self.credential_id(),
            "user_handle": self.user_handle,
        })
    }

    /// The passkey [`to_json`](Self::to_json) wrote.
    pub fn from_json(kept: &Value) -> Self {
        use p256::pkcs8::DecodePrivateKey as _;
        let bytes = |field: &str| {
            URL_SAFE_NO_PAD
                .decode(kept[field].as_str().unwrap())
                .unwrap()
        };
        Self {
            rp_id: kept["rp_id"].as_str().unwrap().to_owned(),
            origin: kept["origin"].as_str().unwrap().to_owned(),
            counter: u32::try_from(kept["counter"].as_u64().unwrap()).unwrap(),
            user_verified: true,
            bad_signature: false,
            key: SigningKey::from_pkcs8_der(&bytes("key")).unwrap(),
            credential_id: bytes("credential_id"),
            user_handle: kept["user_handle"].as_str().map(str::to_owned),
        }
    }

    /// The credential id, base64url without padding.
    pub fn credential_id(&self) -> String {
        b64(&self.credential_id)
    }

    /// `navigator.credentials.create()`: takes the server's
    /// `PublicKeyCredentialCreationOptionsJSON` and returns the
    /// `RegistrationResponseJSON` of the new credential (attestation "none").
    ///
    /// Remembers `user.id` as the user handle of later [`get`](Self::get)s.
    /// Panics if `rp.id` is not [`rp_id`](Self::rp_id) or ES256 (-7) is not offered.
    pub fn create(&mut self, options: &Value) -> Value {
        assert_eq!(
            options["rp"]["id"].as_str(),
            Some(self.rp_id.as_str()),
            "rp.id of the creation options"
        );
        let offered = options["pubKeyCredParams"]
            .as_array()
            .expect("pubKeyCredParams")
            .iter()
            .any(|p| p["type"] == "public-key" && p["alg"].as_i64() == Some(ES256));
        assert!(offered, "the server does not offer ES256: {options}");
        let user_id = options["user"]["id"].as_str().expect("user.id");
        self.user_handle = Some(user_id.to_owned());
        let challenge = options["challenge"].as_str().expect("challenge");

        let client_data = self.client_data_json("webauthn.create", challenge);
        let mut auth_data = self.authenticator_data(FLAG_AT, self.counter);
        // attestedCredentialData: AAGUID (all zero), credential id, COSE key.
        auth_data.extend_from_slice(&[0; 16]);
        let id_len = u16::try_from(self.credential_id.len()).expect("credential id length");
        auth_data.extend_from_slice(&id_len.to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.cose_key());

        // {"fmt": "none", "attStmt": {}, "authData": h'…'}, keys in canonical order.
        let mut attestation = Vec::new();
        cbor_map(&mut attestation, 3);
        cbor_text(&mut attestation, "fmt");
        cbor_text(&mut attestation, "none");
        cbor_text(&mut attestation, "attStmt");
        cbor_map(&mut attestation, 0);
        cbor_text(&mut attestation, "authData");
        cbor_bytes(&mut attestation, &auth_data);

        let spki = self
            .key
            .verifying_key()
            .to_public_key_der()
            .expect("SubjectPublicKeyInfo of the P-256 key");
        self.credential_json(json!({
            "clientDataJSON": b64(client_data.as_bytes()),
            "attestationObject": b64(&attestation),
            "authenticatorData": b64(&auth_data),
            "transports": ["internal"],
            "publicKey": b64(spki.as_bytes()),
            "publicKeyAlgorithm": ES256,
        }))
    }

    /// `navigator.credentials.get()`: takes the server's
    /// `PublicKeyCredentialRequestOptionsJSON` and returns the
    /// `AuthenticationResponseJSON` of an assertion, after adding one to
    /// [`counter`](Self::counter).
    ///
    /// It answers even when its credential is not in `allowCredentials` (so
    /// tests can present an unknown key). `userHandle` is the `user.id` of
    /// the last [`create`](Self::create), and left out if there was none.
    /// Panics if the options name an `rpId` other than [`rp_id`](Self::rp_id).
    pub fn get(&mut self, options: &Value) -> Value {
        if let Some(rp_id) = options.get("rpId").and_then(Value::as_str) {
            assert_eq!(rp_id, self.rp_id, "rpId of the request options");
        }
        let challenge = options["challenge"].as_str().expect("challenge");
        self.counter += 1;

        let client_data = self.client_data_json("webauthn.get", challenge);
        let auth_data = self.authenticator_data(0, self.counter);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(client_data.as_bytes()));
        if self.bad_signature {
            signed.push(0);
        }
        let signature: DerSignature = self.key.sign(&signed);

        let mut response = json!({
            "clientDataJSON": b64(client_data.as_bytes()),
            "authenticatorData": b64(&auth_data),
            "signature": b64(signature.as_bytes()),
        });
        if let Some(user_handle) = &self.user_handle {
            response["userHandle"] = json!(user_handle);
        }
        self.credential_json(response)
    }

    /// `PublicKeyCredential.toJSON()` of this credential around `response`.
    fn credential_json(&self, response: Value) -> Value {
        let id = self.credential_id();
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        })
    }

    /// `clientDataJSON`, members in the order browsers write them.
    fn client_data_json(&self, kind: &str, challenge: &str) -> String {
        format!(
            r#"{{"type":{},"challenge":{},"origin":{},"crossOrigin":false}}"#,
            Value::from(kind),
            Value::from(challenge),
            Value::from(self.origin.as_str()),
        )
    }

    /// The authenticator data up to the sign count: rpIdHash, flags (UP, UV
    /// if the user is verified, and `extra`), signCount (big endian).
    fn authenticator_data(&self, extra: u8, sign_count: u32) -> Vec<u8> {
        let mut flags = FLAG_UP | extra;
        if self.user_verified {
            flags |= FLAG_UV;
        }
        let mut data = Sha256::digest(self.rp_id.as_bytes()).to_vec();
        data.push(flags);
        data.extend_from_slice(&sign_count.to_be_bytes());
        data
    }

    /// The public key as a COSE_Key: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}.
    fn cose_key(&self) -> Vec<u8> {
        let point = self.key.verifying_key().to_encoded_point(false);
        let mut key = Vec::new();
        cbor_map(&mut key, 5);
        cbor_int(&mut key, 1);
        cbor_int(&mut key, 2);
        cbor_int(&mut key, 3);
        cbor_int(&mut key, ES256);
        cbor_int(&mut key, -1);
        cbor_int(&mut key, 1);
        cbor_int(&mut key, -2);
        cbor_bytes(&mut key, point.x().expect("x coordinate"));
        cbor_int(&mut key, -3);
        cbor_bytes(&mut key, point.y().expect("y coordinate"));
        key
    }
}

/// Base64url without padding, the encoding of every binary field in WebAuthn JSON.
fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A CBOR data item head: major type `major` with argument `value`, in its
/// shortest form (as canonical CBOR requires).
fn cbor_head(out: &mut Vec<u8>, major: u8, value: u64) {
    let major = major << 5;
    if let Ok(v) = u8::try_from(value) {
        if v < 24 {
            out.push(major | v);
        } else {
            out.extend_from_slice(&[major | 24, v]);
        }
    } else if let Ok(v) = u16::try_from(value) {
        out.push(major | 25);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(value) {
        out.push(major | 26);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(major | 27);
        out.extend_from_slice(&value.to_be_bytes());
    }
}

/// A CBOR integer: major type 0 (unsigned) or 1 (negative, encoding -1 - n).
fn cbor_int(out: &mut Vec<u8>, n: i64) {
    match u64::try_from(n) {
        Ok(unsigned) => cbor_head(out, 0, unsigned),
        Err(_) => cbor_head(out, 1, n.unsigned_abs() - 1),
    }
}

/// A CBOR byte string (major type 2).
fn cbor_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    cbor_head(out, 2, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// A CBOR text string (major type 3).
fn cbor_text(out: &mut Vec<u8>, text: &str) {
    cbor_head(out, 3, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// The head of a CBOR map of `entries` key/value pairs (major type 5); the
/// pairs follow it.
fn cbor_map(out: &mut Vec<u8>, entries: u64) {
    cbor_head(out, 5, entries);
}
