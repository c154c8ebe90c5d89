//! The `soloauth` binary: parse the command line, set up logging, dispatch.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use soloauth::backup;
use soloauth::base::clock::Clock;
use soloauth::base::config::LogFormat;
use soloauth::cli::{self, Cli, Command};

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}

fn serve() -> ExitCode {
    let config = match cli::load_config() {
        Ok(c) => c,
        Err(code) => return code,
    };
    init_tracing(config.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("soloauth: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bind = config.bind;
    let result = runtime.block_on(async move {
        let app = soloauth::App::open(config, Clock::System)?;
        let listener = std::net::TcpListener::bind(bind)
            .map_err(|e| format!("cannot listen on {bind}: {e}"))?;
        app.serve(listener, soloauth::shutdown_signal())
            .await
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("soloauth: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    // Whatever this process creates (sled files, snapshots, secrets) is the
    // owner's alone.
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(),
        Command::HashPassword => cli::hash_password_command(),
        Command::GenSecrets => cli::gen_secrets_command(),
        Command::Check => cli::check_command(),
        Command::Healthcheck => cli::healthcheck_command(),
        Command::RevokeSessions => cli::revoke_sessions_command(),
        Command::ResetTotp => cli::reset_totp_command(),
        Command::ResetPasskeys => cli::reset_passkeys_command(),
        Command::RotateOidcKey => cli::rotate_oidc_key_command(),
        Command::RotateKeys => cli::rotate_keys_command(),
        Command::Unlock => cli::unlock_command(),
        Command::NotifyTest => cli::notify_test_command(),
        Command::Backup { file } => cli::snapshot_command(backup::restore::backup_to, &file),
        Command::Restore { file } => cli::snapshot_command(backup::restore::restore_from, &file),
        Command::BenchHash => cli::bench_hash_command(),
        Command::ConfigDocs => cli::config_docs_command(),
        Command::Events { limit } => cli::events_command(limit),
    }
}
