//! The embeddable server: [`Server::builder`] binds the listeners, starts a
//! [`ServerCore`] on the sipline runtime, and returns a [`Server`] handle.

use std::net::SocketAddr;
use std::time::Duration;

use sipline_proto::TransportKind;
use sipline_tokio::{Handle, Runtime, TlsServerConfig};
use tokio::sync::{Mutex, mpsc};

use crate::location::Registration;
use crate::proxy::{ServerConfig, ServerCore, ServerEvent};
use crate::registrar::RegistrarConfig;
use crate::users::Users;

/// Events kept for [`Server::next_event`] when nobody reads them; older ones are dropped
/// (an embedded server need not be watched).
const EVENT_BACKLOG: usize = 1024;

/// Why the server could not start or a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The runtime failed: a listener could not be bound ([`sipline_tokio::Error::Bind`]
    /// says which), a TLS configuration is bad, or it has shut down.
    #[error(transparent)]
    Runtime(#[from] sipline_tokio::Error),
    /// No listener was configured.
    #[error("the server needs at least one listener (udp, tcp, tls, ws or wss)")]
    NoListener,
}

/// Configures a [`Server`]: listeners, domain, users, limits. Start it with
/// [`ServerBuilder::start`].
#[derive(Debug, Default)]
pub struct ServerBuilder {
    listen: Vec<(TransportKind, SocketAddr, Option<TlsServerConfig>)>,
    cfg: ServerConfig,
    seed: Option<u64>,
}

impl ServerBuilder {
    /// Listens for SIP over UDP on `addr` (port 0: any free port).
    pub fn udp(mut self, addr: SocketAddr) -> Self {
        self.listen.push((TransportKind::Udp, addr, None));
        self
    }

    /// Listens for SIP over TCP.
    pub fn tcp(mut self, addr: SocketAddr) -> Self {
        self.listen.push((TransportKind::Tcp, addr, None));
        self
    }

    /// Listens for SIP over TLS with this certificate and key.
    pub fn tls(mut self, addr: SocketAddr, cfg: TlsServerConfig) -> Self {
        self.listen.push((TransportKind::Tls, addr, Some(cfg)));
        self
    }

    /// Listens for SIP over WebSocket (RFC 7118).
    pub fn ws(mut self, addr: SocketAddr) -> Self {
        self.listen.push((TransportKind::Ws, addr, None));
        self
    }

    /// Listens for SIP over secure WebSocket (RFC 7118).
    pub fn wss(mut self, addr: SocketAddr, cfg: TlsServerConfig) -> Self {
        self.listen.push((TransportKind::Wss, addr, Some(cfg)));
        self
    }

    /// Our domain: requests for it (and for our listener addresses) are ours; also the
    /// digest realm (RFC 3261 §22.1).
    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.cfg.domain = Some(domain.into());
        self
    }

    /// Who may register (digest, RFC 3261 §22); without it, registration is open.
    pub fn users(mut self, users: Users) -> Self {
        self.cfg.users = Some(users);
        self
    }

    /// Registrar expiry policy and limits.
    pub fn registrar(mut self, cfg: RegistrarConfig) -> Self {
        self.cfg.registrar = cfg;
        self
    }

    /// Most requests proxied at once (default 10,000; past it, 503).
    pub fn max_proxied(mut self, n: usize) -> Self {
        self.cfg.proxy.max_proxied = n;
        self
    }

    /// Most live transactions (default 100,000; past it, stateless 503).
    pub fn max_transactions(mut self, n: usize) -> Self {
        self.cfg.endpoint.max_transactions = n;
        self
    }

    /// The largest request forwarded over UDP (default 1300 bytes); a larger one goes over
    /// TCP (RFC 3261 §18.1.1, falling back to UDP if the TCP connection fails). `None` keeps
    /// UDP whatever the size: for paths known to carry large datagrams, such as loopback.
    pub fn udp_max_request(mut self, bytes: Option<usize>) -> Self {
        self.cfg.endpoint.udp_max_request = bytes;
        self
    }

    /// Timer C (RFC 3261 §16.8), default 181 s.
    pub fn timer_c(mut self, d: Duration) -> Self {
        self.cfg.proxy.timer_c = d;
        self
    }

    /// The whole core configuration at once.
    pub fn config(mut self, cfg: ServerConfig) -> Self {
        self.cfg = cfg;
        self
    }

    /// A fixed seed for branches, tags and the nonce key (tests); random by default.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Binds every listener and starts the server. Must be called within a tokio runtime.
    pub async fn start(self) -> Result<Server, Error> {
        if self.listen.is_empty() {
            return Err(Error::NoListener);
        }
        let mut rt = Runtime::builder();
        for (kind, addr, tls) in self.listen {
            rt = match (kind, tls) {
                (TransportKind::Tls, Some(c)) => rt.tls(addr, c),
                (TransportKind::Wss, Some(c)) => rt.wss(addr, c),
                (TransportKind::Tcp, _) => rt.tcp(addr),
                (TransportKind::Ws, _) => rt.ws(addr),
                _ => rt.udp(addr),
            };
        }
        if let Some(s) = self.seed {
            rt = rt.seed(s);
        }
        let mut cfg = self.cfg;
        let (handle, mut events) = rt
            .start_with(move |bound| {
                cfg.endpoint.seed = bound.seed();
                ServerCore::new(cfg, bound.iter().collect())
            })
            .await?;
        // Events are read here so an unwatched server never queues them without bound.
        let (tx, rx) = mpsc::channel(EVENT_BACKLOG);
        tokio::spawn(async move {
            while let Some(ev) = events.next_event().await {
                let _ = tx.try_send(ev);
            }
        });
        Ok(Server {
            handle,
            events: Mutex::new(rx),
        })
    }
}

/// A running registrar and proxy. Stops with [`Server::shutdown`] or when dropped.
#[derive(Debug)]
pub struct Server {
    handle: Handle<ServerCore>,
    events: Mutex<mpsc::Receiver<ServerEvent>>,
}

impl Server {
    /// Starts configuring a server.
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// The bound address of the first listener of `kind` (its real port for port 0).
    pub fn local_addr(&self, kind: TransportKind) -> Option<SocketAddr> {
        self.handle.local_addr(kind)
    }

    /// The live registrations, sorted by AOR and contact.
    pub async fn registrations(&self) -> Result<Vec<Registration>, Error> {
        Ok(self
            .handle
            .with(|core: &mut ServerCore, now| core.registrations(now))
            .await?)
    }

    /// The next registration change or routed request; `None` once the server stopped.
    /// Up to 1024 unread events are kept.
    pub async fn next_event(&self) -> Option<ServerEvent> {
        self.events.lock().await.recv().await
    }

    /// Stops the server: listeners and connections close.
    pub async fn shutdown(&self) {
        self.handle.shutdown().await;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let h = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { h.shutdown().await });
        }
    }
}
