//! `petrel-bench`: the load generator on its own (the same code as `petrel bench`).

use std::process::ExitCode;

use clap::Parser;

/// A lean MQTT load generator: pub/sub throughput and latency with exact loss accounting,
/// and idle-connection runs. Works with any MQTT 3.1.1 or 5 broker.
#[derive(Parser)]
#[command(name = "petrel-bench", version)]
struct Cli {
    #[command(flatten)]
    bench: petrel_bench::BenchArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match petrel_bench::runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("petrel-bench: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(petrel_bench::run(cli.bench)) {
        Ok(report) => report.exit_code(),
        Err(e) => {
            eprintln!("petrel-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
