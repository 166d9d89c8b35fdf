//! The `[metrics]` section of the configuration.

use std::net::SocketAddr;

use serde::Deserialize;

/// The Prometheus metrics endpoint (`[metrics]`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Address of the HTTP listener serving `GET /metrics` in the Prometheus text format,
    /// such as `127.0.0.1:9090`. Unset (the default): no listener.
    pub listen: Option<SocketAddr>,
}
