//! Why a connection was refused, for the `connections_refused_total` counters.

/// Why the broker refused a connection, before or at CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefuseReason {
    /// `limits.max_connections` connections were open.
    ConnectionLimit,
    /// The listener's allow/deny lists or its per-address connection cap.
    Address,
    /// Too many connections from the address had not sent CONNECT yet.
    PendingConnects,
    /// CONNACK 0x86 / 3.1.1 code 4: bad user name or password (also while the address
    /// or user is held back after repeated failures).
    BadCredentials,
    /// CONNACK 0x87 / 3.1.1 code 5: not authorized.
    NotAuthorized,
    /// Another CONNACK refusal by the broker's rules (a bad authentication method, a will
    /// on `$SYS` or too deep). CONNECTs the protocol rules refuse count as protocol errors.
    Other,
}

impl RefuseReason {
    /// Every reason, in the order of [`Self::index`].
    pub const ALL: [RefuseReason; 6] = [
        RefuseReason::ConnectionLimit,
        RefuseReason::Address,
        RefuseReason::PendingConnects,
        RefuseReason::BadCredentials,
        RefuseReason::NotAuthorized,
        RefuseReason::Other,
    ];

    /// The position of this reason in [`Self::ALL`] and in the refusal counters.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The value of the `reason` label in the Prometheus output.
    pub const fn label(self) -> &'static str {
        match self {
            RefuseReason::ConnectionLimit => "connection_limit",
            RefuseReason::Address => "address",
            RefuseReason::PendingConnects => "pending_connects",
            RefuseReason::BadCredentials => "bad_credentials",
            RefuseReason::NotAuthorized => "not_authorized",
            RefuseReason::Other => "other",
        }
    }

    /// The reason of a CONNACK refusal with `code`.
    pub(crate) fn of_connack(code: petrel_codec::ReasonCode) -> Self {
        use petrel_codec::ReasonCode;
        match code {
            ReasonCode::BadUserNameOrPassword => RefuseReason::BadCredentials,
            ReasonCode::NotAuthorized => RefuseReason::NotAuthorized,
            _ => RefuseReason::Other,
        }
    }
}
