"""Runs the soloauth binary for the Python scripts in scripts/ (browser_test.py,
proxy_test.py, and bench.sh's inline Python), so that each of them does not
start, wait for and log in to the server in its own way.

No free-port race. The server is started with AUTH_BIND=127.0.0.1:0 and
AUTH_LOG_FORMAT=json: the kernel gives it a free port when it binds, and the
helper reads the port from the server's own log line
`{"fields": {"message": "soloauth listening", "addr": "127.0.0.1:PORT"}}`.
Nothing picks a port first and hopes it is still free a moment later. (That
line is logged at INFO by the crate's root target `soloauth`; a RUST_LOG that
hides it makes start_server fail. bench.sh uses `warn,soloauth=info,soloauth::=warn`.)

The public URL. AUTH_PUBLIC_URL must be set before the server starts, but
the port is only known after. Where the port in it matters, that is a
browser's page origin: the server compares `Origin` with the public URL's
origin for logins and cookie-authenticated writes (browser_test.py). For
that case `start_server(..., relay=True)` puts a `Relay` in front: a
byte-for-byte loopback TCP relay whose listening socket this process binds
(port 0) and holds before the server starts, so AUTH_PUBLIC_URL is
`http://localhost:<relay port>` from the start and no other process can take
that port. The browser talks to `server.public`; the relay passes every
connection unchanged to the server's own port. Where only the redirect
Location carries the public URL (proxy_test.py), the script sets a fixed
public URL whose port nobody connects to.

The one remaining free-port race is for third-party servers that cannot tell
us a port they chose (Traefik, Caddy, nginx in proxy_test.py): `free_port()`
and `on_free_port()`, which retries with another port when the program fails
to start and its log says the address was already in use. If the process that
took the port is itself listening, the proxy's readiness probe may reach it
instead; then that proxy's checks fail (they want soloauth's answers through
the proxy), they never pass falsely. soloauth itself never needs it.

    server = start_server("target/debug/soloauth", AUTH_ADMIN_PASSWORD_HASH=hash_password(binary, pw))
    try:
        body = login(server.base, "admin", pw)
        status, me = api(server.base, "/auth/me", token=body["access_token"])
    finally:
        server.stop()

Standard library only.
"""

import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse

LISTENING = "soloauth listening"


class Checks:
    """Counts named checks, prints `ok   name` or `FAIL name: detail`."""

    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failed += 1
            print(f"FAIL {name}: {detail}")
        return ok

    def summary(self):
        """Prints `N passed, M failed`; returns the exit status (0 when none failed)."""
        print(f"{self.passed} passed, {self.failed} failed")
        return 0 if self.failed == 0 else 1


class Process:
    """A child process with its output (stdout and stderr) in a log file.

    With `on_line`, the output goes through a pipe: a thread appends each line
    to the log file at once and calls on_line(line) with it (no polling).
    """

    def __init__(self, name, argv, log_path, env=None, cwd=None, on_line=None):
        self.name, self.log_path = name, log_path
        open(log_path, "wb").close()  # a fresh log; opened for appending below,
        with open(log_path, "ab") as log:  # as nginx appends its error_log to it too
            self.p = subprocess.Popen(argv, stdout=subprocess.PIPE if on_line else log,
                                      stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      env=env, cwd=cwd)
        self._reader = None
        if on_line:
            self._reader = threading.Thread(target=self._copy, args=(on_line,), daemon=True)
            self._reader.start()

    def _copy(self, on_line):
        with self.p.stdout, open(self.log_path, "ab") as log:
            for raw in self.p.stdout:
                log.write(raw)
                log.flush()
                on_line(raw.decode("utf-8", "replace"))

    @property
    def pid(self):
        return self.p.pid

    def running(self):
        return self.p.poll() is None

    def log(self):
        """The log so far, as text."""
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def failure(self, what):
        """A RuntimeError that says `what`, the exit status and the whole log."""
        return RuntimeError(f"{self.name} {what} (exit {self.p.poll()}); log {self.log_path}:\n{self.log()}")

    def wait_ready(self, ready, timeout=20, interval=0.1):
        """Calls ready() until it is true (OSError counts as not yet); raises
        failure() if the process exits or `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.running():
            try:
                if ready():
                    return
            except OSError:
                pass
            time.sleep(interval)
        raise self.failure("did not become ready")

    def stop(self, timeout=15):
        """SIGTERM, up to `timeout` seconds to exit, then SIGKILL. Returns the exit status."""
        if self.running():
            self.p.terminate()
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        if self._reader:
            self._reader.join(5)
        return self.p.returncode


class Relay:
    """A loopback TCP relay on a port this process binds itself (port 0) and
    holds until close(): its address is known, and safe from other processes,
    before the server behind it starts. Each connection is passed byte for
    byte, both ways, to `target` once start(target) is called. `host`: the
    name in its URL (any name the browser resolves to 127.0.0.1, such as
    auth.test.localhost)."""

    def __init__(self, host="localhost"):
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"

    def start(self, target):
        self.target = target
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:  # closed
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client):
        try:
            upstream = socket.create_connection(self.target)
        except OSError:
            client.close()
            return
        with client, upstream:
            back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
            back.start()
            _pump(client, upstream)
            back.join()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() above
        except OSError:
            pass
        self.sock.close()


def _pump(src, dst):
    try:
        while data := src.recv(65536):
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class Server(Process):
    """A running soloauth. `base` is its own address (http://127.0.0.1:PORT),
    `public` the address a browser uses (the relay's, or else `base`)."""

    relay = None
    temp_dir = None

    def url(self, path="/"):
        return self.base + path

    def stop(self, timeout=15):
        status = super().stop(timeout)
        if self.relay:
            self.relay.close()
        if self.temp_dir:
            shutil.rmtree(self.temp_dir, ignore_errors=True)
        return status


def _listening_addr(line):
    """The address in a `soloauth listening` JSON log line, or None."""
    try:
        fields = json.loads(line).get("fields") or {}
    except (ValueError, AttributeError):
        return None
    return fields.get("addr") if fields.get("message") == LISTENING else None


def start_server(binary, data_dir=None, *, log_path=None, relay=False, relay_host="localhost",
                 timeout=20, health_interval=0.05, **env):
    """Starts `binary` on 127.0.0.1:0 with AUTH_LOG_FORMAT=json, waits for its
    `soloauth listening` line and then for GET /health to answer 200, and
    returns the Server. Raises RuntimeError (with the log) if it exits or
    `timeout` seconds pass first.

    data_dir: AUTH_DATA_DIR; by default a fresh one in a temporary directory
    that stop() removes. The log goes to log_path, by default data_dir + ".log".
    relay=True: AUTH_PUBLIC_URL is set to a Relay's http://localhost:PORT, and
    server.public is that URL (for browsers: the Origin check needs it);
    relay_host names the relay another way (http://auth.test.localhost:PORT).
    env: further variables (AUTH_ADMIN_PASSWORD_HASH=…), over os.environ.
    """
    temp_dir = None
    if data_dir is None:
        temp_dir = tempfile.mkdtemp(prefix="soloauth.")
        data_dir = os.path.join(temp_dir, "data")
    front = Relay(relay_host) if relay else None
    if front:
        env["AUTH_PUBLIC_URL"] = front.url
    full_env = dict(os.environ, AUTH_DATA_DIR=data_dir, AUTH_BIND="127.0.0.1:0",
                    AUTH_LOG_FORMAT="json")
    full_env.update({k: str(v) for k, v in env.items()})

    found, listening = [], threading.Event()

    def on_line(line):
        if not found and (addr := _listening_addr(line)):
            found.append(addr)
            listening.set()

    server = Server("soloauth", [os.path.abspath(binary)], log_path or data_dir + ".log",
                    env=full_env, on_line=on_line)
    server.relay, server.temp_dir, server.data_dir = front, temp_dir, data_dir
    deadline = time.monotonic() + timeout
    try:
        while not listening.wait(0.05):
            if not server.running() or time.monotonic() > deadline:
                raise server.failure(f"logged no {LISTENING!r} line (is it hidden by RUST_LOG?)")
        host, _, port = found[0].rpartition(":")
        server.port = int(port)
        server.base = f"http://{host}:{port}"
        server.public = front.url if front else server.base
        server.wait_ready(lambda: request(server.base, "GET", "/health")[0] == 200,
                          timeout=max(deadline - time.monotonic(), 1), interval=health_interval)
    except BaseException:
        server.stop()
        raise
    if front:
        front.start((host.strip("[]"), server.port))
    return server


def hash_password(binary, password):
    """The argon2id hash `soloauth hash-password` prints for `password` (given on stdin)."""
    return subprocess.run([binary, "hash-password"], input=password + "\n", text=True,
                          capture_output=True, check=True, timeout=60).stdout.strip()


def request(base, method, path, headers=None, body=None, timeout=30):
    """One HTTP request to `base` (http://host:port); never follows redirects.
    A Host header in `headers` replaces the one from `base`.
    Returns (status, headers, body bytes)."""
    url = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def api(base, path, body=None, token=None):
    """A JSON call: POST `body` when there is one, else GET; with a Bearer
    `token` if given. Returns (status, decoded JSON body or None)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body) if body is not None else None
    status, _, raw = request(base, "POST" if body is not None else "GET", path, headers, data)
    return status, json.loads(raw or b"null")


def login(base, username, password):
    """POST /auth/login. Returns (JSON body, response headers); RuntimeError unless 200."""
    status, headers, raw = request(base, "POST", "/auth/login", {"Content-Type": "application/json"},
                                   json.dumps({"username": username, "password": password}))
    if status != 200:
        raise RuntimeError(f"login: HTTP {status} {raw[:200]!r}")
    return json.loads(raw), headers


def app_cookie(headers):
    """The Cookie header a browser sends an app under the cookie domain after
    the login that gave these response headers: the session cookie alone (the
    access and refresh cookies are host-only, on the auth host)."""
    sent = []
    for value in headers.get_all("Set-Cookie") or []:
        pair = value.split(";", 1)[0].strip()
        if pair.split("=", 1)[0] == "soloauth_session":
            sent.append(pair)
    return "; ".join(sent)


class EchoUpstream(http.server.BaseHTTPRequestHandler):
    """An app behind a proxy: answers every GET with 200 and what it saw as
    JSON (the path, Remote-User, Remote-Session and every header)."""

    def do_GET(self):
        send_json(self, {
            "path": self.path,
            "remote_user": self.headers.get("Remote-User"),
            "remote_session": self.headers.get("Remote-Session"),
            "headers": dict(self.headers.items()),
        })

    def log_message(self, *args):
        pass


def send_json(handler, value, status=200):
    """Answers a request of an http.server handler with `value` as JSON."""
    body = json.dumps(value).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def free_port():
    """A port free at this moment. RACY: another process may take it before
    the caller's program binds it. Only for programs that cannot bind port 0
    and report the port (the reverse proxies); use on_free_port()."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def on_free_port(start, attempts=3):
    """Calls start(port) with a free_port() and returns (port, its result).
    When start raises RuntimeError and its message says the address was
    already in use (the port was taken in between), tries another port."""
    for attempt in range(attempts):
        port = free_port()
        try:
            return port, start(port)
        except RuntimeError as err:
            if attempt + 1 == attempts or "address already in use" not in str(err).lower():
                raise
    raise AssertionError("unreachable")


if __name__ == "__main__":
    # For lib.sh: `python3 harness.py listening-addr LOG` prints the address of
    # the first "soloauth listening" line in LOG, or nothing.
    import sys

    if sys.argv[1:2] != ["listening-addr"] or len(sys.argv) != 3:
        sys.exit("usage: harness.py listening-addr LOG")
    with open(sys.argv[2], errors="replace") as log:
        print(next(filter(None, map(_listening_addr, log)), ""))
