//! The real binary: commands on a data dir, and the server as a child
//! process with its JSON logs captured.

use std::io::{BufRead, BufReader};
use std::ops::Deref;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};

use serde_json::Value;

use super::{password_hash, Api};

/// A fresh data directory, private (0700) as soloauth wants it.
pub fn data_dir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

/// The binary with a clean environment, JSON logs and a port of its choosing.
pub fn binary() -> Command {
    release_binary(Path::new(env!("CARGO_BIN_EXE_soloauth")))
}

/// [`binary`], but the soloauth at `path` (another release's build).
pub fn release_binary(path: &Path) -> Command {
    let mut cmd = Command::new(path);
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AUTH_LOG_FORMAT", "json")
        .env("AUTH_BIND", "127.0.0.1:0");
    cmd
}

/// The binary on the data dir `dir`.
pub fn serve(dir: &Path) -> Command {
    let mut cmd = binary();
    cmd.env("AUTH_DATA_DIR", dir);
    cmd
}

/// The binary on `dir` with the test password's hash.
pub fn known(dir: &Path) -> Command {
    let mut cmd = serve(dir);
    cmd.env("AUTH_ADMIN_PASSWORD_HASH", password_hash());
    cmd
}

/// Starts the binary on `dir` with the test password, generous abuse limits
/// (none of them met unless a test sets its own) and `extra` variables.
pub fn start_binary(dir: &Path, extra: &[(&str, &str)]) -> Process {
    let mut cmd = known(dir);
    cmd.env("AUTH_RATE_PER_MINUTE", "100000")
        .env("AUTH_RATE_BURST", "100000")
        .env("AUTH_MAX_FAILED_ATTEMPTS", "100000")
        .env("AUTH_ACCOUNT_MAX_FAILURES", "100000");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    Process::start(cmd)
}

/// Runs a command to its end; panics with its stderr unless it succeeds.
pub fn succeed(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The real binary, as a child process with JSON logs captured; its HTTP
/// helpers are those of its [`Api`].
pub struct Process {
    pub child: Child,
    api: Api,
    pub logs: Arc<Mutex<Vec<String>>>,
}

impl Deref for Process {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
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
            api: Api::new(String::new()),
            logs: Arc::new(Mutex::new(Vec::new())),
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
                    process.api.base = format!("http://{addr}");
                    return process;
                }
            }
        }
    }

    pub fn all_logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// The logs, once every one of `needles` is in them. The server writes a
    /// line before it answers, but the threads that read its output may be
    /// a moment behind the answer: wait for them (at most 30 s).
    pub async fn logs_with(&self, needles: &[&str]) -> String {
        let wait = async {
            loop {
                let logs = self.all_logs();
                if needles.iter().all(|n| logs.contains(n)) {
                    return logs;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        };
        match tokio::time::timeout(std::time::Duration::from_secs(30), wait).await {
            Ok(logs) => logs,
            Err(_) => panic!("{needles:?} never reached the logs: {}", self.all_logs()),
        }
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
