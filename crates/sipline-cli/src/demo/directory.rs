//! How the three parties find each other: the embedded registrar and proxy
//! (`sipline-server`, RFC 3261 §10 and §16) on 127.0.0.1, where each party registers its
//! address of record `sip:NAME@sipline.demo` with digest authentication, and through which
//! every call, PRACK, REFER and NOTIFY goes (the proxy Record-Routes, RFC 3261 §16.6).

use std::net::SocketAddr;
use std::time::Duration;

use sipline::{TransportKind, Ua, UaEvent};
use sipline_server::{Server, Users};

use super::report::Check;

/// The parties, in the order the script starts them.
pub(crate) const PARTIES: [&str; 3] = ["alice", "bob", "carol"];

/// The ladder's columns: the parties with the server between alice and bob.
pub(crate) const COLUMNS: [&str; 4] = ["alice", "server", "bob", "carol"];

/// The server's domain: the parties' addresses of record are `sip:NAME@sipline.demo`.
pub(crate) const DOMAIN: &str = "sipline.demo";

/// Each party's digest password at the embedded registrar.
pub(crate) fn password(name: &str) -> String {
    format!("{name}-demo-secret")
}

/// Starts the embedded registrar and proxy on 127.0.0.1 (UDP, a port the OS picks), with
/// the three parties as its only users.
pub(crate) async fn start_server() -> Result<Server, String> {
    let users: String = PARTIES
        .iter()
        .map(|n| format!("{n}:{}\n", password(n)))
        .collect();
    let users = Users::parse(&users).map_err(|e| format!("the demo's users: {e}"))?;
    Server::builder()
        .udp(SocketAddr::from(([127, 0, 0, 1], 0)))
        .domain(DOMAIN)
        .users(users)
        // Loopback carries 64 KiB datagrams: the ~2 KB WebRTC INVITEs stay on UDP (the
        // parties listen on UDP only), as the parties' own requests do.
        .udp_max_request(None)
        .start()
        .await
        .map_err(|e| {
            format!(
                "cannot start the embedded server on 127.0.0.1: {e} (the demo needs the \
                 loopback interface up and a free UDP port; check `ip addr show lo`)"
            )
        })
}

/// Where each party is reached.
#[derive(Debug, Clone)]
pub(crate) struct Directory {
    /// The ladder columns' signalling addresses (UDP), by [`COLUMNS`] index.
    addrs: Vec<SocketAddr>,
}

impl Directory {
    /// The directory of the running server and user agents (in [`PARTIES`] order).
    pub(crate) fn of(server: SocketAddr, uas: &[Ua]) -> Result<Self, String> {
        let mut addrs = uas
            .iter()
            .zip(PARTIES)
            .map(|(ua, name)| {
                ua.local_addr(TransportKind::Udp)
                    .ok_or_else(|| format!("{name} has no UDP address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        addrs.insert(1, server);
        Ok(Self { addrs })
    }

    /// The URI to call `name` at: its address of record at the server.
    pub(crate) fn uri(&self, name: &str) -> String {
        format!("sip:{name}@{DOMAIN}")
    }

    /// The signalling addresses, in [`COLUMNS`] order (to name the ladder's columns).
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }
}

/// Registers the parties (REGISTER, 401, REGISTER with credentials, 200: RFC 3261 §10.2,
/// §22) and checks that each registration was accepted.
pub(crate) async fn register(uas: &[Ua]) -> Vec<Check> {
    let mut checks = Vec::new();
    for (ua, name) in uas.iter().zip(PARTIES) {
        let outcome = match ua.register().await {
            // The registration also comes as an event; take it so the script's next event
            // of this user agent is its call.
            Ok(()) => match tokio::time::timeout(Duration::from_secs(5), ua.next_event()).await {
                Ok(Some(UaEvent::Registered { expires })) => Ok(expires),
                other => Err(format!("expected the Registered event, got {other:?}")),
            },
            Err(e) => Err(e.to_string()),
        };
        checks.push(match outcome {
            Ok(expires) => Check::new(
                format!("{name} registers"),
                true,
                "200 OK with digest auth",
                format!("registered as sip:{name}@{DOMAIN} for {expires} s"),
            ),
            Err(e) => Check::new(
                format!("{name} registers"),
                false,
                "200 OK with digest auth",
                e,
            ),
        });
    }
    checks
}
