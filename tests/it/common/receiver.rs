//! A local HTTP receiver for sign-in alerts: it records every request it
//! gets and answers as the test scripted (200, an error status, or never).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use poem::listener::TcpAcceptor;
use poem::web::Data;
use poem::{handler, post, EndpointExt, Request, Response, Route};
use serde_json::Value;
use tokio::sync::mpsc;

/// How the receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    Status(u16),
    /// Keeps the request open and never answers (a receiver slower than
    /// any timeout).
    Never,
}

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: poem::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).unwrap()
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .map_or("", |v| v.to_str().unwrap_or(""))
    }
}

struct Script {
    /// The answers to the first requests, in order.
    first: Mutex<VecDeque<Answer>>,
    /// The answer to every later one.
    then: Answer,
    arrived: mpsc::UnboundedSender<Received>,
    /// Requests not answered yet whose client is still waiting.
    open: AtomicUsize,
}

/// Counts a request as open while its handler runs (the handler is
/// dropped when the client gives up and closes the connection).
struct Open<'a>(&'a AtomicUsize);

impl<'a> Open<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Open(count)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[handler]
async fn hook(req: &Request, body: Vec<u8>, script: Data<&Arc<Script>>) -> Response {
    let answer = script
        .first
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(script.then);
    let _open = Open::new(&script.open);
    let _ = script.arrived.send(Received {
        headers: req.headers().clone(),
        body,
    });
    match answer {
        Answer::Status(code) => Response::builder()
            .status(poem::http::StatusCode::from_u16(code).unwrap())
            .body("ok"),
        Answer::Never => std::future::pending::<Response>().await,
    }
}

/// A receiver on 127.0.0.1; stops with the test's runtime.
pub struct Receiver {
    /// Where alerts go (a secret-looking path, to check it is never shown).
    pub url: String,
    arrived: mpsc::UnboundedReceiver<Received>,
    script: Arc<Script>,
}

impl Receiver {
    /// Answers `first` to the first requests, then `then` to every one.
    pub async fn start(first: &[Answer], then: Answer) -> Receiver {
        let (tx, rx) = mpsc::unbounded_channel();
        let script = Arc::new(Script {
            first: Mutex::new(first.iter().copied().collect()),
            then,
            arrived: tx,
            open: AtomicUsize::new(0),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!(
            "http://{}/hook-secret-topic-7f3a",
            listener.local_addr().unwrap()
        );
        listener.set_nonblocking(true).unwrap();
        let app = Route::new().at("/*path", post(hook)).data(script.clone());
        let acceptor = TcpAcceptor::from_std(listener).unwrap();
        tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
        Receiver {
            url,
            arrived: rx,
            script,
        }
    }

    /// A receiver that answers 200 to everything.
    pub async fn ok() -> Receiver {
        Receiver::start(&[], Answer::Status(200)).await
    }

    /// The next request (the server sends it on its own task: this waits
    /// for it, up to a generous limit that only a missing alert meets).
    pub async fn next(&mut self) -> Received {
        tokio::time::timeout(Duration::from_secs(60), self.arrived.recv())
            .await
            .expect("no alert arrived")
            .unwrap()
    }

    /// The next request, as JSON.
    pub async fn next_json(&mut self) -> Value {
        self.next().await.json()
    }

    /// How many requests are held open now (their sender still waiting).
    pub fn open(&self) -> usize {
        self.script.open.load(Ordering::SeqCst)
    }

    /// A request that has already arrived and was not taken yet.
    pub fn pending(&mut self) -> Option<Received> {
        self.arrived.try_recv().ok()
    }
}

/// A URL where nothing listens: the discard port, which no test binds
/// (they all take ports the system picks), so connections are refused.
pub fn down_url() -> String {
    "http://127.0.0.1:9/hook-secret-topic-7f3a".to_string()
}
