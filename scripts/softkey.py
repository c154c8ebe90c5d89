"""A software WebAuthn authenticator (a passkey) for the Python scripts.

The Python twin of tests/it/common/authenticator.rs, byte for byte: it plays
both the browser and the authenticator. It takes the options JSON soloauth
sends (what a page hands to `navigator.credentials.create()` / `.get()`) and
returns what the browser's `PublicKeyCredential.toJSON()` gives back
(WebAuthn Level 3 `RegistrationResponseJSON` / `AuthenticationResponseJSON`).

It mimics a platform authenticator (`authenticatorAttachment: "platform"`,
transport `internal`) holding one ES256 (P-256) key, with "none" attestation,
no extensions and no backup (the BE/BS flags are never set), and it always
verifies its user (UV).

The little CBOR it needs (the COSE key and the attestation object) is written
by hand, in CTAP2 canonical form (the callers write map keys in canonical
order). The key is the `cryptography` package's.

    key = SoftAuthenticator("auth.example.com", "https://auth.example.com")
    credential = key.create(options)   # register/start's options
    credential = key.get(options)      # login/start's options
"""

import base64
import hashlib
import json
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

# COSE algorithm identifier of ES256 (ECDSA with P-256 and SHA-256).
ES256 = -7
# Authenticator data flags: user present, user verified, attested credential data.
FLAG_UP = 0x01
FLAG_UV = 0x04
FLAG_AT = 0x40


def b64(data):
    """Base64url without padding, the encoding of every binary field in WebAuthn JSON."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class SoftAuthenticator:
    """A software passkey: one P-256 key, a random 16-byte credential id, a
    signature counter (`create` reports it as is, `get` adds one before each
    use)."""

    def __init__(self, rp_id, origin):
        self.rp_id = rp_id
        self.origin = origin
        self.counter = 0
        self.user_handle = None  # user.id (base64url) of the last create()
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._credential_id = os.urandom(16)

    def credential_id(self):
        """The credential id, base64url without padding."""
        return b64(self._credential_id)

    def create(self, options):
        """`navigator.credentials.create()`: the RegistrationResponseJSON of a
        new credential (attestation "none") for the server's
        PublicKeyCredentialCreationOptionsJSON. Remembers user.id as the user
        handle of later get()s. ValueError if rp.id is not ours or ES256 is
        not offered."""
        if (options.get("rp") or {}).get("id") != self.rp_id:
            raise ValueError(f"rp.id of the creation options is not {self.rp_id!r}: {options!r}")
        if not any(p.get("type") == "public-key" and p.get("alg") == ES256
                   for p in options.get("pubKeyCredParams") or []):
            raise ValueError(f"the server does not offer ES256: {options!r}")
        self.user_handle = options["user"]["id"]
        client_data = self._client_data_json("webauthn.create", options["challenge"])

        auth_data = self._authenticator_data(FLAG_AT, self.counter)
        # attestedCredentialData: AAGUID (all zero), credential id, COSE key.
        auth_data += bytes(16)
        auth_data += len(self._credential_id).to_bytes(2, "big")
        auth_data += self._credential_id
        auth_data += self._cose_key()

        # {"fmt": "none", "attStmt": {}, "authData": h'…'}, keys in canonical order.
        attestation = cbor({"fmt": "none", "attStmt": {}, "authData": auth_data})
        spki = self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return self._credential_json({
            "clientDataJSON": b64(client_data),
            "attestationObject": b64(attestation),
            "authenticatorData": b64(auth_data),
            "transports": ["internal"],
            "publicKey": b64(spki),
            "publicKeyAlgorithm": ES256,
        })

    def get(self, options):
        """`navigator.credentials.get()`: the AuthenticationResponseJSON of an
        assertion for the server's PublicKeyCredentialRequestOptionsJSON,
        after adding one to the counter. `userHandle` is the user.id of the
        last create(), left out if there was none. ValueError if the options
        name another rpId."""
        rp_id = options.get("rpId")
        if rp_id is not None and rp_id != self.rp_id:
            raise ValueError(f"rpId of the request options is {rp_id!r}, not {self.rp_id!r}")
        self.counter += 1
        client_data = self._client_data_json("webauthn.get", options["challenge"])
        auth_data = self._authenticator_data(0, self.counter)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self._key.sign(signed, ec.ECDSA(hashes.SHA256()))  # DER
        response = {
            "clientDataJSON": b64(client_data),
            "authenticatorData": b64(auth_data),
            "signature": b64(signature),
        }
        if self.user_handle is not None:
            response["userHandle"] = self.user_handle
        return self._credential_json(response)

    def _credential_json(self, response):
        """PublicKeyCredential.toJSON() of this credential around `response`."""
        return {
            "id": self.credential_id(),
            "rawId": self.credential_id(),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        }

    def _client_data_json(self, kind, challenge):
        """clientDataJSON (bytes), members in the order browsers write them."""
        return json.dumps({"type": kind, "challenge": challenge, "origin": self.origin,
                           "crossOrigin": False},
                          separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def _authenticator_data(self, extra, sign_count):
        """The authenticator data up to the sign count: rpIdHash, flags (UP,
        UV and `extra`), signCount (big endian)."""
        return (hashlib.sha256(self.rp_id.encode("utf-8")).digest()
                + bytes([FLAG_UP | FLAG_UV | extra])
                + sign_count.to_bytes(4, "big"))

    def _cose_key(self):
        """The public key as a COSE_Key: {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}."""
        point = self._key.public_key().public_numbers()
        return cbor({1: 2, 3: ES256, -1: 1,
                     -2: point.x.to_bytes(32, "big"), -3: point.y.to_bytes(32, "big")})


def _cbor_head(major, value):
    """A CBOR data item head: major type `major` with argument `value`, in
    its shortest form (as canonical CBOR requires)."""
    if value < 24:
        return bytes([major << 5 | value])
    for extra, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if value < 1 << (8 * size):
            return bytes([major << 5 | extra]) + value.to_bytes(size, "big")
    raise ValueError(f"CBOR argument out of range: {value}")


def cbor(value):
    """The CBOR of `value`: an int, bytes, a str, or a dict of those (its
    keys written in the dict's order: the caller gives them in canonical
    order)."""
    if isinstance(value, bool):
        raise TypeError("CBOR booleans are not needed here")
    if isinstance(value, int):
        return _cbor_head(0, value) if value >= 0 else _cbor_head(1, -1 - value)
    if isinstance(value, bytes):
        return _cbor_head(2, len(value)) + value
    if isinstance(value, str):
        data = value.encode("utf-8")
        return _cbor_head(3, len(data)) + data
    if isinstance(value, dict):
        return _cbor_head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(f"no CBOR for {type(value).__name__}")
