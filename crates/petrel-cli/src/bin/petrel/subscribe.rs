//! `petrel sub`.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use petrel_client::{Client, DisconnectReason, Event, SubscriptionOptions};

use crate::conn::{self, ConnArgs};
use crate::format::Printer;
use crate::Outcome;

/// Flags of `petrel sub`.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct SubArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Topic filter to subscribe to (repeat for several).
    #[arg(short = 't', long = "topic")]
    pub topics: Vec<String>,
    /// QoS of the subscriptions.
    #[arg(short = 'q', long = "qos", default_value_t = 0)]
    pub qos: u8,
    /// Print the topic before the payload.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Exit after this many messages.
    #[arg(short = 'C', long = "count")]
    pub count: Option<u64>,
    /// Exit with code 27 after this many seconds without finishing.
    #[arg(short = 'W', long = "timeout")]
    pub timeout: Option<u64>,
    /// Output format (%t topic, %p payload, %q QoS, %r retain, %i packet id, %l length, %%).
    #[arg(short = 'F', long = "format")]
    pub format: Option<String>,
    /// Do not print a newline after each message.
    #[arg(short = 'N')]
    pub no_newline: bool,
    /// Do not print messages with the retain flag set (stale messages).
    #[arg(short = 'R')]
    pub no_retained: bool,
}

pub async fn run(a: SubArgs) -> Result<Outcome> {
    let version = conn::parse_version(&a.conn.version)?;
    let dprops = conn::parse_dprops(&a.conn.properties, version)?;
    let qos = conn::parse_qos(a.qos)?;
    let (options, url_topic) = conn::options(&a.conn, &dprops)?;
    let mut topics = a.topics.clone();
    topics.extend(url_topic);
    if topics.is_empty() {
        bail!("no topic given (-t)");
    }
    let printer = Printer {
        verbose: a.verbose,
        format: a.format.clone(),
        no_newline: a.no_newline,
    };
    let client = Client::connect(options).await?;
    let mut events = client.events();
    let debug = a.conn.debug;
    tokio::spawn(async move {
        while let Some(e) = events.recv().await {
            match e {
                Event::Disconnected { reason }
                    if !matches!(reason, DisconnectReason::Requested) =>
                {
                    eprintln!("Disconnected: {reason}");
                }
                Event::Reconnecting { attempt, delay } if debug => {
                    eprintln!("Reconnecting (attempt {attempt}) in {delay:?}");
                }
                Event::Connected { .. } if debug => eprintln!("Connected"),
                _ => {}
            }
        }
    });
    let filters = topics
        .iter()
        .map(|t| {
            (
                t.clone().into(),
                SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                },
            )
        })
        .collect();
    let deadline = a
        .timeout
        .map(|s| tokio::time::Instant::now() + Duration::from_secs(s));
    let work = async {
        let mut sub = client
            .subscribe_with(filters, dprops.subscribe.clone())
            .await?;
        let mut seen = 0u64;
        let mut out = std::io::stdout().lock();
        loop {
            if a.count.is_some_and(|c| seen >= c) {
                return anyhow::Ok(());
            }
            let m = tokio::select! {
                m = sub.recv() => m,
                _ = tokio::signal::ctrl_c() => return Ok(()),
            };
            let Some(m) = m else { return Ok(()) };
            if a.no_retained && m.retain {
                continue;
            }
            out.write_all(&printer.render(&m))
                .context("writing stdout")?;
            out.flush().context("writing stdout")?;
            seen += 1;
        }
    };
    let outcome = match deadline {
        Some(d) => match tokio::time::timeout_at(d, work).await {
            Ok(r) => r.map(|()| Outcome::Ok),
            Err(_) => {
                eprintln!("Timed out");
                Ok(Outcome::Timeout)
            }
        },
        None => work.await.map(|()| Outcome::Ok),
    };
    let _ = client.disconnect().await;
    outcome
}
