// Talking to the server. Every call sends JSON with the page's cookies and
// every answer has one shape:
//   { ok, status, data, error, message, retryAfter }
// `data` is the JSON body (null when there is none), `error` the contract's
// error code (docs/API.md, "Errors"; "network" when the server could not be
// reached; null when ok), `message` its words, `retryAfter` the seconds of
// `Retry-After`. `call` also renews an expired access cookie, once, and
// retries. Session tokens stay in HttpOnly cookies: this never sees them.

const unreachable = "Cannot reach the server. Check your connection and try again.";

// One request, as it is (no refresh): the sign-in steps use this.
export async function send(path, method, body) {
  const options = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, options);
  } catch {
    // No answer at all (offline, server down): say so instead of failing silently.
    return { ok: false, status: 0, data: null, error: "network", message: unreachable, retryAfter: 0 };
  }
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  return {
    ok: resp.ok,
    status: resp.status,
    data,
    error: resp.ok ? null : (data && data.error) || null,
    message: (data && data.message) || "",
    retryAfter: Number(resp.headers.get("Retry-After") || 0),
  };
}

// One refresh at a time, across tabs too (a refresh token works once).
let refreshing = null;
function refreshOnce() {
  const run = async () => (await send("/auth/refresh", "POST", {})).ok;
  if (!refreshing) {
    const locked = navigator.locks ? navigator.locks.request("soloauth-refresh", run) : run();
    refreshing = locked.finally(() => { refreshing = null; });
  }
  return refreshing;
}

// A call with the access cookie; on an expired token, refresh once and retry.
export async function call(path, method = "GET", body = undefined) {
  let result = await send(path, method, body);
  if (result.status === 401 && result.error === "invalid_token") {
    if (await refreshOnce()) result = await send(path, method, body);
  }
  return result;
}

// A body that carries the password only when there is one (a sensitive
// action's first try goes without: see withReauth in ui.js).
export const withPassword = (body, password) => (password === undefined ? body : { ...body, password });
