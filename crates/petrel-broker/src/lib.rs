//! A tokio MQTT 3.1, 3.1.1 and 5.0 broker.
//!
//! Each connection runs on its own task and owns its protocol state. A PUBLISH is routed by
//! the task that received it: it looks up matching subscriptions in a shared, read-mostly
//! index and pushes the message (payload shared by reference) into each subscriber's
//! bounded queue, waking the subscriber's task. There is no central router task.
//!
//! ```no_run
//! use petrel_broker::{Broker, Config};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let broker = Broker::start(Config::default()).await?;
//! println!("listening on {}", broker.local_addr());
//! broker.shutdown(std::time::Duration::from_secs(5)).await;
//! # Ok(()) }
//! ```
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod config;
mod connection;
mod core;
mod index;
mod message;
pub mod metrics;
mod persist;
mod registry;
mod retained;
pub mod security;
mod server;
mod session;
mod slot;
mod sys;
mod topic;
mod transport;

pub use config::{
    AuthConfig, Config, ConfigError, DropPolicy, Features, Limits, ListenerConfig, MetricsConfig,
    Mqtt3PublishDenied, StorageBackend, StorageConfig, StorageDurability, SysConfig, Transport,
};
pub use metrics::{DropReason, Metrics, MetricsSnapshot};
pub use security::{Security, SecurityError};
pub use server::{Broker, StartError};
pub use sys::VERSION;
