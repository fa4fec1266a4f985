//! How the three parties find each other, and registering.
//!
//! **This is the one place that changes when the embedded server (`sipline-server`,
//! registrar + proxy) arrives.** Today there is no server: each user agent listens on
//! 127.0.0.1 at a port the OS picked, and callers address each other directly
//! (`sip:bob@127.0.0.1:PORT`), so [`register`] does nothing and reports a *skipped* check,
//! which never counts as passed. With the server, [`Directory::uri`] becomes the address of
//! record (`sip:bob@<server>`, RFC 3261 §10), each user agent gets the server as registrar
//! and outbound proxy, and [`register`] sends the REGISTERs (RFC 3261 §10.2) and checks
//! their 200s.

use std::net::SocketAddr;

use sipline::{TransportKind, Ua};

use super::report::Check;

/// The parties, in ladder column order.
pub(crate) const PARTIES: [&str; 3] = ["alice", "bob", "carol"];

/// Where each party is reached.
#[derive(Debug, Clone)]
pub(crate) struct Directory {
    /// Each party's signalling address (UDP), by [`PARTIES`] index.
    addrs: Vec<SocketAddr>,
}

impl Directory {
    /// The directory of the running user agents, in [`PARTIES`] order.
    pub(crate) fn of(uas: &[Ua]) -> Result<Self, String> {
        let addrs = uas
            .iter()
            .zip(PARTIES)
            .map(|(ua, name)| {
                ua.local_addr(TransportKind::Udp)
                    .ok_or_else(|| format!("{name} has no UDP address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { addrs })
    }

    /// The URI to call `name` at. Today its own address; with the server, its address of
    /// record at the server.
    pub(crate) fn uri(&self, name: &str) -> String {
        match PARTIES.iter().position(|p| *p == name) {
            Some(i) => format!("sip:{name}@{}", self.addrs[i]),
            None => format!("sip:{name}@127.0.0.1"),
        }
    }

    /// The signalling addresses, in [`PARTIES`] order (to name the ladder's columns).
    pub(crate) fn addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }
}

/// Registers the parties. Today: nothing to register with, one skipped check.
pub(crate) async fn register(_uas: &[Ua]) -> Vec<Check> {
    vec![Check::skipped(
        "register alice, bob, carol",
        "no server yet: the parties call each other by address",
    )]
}
