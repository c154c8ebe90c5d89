//! The limit, for `scripts/bench.sh`: a bare poem server with one route
//! (`GET /health`, a small JSON body) and no middleware, on the same tokio
//! runtime as soloauth (`Runtime::new()`: multi-threaded, one worker per
//! core). Whatever soloauth spends per request beyond this is ours.
//!
//! It binds `127.0.0.1:0` (or the address in its first argument) and prints
//! `bare probe listening on <addr>` once it accepts connections.

use std::process::ExitCode;

use poem::listener::{Acceptor, Listener, TcpListener};
use poem::web::Json;
use poem::{get, handler, Route, Server};

#[handler]
fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "storage": "ok"}))
}

async fn serve(bind: String) -> std::io::Result<()> {
    let acceptor = TcpListener::bind(bind).into_acceptor().await?;
    for addr in acceptor.local_addr() {
        if let Some(addr) = addr.as_socket_addr() {
            println!("bare probe listening on {addr}");
        }
    }
    Server::new_with_acceptor(acceptor)
        .run(Route::new().at("/health", get(health)))
        .await
}

fn main() -> ExitCode {
    let bind = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let result = tokio::runtime::Runtime::new().and_then(|rt| rt.block_on(serve(bind)));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare_probe: {e}");
            ExitCode::FAILURE
        }
    }
}
