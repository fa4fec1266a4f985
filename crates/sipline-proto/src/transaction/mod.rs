//! The transaction layer (RFC 3261 §17, with the RFC 6026 corrections).
//!
//! Four state machines, each in its own module and each a plain value driven by the
//! [`Endpoint`](crate::Endpoint): they never see a socket or a clock, only the `now` they are
//! given and the messages the endpoint matched to them (§17.1.3, §17.2.3, see the `key` module).

pub(crate) mod client_invite;
pub(crate) mod client_non_invite;
pub(crate) mod key;
pub(crate) mod server_invite;
pub(crate) mod server_non_invite;

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use crate::endpoint::Event;
use crate::input::{Flow, Output, Transmit};
use crate::timer::{Timer, TimerConfig, TimerQueue};

/// Identifies a transaction for as long as the endpoint lives (slot + generation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TxId {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

/// A client transaction (a request this endpoint sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientTxId(pub(crate) TxId);

/// A server transaction (a request this endpoint received).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerTxId(pub(crate) TxId);

impl std::fmt::Display for ClientTxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "client#{}.{}", self.0.slot, self.0.generation)
    }
}

impl std::fmt::Display for ServerTxId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "server#{}.{}", self.0.slot, self.0.generation)
    }
}

/// A timer entry: which transaction, which timer, when.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerEntry {
    pub(crate) at: Instant,
    pub(crate) tx: TxId,
    pub(crate) timer: Timer,
}

/// What a state machine may do: send, tell the TU, arm timers. Borrowed from the endpoint for
/// the duration of one call into a machine.
pub(crate) struct Ctx<'a> {
    pub(crate) now: Instant,
    pub(crate) cfg: &'a TimerConfig,
    pub(crate) out: &'a mut VecDeque<Output>,
    pub(crate) timers: &'a mut TimerQueue<TimerEntry>,
    pub(crate) id: TxId,
}

impl Ctx<'_> {
    pub(crate) fn send(&mut self, flow: Flow, payload: Bytes) {
        self.out
            .push_back(Output::Transmit(Transmit { flow, payload }));
    }

    pub(crate) fn event(&mut self, e: Event) {
        self.out.push_back(Output::Event(e));
    }

    /// Arms `timer` to fire after `after`; returns the deadline the machine must remember (a
    /// popped entry whose deadline differs from the remembered one is stale and ignored).
    pub(crate) fn arm(&mut self, timer: Timer, after: std::time::Duration) -> Instant {
        let at = self.now + after;
        self.timers.push(
            after,
            TimerEntry {
                at,
                tx: self.id,
                timer,
            },
        );
        at
    }
}

/// Whether a machine is done and can be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Life {
    Alive,
    Terminated,
}
