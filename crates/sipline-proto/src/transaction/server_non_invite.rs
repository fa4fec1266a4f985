//! Non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).
//!
//! ```text
//!                    |Request received; pass to TU
//!                    v
//!              +-----------+
//!  request:    |  Trying   |-------------+
//!  absorb      +-----------+             |
//!         1xx from TU |                  | 200-699 from TU: send
//!                     v                  |
//!              +-----------+             |
//!  request:    |Proceeding |-------------+
//!  resend 1xx  +-----------+             |
//!  1xx from TU: send                     v
//!                                  +-----------+
//!                       request:   | Completed |
//!                       resend     +-----------+
//!                       final            | Timer J (64*T1 unreliable, 0 reliable)
//!                                        v
//!                                    Terminated
//! ```

use std::time::Instant;

use bytes::Bytes;

use super::{Ctx, Life};
use crate::error::Error;
use crate::input::Flow;
use crate::message::StatusCode;
use crate::timer::Timer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
}

#[derive(Debug)]
pub(crate) struct ServerNonInvite {
    state: State,
    flow: Flow,
    last: Option<Bytes>,
    j: Option<Instant>,
}

impl ServerNonInvite {
    pub(crate) fn new(flow: Flow) -> Self {
        Self {
            state: State::Trying,
            flow,
            last: None,
            j: None,
        }
    }

    pub(crate) fn flow(&self) -> Flow {
        self.flow
    }

    /// A retransmission of the request.
    pub(crate) fn on_request(&mut self, ctx: &mut Ctx<'_>) {
        if let (State::Proceeding | State::Completed, Some(last)) = (self.state, &self.last) {
            ctx.send(self.flow, last.clone());
        }
    }

    /// A response from the TU, already addressed (`flow`) per §18.2.2.
    pub(crate) fn respond(
        &mut self,
        ctx: &mut Ctx<'_>,
        status: StatusCode,
        flow: Flow,
        wire: Bytes,
    ) -> Result<Life, Error> {
        if self.state == State::Completed {
            return Err(Error::InvalidState(
                "the transaction already sent a final response",
            ));
        }
        self.flow = flow;
        if status.is_provisional() {
            ctx.send(flow, wire.clone());
            self.last = Some(wire);
            self.state = State::Proceeding;
            return Ok(Life::Alive);
        }
        self.state = State::Completed;
        if flow.transport.is_reliable() {
            // Timer J is zero on a reliable transport: the transaction ends now and never
            // resends, so the bytes are sent without keeping a copy (cloning a fresh `Bytes`
            // would allocate its shared header).
            ctx.send(flow, wire);
            return Ok(Life::Terminated);
        }
        ctx.send(flow, wire.clone());
        self.last = Some(wire);
        self.j = Some(ctx.arm(Timer::J, ctx.cfg.t64()));
        Ok(Life::Alive)
    }

    pub(crate) fn on_timer(&mut self, timer: Timer, at: Instant) -> Life {
        match timer {
            Timer::J if self.j == Some(at) => Life::Terminated,
            _ => Life::Alive,
        }
    }
}
