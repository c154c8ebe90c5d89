//! The app in-process on 127.0.0.1:0, on a temp data dir and a manual clock.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use soloauth::base::clock::Clock;
use soloauth::base::config::Config;
use soloauth::base::notify_config::Delivery;
use tempfile::TempDir;

use super::{password_hash, Api, START};

/// An in-process server; its HTTP helpers are those of its [`Api`].
pub struct Server {
    api: Api,
    pub clock: Clock,
    pub dir: Arc<TempDir>,
    env: HashMap<String, String>,
    /// How hard sign-in alerts are tried, when not the standard.
    delivery: Option<Delivery>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Deref for Server {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Server {
    /// Default config: the test password, secrets generated in the temp dir.
    pub async fn start() -> Server {
        Server::start_with(&[]).await
    }

    pub async fn start_with(extra: &[(&str, &str)]) -> Server {
        Server::start_at(extra, START).await
    }

    /// [`Server::start_with`] on a manual clock set to `unix_seconds` (the
    /// real time, for tests where a CLI command on the system clock writes
    /// what the server reads).
    pub async fn start_at(extra: &[(&str, &str)], unix_seconds: i64) -> Server {
        Server::start_tuned(extra, unix_seconds, None).await
    }

    /// [`Server::start_with`] with sign-in alerts tried as `delivery` says
    /// (short timeouts and waits, so retries show without waiting seconds).
    pub async fn start_delivering(extra: &[(&str, &str)], delivery: Delivery) -> Server {
        Server::start_tuned(extra, START, Some(delivery)).await
    }

    /// A server on the data directory `dir` (a copy of another release's,
    /// say), on a manual clock set to `unix_seconds`, with the test password
    /// and `extra` variables.
    pub async fn start_on(dir: TempDir, extra: &[(&str, &str)], unix_seconds: i64) -> Server {
        let mut env: HashMap<String, String> = HashMap::new();
        env.insert("AUTH_ADMIN_PASSWORD_HASH".into(), password_hash().into());
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        Server::boot(Arc::new(dir), env, Clock::manual(unix_seconds), None).await
    }

    async fn start_tuned(
        extra: &[(&str, &str)],
        unix_seconds: i64,
        delivery: Option<Delivery>,
    ) -> Server {
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
        Server::boot(dir, env, Clock::manual(unix_seconds), delivery).await
    }

    async fn boot(
        dir: Arc<TempDir>,
        env: HashMap<String, String>,
        clock: Clock,
        delivery: Option<Delivery>,
    ) -> Server {
        let mut full = env.clone();
        full.insert(
            "AUTH_DATA_DIR".into(),
            dir.path().to_str().unwrap().to_string(),
        );
        let names: Vec<String> = full.keys().cloned().collect();
        let mut config =
            Config::from_lookup_with_names(&|name| full.get(name).cloned(), &names).unwrap();
        if let (Some(delivery), Some(notify)) = (delivery, config.notify.as_mut()) {
            notify.delivery = delivery;
        }
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
            api: Api::new(base),
            clock,
            dir,
            env,
            delivery,
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
        Server::boot(self.dir.clone(), env, self.clock.clone(), self.delivery).await
    }
}

/// A server that believes `X-Forwarded-For` from loopback (the test
/// client), so a request can come from any address; with `extra` variables.
pub async fn behind_proxy(extra: &[(&str, &str)]) -> Server {
    let mut env = vec![("AUTH_TRUSTED_PROXIES", "127.0.0.1/32")];
    env.extend_from_slice(extra);
    Server::start_with(&env).await
}
