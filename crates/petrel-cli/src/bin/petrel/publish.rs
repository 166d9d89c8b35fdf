//! `petrel pub`.

use std::io::{BufRead, Read};

use anyhow::{bail, Context, Result};
use clap::Args;
use petrel_client::{Bytes, Client, Message};

use crate::conn::{self, ConnArgs};
use crate::Outcome;

/// Flags of `petrel pub`.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct PubArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Topic to publish to.
    #[arg(short = 't', long = "topic")]
    pub topic: Option<String>,
    /// Message payload.
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Send the contents of a file as the message.
    #[arg(short = 'f', long = "file")]
    pub file: Option<std::path::PathBuf>,
    /// Send each line of stdin as a message.
    #[arg(short = 'l', long = "stdin-line")]
    pub lines: bool,
    /// Send all of stdin as one message.
    #[arg(short = 's', long = "stdin-file")]
    pub stdin: bool,
    /// Send an empty (null) message.
    #[arg(short = 'n', long = "null-message")]
    pub null: bool,
    /// QoS (0, 1 or 2).
    #[arg(short = 'q', long = "qos", default_value_t = 0)]
    pub qos: u8,
    /// Retain the message.
    #[arg(short = 'r', long = "retain")]
    pub retain: bool,
    /// Send the message this many times.
    #[arg(long = "repeat", default_value_t = 1)]
    pub repeat: u32,
}

pub async fn run(a: PubArgs) -> Result<Outcome> {
    let version = conn::parse_version(&a.conn.version)?;
    let dprops = conn::parse_dprops(&a.conn.properties, version)?;
    let qos = conn::parse_qos(a.qos)?;
    let (options, url_topic) = conn::options(&a.conn, &dprops)?;
    let topic = a
        .topic
        .clone()
        .or(url_topic)
        .context("no topic given (-t)")?;
    let sources = [
        a.message.is_some(),
        a.file.is_some(),
        a.lines,
        a.stdin,
        a.null,
    ];
    match sources.iter().filter(|s| **s).count() {
        0 => bail!("no message given (-m, -f, -l, -s or -n)"),
        1 => {}
        _ => bail!("only one of -m, -f, -l, -s and -n may be given"),
    }
    let client = Client::connect(options).await?;
    let make = |payload: Bytes| {
        Message::new(topic.clone(), payload, qos)
            .with_retain(a.retain)
            .with_properties(dprops.publish.clone())
    };
    let result = async {
        if a.lines {
            let stdin = std::io::stdin();
            let mut deliveries = Vec::new();
            for line in stdin.lock().lines() {
                let line = line.context("reading stdin")?;
                deliveries.push(client.enqueue(make(Bytes::from(line.into_bytes()))).await?);
            }
            for d in deliveries {
                d.await.context("publish failed")?;
            }
            return Ok(());
        }
        let payload = if let Some(m) = &a.message {
            Bytes::copy_from_slice(m.as_bytes())
        } else if let Some(f) = &a.file {
            Bytes::from(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?)
        } else if a.stdin {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading stdin")?;
            Bytes::from(buf)
        } else {
            Bytes::new()
        };
        for _ in 0..a.repeat.max(1) {
            client
                .publish_message(make(payload.clone()))
                .await
                .context("publish failed")?;
        }
        anyhow::Ok(())
    }
    .await;
    let _ = client.disconnect().await;
    result.map(|()| Outcome::Ok)
}
