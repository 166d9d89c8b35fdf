//! `petrel`: the Petrel MQTT command-line client.
//!
//! ```text
//! petrel pub    -t TOPIC (-m MSG | -f FILE | -l | -s | -n) [options]   publish
//! petrel sub    -t FILTER [-t FILTER ...] [-v] [-C N] [-W SECS] [-F FMT]  subscribe
//! petrel rr     -t REQUEST_TOPIC [-e RESPONSE_TOPIC] -m MSG [-W SECS]   request/response (MQTT 5)
//! petrel passwd [-c] [-b] [-D] FILE USER [PASS]                       edit a password file
//! petrel bench  ...                                                    load generator
//! ```
//!
//! Flags follow mosquitto_pub / mosquitto_sub / mosquitto_rr / mosquitto_passwd.
//!
//! Exit codes (stable, for scripts):
//! - 0: success (for `sub`: `-C` count reached, or interrupted with Ctrl-C);
//! - 1: usage error, connection refused or failed, a publish refused by the server, file
//!   errors;
//! - 27: `-W` timeout expired before the work was done (as mosquitto_sub/mosquitto_rr).

#[path = "petrel/conn.rs"]
mod conn;
#[path = "petrel/format.rs"]
mod format;
#[path = "petrel/passwd.rs"]
mod passwd;
#[path = "petrel/publish.rs"]
mod publish;
#[path = "petrel/rr.rs"]
mod rr;
#[path = "petrel/subscribe.rs"]
mod subscribe;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit code when `-W` expires.
pub const EXIT_TIMEOUT: u8 = 27;

/// The Petrel MQTT client tools.
#[derive(Parser)]
#[command(
    name = "petrel",
    version,
    disable_help_subcommand = true,
    after_help = "Exit codes: 0 success; 1 usage, connection or protocol error (refused \
                  connection, refused publish, file error); 27 the -W timeout expired."
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Publish messages (like mosquitto_pub).
    Pub(publish::PubArgs),
    /// Subscribe and print messages (like mosquitto_sub).
    Sub(subscribe::SubArgs),
    /// Send a request and print the response (MQTT 5, like mosquitto_rr).
    Rr(rr::RrArgs),
    /// Manage a Mosquitto-format password file (like mosquitto_passwd).
    Passwd(passwd::PasswdArgs),
    /// Load generator: throughput and latency against any broker.
    Bench(petrel_bench::BenchArgs),
}

/// How a command ended.
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 27.
    Timeout,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // The load generator's choice (one thread on one core) suits every subcommand.
    let runtime = match petrel_bench::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("petrel: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Cmd::Pub(a) => runtime.block_on(publish::run(a)),
        Cmd::Sub(a) => runtime.block_on(subscribe::run(a)),
        Cmd::Rr(a) => runtime.block_on(rr::run(a)),
        Cmd::Passwd(a) => passwd::run(a),
        Cmd::Bench(a) => {
            return match runtime.block_on(petrel_bench::run(a)) {
                Ok(report) => report.exit_code(),
                Err(e) => {
                    eprintln!("petrel bench: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Timeout) => ExitCode::from(EXIT_TIMEOUT),
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
