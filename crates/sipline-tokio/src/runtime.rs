//! The public face: [`Runtime::builder`] binds the listeners and starts the driver;
//! [`Handle`] sends commands to it; [`EventStream`] delivers the core's events.

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use sipline_proto::{
    ClientTxId, Endpoint, EndpointConfig, Event, Flow, Message, Request, Response, ServerTxId,
    TransportKind,
};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::config::ConnectionConfig;
use crate::driver::{Command, Driver, Stats};
use crate::error::Error;
use crate::tls::{TlsClientConfig, TlsServerConfig};
use crate::{stream, udp};

/// Commands waiting for the driver, per runtime.
const COMMAND_QUEUE: usize = 256;
/// Network inputs (datagrams, framed messages, accepted connections) waiting for the driver.
const NET_QUEUE: usize = 1024;

/// The sipline runtime on tokio: sockets, connections, timers and the driver task around a
/// sans-IO [`Endpoint`]. Start one with [`Runtime::builder`].
#[derive(Debug)]
pub struct Runtime {
    _private: (),
}

impl Runtime {
    /// A builder with no transport; add listeners, then [`RuntimeBuilder::start`].
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }
}

#[derive(Debug)]
struct Listen {
    kind: TransportKind,
    addr: SocketAddr,
    tls: Option<TlsServerConfig>,
}

/// Configures and starts a runtime.
#[derive(Debug)]
pub struct RuntimeBuilder {
    listen: Vec<Listen>,
    tls_client: Option<TlsClientConfig>,
    endpoint: EndpointConfig,
    seed: Option<u64>,
    connections: ConnectionConfig,
    event_capacity: usize,
}

impl Default for RuntimeBuilder {
    fn default() -> Self {
        Self {
            listen: Vec::new(),
            tls_client: None,
            endpoint: EndpointConfig::default(),
            seed: None,
            connections: ConnectionConfig::default(),
            event_capacity: 1024,
        }
    }
}

impl RuntimeBuilder {
    fn listen(
        mut self,
        kind: TransportKind,
        addr: SocketAddr,
        tls: Option<TlsServerConfig>,
    ) -> Self {
        self.listen.push(Listen { kind, addr, tls });
        self
    }

    /// A UDP socket on `addr` (port 0: any free port). The first UDP socket of each address
    /// family also sends that family's outgoing UDP.
    pub fn udp(self, addr: SocketAddr) -> Self {
        self.listen(TransportKind::Udp, addr, None)
    }

    /// A TCP listener on `addr`.
    pub fn tcp(self, addr: SocketAddr) -> Self {
        self.listen(TransportKind::Tcp, addr, None)
    }

    /// A TLS listener on `addr`, presenting `cfg`'s certificate.
    pub fn tls(self, addr: SocketAddr, cfg: TlsServerConfig) -> Self {
        self.listen(TransportKind::Tls, addr, Some(cfg))
    }

    /// A WebSocket listener on `addr` (RFC 7118).
    pub fn ws(self, addr: SocketAddr) -> Self {
        self.listen(TransportKind::Ws, addr, None)
    }

    /// A secure WebSocket listener on `addr`, presenting `cfg`'s certificate.
    pub fn wss(self, addr: SocketAddr, cfg: TlsServerConfig) -> Self {
        self.listen(TransportKind::Wss, addr, Some(cfg))
    }

    /// How outgoing TLS and WSS connections verify servers. Without it, they fail.
    pub fn tls_client(mut self, cfg: TlsClientConfig) -> Self {
        self.tls_client = Some(cfg);
        self
    }

    /// The core's configuration. Its `seed` is replaced by a random one unless
    /// [`RuntimeBuilder::seed`] fixes it.
    pub fn endpoint_config(mut self, cfg: EndpointConfig) -> Self {
        self.endpoint = cfg;
        self
    }

    /// A fixed seed for branches and tags, for reproducible tests.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Connection management: idle timeout, keep-alives, limits.
    pub fn connection_config(mut self, cfg: ConnectionConfig) -> Self {
        self.connections = cfg;
        self
    }

    /// Events held for the application before the runtime stops reading the network
    /// (default 1024).
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.event_capacity = n.max(1);
        self
    }

    /// Binds every listener and starts the driver. Must be called within a tokio runtime.
    pub async fn start(self) -> Result<(Handle, EventStream), Error> {
        let tls_client = self.tls_client.as_ref().map(|c| c.build()).transpose()?;
        let limits = self.endpoint.limits;
        let (net_tx, net_rx) = mpsc::channel(NET_QUEUE);
        let mut tasks = JoinSet::new();
        let mut local = Vec::new();
        let mut udp_sockets = Vec::new();
        for l in self.listen {
            let bind_err = |source| Error::Bind {
                transport: l.kind,
                addr: l.addr,
                source,
            };
            if l.kind == TransportKind::Udp {
                let socket = Arc::new(udp::bind(l.addr).map_err(bind_err)?);
                local.push((l.kind, socket.local_addr().map_err(bind_err)?));
                tasks.spawn(udp::recv_loop(
                    socket.clone(),
                    limits.max_message_size,
                    net_tx.clone(),
                ));
                udp_sockets.push(socket);
            } else {
                let listener = stream::bind(l.addr).map_err(bind_err)?;
                local.push((l.kind, listener.local_addr().map_err(bind_err)?));
                let acceptor = l.tls.as_ref().map(TlsServerConfig::acceptor);
                tasks.spawn(stream::accept_loop(
                    listener,
                    l.kind,
                    acceptor,
                    net_tx.clone(),
                ));
            }
        }
        for (kind, addr) in &local {
            tracing::info!(%kind, %addr, "listening");
        }
        let mut endpoint_cfg = self.endpoint;
        endpoint_cfg.seed = self.seed.unwrap_or_else(random_seed);
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events_tx, events_rx) = mpsc::channel(self.event_capacity);
        let driver = Driver {
            endpoint: Endpoint::new(endpoint_cfg),
            cfg: Arc::new(self.connections),
            limits,
            cmd_rx,
            net_rx,
            net_tx,
            events_tx,
            udp: udp_sockets,
            tls_client,
            tasks,
        };
        tokio::spawn(driver.run());
        let handle = Handle {
            cmd: cmd_tx,
            local: local.into(),
        };
        Ok((handle, EventStream { rx: events_rx }))
    }
}

/// 64 unpredictable bits: SipHash under the process's random keys.
fn random_seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// Commands to a running runtime. Cheap to clone; the runtime stops when
/// [`Handle::shutdown`] is called or every handle is dropped.
#[derive(Debug, Clone)]
pub struct Handle {
    cmd: mpsc::Sender<Command>,
    local: Arc<[(TransportKind, SocketAddr)]>,
}

impl Handle {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(make(tx)).await.map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)
    }

    /// Sends a request in a new client transaction (RFC 3261 §17.1). Its top Via needs a
    /// branch from [`Handle::new_branch`]. For a stream transport, leave `flow.conn` `None`
    /// to reuse a connection to `flow.remote` or open one. The outcome arrives as
    /// [`Event::Response`], [`Event::Timeout`] or [`Event::TransportError`].
    pub async fn send_request(&self, request: Request, flow: Flow) -> Result<ClientTxId, Error> {
        let r = self
            .ask(|reply| Command::SendRequest {
                request,
                flow,
                reply,
            })
            .await?;
        Ok(r?)
    }

    /// Answers the request of a server transaction ([`Event::Request`]); the response goes
    /// where RFC 3261 §18.2.2 says.
    pub async fn respond(&self, tx: ServerTxId, response: Response) -> Result<(), Error> {
        let r = self
            .ask(|reply| Command::Respond {
                tx,
                response,
                reply,
            })
            .await?;
        Ok(r?)
    }

    /// Sends a message outside any transaction: the ACK of a 2xx, a 2xx retransmitted by the
    /// UAS core (RFC 3261 §13.3.1.4).
    pub async fn send_stateless(&self, flow: Flow, message: Message) -> Result<(), Error> {
        self.cmd
            .send(Command::SendStateless { flow, message })
            .await
            .map_err(|_| Error::Closed)
    }

    /// A fresh Via branch with the magic cookie (RFC 3261 §8.1.1.7).
    pub async fn new_branch(&self) -> Result<String, Error> {
        self.ask(Command::NewBranch).await
    }

    /// A fresh From or To tag (RFC 3261 §19.3).
    pub async fn new_tag(&self) -> Result<String, Error> {
        self.ask(Command::NewTag).await
    }

    /// Open connections and live transactions.
    pub async fn stats(&self) -> Result<Stats, Error> {
        self.ask(Command::Stats).await
    }

    /// The address of the first listener of `kind` (its real port when bound to port 0).
    pub fn local_addr(&self, kind: TransportKind) -> Option<SocketAddr> {
        self.local_addrs(kind).next()
    }

    /// The addresses of every listener of `kind`.
    pub fn local_addrs(&self, kind: TransportKind) -> impl Iterator<Item = SocketAddr> + '_ {
        self.local
            .iter()
            .filter(move |(k, _)| *k == kind)
            .map(|&(_, a)| a)
    }

    /// Stops the runtime: closes every socket and connection and ends every task it started,
    /// then returns. The [`EventStream`] ends. Calling it again does nothing.
    pub async fn shutdown(&self) {
        let _ = self.ask(Command::Shutdown).await;
    }
}

/// The core's events ([`Event`]), in order. Ends when the runtime stops.
#[derive(Debug)]
pub struct EventStream {
    rx: mpsc::Receiver<Event>,
}

impl EventStream {
    /// The next event; `None` once the runtime has stopped.
    pub async fn next_event(&mut self) -> Option<Event> {
        self.rx.recv().await
    }

    /// Polls for the next event.
    pub fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

impl futures_util::Stream for EventStream {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.get_mut().rx.poll_recv(cx)
    }
}
