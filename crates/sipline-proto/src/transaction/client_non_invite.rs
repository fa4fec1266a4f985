//! Non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6).
//!
//! ```text
//!                    |Request from TU; send request; Timer F; Timer E (unreliable)
//!                    v
//!  Timer E:    +-----------+
//!  resend,     |  Trying   |-------------+ Timer F or transport error: inform TU
//!  E=min(2E,T2)+-----------+             |
//!          1xx: to TU |   \ 200-699: to TU
//!                     v    \             |
//!  Timer E:    +-----------+ \           |
//!  resend,     |Proceeding |--\----------+
//!  E=T2        +-----------+   \         |
//!     1xx: to TU  | 200-699: to TU       |
//!                 v                      |
//!              +-----------+             |
//!  responses:  | Completed |             |
//!  absorb      +-----------+             |
//!                 | Timer K (T4 unreliable, 0 reliable)
//!                 v                      |
//!              Terminated <--------------+
//! ```

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{ClientTxId, Ctx, Life};
use crate::endpoint::Event;
use crate::input::Flow;
use crate::message::Response;
use crate::timer::Timer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Trying,
    Proceeding,
    Completed,
}

#[derive(Debug)]
pub(crate) struct ClientNonInvite {
    state: State,
    flow: Flow,
    request: Bytes,
    /// Timer E: next deadline and current interval.
    e: Option<(Instant, Duration)>,
    f: Option<Instant>,
    k: Option<Instant>,
}

impl ClientNonInvite {
    /// Sends the request and arms F (and E on unreliable transports).
    pub(crate) fn start(ctx: &mut Ctx<'_>, flow: Flow, request: Bytes) -> Self {
        ctx.send(flow, request.clone());
        let e =
            (!flow.transport.is_reliable()).then(|| (ctx.arm(Timer::E, ctx.cfg.t1), ctx.cfg.t1));
        let f = Some(ctx.arm(Timer::F, ctx.cfg.t64()));
        Self {
            state: State::Trying,
            flow,
            request,
            e,
            f,
            k: None,
        }
    }

    pub(crate) fn on_response(&mut self, ctx: &mut Ctx<'_>, response: Response) -> Life {
        let id = ClientTxId(ctx.id);
        match self.state {
            State::Trying | State::Proceeding if response.status.is_provisional() => {
                self.state = State::Proceeding;
                ctx.event(Event::Response { tx: id, response });
                Life::Alive
            }
            State::Trying | State::Proceeding => {
                self.state = State::Completed;
                self.e = None;
                self.f = None;
                // Completed never sends the request again (§17.1.2.2): free its bytes now
                // rather than at Timer K, T4 later.
                self.request = Bytes::new();
                ctx.event(Event::Response { tx: id, response });
                if self.flow.transport.is_reliable() {
                    return Life::Terminated;
                }
                self.k = Some(ctx.arm(Timer::K, ctx.cfg.t4));
                Life::Alive
            }
            // Retransmitted final responses are absorbed.
            State::Completed => Life::Alive,
        }
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer, at: Instant) -> Life {
        match timer {
            Timer::E if self.e.is_some_and(|(d, _)| d == at) => {
                let (_, interval) = self.e.unwrap_or((at, ctx.cfg.t1));
                ctx.send(self.flow, self.request.clone());
                // §17.1.2.2: doubling up to T2 in Trying; T2 in Proceeding.
                let next = match self.state {
                    State::Trying => (interval * 2).min(ctx.cfg.t2),
                    _ => ctx.cfg.t2,
                };
                self.e = Some((ctx.arm(Timer::E, next), next));
                Life::Alive
            }
            Timer::F if self.f == Some(at) => {
                ctx.event(Event::Timeout {
                    tx: ClientTxId(ctx.id),
                });
                Life::Terminated
            }
            Timer::K if self.k == Some(at) => Life::Terminated,
            _ => Life::Alive,
        }
    }

    pub(crate) fn flow(&self) -> Flow {
        self.flow
    }
}
