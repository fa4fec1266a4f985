//! One stream connection (TCP, TLS, WS, WSS) as one task: set-up (connect, TLS and WebSocket
//! handshakes), then a reader, a writer draining the bounded write queue, and a supervisor
//! running the idle timeout and keep-alives (RFC 5626 §3.5.1, §4.4.1). Whatever ends the
//! connection is reported to the driver as [`NetEvent::Closed`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use sipline_proto::{Flow, Limits, ParseError, TransportKind};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::tungstenite;

use crate::config::ConnectionConfig;
use crate::driver::NetEvent;
use crate::{stream, ws};

/// Any byte stream a connection runs on: plain TCP or TLS over it.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// What the write queue carries.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A SIP message.
    Message(Bytes),
    /// A keep-alive ping: `CRLF CRLF`, or a WebSocket Ping.
    Ping,
    /// The answer to a ping: `CRLF` (WebSocket answers its pings itself).
    Pong,
}

/// Why a connection ended; logged, and turned into `Input::TransportFailed` by the driver
/// (see [`ConnError::failure`]).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error("connect failed: {0}")]
    Connect(std::io::Error),
    #[error("connection set-up took longer than {0:?}")]
    SetupTimeout(Duration),
    #[error("TLS handshake failed: {0}")]
    Tls(std::io::Error),
    #[error("WebSocket handshake failed: {0}")]
    WsHandshake(tungstenite::Error),
    #[error("the peer closed the connection")]
    PeerClosed,
    #[error("read failed: {0}")]
    Read(std::io::Error),
    #[error("write failed: {0}")]
    Write(std::io::Error),
    #[error("cannot frame the stream (RFC 3261 §18.3): {0}")]
    Framing(ParseError),
    #[error("WebSocket error: {0}")]
    Ws(tungstenite::Error),
    #[error("a WebSocket message of {0} bytes is over the size limit")]
    TooLarge(usize),
    #[error("no SIP message for {0:?}")]
    Idle(Duration),
    #[error("no keep-alive pong within {0:?} (RFC 5626 §4.4.1)")]
    KeepaliveTimeout(Duration),
    #[error("the write queue is full: the peer does not read")]
    QueueFull,
    #[error("the runtime stopped")]
    Stopped,
}

impl ConnError {
    /// The core's classification of this error.
    pub(crate) fn failure(&self) -> sipline_proto::TransportFailure {
        use sipline_proto::TransportFailure as F;
        match self {
            ConnError::Connect(_) | ConnError::SetupTimeout(_) => F::ConnectFailed,
            ConnError::Tls(_) | ConnError::WsHandshake(_) => F::HandshakeFailed,
            ConnError::QueueFull => F::Overloaded,
            ConnError::PeerClosed
            | ConnError::Read(_)
            | ConnError::Write(_)
            | ConnError::Framing(_)
            | ConnError::Ws(_)
            | ConnError::TooLarge(_)
            | ConnError::Idle(_)
            | ConnError::KeepaliveTimeout(_)
            | ConnError::Stopped => F::Closed,
        }
    }
}

impl ConnError {
    /// An ordinary end, not worth a warning.
    /// The peer going away abruptly (reset, TLS without close_notify, WebSocket without a
    /// Close frame) counts as ordinary too.
    pub(crate) fn is_normal(&self) -> bool {
        fn gone(e: &std::io::Error) -> bool {
            use std::io::ErrorKind as K;
            matches!(
                e.kind(),
                K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe
            )
        }
        match self {
            ConnError::PeerClosed | ConnError::Idle(_) | ConnError::Stopped => true,
            ConnError::Read(e) | ConnError::Write(e) => gone(e),
            ConnError::Ws(tungstenite::Error::Io(e)) => gone(e),
            ConnError::Ws(
                tungstenite::Error::ConnectionClosed
                | tungstenite::Error::AlreadyClosed
                | tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
                ),
            ) => true,
            _ => false,
        }
    }
}

/// How a connection begins.
pub(crate) enum Setup {
    /// Accepted by a listener; a TLS or WSS listener hands its acceptor.
    Accepted {
        stream: TcpStream,
        tls: Option<TlsAcceptor>,
    },
    /// Opened by us; TLS and WSS carry the connector and the name to verify.
    Connect {
        tls: Option<(TlsConnector, rustls::pki_types::ServerName<'static>)>,
    },
}

/// A connection's task state.
pub(crate) struct Conn {
    /// The flow, its `conn` set.
    pub(crate) flow: Flow,
    pub(crate) net_tx: mpsc::Sender<NetEvent>,
    /// A sender into the connection's own queue, for pongs and pings.
    pub(crate) queue_tx: mpsc::Sender<Outgoing>,
    pub(crate) cfg: Arc<ConnectionConfig>,
    pub(crate) limits: Limits,
    /// Opened by us: the side that sends keep-alives (RFC 5626 §3.5.1).
    pub(crate) outbound: bool,
}

/// What a set-up produced.
enum Established {
    Stream(Box<dyn Io>),
    Ws(Box<ws::WsStream>),
}

impl Conn {
    /// Runs the connection to its end and reports why it ended. `queue` is the receiving end
    /// of the write queue.
    pub(crate) async fn run(self, setup: Setup, queue: mpsc::Receiver<Outgoing>) {
        let limit = self.cfg.connect_timeout;
        let reason = match tokio::time::timeout(limit, self.establish(setup)).await {
            Err(_) => ConnError::SetupTimeout(limit),
            Ok(Err(e)) => e,
            Ok(Ok(Established::Stream(io))) => stream::serve(io, &self, queue).await,
            Ok(Ok(Established::Ws(ws))) => ws::serve(*ws, &self, queue).await,
        };
        let conn = self.flow.conn;
        let _ = self
            .net_tx
            .send(NetEvent::Closed {
                flow: self.flow,
                reason,
            })
            .await;
        tracing::trace!(?conn, "connection task done");
    }

    async fn establish(&self, setup: Setup) -> Result<Established, ConnError> {
        let remote = self.flow.remote;
        let kind = self.flow.transport;
        let io: Box<dyn Io> = match setup {
            Setup::Accepted { stream, tls } => {
                let _ = stream.set_nodelay(true);
                match tls {
                    Some(acceptor) => {
                        Box::new(acceptor.accept(stream).await.map_err(ConnError::Tls)?)
                    }
                    None => Box::new(stream),
                }
            }
            Setup::Connect { tls } => {
                let stream = TcpStream::connect(remote)
                    .await
                    .map_err(ConnError::Connect)?;
                let _ = stream.set_nodelay(true);
                match tls {
                    Some((connector, name)) => Box::new(
                        connector
                            .connect(name, stream)
                            .await
                            .map_err(ConnError::Tls)?,
                    ),
                    None => Box::new(stream),
                }
            }
        };
        tracing::debug!(%kind, %remote, conn = ?self.flow.conn, outbound = self.outbound, "connection up");
        match kind {
            TransportKind::Ws | TransportKind::Wss if self.outbound => Ok(Established::Ws(
                Box::new(ws::connect(io, remote, kind, &self.limits).await?),
            )),
            TransportKind::Ws | TransportKind::Wss => Ok(Established::Ws(Box::new(
                ws::accept(io, &self.limits).await?,
            ))),
            _ => Ok(Established::Stream(io)),
        }
    }

    /// Hands a message cut from the stream to the driver.
    pub(crate) async fn deliver(&self, live: &Liveness, payload: Bytes) -> Result<(), ConnError> {
        live.touch();
        self.net_tx
            .send(NetEvent::Received {
                flow: self.flow,
                payload,
            })
            .await
            .map_err(|_| ConnError::Stopped)
    }

    /// Queues a keep-alive item on the connection's own queue; a full queue means the peer
    /// does not read.
    pub(crate) fn queue(&self, item: Outgoing) -> Result<(), ConnError> {
        self.queue_tx.try_send(item).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ConnError::QueueFull,
            mpsc::error::TrySendError::Closed(_) => ConnError::Stopped,
        })
    }
}

/// When the connection was last used (a SIP message either way, a ping from the peer, a pong
/// to our ping), and whether a ping awaits its pong; shared
/// by the reader, the writer and the supervisor of one connection.
#[derive(Debug)]
pub(crate) struct Liveness {
    start: Instant,
    last_ms: AtomicU64,
    awaiting_pong: AtomicBool,
}

impl Liveness {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            last_ms: AtomicU64::new(0),
            awaiting_pong: AtomicBool::new(false),
        }
    }

    /// A SIP message went through.
    pub(crate) fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    /// A pong arrived: our ping was answered, the flow is alive and in use.
    pub(crate) fn pong(&self) {
        self.awaiting_pong.store(false, Ordering::Relaxed);
        self.touch();
    }

    /// The peer pinged: it keeps the flow alive (RFC 5626 §3.5.1), so it is in use.
    pub(crate) fn pinged(&self) {
        self.touch();
    }

    fn idle_deadline(&self, idle: Duration) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed)) + idle
    }

    /// Runs the idle timeout and, on connections we opened, the keep-alives. Returns when the
    /// connection must close.
    pub(crate) async fn supervise(&self, conn: &Conn) -> ConnError {
        let idle = conn.cfg.idle_timeout;
        let interval = conn.cfg.keepalive_interval.filter(|_| conn.outbound);
        let pong_wait = conn.cfg.keepalive_timeout;
        let mut ping_at = interval.map(|i| Instant::now() + i);
        let mut pong_deadline: Option<Instant> = None;
        loop {
            let mut wake = self.idle_deadline(idle);
            wake = pong_deadline.map_or(wake, |d| wake.min(d));
            wake = ping_at.map_or(wake, |p| wake.min(p));
            tokio::time::sleep_until(wake).await;
            let now = Instant::now();
            if now >= self.idle_deadline(idle) {
                return ConnError::Idle(idle);
            }
            if let Some(d) = pong_deadline {
                if !self.awaiting_pong.load(Ordering::Relaxed) {
                    pong_deadline = None;
                } else if now >= d {
                    return ConnError::KeepaliveTimeout(pong_wait);
                }
            }
            if let (Some(at), Some(every)) = (ping_at, interval)
                && now >= at
            {
                if let Err(e) = conn.queue(Outgoing::Ping) {
                    return e;
                }
                if pong_deadline.is_none() {
                    self.awaiting_pong.store(true, Ordering::Relaxed);
                    pong_deadline = Some(now + pong_wait);
                }
                ping_at = Some(now + every);
            }
        }
    }
}
