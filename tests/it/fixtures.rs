//! Upgrades keep everything. `tests/fixtures/<version>/` holds a data
//! directory written by that release through real HTTP
//! (`scripts/make_fixture.sh <version>` builds the tagged release and runs
//! [`make`] against it), with what the owner would still hold in
//! `fixture.json`: the session's tokens, the TOTP secret, the recovery
//! codes, and from 0.2.0 the session cookie, the passkey, an API token and
//! an app's grant, and the snapshot it wrote last. Each test opens a copy
//! with this build (or restores the snapshot), on a clock a
//! minute after the release wrote it, and uses everything in it.

use std::path::Path;
use std::process::Command;

use reqwest::header::COOKIE;
use serde_json::{json, Value};

use crate::common::authenticator::SoftAuthenticator;
use crate::common::{
    code, event_kinds, password_hash, release_binary, Api, Process, Server, Tokens, PASSWORD,
};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
/// The address whose wrong passwords locked it when the fixture was made.
const LOCKED_IP: &str = "203.0.113.9";
/// The page-added app of the 0.2.0 fixture and its redirect URI.
const APP_REDIRECT: &str = "https://photos.example.com/auth/callback";
const VERIFIER: &str = "a-long-enough-code-verifier-of-forty-three-chars-or-more";
/// What the fixtures were made with, and are opened with.
const ENV: [(&str, &str); 4] = [
    ("AUTH_TRUSTED_PROXIES", "127.0.0.1"),
    ("AUTH_MAX_FAILED_ATTEMPTS", "5"),
    ("AUTH_RATE_PER_MINUTE", "1000"),
    ("AUTH_RATE_BURST", "1000"),
];

/// Copies `from` into `to`, every file and folder, with the modes soloauth
/// keeps (git keeps none).
fn copy_tree(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path, mode| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    std::fs::create_dir_all(to).unwrap();
    mode(to, 0o700);
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            mode(&target, 0o600);
        }
    }
}

/// A copy of release `version`'s data directory, opened by this build a
/// minute after it was written; and what the owner kept.
async fn open(version: &str) -> (Server, Value) {
    let fixture = Path::new(FIXTURES).join(version);
    let facts: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("fixture.json")).unwrap())
            .unwrap();
    let dir = copy_of(version);
    let made_at = facts["made_at"].as_i64().unwrap();
    (Server::start_on(dir, &ENV, made_at + 60).await, facts)
}

fn text<'a>(facts: &'a Value, path: &str) -> &'a str {
    facts
        .pointer(path)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("fixture.json has no {path}"))
}

/// `/auth/verify` with `header: value`: the user it passed as, if any.
async fn verified(s: &Server, header: &str, value: &str) -> Option<String> {
    let req = s
        .http
        .get(s.url("/auth/verify"))
        .header(header, value)
        .header("accept", "application/json");
    let r = s.send(req).await;
    (r.status == 200).then(|| r.headers["remote-user"].to_str().unwrap().to_string())
}

/// Everything 0.1.0 had: the session (its access token verifies, its
/// refresh token refreshes), TOTP on (the password and a code sign in, and
/// the password and a recovery code), the locked address, the events.
async fn uses_what_0_1_0_had(s: &Server, facts: &Value) {
    let access = text(facts, "/session/access_token");
    let who = verified(s, "authorization", &format!("Bearer {access}")).await;
    assert_eq!(who.as_deref(), Some("admin"), "the session verifies");
    let me = s.get("/auth/me", Some(access)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["totp_enabled"], true);
    assert_eq!(me.body["recovery_codes_remaining"], 10);

    let secret = soloauth::auth::totp::decode_base32(text(facts, "/totp_secret"))
        .unwrap()
        .to_vec();
    let totp = code(&secret, s.clock.now());
    let body = json!({"username": "admin", "password": PASSWORD, "totp_code": totp});
    let r = s.post("/auth/login", body, None).await;
    assert_eq!(r.status, 200, "the password and a code: {}", r.body);
    let r = s.try_login("admin", PASSWORD).await;
    assert_eq!(r.error(), "mfa_required");
    let recovery = text(facts, "/recovery_codes/0");
    let body = json!({"mfa_token": r.body["mfa_token"], "recovery_code": recovery});
    let r = s.post("/auth/login/totp", body, None).await;
    assert_eq!(
        r.status, 200,
        "the password and a recovery code: {}",
        r.body
    );
    let fresh = Tokens::from(&r.body);
    let me = s.get("/auth/me", Some(&fresh.access)).await;
    assert_eq!(me.body["recovery_codes_remaining"], 9);

    let r = s.refresh(text(facts, "/session/refresh_token")).await;
    assert_eq!(r.status, 200, "the refresh token refreshes: {}", r.body);

    let locked = s
        .login_with(PASSWORD, &[("x-forwarded-for", LOCKED_IP)])
        .await;
    assert_eq!(locked.status, 423, "the lockout is kept: {}", locked.body);

    let kinds = event_kinds(s, &fresh.access).await;
    for kind in ["login_success", "login_failure", "totp_enabled", "lockout"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind} in {kinds:?}");
    }
}

#[tokio::test]
async fn release_0_1_0_data_opens_and_everything_in_it_works() {
    let (s, facts) = open("0.1.0").await;
    uses_what_0_1_0_had(&s, &facts).await;
}

#[tokio::test]
async fn release_0_2_0_data_opens_and_everything_in_it_works() {
    let (s, facts) = open("0.2.0").await;
    uses_what_0_2_0_had(&s, &facts).await;
}

/// The snapshot release 0.2.0 wrote, restored by this build's `restore`
/// into an empty data directory: everything in it works.
#[tokio::test]
async fn a_snapshot_release_0_2_0_wrote_restores_and_everything_in_it_works() {
    let fixture = Path::new(FIXTURES).join("0.2.0");
    let facts: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("fixture.json")).unwrap())
            .unwrap();
    let kept = tempfile::tempdir().unwrap();
    let file = kept.path().join("snapshot.tar");
    std::fs::copy(fixture.join("data").join(text(&facts, "/snapshot")), &file).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = crate::common::known(dir.path())
        .arg("restore")
        .arg(&file)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("1 passkey(s), 1 API token(s), 1 OIDC app(s)"),
        "{said}"
    );
    let made_at = facts["made_at"].as_i64().unwrap();
    let s = Server::start_on(dir, &ENV, made_at + 60).await;
    uses_what_0_2_0_had(&s, &facts).await;
}

/// Everything 0.2.0 had: what 0.1.0 had, the session cookie, the passkey,
/// the API token and the app's grant.
async fn uses_what_0_2_0_had(s: &Server, facts: &Value) {
    let cookie = format!("soloauth_session={}", text(facts, "/session/cookie"));
    let who = verified(s, "cookie", &cookie).await;
    assert_eq!(who.as_deref(), Some("admin"), "the session cookie verifies");
    uses_what_0_1_0_had(s, facts).await;

    let mut key = SoftAuthenticator::from_json(&facts["passkey"]);
    let r = s.post("/auth/passkeys/login/start", json!({}), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let credential = key.get(&r.body["options"]);
    let body = json!({"challenge_id": r.body["challenge_id"], "credential": credential});
    let r = s.post("/auth/passkeys/login/finish", body, None).await;
    assert_eq!(r.status, 200, "the passkey signs in: {}", r.body);

    let token = text(facts, "/api_token");
    let who = verified(s, "authorization", &format!("Bearer {token}")).await;
    assert_eq!(who.as_deref(), Some("admin"), "the API token passes");

    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", text(facts, "/oidc/refresh_token")),
    ];
    let req = s
        .http
        .post(s.url("/oidc/token"))
        .basic_auth(
            text(facts, "/oidc/client_id"),
            Some(text(facts, "/oidc/client_secret")),
        )
        .form(&form);
    let r = s.send(req).await;
    assert_eq!(r.status, 200, "the grant refreshes: {}", r.body);
    let access = r.body["access_token"].as_str().unwrap();
    assert_eq!(s.get("/oidc/userinfo", Some(access)).await.status, 200);
}

// ---- making a fixture -------------------------------------------------------------

/// What 0.2.0 added, made through `p`: a passkey, an API token, an app
/// added from the page and a grant of it.
async fn make_0_2_0_parts(p: &Api, access: &str, cookies: &str, facts: &mut Value) {
    let mut key = SoftAuthenticator::new("localhost", "http://localhost:8001");
    let r = p
        .post("/auth/passkeys/register/start", json!({}), Some(access))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let credential = key.create(&r.body["options"]);
    let body = json!({"challenge_id": r.body["challenge_id"], "name": "fixture key", "credential": credential});
    let r = p
        .post("/auth/passkeys/register/finish", body, Some(access))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    facts["passkey"] = key.to_json();

    let r = p
        .post(
            "/auth/tokens",
            json!({"name": "fixture script"}),
            Some(access),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    facts["api_token"] = r.body["token"].clone();

    let body = json!({"name": "Photos", "redirect_uris": [APP_REDIRECT]});
    let r = p.post("/auth/oidc/clients", body, Some(access)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let (id, secret) = (r.body["client_id"].clone(), r.body["client_secret"].clone());
    use base64::Engine;
    use sha2::Digest;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(VERIFIER.as_bytes()));
    let params = [
        ("client_id", id.as_str().unwrap()),
        ("redirect_uri", APP_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid profile offline_access"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    let url = reqwest::Url::parse_with_params(&p.url("/oidc/authorize"), params).unwrap();
    let r = p.send(p.http.get(url).header(COOKIE, cookies)).await;
    let location = r.headers["location"].to_str().unwrap();
    let location = reqwest::Url::parse(location).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_ref()),
        ("redirect_uri", APP_REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    let req = p
        .http
        .post(p.url("/oidc/token"))
        .basic_auth(id.as_str().unwrap(), secret.as_str())
        .form(&form);
    let r = p.send(req).await;
    assert_eq!(r.status, 200, "{}", r.body);
    facts["oidc"] = json!({
        "client_id": id,
        "client_secret": secret,
        "refresh_token": r.body["refresh_token"],
    });
}

/// Writes the fixture of the release whose binary is `SOLOAUTH_FIXTURE_BIN`
/// (`SOLOAUTH_FIXTURE_VERSION`) to `SOLOAUTH_FIXTURE_OUT`, through HTTP:
/// run by `scripts/make_fixture.sh`, never by `cargo test` alone.
#[tokio::test]
#[ignore = "run by scripts/make_fixture.sh against a release's binary"]
async fn make() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let (bin, version, out) = (
        var("SOLOAUTH_FIXTURE_BIN"),
        var("SOLOAUTH_FIXTURE_VERSION"),
        var("SOLOAUTH_FIXTURE_OUT"),
    );
    let out = Path::new(&out);
    let data = out.join("data");
    assert!(!data.exists(), "{} exists already", data.display());
    std::fs::create_dir_all(&data).unwrap();
    let mut cmd = release_binary(Path::new(&bin));
    cmd.env("AUTH_DATA_DIR", &data)
        .env("AUTH_ADMIN_PASSWORD_HASH", password_hash());
    for (k, v) in ENV {
        cmd.env(k, v);
    }
    if version != "0.1.0" {
        // Only the snapshot asked for at the end (of everything) is kept.
        cmd.env("AUTH_BACKUP_KEEP", "1");
    }
    let mut p = Process::start(cmd);
    let mut facts = json!({"version": version});

    let r = p.try_login("admin", PASSWORD).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let t = Tokens::from(&r.body);
    let cookies: Vec<String> = r
        .set_cookies()
        .iter()
        .filter_map(|c| c.split(';').next().map(str::to_string))
        .collect();
    let cookies = cookies.join("; ");
    let r = p.post("/auth/totp/setup", json!({}), Some(&t.access)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_string();
    let raw = soloauth::auth::totp::decode_base32(&secret)
        .unwrap()
        .to_vec();
    let now = soloauth::base::clock::Clock::System.now();
    let r = p
        .post(
            "/auth/totp/confirm",
            json!({"code": code(&raw, now)}),
            Some(&t.access),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    facts["totp_secret"] = json!(secret);
    facts["recovery_codes"] = r.body["recovery_codes"].clone();
    if version != "0.1.0" {
        make_0_2_0_parts(&p, &t.access, &cookies, &mut facts).await;
    }
    for _ in 0..5 {
        let r = p
            .login_with("wrong password", &[("x-forwarded-for", LOCKED_IP)])
            .await;
        assert_eq!(r.status, 401, "{}", r.body);
    }
    let r = p
        .login_with(PASSWORD, &[("x-forwarded-for", LOCKED_IP)])
        .await;
    assert_eq!(r.status, 423, "{}", r.body);
    facts["session"] = json!({
        "access_token": t.access,
        "refresh_token": t.refresh,
        "cookie": cookies.split("; ").find_map(|c| c.strip_prefix("soloauth_session=")),
    });
    facts["made_at"] = json!(soloauth::base::clock::Clock::System.now());
    let pid = p.child.id().to_string();
    if version != "0.1.0" {
        facts["snapshot"] = json!(snapshot_of_everything(&data, &pid).await);
    }

    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(p.child.wait().unwrap().success());
    let pretty = serde_json::to_string_pretty(&facts).unwrap();
    std::fs::write(out.join("fixture.json"), pretty + "\n").unwrap();
}

/// The snapshots in `data/backups`.
fn snapshots(data: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(data.join("backups")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("soloauth-") && n.ends_with(".tar"))
        .collect();
    names.sort();
    names
}

/// Asks the server `pid` on `data` for a snapshot (SIGUSR1) once the one
/// written at start is there; the new snapshot's name, under `backups/`.
async fn snapshot_of_everything(data: &Path, pid: &str) -> String {
    let within = |what: &'static str| {
        let started = soloauth::base::clock::Stopwatch::start();
        move || assert!(started.elapsed().as_secs() < 30, "no {what} in 30 s")
    };
    let waited = within("snapshot at start");
    while snapshots(data).is_empty() {
        waited();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let before = snapshots(data);
    let sent = Command::new("kill").args(["-USR1", pid]).status().unwrap();
    assert!(sent.success());
    let waited = within("snapshot asked for");
    loop {
        if let [only] = snapshots(data).as_slice() {
            if !before.contains(only) {
                return format!("backups/{only}");
            }
        }
        waited();
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A copy of release `version`'s data directory in a temporary directory.
fn copy_of(version: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&Path::new(FIXTURES).join(version).join("data"), dir.path());
    dir
}

/// What `soloauth check` says of the data directory `dir`, and whether it passed.
fn check(dir: &Path) -> (bool, String) {
    let out = crate::common::known(dir).arg("check").output().unwrap();
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

/// A release's data directory whose database was damaged (a volume copied
/// mid-write, a disk error) must not open as a new, empty account, with
/// two-factor off and the sessions gone: start-up and `check` refuse, and
/// say how to restore.
#[test]
fn an_unreadable_data_directory_is_a_clear_error_not_an_empty_account() {
    let dir = copy_of("0.1.0");
    let db = dir.path().join("db").join("db");
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().skip(64) {
        *b = 0x5a;
    }
    std::fs::write(&db, &bytes).unwrap();
    let (ok, said) = check(dir.path());
    assert!(!ok, "{said}");
    assert!(said.contains("soloauth restore"), "{said}");
    let out = crate::common::known(dir.path()).output().unwrap();
    assert!(!out.status.success(), "start-up refuses");
}

/// A data directory from a newer soloauth is refused, not read as this
/// build's format.
#[test]
fn a_data_directory_from_a_newer_release_is_refused() {
    let dir = copy_of("0.1.0");
    {
        let db = sled::open(dir.path().join("db")).unwrap();
        let meta = db.open_tree("meta").unwrap();
        let newer = soloauth::storage::SCHEMA_VERSION + 1;
        meta.insert("schema_version", serde_json::to_vec(&newer).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    let (ok, said) = check(dir.path());
    assert!(!ok && said.contains("newer soloauth"), "{said}");
}
