//! INVITE server transaction (RFC 3261 §17.2.1, Figure 7, as corrected by RFC 6026 §8.5-8.7).
//!
//! ```text
//!                    |INVITE received; pass to TU; send 100 Trying
//!                    v
//!  INVITE:     +-----------+  2xx from TU: send   +-----------+  INVITE: absorb
//!  resend last |Proceeding |--------------------->| Accepted  |  2xx from TU: send
//!  1xx from TU +-----------+                      +-----------+  ACK: to TU
//!  : send     300-699 from TU: send                     | Timer L (64*T1)
//!                    v                                   v
//!              +-----------+  Timer H: inform TU     Terminated
//!  INVITE:     | Completed |-------------------------->  ^
//!  resend      +-----------+                             |
//!  Timer G: resend, G=min(2G,T2)                         |
//!                    | ACK                               |
//!                    v                                   |
//!              +-----------+  Timer I (T4 unreliable,    |
//!  ACK: absorb | Confirmed |  0 reliable) --------------+
//!              +-----------+
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{Ctx, Life, ServerTxId};
use crate::endpoint::Event;
use crate::error::Error;
use crate::input::Flow;
use crate::message::StatusCode;
use crate::timer::Timer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    Proceeding,
    Completed,
    Confirmed,
    Accepted,
}

#[derive(Debug)]
pub(crate) struct ServerInvite {
    pub(crate) state: State,
    flow: Flow,
    last: Option<Bytes>,
    g: Option<(Instant, Duration)>,
    /// Timer H in Completed, I in Confirmed, L in Accepted: one at a time, so one field (a
    /// transaction stays 32 s in Accepted after each answered call).
    end: Option<Instant>,
}

impl ServerInvite {
    pub(crate) fn new(flow: Flow) -> Self {
        Self {
            state: State::Proceeding,
            flow,
            last: None,
            g: None,
            end: None,
        }
    }

    pub(crate) fn request_flow(&self) -> Flow {
        self.flow
    }

    /// A retransmitted INVITE.
    pub(crate) fn on_invite(&mut self, ctx: &mut Ctx<'_>) {
        // Accepted and Confirmed absorb it (RFC 6026 §8.5).
        if let (State::Proceeding | State::Completed, Some(last)) = (self.state, &self.last) {
            ctx.send(self.flow, last.clone());
        }
    }

    /// An ACK matched to this transaction (non-2xx ACK, or a 2xx ACK reusing the branch).
    /// Returns whether the ACK should go to the TU.
    pub(crate) fn on_ack(&mut self, ctx: &mut Ctx<'_>) -> (Life, bool) {
        match self.state {
            State::Completed => {
                self.state = State::Confirmed;
                self.g = None;
                self.end = None;
                if self.flow.transport.is_reliable() {
                    return (Life::Terminated, false);
                }
                self.end = Some(ctx.arm(Timer::I, ctx.cfg.t4));
                (Life::Alive, false)
            }
            State::Accepted => (Life::Alive, true),
            _ => (Life::Alive, false),
        }
    }

    pub(crate) fn respond(
        &mut self,
        ctx: &mut Ctx<'_>,
        status: StatusCode,
        flow: Flow,
        wire: Bytes,
    ) -> Result<Life, Error> {
        match self.state {
            State::Proceeding => {}
            State::Accepted if status.is_success() => {
                // RFC 6026 §8.7: 2xx retransmissions (by the TU) pass through.
                ctx.send(flow, wire);
                return Ok(Life::Alive);
            }
            _ => {
                return Err(Error::InvalidState(
                    "the INVITE transaction already sent a final response",
                ));
            }
        }
        self.flow = flow;
        if status.is_success() {
            // Accepted absorbs INVITE retransmissions and never resends on its own (RFC 6026
            // §8.5, §8.7): the 2xx's bytes are not kept (the TU retransmits it until the ACK).
            ctx.send(flow, wire);
            self.last = None;
            self.state = State::Accepted;
            self.end = Some(ctx.arm(Timer::L, ctx.cfg.t64()));
            return Ok(Life::Alive);
        }
        ctx.send(flow, wire.clone());
        self.last = Some(wire);
        if status.is_provisional() {
            return Ok(Life::Alive);
        }
        self.state = State::Completed;
        if !flow.transport.is_reliable() {
            self.g = Some((ctx.arm(Timer::G, ctx.cfg.t1), ctx.cfg.t1));
        }
        self.end = Some(ctx.arm(Timer::H, ctx.cfg.t64()));
        Ok(Life::Alive)
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer, at: Instant) -> Life {
        match timer {
            Timer::G if self.g.is_some_and(|(d, _)| d == at) => {
                let interval = self.g.map_or(ctx.cfg.t1, |(_, i)| i);
                if let Some(last) = &self.last {
                    ctx.send(self.flow, last.clone());
                }
                let next = (interval * 2).min(ctx.cfg.t2);
                self.g = Some((ctx.arm(Timer::G, next), next));
                Life::Alive
            }
            Timer::H if self.state == State::Completed && self.end == Some(at) => {
                ctx.event(Event::AckTimeout {
                    tx: ServerTxId(ctx.id),
                });
                Life::Terminated
            }
            Timer::I if self.state == State::Confirmed && self.end == Some(at) => Life::Terminated,
            Timer::L if self.state == State::Accepted && self.end == Some(at) => Life::Terminated,
            _ => Life::Alive,
        }
    }
}
