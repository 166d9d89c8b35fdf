//! Petrel's own automation, run as `cargo xtask <command>`.
//!
//! - `ci`: the one test command. rustfmt check, clippy with `-D warnings`, every test of the
//!   workspace (unit, integration, doc), then a short smoke run of every fuzz target.
//! - `fuzz [target] [seconds]`: long fuzz runs (all targets, or one), on the stable
//!   toolchain through `RUSTC_BOOTSTRAP=1`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

mod bench;
mod chart;

/// Seconds each fuzz target runs during `cargo xtask ci`.
const CI_FUZZ_SECONDS: u64 = 20;
/// Seconds each fuzz target runs during `cargo xtask fuzz` when no duration is given.
const DEFAULT_FUZZ_SECONDS: u64 = 600;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    std::env::set_current_dir(&root)?;
    match args.first().map(String::as_str) {
        Some("ci") => ci(&root),
        Some("fuzz") => {
            let target = args.get(1).filter(|t| *t != "all").cloned();
            let seconds = match args.get(2) {
                Some(s) => s
                    .parse()
                    .context("fuzz duration must be a number of seconds")?,
                None => DEFAULT_FUZZ_SECONDS,
            };
            fuzz(&root, target.as_deref(), seconds)
        }
        Some("bench") => bench::bench(&root, &args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n  ci                       fmt, clippy, tests, fuzz smoke\n  fuzz [target|all] [secs]  run fuzz targets (default: all, {DEFAULT_FUZZ_SECONDS} s each)\n  bench [--duration S] [--conns N] [--only a,b]  brokers side by side"
            );
            bail!("unknown or missing command")
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

fn ci(root: &Path) -> Result<()> {
    let started = Instant::now();
    step("rustfmt", cargo(&["fmt", "--all", "--", "--check"]))?;
    step(
        "clippy",
        cargo(&[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    step("tests", cargo(&["test", "--workspace", "--locked"]))?;
    step(
        "codec tests with the arbitrary feature",
        cargo(&[
            "test",
            "--package",
            "petrel-codec",
            "--features",
            "arbitrary",
            "--lib",
            "--locked",
        ]),
    )?;
    fuzz(root, None, CI_FUZZ_SECONDS)?;
    println!("xtask ci: all steps passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Runs each fuzz target (or the one named) for `seconds`, starting from its seed corpus.
/// New corpus entries go to a scratch folder under `target/`, so the repository stays clean.
fn fuzz(root: &Path, only: Option<&str>, seconds: u64) -> Result<()> {
    let fuzz_dir = root.join("fuzz");
    let targets = fuzz_targets(&fuzz_dir)?;
    if let Some(name) = only {
        if !targets.iter().any(|t| t == name) {
            bail!(
                "no fuzz target named {name}; targets: {}",
                targets.join(", ")
            );
        }
    }
    let mut build = Command::new("cargo");
    build
        .current_dir(&fuzz_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .args(["fuzz", "build"]);
    step("fuzz build", build)?;
    for target in targets
        .iter()
        .filter(|t| only.is_none_or(|o| o == t.as_str()))
    {
        let scratch = root.join("target").join("fuzz-corpus").join(target);
        std::fs::create_dir_all(&scratch)?;
        let seeds = fuzz_dir.join("corpus").join(target);
        let mut run = Command::new("cargo");
        run.current_dir(&fuzz_dir)
            .env("RUSTC_BOOTSTRAP", "1")
            .args(["fuzz", "run", target]);
        run.arg(&scratch);
        if seeds.is_dir() {
            run.arg(&seeds);
        }
        run.args([
            "--",
            &format!("-max_total_time={seconds}"),
            "-rss_limit_mb=2048",
        ]);
        step(&format!("fuzz {target} ({seconds} s)"), run)?;
    }
    Ok(())
}

/// The `[[bin]]` names of the cargo-fuzz project.
fn fuzz_targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let manifest = fuzz_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("reading {}", manifest.display()))?;
    let doc: toml::Table = text.parse().context("parsing fuzz/Cargo.toml")?;
    let bins = doc
        .get("bin")
        .and_then(|b| b.as_array())
        .cloned()
        .unwrap_or_default();
    let names: Vec<String> = bins
        .iter()
        .filter_map(|b| b.get("name").and_then(|n| n.as_str()).map(str::to_owned))
        .collect();
    if names.is_empty() {
        bail!("fuzz/Cargo.toml declares no [[bin]] targets");
    }
    Ok(names)
}

fn cargo(args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.args(args);
    lean_build(&mut c);
    c
}

/// Keeps the CI build small on disk: with full debug info and incremental state, the
/// workspace's ~45 test binaries took 6.9 GB, more than some CI machines have free. A
/// failing test still names the file and line of its panic without debug info, and a
/// one-shot build gains nothing from incremental state. A caller's own settings win.
fn lean_build(cmd: &mut Command) {
    for (key, value) in [("CARGO_INCREMENTAL", "0"), ("CARGO_PROFILE_DEV_DEBUG", "0")] {
        if std::env::var_os(key).is_none() {
            cmd.env(key, value);
        }
    }
}

fn step(name: &str, mut cmd: Command) -> Result<()> {
    println!("==> {name}");
    let started = Instant::now();
    let status = cmd.status().with_context(|| format!("starting {name}"))?;
    println!("<== {name}: {status} in {:.0?}", started.elapsed());
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}
