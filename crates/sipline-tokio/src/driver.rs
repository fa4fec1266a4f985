//! The driver task: owns the sans-IO [`Core`] (an [`Endpoint`](sipline_proto::Endpoint), a
//! [`UaCore`](sipline_proto::UaCore), ...), feeds it what the sockets received, the commands of
//! the [`Handle`](crate::Handle)s and its deadline, and carries out its outputs: transmits to
//! sockets and connections, events to the [`EventStream`](crate::EventStream).
//!
//! One `sleep_until`, reset to the deadline `poll_output` returns, is the only timer; the core
//! never reads a clock, it gets `tokio::time::Instant::now().into_std()` with every input.
//!
//! Connections (RFC 3261 §18): a transmit naming a connection goes on it (§18.2.2: responses
//! return on the request's connection); one without a connection reuses any open connection
//! to the same remote address and transport — one accepted from X also serves requests to X —
//! or opens one (§18.1.1). Whenever a connection ends or cannot be opened,
//! `Input::TransportFailed` tells the core, which fails the client transactions using it
//! (§17.1.4).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use sipline_proto::{
    ConnId, Flow, Input, Limits, Message, Receive, Transmit, TransportFailure, TransportKind,
    parse_message,
};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::Sleep;
use tokio_rustls::TlsAcceptor;

use crate::config::ConnectionConfig;
use crate::conn::{Conn, ConnError, Outgoing, Setup};
use crate::core::{Core, CoreOutput};
use crate::tls::TlsClient;

/// What socket and connection tasks tell the driver.
pub(crate) enum NetEvent {
    /// A datagram, or a message cut from a connection.
    Received { flow: Flow, payload: Bytes },
    /// A listener accepted a connection.
    Accepted {
        kind: TransportKind,
        stream: TcpStream,
        remote: SocketAddr,
        tls: Option<TlsAcceptor>,
    },
    /// A connection ended, or could not be set up (`flow.conn` names it).
    Closed { flow: Flow, reason: ConnError },
}

/// A closure run on the core inside the driver task, with the current instant; it sends its
/// own result back.
pub(crate) type CoreFn<C> = Box<dyn FnOnce(&mut C, std::time::Instant) + Send>;

/// What a [`Handle`](crate::Handle) asks of the driver.
pub(crate) enum Command<C> {
    /// Run a closure on the core (every core-specific command).
    Run(CoreFn<C>),
    Stats(oneshot::Sender<Stats>),
    Shutdown(oneshot::Sender<()>),
}

/// A snapshot of the runtime's state, from [`Handle::stats`](crate::Handle::stats).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// Open (or opening) stream connections.
    pub connections: usize,
    /// Live transactions in the core.
    pub transactions: usize,
    /// Connections closed because their peer did not read (a full write queue), since start.
    pub closed_slow: u64,
}

/// An open connection as the driver sees it.
struct ConnEntry {
    flow: Flow,
    queue: mpsc::Sender<Outgoing>,
    task: AbortHandle,
}

/// Everything the driver is made of; built by [`RuntimeBuilder::start`](crate::RuntimeBuilder::start).
pub(crate) struct Driver<C: Core> {
    pub(crate) core: C,
    pub(crate) cfg: Arc<ConnectionConfig>,
    pub(crate) limits: Limits,
    pub(crate) cmd_rx: mpsc::Receiver<Command<C>>,
    pub(crate) net_rx: mpsc::Receiver<NetEvent>,
    pub(crate) net_tx: mpsc::Sender<NetEvent>,
    pub(crate) events_tx: mpsc::Sender<C::Event>,
    /// The UDP sockets, with whether each is IPv4 (read once: asking the socket costs a
    /// system call per datagram).
    pub(crate) udp: Vec<(Arc<UdpSocket>, bool)>,
    pub(crate) tls_client: Option<TlsClient>,
    /// Socket, listener and connection tasks; aborted and awaited on shutdown.
    pub(crate) tasks: JoinSet<()>,
}

/// What woke the driver up.
enum Step<C> {
    Command(Option<Command<C>>),
    Net(NetEvent),
    Timeout,
    Nothing,
}

/// The driver's running state.
struct State<C: Core> {
    d: Driver<C>,
    conns: HashMap<ConnId, ConnEntry>,
    by_remote: HashMap<(TransportKind, SocketAddr), Vec<ConnId>>,
    next_conn: u64,
    /// Events waiting for room in the event channel; while any wait, no network input is
    /// read, so a slow application slows the peers down instead of growing this queue.
    pending: VecDeque<C::Event>,
    sleep: Pin<Box<Sleep>>,
    deadline: Option<std::time::Instant>,
    closed_slow: u64,
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl<C: Core> Driver<C> {
    /// Runs until shutdown, or until every [`Handle`](crate::Handle) is gone.
    pub(crate) async fn run(self) {
        let mut st = State {
            d: self,
            conns: HashMap::new(),
            by_remote: HashMap::new(),
            next_conn: 1,
            pending: VecDeque::new(),
            sleep: Box::pin(tokio::time::sleep(std::time::Duration::ZERO)),
            deadline: None,
            closed_slow: 0,
        };
        let reply = st.main_loop().await;
        st.d.tasks.shutdown().await;
        drop(st);
        tracing::debug!("SIP runtime stopped");
        if let Some(reply) = reply {
            let _ = reply.send(());
        }
    }
}

impl<C: Core> State<C> {
    async fn main_loop(&mut self) -> Option<oneshot::Sender<()>> {
        loop {
            self.drain();
            let armed = self.deadline.is_some();
            let events_waiting = !self.pending.is_empty();
            let step = tokio::select! {
                cmd = self.d.cmd_rx.recv() => Step::Command(cmd),
                permit = self.d.events_tx.reserve(), if events_waiting => {
                    match permit {
                        Ok(permit) => {
                            if let Some(ev) = self.pending.pop_front() {
                                permit.send(ev);
                            }
                        }
                        // Nobody listens any more: drop the events rather than stall.
                        Err(_) => self.pending.clear(),
                    }
                    Step::Nothing
                },
                // The driver holds a sender itself: this channel never closes.
                Some(ev) = self.d.net_rx.recv(), if !events_waiting => Step::Net(ev),
                Some(done) = self.d.tasks.join_next(), if !self.d.tasks.is_empty() => {
                    if let Err(e) = done
                        && e.is_panic()
                    {
                        tracing::error!(error = %e, "a transport task panicked");
                    }
                    Step::Nothing
                },
                () = &mut self.sleep, if armed => Step::Timeout,
            };
            match step {
                Step::Command(None) => return None,
                Step::Command(Some(Command::Shutdown(reply))) => return Some(reply),
                Step::Command(Some(cmd)) => self.command(cmd),
                Step::Net(ev) => self.net(ev),
                Step::Timeout => {
                    self.deadline = None;
                    self.d.core.handle_input(now(), Input::Timeout);
                }
                Step::Nothing => {}
            }
        }
    }

    /// Carries out the core's outputs until it returns its deadline; resets the one sleep to
    /// it.
    fn drain(&mut self) {
        loop {
            match self.d.core.poll_output() {
                CoreOutput::Transmit(t) => self.transmit(t),
                CoreOutput::Event(ev) => self.emit(ev),
                CoreOutput::Timeout(deadline) => {
                    if deadline != self.deadline {
                        if let Some(at) = deadline {
                            self.sleep
                                .as_mut()
                                .reset(tokio::time::Instant::from_std(at));
                        }
                        self.deadline = deadline;
                    }
                    return;
                }
            }
        }
    }

    fn emit(&mut self, ev: C::Event) {
        if !self.pending.is_empty() {
            self.pending.push_back(ev);
            return;
        }
        match self.d.events_tx.try_send(ev) {
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(ev)) => self.pending.push_back(ev),
        }
    }

    fn fail(&mut self, flow: Flow, reason: TransportFailure) {
        self.d
            .core
            .handle_input(now(), Input::TransportFailed(flow, reason));
    }

    // ---- commands ----------------------------------------------------------------------

    fn command(&mut self, cmd: Command<C>) {
        match cmd {
            Command::Run(f) => f(&mut self.d.core, now()),
            Command::Stats(reply) => {
                let _ = reply.send(Stats {
                    connections: self.conns.len(),
                    transactions: self.d.core.transactions(),
                    closed_slow: self.closed_slow,
                });
            }
            // Handled by the loop.
            Command::Shutdown(_) => {}
        }
    }

    // ---- network input -----------------------------------------------------------------

    fn net(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Received { flow, payload } => {
                if flow.conn.is_some_and(|c| !self.conns.contains_key(&c)) {
                    return; // sent before we closed that connection
                }
                tracing::debug!(
                    target: "sipline::wire",
                    transport = %flow.transport,
                    remote = %flow.remote,
                    conn = ?flow.conn.map(|c| c.0),
                    len = payload.len(),
                    "recv\n{}",
                    String::from_utf8_lossy(&payload)
                );
                self.d
                    .core
                    .handle_input(now(), Input::Receive(Receive { flow, payload }));
            }
            NetEvent::Accepted {
                kind,
                stream,
                remote,
                tls,
            } => {
                if self.conns.len() >= self.d.cfg.max_connections {
                    tracing::warn!(%kind, %remote, max = self.d.cfg.max_connections, "connection limit reached, connection refused");
                    return;
                }
                let id = self.start_conn(kind, remote, Setup::Accepted { stream, tls }, false);
                tracing::debug!(%kind, %remote, conn = id.0, "connection accepted");
            }
            NetEvent::Closed { flow, reason } => {
                let Some(id) = flow.conn else { return };
                if self.remove_conn(id).is_none() {
                    return; // already closed by us
                }
                if reason.is_normal() {
                    tracing::debug!(transport = %flow.transport, remote = %flow.remote, conn = id.0, %reason, "connection closed");
                } else {
                    tracing::warn!(transport = %flow.transport, remote = %flow.remote, conn = id.0, %reason, "connection failed");
                }
                self.fail(flow, reason.failure());
            }
        }
    }

    // ---- transmitting ------------------------------------------------------------------

    fn transmit(&mut self, t: Transmit) {
        let flow = t.flow;
        tracing::debug!(
            target: "sipline::wire",
            transport = %flow.transport,
            remote = %flow.remote,
            conn = ?flow.conn.map(|c| c.0),
            len = t.payload.len(),
            "send\n{}",
            String::from_utf8_lossy(&t.payload)
        );
        if flow.transport == TransportKind::Udp {
            self.send_udp(flow, &t.payload);
        } else {
            self.send_stream(flow, t.payload);
        }
    }

    fn send_udp(&mut self, flow: Flow, payload: &[u8]) {
        let socket = self
            .d
            .udp
            .iter()
            .find(|(_, v4)| *v4 == flow.remote.is_ipv4())
            .map(|(s, _)| s);
        let result = match socket {
            Some(s) => crate::udp::send(s, payload, flow.remote),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::AddrNotAvailable,
                "no UDP socket of that address family",
            )),
        };
        if let Err(e) = result {
            tracing::warn!(remote = %flow.remote, error = %e, "UDP send failed");
            self.fail(flow, TransportFailure::SendFailed);
        }
    }

    fn send_stream(&mut self, flow: Flow, payload: Bytes) {
        let kind = flow.transport;
        let open = flow
            .conn
            .filter(|c| self.conns.contains_key(c))
            .or_else(|| self.find_conn(kind, flow.remote));
        let id = match open {
            Some(id) => id,
            None => {
                // A request goes to its remote address. A response whose request's
                // connection is gone goes, per §18.2.2, to a new connection to `received`
                // (else the sent-by host) and the sent-by port.
                let target = if flow.conn.is_some() && payload.starts_with(b"SIP/") {
                    self.response_target(kind, &payload)
                } else {
                    Some(flow.remote)
                };
                let Some(remote) = target else {
                    tracing::warn!(%kind, remote = %flow.remote, "connection gone, message dropped");
                    self.fail(flow, TransportFailure::Closed);
                    return;
                };
                match self.open_conn(kind, remote) {
                    Ok(id) => id,
                    Err(why) => {
                        tracing::warn!(%kind, %remote, why, "cannot open a connection");
                        self.fail(
                            Flow {
                                transport: kind,
                                remote,
                                conn: None,
                            },
                            TransportFailure::ConnectFailed,
                        );
                        return;
                    }
                }
            }
        };
        let Some(entry) = self.conns.get(&id) else {
            return;
        };
        match entry.queue.try_send(Outgoing::Message(payload)) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(%kind, remote = %entry.flow.remote, conn = id.0, max = self.d.cfg.write_queue, "write queue full: the peer does not read, closing");
                self.closed_slow += 1;
                self.close_conn(id, TransportFailure::Overloaded);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.close_conn(id, TransportFailure::Closed)
            }
        }
    }

    /// Where §18.2.2 sends a response whose connection closed: TCP and TLS only (a WebSocket
    /// client cannot be connected to).
    fn response_target(&self, kind: TransportKind, payload: &Bytes) -> Option<SocketAddr> {
        if !matches!(kind, TransportKind::Tcp | TransportKind::Tls) {
            return None;
        }
        let Ok(Message::Response(resp)) = parse_message(payload.clone(), &self.d.limits) else {
            return None;
        };
        let via = resp.headers.top_via().ok()?;
        let host = via
            .received()
            .unwrap_or(via.host)
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok()?;
        Some(SocketAddr::new(
            host,
            via.port.unwrap_or(kind.default_port()),
        ))
    }

    fn find_conn(&self, kind: TransportKind, remote: SocketAddr) -> Option<ConnId> {
        self.by_remote
            .get(&(kind, remote))
            .and_then(|ids| ids.last().copied())
    }

    fn open_conn(
        &mut self,
        kind: TransportKind,
        remote: SocketAddr,
    ) -> Result<ConnId, &'static str> {
        if self.conns.len() >= self.d.cfg.max_connections {
            return Err("connection limit reached");
        }
        let tls = if kind.is_secure() {
            let client = self
                .d
                .tls_client
                .as_ref()
                .ok_or("no TLS client configuration (RuntimeBuilder::tls_client)")?;
            Some((client.connector.clone(), client.name_for(remote)))
        } else {
            None
        };
        let id = self.start_conn(kind, remote, Setup::Connect { tls }, true);
        tracing::debug!(%kind, %remote, conn = id.0, "connecting");
        Ok(id)
    }

    fn start_conn(
        &mut self,
        kind: TransportKind,
        remote: SocketAddr,
        setup: Setup,
        outbound: bool,
    ) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let flow = Flow {
            transport: kind,
            remote,
            conn: Some(id),
        };
        let (queue_tx, queue_rx) = mpsc::channel(self.d.cfg.write_queue.max(1));
        let conn = Conn {
            flow,
            net_tx: self.d.net_tx.clone(),
            queue_tx: queue_tx.clone(),
            cfg: self.d.cfg.clone(),
            limits: self.d.limits,
            outbound,
        };
        let task = self.d.tasks.spawn(conn.run(setup, queue_rx));
        self.conns.insert(
            id,
            ConnEntry {
                flow,
                queue: queue_tx,
                task,
            },
        );
        self.by_remote.entry((kind, remote)).or_default().push(id);
        id
    }

    fn remove_conn(&mut self, id: ConnId) -> Option<ConnEntry> {
        let entry = self.conns.remove(&id)?;
        let key = (entry.flow.transport, entry.flow.remote);
        if let Some(ids) = self.by_remote.get_mut(&key) {
            ids.retain(|&c| c != id);
            if ids.is_empty() {
                self.by_remote.remove(&key);
            }
        }
        Some(entry)
    }

    /// Closes a connection now (its task is aborted) and fails its flow.
    fn close_conn(&mut self, id: ConnId, reason: TransportFailure) {
        if let Some(entry) = self.remove_conn(id) {
            entry.task.abort();
            self.fail(entry.flow, reason);
        }
    }
}
