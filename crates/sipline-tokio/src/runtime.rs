//! The public face: [`Runtime::builder`] binds the listeners and starts the driver around a
//! sans-IO [`Core`]; [`Handle`] sends commands to it; [`EventStream`] delivers the core's
//! events.

use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use sipline_proto::{
    ClientTxId, Endpoint, EndpointConfig, Event, Flow, Message, Request, Response, ServerTxId,
    TransportKind,
};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::config::ConnectionConfig;
use crate::core::{BoundAddrs, Core};
use crate::driver::{Command, CoreFn, Driver, Stats};
use crate::error::Error;
use crate::tls::{TlsClientConfig, TlsServerConfig};
use crate::{stream, udp};

/// Commands waiting for the driver, per runtime.
const COMMAND_QUEUE: usize = 256;
/// Network inputs (datagrams, framed messages, accepted connections) waiting for the driver.
const NET_QUEUE: usize = 1024;

/// The sipline runtime on tokio: sockets, connections, timers and the driver task around a
/// sans-IO [`Core`]: an [`Endpoint`] ([`RuntimeBuilder::start`]) or any other core, such as
/// a [`UaCore`](sipline_proto::UaCore) ([`RuntimeBuilder::start_with`]). Start one with
/// [`Runtime::builder`].
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

    /// The [`Endpoint`]'s configuration, for [`RuntimeBuilder::start`]. Its `seed` is
    /// replaced by a random one unless [`RuntimeBuilder::seed`] fixes it.
    /// [`RuntimeBuilder::start_with`] ignores it: its closure configures the core.
    pub fn endpoint_config(mut self, cfg: EndpointConfig) -> Self {
        self.endpoint = cfg;
        self
    }

    /// A fixed seed for branches and tags, for reproducible tests; with
    /// [`RuntimeBuilder::start_with`] the closure finds it in [`BoundAddrs::seed`].
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

    /// Binds every listener and starts the driver around an [`Endpoint`] configured with
    /// [`RuntimeBuilder::endpoint_config`]. Must be called within a tokio runtime.
    pub async fn start(self) -> Result<(Handle, EventStream), Error> {
        let mut cfg = self.endpoint.clone();
        self.start_with(move |bound| {
            cfg.seed = bound.seed();
            Endpoint::new(cfg)
        })
        .await
    }

    /// Binds every listener, then builds the core with `build`, which learns the bound
    /// addresses (real ports, also for port 0) and the seed for branches and tags, and
    /// starts the driver around it. Must be called within a tokio runtime.
    ///
    /// The core's [`Core::limits`] bound the size of the messages the transports read.
    ///
    /// ```
    /// use sipline_proto::{TransportKind, UaCore};
    /// use sipline_tokio::Runtime;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let any = "127.0.0.1:0".parse()?;
    /// let (ua, mut events) = Runtime::builder()
    ///     .udp(any)
    ///     .tcp(any)
    ///     .start_with(|bound| {
    ///         // Via sent-by and Contact per transport carry the ports just bound.
    ///         let mut cfg = bound.ua_config("\"Alice\" <sip:alice@example.com>", "alice");
    ///         cfg.user_agent = Some("doc-example".into());
    ///         UaCore::new(cfg)
    ///     })
    ///     .await?;
    /// let port = ua.local_addr(TransportKind::Tcp).ok_or("no TCP")?.port();
    ///
    /// // Commands run on the core inside the driver task; e.g. a call:
    /// // `let session = ua.with(move |core, now| core.invite(now, params)).await??;`
    /// let contact = ua
    ///     .with(|core: &mut UaCore, _now| {
    ///         let tcp = core.config().transports.iter().find(|t| t.kind == TransportKind::Tcp);
    ///         tcp.map(|t| t.contact.clone())
    ///     })
    ///     .await?;
    /// assert_eq!(contact, Some(format!("<sip:alice@127.0.0.1:{port};transport=tcp>")));
    ///
    /// ua.shutdown().await;
    /// assert!(events.next_event().await.is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn start_with<C, F>(
        self,
        build: F,
    ) -> Result<(Handle<C>, EventStream<C::Event>), Error>
    where
        C: Core,
        F: FnOnce(&BoundAddrs) -> C,
    {
        let tls_client = self.tls_client.as_ref().map(|c| c.build()).transpose()?;
        // Bind everything first: the core needs the addresses.
        let mut local = Vec::new();
        let mut bound = Vec::new();
        for l in self.listen {
            let bind_err = |source| Error::Bind {
                transport: l.kind,
                addr: l.addr,
                source,
            };
            if l.kind == TransportKind::Udp {
                let socket = Arc::new(udp::bind(l.addr).await.map_err(bind_err)?);
                local.push((l.kind, socket.local_addr().map_err(bind_err)?));
                bound.push(Bound::Udp(socket));
            } else {
                let listener = stream::bind(l.addr).map_err(bind_err)?;
                local.push((l.kind, listener.local_addr().map_err(bind_err)?));
                let acceptor = l.tls.as_ref().map(TlsServerConfig::acceptor);
                bound.push(Bound::Stream(l.kind, listener, acceptor));
            }
        }
        let addrs = BoundAddrs {
            local: local.into(),
            seed: self.seed.unwrap_or_else(random_seed),
        };
        let core = build(&addrs);
        let limits = core.limits();
        let (net_tx, net_rx) = mpsc::channel(NET_QUEUE);
        let mut tasks = JoinSet::new();
        let mut udp_sockets = Vec::new();
        for b in bound {
            match b {
                Bound::Udp(socket) => {
                    tasks.spawn(udp::recv_loop(
                        socket.clone(),
                        limits.max_message_size,
                        net_tx.clone(),
                    ));
                    // It was bound above, so its address is known; read once here.
                    let v4 = socket.local_addr().map_or(true, |a| a.is_ipv4());
                    udp_sockets.push((socket, v4));
                }
                Bound::Stream(kind, listener, acceptor) => {
                    tasks.spawn(stream::accept_loop(
                        listener,
                        kind,
                        acceptor,
                        net_tx.clone(),
                    ));
                }
            }
        }
        for (kind, addr) in addrs.iter() {
            tracing::info!(%kind, %addr, "listening");
        }
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (events_tx, events_rx) = mpsc::channel(self.event_capacity);
        let driver = Driver {
            core,
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
            bound: addrs,
        };
        Ok((handle, EventStream { rx: events_rx }))
    }
}

/// A listener bound, its task not started yet.
enum Bound {
    Udp(Arc<UdpSocket>),
    Stream(
        TransportKind,
        TcpListener,
        Option<tokio_rustls::TlsAcceptor>,
    ),
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

/// Commands to a running runtime around core `C` ([`Endpoint`] unless named). Cheap to
/// clone; the runtime stops when [`Handle::shutdown`] is called or every handle is dropped.
pub struct Handle<C = Endpoint> {
    cmd: mpsc::Sender<Command<C>>,
    bound: BoundAddrs,
}

impl<C> Clone for Handle<C> {
    fn clone(&self) -> Self {
        Self {
            cmd: self.cmd.clone(),
            bound: self.bound.clone(),
        }
    }
}

impl<C> std::fmt::Debug for Handle<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("core", &std::any::type_name::<C>())
            .field("local", &self.bound.local)
            .finish_non_exhaustive()
    }
}

impl<C: Core> Handle<C> {
    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command<C>,
    ) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.cmd.send(make(tx)).await.map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)
    }

    /// Runs `f` on the core inside the driver task, with the current instant, and returns
    /// its result. The core's outputs (transmits, events, its new deadline) are carried out
    /// right after. This is how core-specific commands reach the core:
    /// `handle.with(move |ua: &mut UaCore, now| ua.invite(now, params)).await??`.
    ///
    /// `f` runs on the driver task: keep it short and non-blocking. A panic in it ends the
    /// runtime (every later command returns [`Error::Closed`]).
    pub async fn with<R, F>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce(&mut C, Instant) -> R + Send + 'static,
        R: Send + 'static,
    {
        self.ask(|reply| {
            let run: CoreFn<C> = Box::new(move |core, now| {
                let _ = reply.send(f(core, now));
            });
            Command::Run(run)
        })
        .await
    }

    /// Like [`Handle::with`], without waiting for the driver to run `f`.
    pub async fn with_nowait<F>(&self, f: F) -> Result<(), Error>
    where
        F: FnOnce(&mut C, Instant) + Send + 'static,
    {
        self.cmd
            .send(Command::Run(Box::new(f)))
            .await
            .map_err(|_| Error::Closed)
    }

    /// Open connections and live transactions.
    pub async fn stats(&self) -> Result<Stats, Error> {
        self.ask(Command::Stats).await
    }

    /// The address of the first listener of `kind` (its real port when bound to port 0).
    pub fn local_addr(&self, kind: TransportKind) -> Option<SocketAddr> {
        self.bound.local_addr(kind)
    }

    /// The addresses of every listener of `kind`.
    pub fn local_addrs(&self, kind: TransportKind) -> impl Iterator<Item = SocketAddr> + '_ {
        self.bound.local_addrs(kind)
    }

    /// Every listener with its bound address, and the seed the core got.
    pub fn bound_addrs(&self) -> &BoundAddrs {
        &self.bound
    }

    /// Stops the runtime: closes every socket and connection and ends every task it started,
    /// then returns. The [`EventStream`] ends. Calling it again does nothing.
    pub async fn shutdown(&self) {
        let _ = self.ask(Command::Shutdown).await;
    }
}

/// The commands of the transaction layer, for a runtime started with
/// [`RuntimeBuilder::start`].
impl Handle<Endpoint> {
    /// Sends a request in a new client transaction (RFC 3261 §17.1). Its top Via needs a
    /// branch from [`Handle::new_branch`]. For a stream transport, leave `flow.conn` `None`
    /// to reuse a connection to `flow.remote` or open one. The outcome arrives as
    /// [`Event::Response`], [`Event::Timeout`] or [`Event::TransportError`].
    pub async fn send_request(&self, request: Request, flow: Flow) -> Result<ClientTxId, Error> {
        let r = self
            .with(move |ep: &mut Endpoint, now| ep.send_request(now, request, flow))
            .await?;
        Ok(r?)
    }

    /// Answers the request of a server transaction ([`Event::Request`]); the response goes
    /// where RFC 3261 §18.2.2 says.
    pub async fn respond(&self, tx: ServerTxId, response: Response) -> Result<(), Error> {
        let r = self
            .with(move |ep: &mut Endpoint, now| ep.respond(now, tx, response))
            .await?;
        Ok(r?)
    }

    /// Sends a message outside any transaction: the ACK of a 2xx, a 2xx retransmitted by the
    /// UAS core (RFC 3261 §13.3.1.4).
    pub async fn send_stateless(&self, flow: Flow, message: Message) -> Result<(), Error> {
        self.with_nowait(move |ep: &mut Endpoint, _| ep.send_stateless(flow, &message))
            .await
    }

    /// A fresh Via branch with the magic cookie (RFC 3261 §8.1.1.7).
    pub async fn new_branch(&self) -> Result<String, Error> {
        self.with(|ep: &mut Endpoint, _| ep.new_branch()).await
    }

    /// A fresh From or To tag (RFC 3261 §19.3).
    pub async fn new_tag(&self) -> Result<String, Error> {
        self.with(|ep: &mut Endpoint, _| ep.new_tag()).await
    }
}

/// The core's events, in order: [`Event`]s of an [`Endpoint`], [`UaEvent`]s of a
/// [`UaCore`], ... Ends when the runtime stops.
///
/// [`UaEvent`]: sipline_proto::UaEvent
/// [`UaCore`]: sipline_proto::UaCore
#[derive(Debug)]
pub struct EventStream<E = Event> {
    rx: mpsc::Receiver<E>,
}

impl<E> EventStream<E> {
    /// The next event; `None` once the runtime has stopped.
    pub async fn next_event(&mut self) -> Option<E> {
        self.rx.recv().await
    }

    /// Polls for the next event.
    pub fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<E>> {
        self.rx.poll_recv(cx)
    }
}

impl<E> futures_util::Stream for EventStream<E> {
    type Item = E;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<E>> {
        self.get_mut().rx.poll_recv(cx)
    }
}
