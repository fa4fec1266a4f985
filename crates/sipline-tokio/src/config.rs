//! Runtime configuration: connection management (RFC 3261 §18, RFC 5626 §3.5.1, §4.4.1).

use std::time::Duration;

/// How the runtime manages stream connections (TCP, TLS, WS, WSS).
///
/// ```
/// use std::time::Duration;
/// use sipline_tokio::ConnectionConfig;
///
/// let cfg = ConnectionConfig {
///     idle_timeout: Duration::from_secs(60),
///     keepalive_interval: Some(Duration::from_secs(25)),
///     ..ConnectionConfig::default()
/// };
/// assert_eq!(cfg.max_connections, 1024);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// A connection that carried no SIP message and no answered keep-alive either way for
    /// this long is closed (RFC 3261 §18 leaves the policy to the implementation). A flow kept
    /// alive with pings (RFC 5626), by us or by the peer, stays open; bytes that never make
    /// up a whole message do not count. Default 5 minutes.
    pub idle_timeout: Duration,
    /// On connections this runtime opened, send a keep-alive this often: a `CRLF CRLF` ping on
    /// TCP and TLS (RFC 5626 §3.5.1), a WebSocket Ping frame on WS and WSS (RFC 7118 §6).
    /// Default `None`: no keep-alives.
    pub keepalive_interval: Option<Duration>,
    /// A keep-alive ping not answered within this time fails the connection (RFC 5626 §4.4.1
    /// says 10 seconds). Default 10 seconds.
    pub keepalive_timeout: Duration,
    /// Most open connections, both directions together. Past it, accepted connections are
    /// closed at once and new outgoing ones fail. Default 1024.
    pub max_connections: usize,
    /// Messages queued for sending on one connection. A peer that reads so slowly that its
    /// queue fills is disconnected, so memory stays bounded. Default 64.
    pub write_queue: usize,
    /// Longest time to set a connection up: the TCP connect, then the TLS and WebSocket
    /// handshakes (for accepted connections: the handshakes). Default 10 seconds.
    pub connect_timeout: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: None,
            keepalive_timeout: Duration::from_secs(10),
            max_connections: 1024,
            write_queue: 64,
            connect_timeout: Duration::from_secs(10),
        }
    }
}
