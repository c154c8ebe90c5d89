// Passkeys (WebAuthn): the browser's part of a ceremony. The server sends
// the options as JSON and takes the browser's answer as JSON (`toJSON()`),
// bytes in base64url; browsers without the JSON helpers get the few byte
// fields converted here.

// Passkeys need WebAuthn; without it, no passkey control is shown.
export const supported = Boolean(window.PublicKeyCredential && navigator.credentials);

const fromB64url = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
const toB64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const withIds = (list) => (list || []).map((c) => ({ ...c, id: fromB64url(c.id) }));

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  return {
    ...json,
    challenge: fromB64url(json.challenge),
    user: { ...json.user, id: fromB64url(json.user.id) },
    excludeCredentials: withIds(json.excludeCredentials),
  };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  return { ...json, challenge: fromB64url(json.challenge), allowCredentials: withIds(json.allowCredentials) };
}

// The browser's answer (a new passkey or a signature) as JSON.
function answerJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const r = credential.response;
  const response = {};
  for (const field of ["clientDataJSON", "attestationObject", "authenticatorData", "signature", "userHandle"]) {
    if (r[field]) response[field] = toB64url(r[field]);
  }
  if (r.getAuthenticatorData) response.authenticatorData = toB64url(r.getAuthenticatorData());
  if (r.getTransports) response.transports = r.getTransports();
  const publicKey = r.getPublicKey && r.getPublicKey();
  if (publicKey) response.publicKey = toB64url(publicKey);
  if (r.getPublicKeyAlgorithm) response.publicKeyAlgorithm = r.getPublicKeyAlgorithm();
  return {
    id: credential.id,
    rawId: toB64url(credential.rawId),
    type: credential.type,
    response,
    authenticatorAttachment: credential.authenticatorAttachment || null,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

// Why the browser gave no credential (the person cancelled, it timed out…).
function why(err, adding) {
  switch (err.name) {
    case "NotAllowedError": return adding
      ? "Cancelled — no passkey was added. (The request was dismissed or timed out, or this authenticator cannot make this kind of passkey.)"
      : "Cancelled — no passkey was used. (The request was dismissed or timed out.)";
    case "InvalidStateError": return "This authenticator already holds a passkey for this account. Use that one, or add a passkey on another device or security key.";
    case "SecurityError": return `This address (${location.host}) cannot use this server's passkeys. Open the sign-in page at its usual address.`;
    default: return `The browser could not use a passkey: ${err.message || err.name}`;
  }
}

// Runs the browser's part: { answer } (the credential as JSON to send), or
// { failed: why } when the browser gave none.
async function ceremony(run, adding) {
  let credential;
  try {
    credential = await run();
  } catch (err) {
    return { failed: why(err, adding) };
  }
  return { answer: answerJSON(credential) };
}

// A new passkey, from registration options.
export const create = (options) => ceremony(() => navigator.credentials.create({ publicKey: creationOptions(options) }), true);

// A signature, from sign-in options.
export const get = (options) => ceremony(() => navigator.credentials.get({ publicKey: requestOptions(options) }), false);
