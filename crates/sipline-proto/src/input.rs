//! What goes in and out of the sans-IO core: datagrams and stream messages with their flows,
//! inputs, outputs (RFC 3261 §18 leaves the socket work to the runtime).

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;

use crate::endpoint::Event;

/// A SIP transport (RFC 3261 §18, RFC 7118 for WebSocket).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransportKind {
    /// UDP: unreliable, datagrams.
    Udp,
    /// TCP: reliable stream.
    Tcp,
    /// TLS over TCP: reliable, secure.
    Tls,
    /// WebSocket (RFC 7118): reliable.
    Ws,
    /// Secure WebSocket (RFC 7118): reliable, secure.
    Wss,
}

impl TransportKind {
    /// Every transport.
    pub const ALL: [TransportKind; 5] = [Self::Udp, Self::Tcp, Self::Tls, Self::Ws, Self::Wss];

    /// Reliable transports need no retransmission timers (RFC 3261 §17.1.1.2, §17.1.2.2).
    pub const fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// TLS and WSS.
    pub const fn is_secure(self) -> bool {
        matches!(self, Self::Tls | Self::Wss)
    }

    /// The token in a Via's sent-protocol (`SIP/2.0/UDP`).
    pub const fn via_token(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
            Self::Ws => "WS",
            Self::Wss => "WSS",
        }
    }

    /// The `transport=` URI parameter value (RFC 3261 §19.1.1, RFC 7118 §5).
    pub const fn uri_param(self) -> &'static str {
        match self {
            Self::Udp => "udp",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Ws => "ws",
            Self::Wss => "wss",
        }
    }

    /// Parses a Via transport token, case-insensitively.
    pub fn from_via(token: &str) -> Option<TransportKind> {
        Self::ALL
            .into_iter()
            .find(|t| t.via_token().eq_ignore_ascii_case(token))
    }

    /// The default port (5060, or 5061 for TLS, RFC 3261 §19.1.2; 80/443 for WS/WSS).
    pub const fn default_port(self) -> u16 {
        match self {
            Self::Udp | Self::Tcp => 5060,
            Self::Tls => 5061,
            Self::Ws => 80,
            Self::Wss => 443,
        }
    }
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.via_token())
    }
}

/// A connection of a stream transport, numbered by the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Where a message came from, or goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    /// The transport.
    pub transport: TransportKind,
    /// The peer's address.
    pub remote: SocketAddr,
    /// The connection, for stream transports.
    pub conn: Option<ConnId>,
}

/// Bytes that arrived: one datagram, or one message cut from a stream by
/// [`StreamFramer`](crate::StreamFramer).
#[derive(Debug, Clone)]
pub struct Receive {
    /// Where it came from.
    pub flow: Flow,
    /// The message bytes.
    pub payload: Bytes,
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to: for a stream transport with `conn: None`, the runtime reuses a connection to
    /// `remote` or opens one (RFC 3261 §18.1.1).
    pub flow: Flow,
    /// The message bytes.
    pub payload: Bytes,
}

/// Why a transport failed (RFC 3261 §17.1.4, §18.4): reported with
/// [`Input::TransportFailed`] and passed on in [`Event::TransportError`](crate::Event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportFailure {
    /// The connection could not be opened: refused, unreachable, timed out, or the
    /// connection limit was reached.
    ConnectFailed,
    /// The TLS or WebSocket handshake failed (an untrusted certificate, a refused
    /// `sip` subprotocol).
    HandshakeFailed,
    /// The connection closed or broke: peer close, read or write error, unframeable stream,
    /// idle or keep-alive timeout.
    Closed,
    /// The peer did not keep up: its write queue filled, and the connection was dropped.
    Overloaded,
    /// A datagram could not be sent.
    SendFailed,
}

impl std::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ConnectFailed => "connection failed",
            Self::HandshakeFailed => "TLS or WebSocket handshake failed",
            Self::Closed => "connection closed",
            Self::Overloaded => "peer too slow: write queue full",
            Self::SendFailed => "datagram send failed",
        })
    }
}

/// An input to [`Endpoint::handle_input`](crate::Endpoint::handle_input).
#[derive(Debug, Clone)]
pub enum Input {
    /// A message arrived.
    Receive(Receive),
    /// The deadline last returned by `poll_output` has passed (early calls are harmless).
    Timeout,
    /// Sending on this flow failed, or its connection closed, and why (RFC 3261 §17.1.4,
    /// §17.2.4).
    TransportFailed(Flow, TransportFailure),
}

/// What the core wants done (events carry whole messages, hence the size difference between
/// variants: outputs are moved once, straight to the caller); drain [`Endpoint::poll_output`](crate::Endpoint::poll_output)
/// until it returns [`Output::Timeout`].
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Output {
    /// Send these bytes.
    Transmit(Transmit),
    /// Something happened that the layer above must know.
    Event(Event),
    /// Nothing more to do now; call back with [`Input::Timeout`] at this instant (`None`: no
    /// timer is running).
    Timeout(Option<Instant>),
}
