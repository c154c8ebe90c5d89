//! The sample app of the container tests (`scripts/image_test.sh`), in the
//! place of `traefik/whoami`, which this machine cannot pull: it answers
//! every request with its method, URI and headers as plain text, one
//! `name: value` per line, so a test sees what the proxy passed on (such as
//! `remote-user`). Listens on `0.0.0.0:80`, or the address in its first
//! argument; stops on SIGTERM.

use std::fmt::Write as _;
use std::process::ExitCode;

use poem::listener::TcpListener;
use poem::{handler, Request, Route, Server};

#[handler]
fn echo(req: &Request) -> String {
    let mut text = format!("{} {}\n", req.method(), req.uri());
    for (name, value) in req.headers() {
        let value = value.to_str().unwrap_or("(not text)");
        let _ = writeln!(text, "{name}: {value}");
    }
    text
}

async fn serve(bind: String) -> std::io::Result<()> {
    let mut terminated = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Server::new(TcpListener::bind(bind))
        .run_with_graceful_shutdown(
            Route::new().at("/", echo).at("/*path", echo),
            async move {
                terminated.recv().await;
            },
            None,
        )
        .await
}

fn main() -> ExitCode {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "0.0.0.0:80".into());
    let result = tokio::runtime::Runtime::new().and_then(|rt| rt.block_on(serve(bind)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("echo_headers: {e}");
            ExitCode::FAILURE
        }
    }
}
