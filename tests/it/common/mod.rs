//! Test harness: boot the real app in-process on 127.0.0.1:0 with a manual
//! clock, or the real binary as a child process.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, OnceLock};

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;
use soloauth::base::clock::Clock;
use soloauth::base::config::Config;
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery staple";
/// Where the manual clock starts (2027-01-15).
pub const START: i64 = 1_800_000_000;

/// The argon2id hash of [`PASSWORD`], computed once per test process.
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| soloauth::auth::password::hash_password(PASSWORD.as_bytes()).unwrap())
}

/// A well-formed TOTP code that is wrong by construction: it differs from
/// the codes of the step at `now` and the steps either side (the skew the
/// server allows), never a fixed `000000` that is right one time in 10^6.
pub fn wrong_code(secret: &[u8], now: i64) -> String {
    let valid: Vec<String> = [-30, 0, 30]
        .iter()
        .map(|skew| soloauth::auth::totp::code_at(secret, now + skew))
        .collect();
    (0..)
        .map(|n: u32| format!("{n:06}"))
        .find(|c| !valid.contains(c))
        .unwrap()
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    pub fn error(&self) -> &str {
        self.body["error"].as_str().unwrap_or("")
    }

    /// Values of every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

/// Tokens from a successful login or refresh.
#[derive(Clone, Debug)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
    pub sid: String,
}

impl Tokens {
    pub fn from(body: &Value) -> Tokens {
        Tokens {
            access: body["access_token"].as_str().unwrap().into(),
            refresh: body["refresh_token"].as_str().unwrap().into(),
            sid: body["session_id"].as_str().unwrap().into(),
        }
    }
}

/// An in-process server.
pub struct Server {
    pub base: String,
    pub clock: Clock,
    pub dir: Arc<TempDir>,
    pub http: reqwest::Client,
    env: HashMap<String, String>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

impl Server {
    /// Default config: the test password, secrets generated in the temp dir.
    pub async fn start() -> Server {
        Server::start_with(&[]).await
    }

    pub async fn start_with(extra: &[(&str, &str)]) -> Server {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("AUTH_ADMIN_PASSWORD_HASH".into(), password_hash().into());
        // Generous abuse limits, so only the tests about them meet them.
        for (k, v) in [
            ("AUTH_RATE_PER_MINUTE", "100000"),
            ("AUTH_RATE_BURST", "100000"),
            ("AUTH_MAX_FAILED_ATTEMPTS", "1000"),
            ("AUTH_ACCOUNT_MAX_FAILURES", "10000"),
        ] {
            env.insert(k.into(), v.into());
        }
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        Server::boot(dir, env, Clock::manual(START)).await
    }

    async fn boot(dir: Arc<TempDir>, env: HashMap<String, String>, clock: Clock) -> Server {
        let mut full = env.clone();
        full.insert(
            "AUTH_DATA_DIR".into(),
            dir.path().to_str().unwrap().to_string(),
        );
        let config = Config::from_lookup(&|name| full.get(name).cloned()).unwrap();
        let app = soloauth::App::open(config, clock.clone()).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.serve(listener, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Server {
            base,
            clock,
            dir,
            http: client(),
            env,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops gracefully and waits until the data dir is released.
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    /// Stops and starts again on the same data dir, config and clock.
    pub async fn restart(self) -> Server {
        self.restart_with(&[]).await
    }

    /// Restarts with some variables changed.
    pub async fn restart_with(mut self, changes: &[(&str, &str)]) -> Server {
        self.stop().await;
        let mut env = self.env.clone();
        for (k, v) in changes {
            env.insert(k.to_string(), v.to_string());
        }
        Server::boot(self.dir.clone(), env, self.clock.clone()).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, bearer: Option<&str>) -> Reply {
        let mut req = self.http.get(self.url(path));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    pub async fn post(&self, path: &str, body: Value, bearer: Option<&str>) -> Reply {
        let mut req = self.http.post(self.url(path));
        if !body.is_null() {
            req = req.json(&body); // null: no body at all
        }
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    pub async fn delete(&self, path: &str, bearer: Option<&str>) -> Reply {
        let mut req = self.http.delete(self.url(path));
        if let Some(token) = bearer {
            req = req.bearer_auth(token);
        }
        self.send(req).await
    }

    /// `POST /auth/login` with JSON credentials.
    pub async fn try_login(&self, username: &str, password: &str) -> Reply {
        let body = serde_json::json!({"username": username, "password": password});
        self.post("/auth/login", body, None).await
    }

    /// Logs in with the test password; panics unless 200.
    pub async fn login(&self) -> Tokens {
        let r = self.try_login("admin", PASSWORD).await;
        assert_eq!(r.status, 200, "{}", r.body);
        Tokens::from(&r.body)
    }

    /// The IPs of the stored events (reads them through a fresh login).
    pub async fn login_events_ip(&self) -> Vec<String> {
        let body = serde_json::json!({"username": "admin", "password": PASSWORD});
        let r = self
            .send(
                self.http
                    .post(self.url("/auth/login"))
                    .header("x-forwarded-for", "198.51.100.200")
                    .json(&body),
            )
            .await;
        let access = r.body["access_token"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let events = self
            .get("/auth/events?limit=1000", Some(&access))
            .await
            .body;
        events
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["ip"].as_str().unwrap_or("").to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub async fn refresh(&self, refresh_token: &str) -> Reply {
        self.post(
            "/auth/refresh",
            serde_json::json!({ "refresh_token": refresh_token }),
            None,
        )
        .await
    }
}

/// The real binary, as a child process with JSON logs captured.
pub struct Process {
    pub child: Child,
    pub base: String,
    pub logs: Arc<std::sync::Mutex<Vec<String>>>,
}

pub fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_soloauth"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AUTH_LOG_FORMAT", "json")
        .env("AUTH_BIND", "127.0.0.1:0");
    cmd
}

impl Process {
    /// Starts `cmd` and waits for its "listening" log line.
    pub fn start(mut cmd: Command) -> Process {
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Owned by a Process at once, so Drop kills and reaps it on any panic.
        let mut process = Process {
            child,
            base: String::new(),
            logs: Arc::new(std::sync::Mutex::new(Vec::new())),
        };
        let (tx, rx) = mpsc::channel::<String>();
        for stream in [
            Box::new(process.child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(process.child.stderr.take().unwrap()),
        ] {
            let logs = process.logs.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    logs.lock().unwrap().push(line.clone());
                    let _ = tx.send(line);
                }
            });
        }
        let waited = soloauth::base::clock::Stopwatch::start();
        loop {
            let remaining = std::time::Duration::from_secs(30).saturating_sub(waited.elapsed());
            let line = rx
                .recv_timeout(remaining)
                .unwrap_or_else(|_| panic!("server did not start; logs: {}", process.all_logs()));
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if v["fields"]["message"] == "soloauth listening" {
                    let addr = v["fields"]["addr"].as_str().unwrap();
                    process.base = format!("http://{addr}");
                    return process;
                }
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn all_logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// SIGKILL, no chance to flush.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
