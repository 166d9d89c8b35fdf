//! Connection flags shared by `pub`, `sub` and `rr`, and the MQTT 5 `-D` properties.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use petrel_client::{
    Bytes, ConnectOptions, Properties, Property, ProtocolVersion, QoS, ReconnectOptions,
    TlsOptions, Transport, Will,
};

/// Flags every client command takes (mosquitto's names).
#[derive(Args, Debug, Clone)]
pub struct ConnArgs {
    /// Broker host.
    #[arg(short = 'h', long = "host", default_value = "localhost")]
    pub host: String,
    /// Broker port (default 1883, or 8883 with TLS options).
    #[arg(short = 'p', long = "port")]
    pub port: Option<u16>,
    /// Broker URL: mqtt://, mqtts://, ws:// or wss://, with optional user:pass@ and, for
    /// mqtt(s), /topic.
    #[arg(short = 'L', long = "url")]
    pub url: Option<String>,
    /// Client identifier (default: random).
    #[arg(short = 'i', long = "id")]
    pub id: Option<String>,
    /// User name.
    #[arg(short = 'u', long = "username")]
    pub username: Option<String>,
    /// Password.
    #[arg(short = 'P', long = "pw")]
    pub password: Option<String>,
    /// Protocol version: 31, 311 or 5 (also mqttv31, mqttv311, mqttv5).
    #[arg(short = 'V', long = "protocol-version", default_value = "311")]
    pub version: String,
    /// Keep-alive in seconds.
    #[arg(short = 'k', long = "keepalive", default_value_t = 60)]
    pub keepalive: u16,
    /// Disable Clean Session / Clean Start (resume a session; needs -i).
    #[arg(short = 'c', long = "disable-clean-session")]
    pub no_clean: bool,
    /// Session Expiry Interval in seconds (MQTT 5).
    #[arg(short = 'x', long = "session-expiry-interval")]
    pub session_expiry: Option<u32>,
    /// MQTT 5 property: -D COMMAND NAME VALUE (user-property takes NAME KEY VALUE).
    #[arg(short = 'D', long = "property", num_args = 3..=4, action = clap::ArgAction::Append,
          value_names = ["COMMAND", "NAME", "VALUE"])]
    pub properties: Vec<String>,
    /// CA certificates (PEM) to verify the broker; turns TLS on.
    #[arg(long = "cafile")]
    pub cafile: Option<PathBuf>,
    /// Client certificate (PEM); turns TLS on.
    #[arg(long = "cert")]
    pub cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long = "key")]
    pub key: Option<PathBuf>,
    /// Will topic.
    #[arg(long = "will-topic")]
    pub will_topic: Option<String>,
    /// Will payload.
    #[arg(long = "will-payload", default_value = "")]
    pub will_payload: String,
    /// Will QoS.
    #[arg(long = "will-qos", default_value_t = 0)]
    pub will_qos: u8,
    /// Retain the will.
    #[arg(long = "will-retain")]
    pub will_retain: bool,
    /// Print debug messages to stderr.
    #[arg(short = 'd', long = "debug")]
    pub debug: bool,
    /// Print help.
    #[arg(long = "help", action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// Properties per command from `-D`.
#[derive(Debug, Default, Clone)]
pub struct DProps {
    pub connect: Properties,
    pub publish: Properties,
    pub subscribe: Properties,
}

pub fn parse_version(s: &str) -> Result<ProtocolVersion> {
    Ok(match s.to_ascii_lowercase().as_str() {
        "31" | "mqttv31" | "3.1" => ProtocolVersion::V3_1,
        "311" | "mqttv311" | "3.1.1" | "4" => ProtocolVersion::V3_1_1,
        "5" | "mqttv5" | "50" | "5.0" => ProtocolVersion::V5,
        other => bail!("unknown protocol version {other:?} (use 31, 311 or 5)"),
    })
}

pub fn parse_qos(q: u8) -> Result<QoS> {
    QoS::from_u8(q).with_context(|| format!("QoS must be 0, 1 or 2, not {q}"))
}

fn num<T: std::str::FromStr>(name: &str, v: &str) -> Result<T> {
    v.parse()
        .ok()
        .with_context(|| format!("-D {name}: bad number {v:?}"))
}

/// Splits the values of every `-D` (in order) into COMMAND NAME VALUE triples, or
/// COMMAND user-property KEY VALUE quads.
fn group_dprops(flat: &[String]) -> Result<Vec<&[String]>> {
    let mut out = Vec::new();
    let mut rest = flat;
    while !rest.is_empty() {
        let n = if rest.get(1).is_some_and(|n| n == "user-property") {
            4
        } else {
            3
        };
        if rest.len() < n {
            bail!("-D needs COMMAND NAME VALUE (user-property: COMMAND user-property KEY VALUE)");
        }
        let (one, tail) = rest.split_at(n);
        out.push(one);
        rest = tail;
    }
    Ok(out)
}

/// Parses the `-D` triples (and quads for user properties).
pub fn parse_dprops(raw: &[String], version: ProtocolVersion) -> Result<DProps> {
    let mut out = DProps::default();
    if !raw.is_empty() && !version.is_v5() {
        bail!("-D properties need MQTT 5 (-V 5)");
    }
    for d in group_dprops(raw)? {
        let (cmd, name, rest) = match d {
            [c, n, rest @ ..] => (c.as_str(), n.as_str(), rest),
            _ => bail!("-D needs COMMAND NAME VALUE"),
        };
        let value = rest.first().map(String::as_str).unwrap_or_default();
        let prop = match (name, rest.len()) {
            ("user-property", 2) => {
                let v = rest.get(1).map(String::as_str).unwrap_or_default();
                Property::UserProperty(value.to_owned().into(), v.to_owned().into())
            }
            ("user-property", _) => bail!("-D {cmd} user-property needs KEY VALUE"),
            (_, n) if n != 1 => bail!("-D {cmd} {name} takes one value"),
            ("payload-format-indicator", _) => Property::PayloadFormatIndicator(num(name, value)?),
            ("message-expiry-interval", _) => Property::MessageExpiryInterval(num(name, value)?),
            ("content-type", _) => Property::ContentType(value.to_owned().into()),
            ("response-topic", _) => Property::ResponseTopic(value.to_owned().into()),
            ("correlation-data", _) => {
                Property::CorrelationData(Bytes::copy_from_slice(value.as_bytes()))
            }
            ("subscription-identifier", _) => Property::SubscriptionIdentifier(num(name, value)?),
            ("session-expiry-interval", _) => Property::SessionExpiryInterval(num(name, value)?),
            ("receive-maximum", _) => Property::ReceiveMaximum(num(name, value)?),
            ("maximum-packet-size", _) => Property::MaximumPacketSize(num(name, value)?),
            ("topic-alias-maximum", _) => Property::TopicAliasMaximum(num(name, value)?),
            ("request-problem-information", _) => {
                Property::RequestProblemInformation(num(name, value)?)
            }
            ("request-response-information", _) => {
                Property::RequestResponseInformation(num(name, value)?)
            }
            _ => bail!("-D: unsupported property {name:?}"),
        };
        let target = match cmd {
            "connect" => &mut out.connect,
            "publish" => &mut out.publish,
            "subscribe" => &mut out.subscribe,
            _ => bail!("-D: unsupported command {cmd:?} (connect, publish or subscribe)"),
        };
        target.set(prop);
    }
    Ok(out)
}

/// Connection options from the flags. Returns the options and, for `mqtt://host/topic`
/// URLs, the topic.
pub fn options(a: &ConnArgs, dprops: &DProps) -> Result<(ConnectOptions, Option<String>)> {
    if a.debug {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter("petrel_client=debug")
            .try_init();
    }
    let version = parse_version(&a.version)?;
    let tls_flags = a.cafile.is_some() || a.cert.is_some();
    let (mut o, url_topic) = match &a.url {
        Some(url) => {
            let o = ConnectOptions::from_url(url)?;
            let topic = match o.transport {
                Transport::Tcp | Transport::Tls => url
                    .split_once("://")
                    .and_then(|(_, rest)| rest.split_once('/'))
                    .map(|(_, t)| t.to_owned())
                    .filter(|t| !t.is_empty()),
                _ => None,
            };
            (o, topic)
        }
        None => {
            let port = a.port.unwrap_or(if tls_flags { 8883 } else { 1883 });
            let mut o = ConnectOptions::new(a.host.clone(), port);
            if tls_flags {
                o = o.transport(Transport::Tls);
            }
            (o, None)
        }
    };
    if a.url.is_some() {
        if let Some(p) = a.port {
            o.port = p;
        }
    }
    let mut tls = TlsOptions::default();
    tls.ca_file.clone_from(&a.cafile);
    tls.cert_file.clone_from(&a.cert);
    tls.key_file.clone_from(&a.key);
    o = o
        .tls(tls)
        .version(version)
        .keep_alive(a.keepalive)
        .clean_start(!a.no_clean);
    if let Some(id) = &a.id {
        o = o.client_id(id.clone());
    } else if a.no_clean {
        bail!("-c (disable clean session) needs a client id (-i)");
    }
    if let Some(u) = &a.username {
        let pw = a
            .password
            .as_ref()
            .map(|p| Bytes::copy_from_slice(p.as_bytes()));
        o = o.credentials(u.clone(), pw);
    } else if a.password.is_some() {
        bail!("-P needs -u");
    }
    if let Some(t) = &a.will_topic {
        let will = Will {
            topic: t.clone().into(),
            payload: Bytes::copy_from_slice(a.will_payload.as_bytes()),
            qos: parse_qos(a.will_qos)?,
            retain: a.will_retain,
            properties: Properties::new(),
        };
        o = o.will(will);
    }
    if let Some(s) = a.session_expiry {
        if !version.is_v5() {
            bail!("-x needs MQTT 5 (-V 5)");
        }
        o = o.session_expiry(s);
    }
    o = o
        .connect_properties(dprops.connect.clone())
        .reconnect(ReconnectOptions::backoff(
            Duration::from_millis(500),
            Duration::from_secs(30),
        ));
    Ok((o, url_topic))
}
