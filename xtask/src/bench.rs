//! `cargo xtask bench`: the side-by-side broker benchmark.
//!
//! Builds the load generator (and `petreld`) in release mode, then starts each broker in
//! turn (Petrel, Mosquitto, and rumqttd when it is on PATH) pinned to core 0 while the load
//! generator runs pinned to core 1, runs the same scenarios against each, and prints one
//! table with the ratio Petrel/Mosquitto per scenario. Full results go to
//! `target/bench/latest.json` (and a time-stamped copy), a bar chart to
//! `target/bench/latest.svg`.
//!
//! Options: `--duration SECS` (per pub/sub scenario, default 10), `--conns N` (idle
//! connections, default 10000), `--only NAME[,NAME]` (petrel, mosquitto, rumqttd).

use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

/// One scenario of the table.
struct Scenario {
    key: &'static str,
    title: &'static str,
    /// Arguments of `petrel-bench` (without address and output options).
    args: &'static str,
    /// What the figure counts.
    unit: &'static str,
}

const PUBSUB: &[Scenario] = &[
    Scenario {
        key: "pairs4_qos0",
        title: "1:1, 4 pub -> 4 sub on 4 topics, QoS 0",
        args: "pubsub -p 4 -s 4 -t 4 -q 0",
        unit: "msg/s",
    },
    Scenario {
        key: "fanin8_qos1",
        title: "fan-in, 8 pub -> 1 sub, QoS 1",
        args: "pubsub -p 8 -s 1 -t 1 -q 1",
        unit: "msg/s",
    },
    Scenario {
        key: "fanout50_qos0",
        title: "fan-out, 1 pub -> 50 sub, QoS 0",
        args: "pubsub -p 1 -s 50 -t 1 -q 0",
        unit: "deliveries/s",
    },
    Scenario {
        key: "pair_qos2",
        title: "1:1, 1 pub -> 1 sub, QoS 2",
        args: "pubsub -p 1 -s 1 -t 1 -q 2",
        unit: "msg/s",
    },
    Scenario {
        key: "fanin8_qos1_persistent",
        title: "fan-in, 8 pub -> 1 sub, QoS 1, persistent sessions (disk store)",
        args: "pubsub -p 8 -s 1 -t 1 -q 1 --persistent",
        unit: "msg/s",
    },
];

/// How long before the end of the idle-connection run (5 s of hold, then the closes) the
/// held RSS is read.
const HELD_BEFORE_EXIT: Duration = Duration::from_secs(2);

/// How long a broker is left idle after load before its RSS is read as "after".
const SETTLE: Duration = Duration::from_secs(12);

/// A broker under test.
struct Broker {
    name: &'static str,
    /// Program and arguments; `{port}` and `{dir}` are replaced.
    command: Vec<String>,
    /// Configuration file to write into the scratch folder, if any.
    config: Option<(&'static str, String)>,
}

/// Entry point of `cargo xtask bench [options]`.
pub fn bench(root: &Path, args: &[String]) -> Result<()> {
    let mut duration = 10u64;
    let mut conns = 10_000u32;
    let mut only: Option<Vec<String>> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--duration" => duration = value()?.trim_end_matches('s').parse().context("--duration SECS")?,
            "--conns" => conns = value()?.parse().context("--conns N")?,
            "--only" => only = Some(value()?.split(',').map(str::to_owned).collect()),
            other => bail!("unknown option {other}; options: --duration SECS, --conns N, --only petrel,mosquitto,rumqttd"),
        }
    }
    for tool in ["taskset", "sh"] {
        if which(tool).is_none() {
            bail!("{tool} is required (util-linux, a POSIX shell)");
        }
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run_step(
        "build petrel-bench (release)",
        Command::new(&cargo).args(["build", "--release", "-p", "petrel-bench"]),
    )?;
    let has_cli = root.join("crates/petrel-cli/Cargo.toml").exists();
    let petreld = root.join("target/release/petreld");
    let wanted = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == name));
    if has_cli && wanted("petrel") {
        if let Err(e) = run_step(
            "build petreld (release)",
            Command::new(&cargo).args([
                "build",
                "--release",
                "-p",
                "petrel-cli",
                "--bin",
                "petreld",
            ]),
        ) {
            let then = if petreld.exists() {
                "using the target/release/petreld built before"
            } else {
                "benchmarking the other brokers only"
            };
            println!("!! petreld did not build ({e:#}); {then}");
        }
    }
    let load = root.join("target/release/petrel-bench");

    let mut brokers = Vec::new();
    if petreld.exists() {
        // Limits raised so the idle-connection scenario fits (the defaults cap connections at
        // 10,000); everything else is the default configuration.
        brokers.push(Broker {
            name: "petrel",
            command: vec![
                petreld.display().to_string(),
                "--config".into(),
                "{dir}/petreld.toml".into(),
                "--listen".into(),
                "127.0.0.1:{port}".into(),
            ],
            config: Some((
                "petreld.toml",
                format!(
                    "[limits]\nmax_connections = {}\n\n[storage]\nbackend = \"disk\"\ndir = \"{{dir}}/data\"\n",
                    conns + 1000
                ),
            )),
        });
    } else {
        println!("!! target/release/petreld does not exist yet: Petrel is left out of this run");
    }
    match which("mosquitto")
        .or_else(|| Some(PathBuf::from("/usr/sbin/mosquitto")).filter(|p| p.exists()))
    {
        // max_queued_messages 0: Mosquitto 2.0.11 drops QoS 1 messages to a subscriber fed by
        // several publishers far below its default queue limit (1000), even with only a few
        // hundred in flight; without the limit it loses nothing, and the load generator's
        // window bounds its queues anyway.
        Some(bin) => brokers.push(Broker {
            name: "mosquitto",
            command: vec![
                bin.display().to_string(),
                "-c".into(),
                "{dir}/mosquitto.conf".into(),
            ],
            config: Some((
                "mosquitto.conf",
                "listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n".into(),
            )),
        }),
        None => println!("!! mosquitto not found (apt-get install mosquitto)"),
    }
    if let Some(bin) = which("rumqttd") {
        brokers.push(Broker {
            name: "rumqttd",
            command: vec![
                bin.display().to_string(),
                "--config".into(),
                "{dir}/rumqttd.toml".into(),
            ],
            config: Some((
                "rumqttd.toml",
                RUMQTTD_CONFIG.replace("{conns}", &(conns + 100).to_string()),
            )),
        });
    }
    if let Some(only) = &only {
        brokers.retain(|b| only.iter().any(|o| o == b.name));
    }
    if brokers.is_empty() {
        bail!("no broker to benchmark");
    }

    let out_dir = root.join("target/bench");
    std::fs::create_dir_all(&out_dir)?;
    let mut results = serde_json::Map::new();
    for broker in &brokers {
        println!("==> {}", broker.name);
        let r = bench_broker(broker, &load, &out_dir, duration, conns)
            .with_context(|| format!("benchmarking {}", broker.name))?;
        results.insert(broker.name.to_string(), r);
    }

    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let doc = json!({
        "unix_time": stamp,
        "duration_secs": duration,
        "idle_connections": conns,
        "cores": std::thread::available_parallelism().map_or(1, usize::from),
        "setup": "ratios also per broker CPU-second (steadier on a shared machine); broker pinned to core 0 (taskset -c 0), load generator to core 1; loopback; 64 B payloads; closed loop, window 100 per publisher; MQTT 3.1.1",
        "brokers": Value::Object(results),
    });
    let text = serde_json::to_string_pretty(&doc)?;
    std::fs::write(out_dir.join("latest.json"), &text)?;
    std::fs::write(out_dir.join(format!("results-{stamp}.json")), &text)?;
    let scenarios: Vec<(&str, &str)> = PUBSUB.iter().map(|sc| (sc.key, sc.title)).collect();
    let names: Vec<&str> = brokers.iter().map(|b| b.name).collect();
    let chart = crate::chart::svg(&crate::chart::panels(&doc, &scenarios, &names))?;
    std::fs::write(out_dir.join("latest.svg"), chart)?;
    println!("\n{}", table(&doc, &brokers));
    println!("results: {}", out_dir.join("latest.json").display());
    Ok(())
}

/// Starts `broker`, runs every scenario against it, stops it.
fn bench_broker(
    broker: &Broker,
    load: &Path,
    out_dir: &Path,
    duration: u64,
    conns: u32,
) -> Result<Value> {
    let dir = out_dir.join(format!("run-{}", broker.name));
    std::fs::create_dir_all(&dir)?;
    let running = Running::start(broker, &dir, "broker-pubsub.log")?;
    let (port, pid) = (running.port, running.pid);
    let baseline_kib = rss_kib(pid);

    let mut out = serde_json::Map::new();
    for sc in PUBSUB {
        let args = format!("{} -d {duration}s", sc.args);
        let cpu_before = cpu_secs(pid);
        let mut r = run_load(load, &args, port)?;
        let broker_cpu = cpu_secs(pid) - cpu_before;
        let deliveries = r["deliveries"].as_f64().unwrap_or(0.0);
        let per_cpu = if broker_cpu > 0.0 {
            deliveries / broker_cpu
        } else {
            0.0
        };
        r["broker_cpu_secs"] = json!(broker_cpu);
        r["deliveries_per_broker_cpu_sec"] = json!(per_cpu);
        let problems = r["problems"].as_array().map_or(0, Vec::len);
        println!(
            "    {:<40} {:>10.0} {}  p99 {:>8.3} ms  broker CPU {:>5.2} s ({:>9.0} per CPU-s)  load CPU {:>4.0}%  {}",
            sc.title,
            r["delivery_rate"].as_f64().unwrap_or(0.0),
            sc.unit,
            r["latency"]["p99_ms"].as_f64().unwrap_or(0.0),
            broker_cpu,
            per_cpu,
            r["load"]["cpu_percent"].as_f64().unwrap_or(0.0),
            if problems == 0 {
                "zero loss".to_string()
            } else {
                format!("FAIL {}", r["problems"])
            }
        );
        out.insert(sc.key.to_string(), r);
    }

    // Allocators hand freed memory back to the system over a few seconds (jemalloc's
    // background purge in petreld): every broker gets the same quiet time first.
    std::thread::sleep(SETTLE);
    let after_runs_kib = rss_kib(pid);
    drop(running);

    // Idle connections, on a fresh broker so that memory freed by the load runs does not
    // hide the cost: sample its RSS while the load generator holds them.
    let running = Running::start(broker, &dir, "broker-conn.log")?;
    let (port, pid) = (running.port, running.pid);
    std::thread::sleep(Duration::from_millis(500));
    let before_kib = rss_kib(pid);
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "1"]).args(RAISE_NOFILE).arg(load);
    cmd.args(
        format!("conn -c {conns} --concurrency 50 -k 60 --hold 5s --json --port {port}")
            .split_whitespace(),
    );
    let mut conn_child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut samples = Vec::new();
    while conn_child.try_wait()?.is_none() {
        samples.push((Instant::now(), rss_kib(pid)));
        std::thread::sleep(Duration::from_millis(100));
    }
    let exited = Instant::now();
    let output = conn_child.wait_with_output()?;
    let mut conn: Value =
        serde_json::from_slice(&output.stdout).context("parsing the conn run's JSON")?;
    std::thread::sleep(SETTLE);
    let after_kib = rss_kib(pid);
    let peak_kib = samples.iter().map(|s| s.1).max().unwrap_or(before_kib);
    let held_kib = held_rss(&samples, exited).unwrap_or(peak_kib);
    let connected = conn["connected"].as_u64().unwrap_or(0).max(1);
    let per_conn_kib = held_kib.saturating_sub(before_kib) as f64 / connected as f64;
    let peak_per_conn = peak_kib.saturating_sub(before_kib) as f64 / connected as f64;
    conn["broker_rss_kib"] = json!({
        "before": before_kib,
        "peak": peak_kib,
        "held": held_kib,
        "after": after_kib,
        "per_connection": per_conn_kib,
        "per_connection_peak": peak_per_conn,
    });
    println!(
        "    {:<40} {:>12.2} KiB/conn held, {peak_per_conn:.2} at peak  ({} connected, RSS {before_kib} -> {peak_kib} peak, {held_kib} held -> {after_kib} KiB)",
        format!("{conns} idle connections"),
        per_conn_kib,
        conn["connected"]
    );
    out.insert("idle_conns".into(), conn);
    out.insert(
        "rss_kib".into(),
        json!({ "baseline": baseline_kib, "after_runs": after_runs_kib }),
    );
    drop(running);
    Ok(Value::Object(out))
}

/// Runs the load generator pinned to core 1 and returns its JSON report.
fn run_load(load: &Path, args: &str, port: u16) -> Result<Value> {
    let output = Command::new("taskset")
        .args(["-c", "1"])
        .arg(load)
        .args(args.split_whitespace())
        .args(["--json", "--port", &port.to_string()])
        .stderr(Stdio::inherit())
        .output()
        .context("running petrel-bench")?;
    if output.stdout.is_empty() {
        bail!("petrel-bench {args} failed ({})", output.status);
    }
    serde_json::from_slice(&output.stdout)
        .with_context(|| format!("parsing the JSON of petrel-bench {args}"))
}

/// The summary table: one row per scenario, one column per broker, and Petrel/Mosquitto.
fn table(doc: &Value, brokers: &[Broker]) -> String {
    let mut s = String::new();
    let names: Vec<&str> = brokers.iter().map(|b| b.name).collect();
    let _ = write!(s, "| scenario |");
    for n in &names {
        let _ = write!(s, " {n} |");
    }
    let _ = writeln!(s, " petrel/mosquitto |");
    let _ = writeln!(s, "|---|{}---|", "---|".repeat(names.len()));
    let get = |b: &str, path: &[&str]| {
        let mut v = &doc["brokers"][b];
        for p in path {
            v = &v[*p];
        }
        v.as_f64()
    };
    let ratio = |p: Option<f64>, m: Option<f64>| match (p, m) {
        (Some(p), Some(m)) if m > 0.0 => format!("{:.2}x", p / m),
        _ => "-".into(),
    };
    for sc in PUBSUB {
        let _ = write!(s, "| {} ({}) |", sc.title, sc.unit);
        for n in &names {
            let rate = get(n, &[sc.key, "delivery_rate"]).unwrap_or(0.0);
            let p99 = get(n, &[sc.key, "latency", "p99_ms"]).unwrap_or(0.0);
            let per_cpu = get(n, &[sc.key, "deliveries_per_broker_cpu_sec"]).unwrap_or(0.0);
            let ok = doc["brokers"][n][sc.key]["problems"]
                .as_array()
                .is_some_and(Vec::is_empty);
            let _ = write!(
                s,
                " {}/s, p99 {p99:.2} ms, {} per CPU-s{} |",
                crate::chart::human(rate),
                crate::chart::human(per_cpu),
                if ok { "" } else { " LOSS" }
            );
        }
        let r = |key| {
            ratio(
                get("petrel", &[sc.key, key]),
                get("mosquitto", &[sc.key, key]),
            )
        };
        let _ = writeln!(
            s,
            " {} ({} per CPU-s) |",
            r("delivery_rate"),
            r("deliveries_per_broker_cpu_sec")
        );
    }
    let _ = write!(s, "| RSS per idle connection, held (KiB) |");
    for n in &names {
        let _ = write!(
            s,
            " {:.2} |",
            get(n, &["idle_conns", "broker_rss_kib", "per_connection"]).unwrap_or(0.0)
        );
    }
    let per = |b| get(b, &["idle_conns", "broker_rss_kib", "per_connection"]);
    let _ = writeln!(s, " {} |", ratio(per("petrel"), per("mosquitto")));
    let _ = write!(
        s,
        "| RSS before / {}s after the idle connections closed (MiB) |",
        SETTLE.as_secs()
    );
    for n in &names {
        let mib = |k| get(n, &["idle_conns", "broker_rss_kib", k]).unwrap_or(0.0) / 1024.0;
        let _ = write!(s, " {:.1} / {:.1} |", mib("before"), mib("after"));
    }
    let gone = |b| get(b, &["idle_conns", "broker_rss_kib", "after"]);
    let _ = writeln!(s, " {} |", ratio(gone("petrel"), gone("mosquitto")));
    let _ = write!(
        s,
        "| RSS {}s after the pub/sub runs (MiB) |",
        SETTLE.as_secs()
    );
    for n in &names {
        let _ = write!(
            s,
            " {:.1} |",
            get(n, &["rss_kib", "after_runs"]).unwrap_or(0.0) / 1024.0
        );
    }
    let after = |b| get(b, &["rss_kib", "after_runs"]);
    let _ = writeln!(s, " {} |", ratio(after("petrel"), after("mosquitto")));
    s
}

/// User plus system CPU seconds used so far by a process (0 when it cannot be read): the
/// machine is shared, so work per broker CPU-second is steadier than work per second.
fn cpu_secs(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return 0.0;
    };
    // Fields after the command name start at 3 (state); utime is 14, stime 15, in 1/100 s.
    let ticks: f64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<f64>().ok())
        .sum();
    ticks / 100.0
}

/// RSS while the connections sit idle: the sample taken `HELD_BEFORE_EXIT` before the
/// load generator exited, that is in the hold phase after every connection is up. The
/// peak also counts memory freed by the handshakes that the allocator has not returned
/// yet, which settles within seconds.
fn held_rss(samples: &[(Instant, u64)], exited: Instant) -> Option<u64> {
    let at = exited.checked_sub(HELD_BEFORE_EXIT)?;
    samples.iter().rev().find(|s| s.0 <= at).map(|s| s.1)
}

/// Resident memory of a process in KiB (0 when it cannot be read).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn wait_for_port(port: u16) -> Result<()> {
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(10) {
            bail!("the broker did not listen on port {port} within 10 s (see its broker.log)");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn run_step(name: &str, cmd: &mut Command) -> Result<()> {
    println!("==> {name}");
    let status = cmd.status().with_context(|| format!("starting {name}"))?;
    if !status.success() {
        bail!("{name} failed ({status})");
    }
    Ok(())
}

/// Runs the rest of the command line with the soft open-file limit raised to the hard one
/// (10k connections need more than the usual 1024; raising the hard limit itself needs a
/// capability containers often lack).
const RAISE_NOFILE: [&str; 4] = [
    "sh",
    "-c",
    "ulimit -n \"$(ulimit -Hn)\" && exec \"$@\"",
    "sh",
];

/// A broker running on core 0, killed when dropped (even on error).
struct Running {
    child: Child,
    port: u16,
    pid: u32,
}

impl Running {
    /// Starts `broker` on a free port with its configuration and log in `dir`.
    fn start(broker: &Broker, dir: &Path, log_name: &str) -> Result<Self> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let subst = |s: &str| {
            s.replace("{port}", &port.to_string())
                .replace("{dir}", &dir.display().to_string())
        };
        if let Some((file, text)) = &broker.config {
            std::fs::write(dir.join(file), subst(text))?;
        }
        // Each start begins with an empty store.
        let _ = std::fs::remove_dir_all(dir.join("data"));
        let log = std::fs::File::create(dir.join(log_name))?;
        let child = Command::new("taskset")
            .args(["-c", "0"])
            .args(RAISE_NOFILE)
            .args(broker.command.iter().map(|a| subst(a)))
            .current_dir(dir)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting the broker")?;
        // taskset and sh exec the broker: the pid is the broker's.
        let pid = child.id();
        let running = Self { child, port, pid };
        wait_for_port(port).with_context(|| format!("see {}", dir.join(log_name).display()))?;
        Ok(running)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal rumqttd 0.20 configuration: one MQTT 3.1.1 listener. (Install rumqttd with
/// `cargo install rumqttd`, without `--locked`: its lock file pins a `metrics` release that
/// no longer compiles.)
const RUMQTTD_CONFIG: &str = r#"id = 0

[router]
id = 0
max_connections = {conns}
max_outgoing_packet_count = 200
max_segment_size = 104857600
max_segment_count = 10

[v4.1]
name = "v4-1"
listen = "127.0.0.1:{port}"
next_connection_delay_ms = 0

[v4.1.connections]
connection_timeout_ms = 60000
max_payload_size = 20480
max_inflight_count = 100
dynamic_filters = true
"#;
