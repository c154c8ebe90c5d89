"""A tiny web app that does "Sign in with soloauth" (OpenID Connect, code
flow with PKCE), for browser_test.py. Standard library only.

    app = TestApp()                      # binds 127.0.0.1:<free port> now
    app.redirect_uri, app.logout_uri     # to register with soloauth
    server = serve(binary, AUTH_OIDC_CLIENT_WIDGETS_REDIRECT_URIS=app.redirect_uri, …)
    app.start(server.public, client_id, client_secret)
    …
    app.stop()

Pages:
  /             "Sign in with soloauth" (a link to soloauth's authorize
                endpoint with state, nonce and an S256 code challenge), or,
                signed in here, "Hello <preferred_username>", the email and
                a "Sign out" link
  /callback     checks `state` and `iss`, exchanges the code at the token
                endpoint (server to server, HTTP Basic), verifies the ID
                token (RS256 against the JWKS; iss, aud, nonce, exp, at_hash),
                asks userinfo, and shows the greeting
  /logout       forgets the sign-in here, then on to soloauth's logout with
                post_logout_redirect_uri = /signed-out
  /signed-out   checks `state`: "You are signed out"

The app listens on 127.0.0.1, soloauth's page on localhost: two hosts, so
neither sees the other's cookies (cookies do not care about ports; two apps
on 127.0.0.1 name their cookies apart).
Whatever it learnt is in `app.last` (claims, tokens, errors) for the test
to check; `app.userinfo(token)` asks soloauth about an access token.
"""

import base64
import hashlib
import hmac
import html
import http.server
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_rs256(token, jwks):
    """The claims of a JWT signed RS256 by a key of `jwks`; ValueError otherwise.
    (PKCS#1 v1.5 with SHA-256, checked with the public exponent, RFC 8017 §8.2.2.)"""
    head_b64, body_b64, sig_b64 = token.split(".")
    header = json.loads(unb64url(head_b64))
    if header.get("alg") != "RS256":
        raise ValueError(f"alg {header.get('alg')!r}")
    keys = [k for k in jwks["keys"] if k.get("kid") == header.get("kid") and k.get("kty") == "RSA"]
    if not keys:
        raise ValueError(f"no key {header.get('kid')!r} in the JWKS")
    n = int.from_bytes(unb64url(keys[0]["n"]), "big")
    e = int.from_bytes(unb64url(keys[0]["e"]), "big")
    size = (n.bit_length() + 7) // 8
    signature = unb64url(sig_b64)
    if len(signature) != size:
        raise ValueError("signature length")
    em = pow(int.from_bytes(signature, "big"), e, n).to_bytes(size, "big")
    digest_info = bytes.fromhex("3031300d060960864801650304020105000420")
    digest = hashlib.sha256(f"{head_b64}.{body_b64}".encode()).digest()
    expected = b"\x00\x01" + b"\xff" * (size - 3 - len(digest_info) - len(digest)) + b"\x00" + digest_info + digest
    if not hmac.compare_digest(em, expected):
        raise ValueError("bad signature")
    return json.loads(unb64url(body_b64))


class TestApp:
    def __init__(self, name="Widgets"):
        self.name = name
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.redirect_uri = self.origin + "/callback"
        self.logout_uri = self.origin + "/signed-out"
        # Cookies do not care about ports: each app on 127.0.0.1 names its own.
        self.cookie = f"app{self.httpd.server_address[1]}_session"
        self.pending = {}    # state -> (nonce, code_verifier), for sign-ins under way
        self.logouts = set()  # states of logouts under way
        self.sessions = {}   # this app's own cookie -> who signed in
        self.last = {}       # what the last sign-in learnt, or its error
        self.lock = threading.Lock()
        self.thread = None

    def start(self, issuer, client_id, client_secret=None):
        """Serves, as the client `client_id` of the soloauth at `issuer`."""
        self.issuer, self.client_id, self.client_secret = issuer, client_id, client_secret
        self.discovery = self._get_json(issuer + "/.well-known/openid-configuration")
        if self.discovery["issuer"] != issuer:
            raise RuntimeError(f"discovery names issuer {self.discovery['issuer']!r}, not {issuer!r}")
        if self.thread is None:
            self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
            self.thread.start()

    def stop(self):
        if self.thread:
            self.httpd.shutdown()
        self.httpd.server_close()

    def page(self, title, body):
        name = html.escape(self.name)
        return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name} — {title}</title>"
                "<link rel=\"icon\" href=\"data:,\"></head>"
                f"<body><h1>{name}</h1>{body}</body></html>").encode()

    # ---- talking to soloauth, server to server --------------------------------

    def _get_json(self, url, headers=None):
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10) as resp:
            return json.load(resp)

    def _token(self, code, verifier):
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "code_verifier": verifier}
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.client_secret is None:
            form["client_id"] = self.client_id
        else:
            quote = lambda s: urllib.parse.quote(s, safe="")  # RFC 6749 §2.3.1
            pair = f"{quote(self.client_id)}:{quote(self.client_secret)}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        request = urllib.request.Request(self.discovery["token_endpoint"], urllib.parse.urlencode(form).encode(),
                                         headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as err:
            raise ValueError(f"token endpoint: HTTP {err.code} {err.read()[:300]!r}") from None

    def userinfo(self, access_token):
        """(HTTP status, JSON body) of soloauth's userinfo for `access_token`."""
        request = urllib.request.Request(self.discovery["userinfo_endpoint"],
                                         headers={"Authorization": f"Bearer {access_token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.load(resp)
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def _finish(self, query):
        """The callback's work: the user's claims, or ValueError saying what is wrong."""
        if "error" in query:
            raise ValueError(f"soloauth answered {query['error']}: {query.get('error_description', '')}")
        with self.lock:
            nonce, verifier = self.pending.pop(query.get("state", ""), (None, None))
        if verifier is None:
            raise ValueError("unknown or reused state")
        if query.get("iss") != self.issuer:  # RFC 9207
            raise ValueError(f"iss {query.get('iss')!r} is not {self.issuer!r}")
        tokens = self._token(query.get("code", ""), verifier)
        jwks = self._get_json(self.discovery["jwks_uri"])
        claims = verify_rs256(tokens["id_token"], jwks)
        at_hash = b64url(hashlib.sha256(tokens["access_token"].encode()).digest()[:16])
        for what, ok in [("iss", claims.get("iss") == self.issuer),
                         ("aud", claims.get("aud") in (self.client_id, [self.client_id])),
                         ("nonce", claims.get("nonce") == nonce),
                         ("exp", claims.get("exp", 0) > time.time()),
                         ("at_hash", claims.get("at_hash") == at_hash)]:
            if not ok:
                raise ValueError(f"ID token: wrong {what}: {claims}")
        status, info = self.userinfo(tokens["access_token"])
        if status != 200:
            raise ValueError(f"userinfo: HTTP {status} {info}")
        if info.get("sub") != claims.get("sub"):
            raise ValueError("userinfo is about someone else")
        return {"id_token": claims, "userinfo": info, "tokens": tokens}

    # ---- the pages ---------------------------------------------------------------

    def _handler(self):
        app = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, status, body=b"", headers=()):
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                if body:
                    self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def who(self):
                for part in (self.headers.get("Cookie") or "").split(";"):
                    name, _, value = part.strip().partition("=")
                    if name == app.cookie:
                        return value, app.sessions.get(value)
                return None, None

            def do_GET(self):
                url = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                route = {"/": self.home, "/callback": self.callback, "/logout": self.logout,
                         "/signed-out": self.signed_out}.get(url.path)
                if route is None:
                    self.send(404, app.page("not found", "<p>Not found.</p>"))
                else:
                    route(query)

            def home(self, _query):
                _, user = self.who()
                if user:
                    self.greet(user)
                    return
                state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
                verifier = secrets.token_urlsafe(32)  # 43 characters: RFC 7636's least
                with app.lock:
                    app.pending[state] = (nonce, verifier)
                challenge = b64url(hashlib.sha256(verifier.encode()).digest())
                params = {"client_id": app.client_id, "redirect_uri": app.redirect_uri, "response_type": "code",
                          "scope": "openid profile email", "state": state, "nonce": nonce,
                          "code_challenge": challenge, "code_challenge_method": "S256"}
                href = app.discovery["authorization_endpoint"] + "?" + urllib.parse.urlencode(params)
                self.send(200, app.page("home", f'<p id="status">You are not signed in.</p>'
                                               f'<p><a id="sign-in" href="{html.escape(href)}">Sign in with soloauth</a></p>'))

            def greet(self, user, headers=()):
                info = user["userinfo"]
                name = html.escape(info.get("preferred_username", "?"))
                self.send(200, app.page("hello", f'<p id="greeting">Hello {name}</p>'
                                                 f'<p id="email">{html.escape(info.get("email", "no email"))}</p>'
                                                 '<p><a id="sign-out" href="/logout">Sign out</a></p>'), headers)

            def callback(self, query):
                try:
                    user = app._finish(query)
                except (ValueError, KeyError, OSError) as err:
                    app.last = {"error": str(err)}
                    self.send(400, app.page("sign-in failed", f'<p id="error">Sign-in failed: {html.escape(str(err))}</p>'))
                    return
                app.last = user
                cookie = secrets.token_urlsafe(16)
                app.sessions[cookie] = user
                self.greet(user, [("Set-Cookie", f"{app.cookie}={cookie}; Path=/; HttpOnly; SameSite=Lax")])

            def logout(self, _query):
                cookie, _ = self.who()
                user = app.sessions.pop(cookie, None)
                state = secrets.token_urlsafe(16)
                with app.lock:
                    app.logouts.add(state)
                params = {"client_id": app.client_id, "post_logout_redirect_uri": app.logout_uri, "state": state}
                if user:  # the ID token names the session to end (no confirmation asked)
                    params["id_token_hint"] = user["tokens"]["id_token"]
                target = app.discovery["end_session_endpoint"] + "?" + urllib.parse.urlencode(params)
                self.send(302, headers=[("Location", target),
                                        ("Set-Cookie", f"{app.cookie}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")])

            def signed_out(self, query):
                with app.lock:
                    known = query.get("state") in app.logouts
                    app.logouts.discard(query.get("state"))
                text = "You are signed out." if known else "Signed out, but the state is wrong."
                self.send(200, app.page("signed out", f'<p id="signed-out">{text}</p>'
                                                       '<p><a id="again" href="/">Sign in again</a></p>'))

        return Handler
