//! `petrel rr`: MQTT 5 request/response.

use std::io::Write;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use petrel_client::{Bytes, Client, Error, Message, Property, ProtocolVersion, QoS};

use crate::conn::{self, ConnArgs};
use crate::format::Printer;
use crate::Outcome;

/// Flags of `petrel rr`.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct RrArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// Request topic.
    #[arg(short = 't', long = "topic")]
    pub topic: Option<String>,
    /// Response topic (default: one made for this client).
    #[arg(short = 'e', long = "response-topic")]
    pub response_topic: Option<String>,
    /// Request payload.
    #[arg(short = 'm', long = "message")]
    pub message: Option<String>,
    /// Send the contents of a file as the request.
    #[arg(short = 'f', long = "file")]
    pub file: Option<std::path::PathBuf>,
    /// Send an empty request.
    #[arg(short = 'n', long = "null-message")]
    pub null: bool,
    /// QoS.
    #[arg(short = 'q', long = "qos", default_value_t = 0)]
    pub qos: u8,
    /// Print the response topic before the payload.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
    /// Seconds to wait for the response (exit 27 when they pass).
    #[arg(short = 'W', long = "timeout", default_value_t = 30)]
    pub timeout: u64,
    /// Output format, as for `petrel sub -F`.
    #[arg(short = 'F', long = "format")]
    pub format: Option<String>,
    /// Do not print a newline after the response.
    #[arg(short = 'N')]
    pub no_newline: bool,
}

pub async fn run(mut a: RrArgs) -> Result<Outcome> {
    // Request/response needs MQTT 5; it is the default here, unlike pub/sub.
    if a.conn.version == "311" {
        a.conn.version = "5".into();
    }
    let version = conn::parse_version(&a.conn.version)?;
    if version != ProtocolVersion::V5 {
        bail!("request/response needs MQTT 5");
    }
    let dprops = conn::parse_dprops(&a.conn.properties, version)?;
    let qos = conn::parse_qos(a.qos)?;
    let (options, url_topic) = conn::options(&a.conn, &dprops)?;
    let topic = a
        .topic
        .clone()
        .or(url_topic)
        .context("no request topic given (-t)")?;
    let payload = match (&a.message, &a.file, a.null) {
        (Some(m), None, false) => Bytes::copy_from_slice(m.as_bytes()),
        (None, Some(f), false) => {
            Bytes::from(std::fs::read(f).with_context(|| format!("reading {}", f.display()))?)
        }
        (None, None, true) => Bytes::new(),
        _ => bail!("give exactly one of -m, -f and -n"),
    };
    let printer = Printer {
        verbose: a.verbose,
        format: a.format.clone(),
        no_newline: a.no_newline,
    };
    let timeout = Duration::from_secs(a.timeout);
    let client = Client::connect(options).await?;
    let request = Message::new(topic, payload, qos).with_properties(dprops.publish.clone());
    let result = match &a.response_topic {
        None => client.request(request, timeout).await,
        Some(rt) => explicit(&client, request, rt, timeout).await,
    };
    let _ = client.disconnect().await;
    match result {
        Ok(m) => {
            let mut out = std::io::stdout().lock();
            out.write_all(&printer.render(&m))
                .context("writing stdout")?;
            out.flush().context("writing stdout")?;
            Ok(Outcome::Ok)
        }
        Err(Error::Timeout) => {
            eprintln!("Timed out");
            Ok(Outcome::Timeout)
        }
        Err(e) => Err(e.into()),
    }
}

/// Request/response on a response topic chosen by the user.
async fn explicit(
    client: &Client,
    mut request: Message,
    response_topic: &str,
    timeout: Duration,
) -> Result<petrel_client::ReceivedMessage, Error> {
    let mut sub = client
        .subscribe(response_topic.to_owned(), QoS::AtLeastOnce)
        .await?;
    let cd = Bytes::from(format!("petrel-rr-{:016x}", rand::random::<u64>()));
    request
        .properties
        .set(Property::ResponseTopic(response_topic.to_owned().into()));
    request
        .properties
        .set(Property::CorrelationData(cd.clone()));
    let work = async {
        client.publish_message(request).await?;
        while let Some(m) = sub.recv().await {
            let matches = m.properties.correlation_data().is_none_or(|c| c == cd);
            if matches {
                return Ok(m);
            }
        }
        Err(Error::Closed)
    };
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or(Err(Error::Timeout))
}
