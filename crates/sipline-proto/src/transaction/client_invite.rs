//! INVITE client transaction (RFC 3261 §17.1.1, Figure 5, as corrected by RFC 6026 §8.4).
//!
//! ```text
//!                    |INVITE from TU; send; Timer B; Timer A (unreliable)
//!  Timer A:          v
//!  resend,     +-----------+ Timer B or transport error: inform TU
//!  A=2A        |  Calling  |---------------------------------------+
//!              +-----------+                                       |
//!        1xx: to TU |  \ 2xx: to TU              300-699: to TU,    |
//!                   v   \                        send ACK           |
//!              +-----------+  2xx: to TU   +-----------+            |
//!  1xx: to TU  |Proceeding |-------------->| Accepted  | 2xx: to TU |
//!              +-----------+               +-----------+            |
//!     300-699: to TU, send ACK                | Timer M (64*T1)     |
//!                   v                         v                     |
//!              +-----------+              Terminated <--------------+
//!  300-699:    | Completed |                  ^
//!  send ACK    +-----------+------------------+ Timer D (32 s unreliable, 0 reliable)
//! ```
//!
//! The ACK for a non-2xx is built here (§17.1.1.3); the ACK for a 2xx belongs to the TU.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{ClientTxId, Ctx, Life};
use crate::endpoint::Event;
use crate::input::Flow;
use crate::message::{HeaderName, Headers, Method, Request, Response};
use crate::timer::Timer;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Calling,
    Proceeding,
    Completed,
    Accepted,
}

#[derive(Debug)]
pub(crate) struct ClientInvite {
    state: State,
    flow: Flow,
    request: Request,
    wire: Bytes,
    a: Option<(Instant, Duration)>,
    b: Option<Instant>,
    d: Option<Instant>,
    m: Option<Instant>,
    ack: Option<Bytes>,
}

impl ClientInvite {
    pub(crate) fn start(ctx: &mut Ctx<'_>, flow: Flow, request: Request, wire: Bytes) -> Self {
        ctx.send(flow, wire.clone());
        let a =
            (!flow.transport.is_reliable()).then(|| (ctx.arm(Timer::A, ctx.cfg.t1), ctx.cfg.t1));
        let b = Some(ctx.arm(Timer::B, ctx.cfg.t64()));
        Self {
            state: State::Calling,
            flow,
            request,
            wire,
            a,
            b,
            d: None,
            m: None,
            ack: None,
        }
    }

    pub(crate) fn on_response(&mut self, ctx: &mut Ctx<'_>, response: Response) -> Life {
        let id = ClientTxId(ctx.id);
        let status = response.status;
        match self.state {
            State::Calling | State::Proceeding if status.is_provisional() => {
                self.state = State::Proceeding;
                self.a = None;
                self.b = None;
                ctx.event(Event::Response { tx: id, response });
            }
            State::Calling | State::Proceeding | State::Accepted if status.is_success() => {
                // RFC 6026 §8.4: Accepted; every 2xx (retransmissions, other forks) goes to
                // the TU, which sends the ACK.
                if self.state != State::Accepted {
                    self.state = State::Accepted;
                    self.a = None;
                    self.b = None;
                    self.m = Some(ctx.arm(Timer::M, ctx.cfg.t64()));
                }
                ctx.event(Event::Response { tx: id, response });
            }
            State::Calling | State::Proceeding if status.is_final() => {
                self.state = State::Completed;
                self.a = None;
                self.b = None;
                let ack = self.build_ack(&response);
                ctx.send(self.flow, ack.clone());
                self.ack = Some(ack);
                ctx.event(Event::Response { tx: id, response });
                if self.flow.transport.is_reliable() {
                    return Life::Terminated;
                }
                self.d = Some(ctx.arm(Timer::D, ctx.cfg.d));
            }
            State::Completed if status.is_final() && !status.is_success() => {
                // A retransmitted final response: resend the ACK, do not tell the TU.
                if let Some(ack) = &self.ack {
                    ctx.send(self.flow, ack.clone());
                }
            }
            // 1xx after a final response, or 2xx in Completed: absorbed.
            _ => {}
        }
        Life::Alive
    }

    pub(crate) fn on_timer(&mut self, ctx: &mut Ctx<'_>, timer: Timer, at: Instant) -> Life {
        match timer {
            Timer::A if self.a.is_some_and(|(d, _)| d == at) => {
                let interval = self.a.map_or(ctx.cfg.t1, |(_, i)| i) * 2;
                ctx.send(self.flow, self.wire.clone());
                self.a = Some((ctx.arm(Timer::A, interval), interval));
                Life::Alive
            }
            Timer::B if self.b == Some(at) => {
                ctx.event(Event::Timeout {
                    tx: ClientTxId(ctx.id),
                });
                Life::Terminated
            }
            Timer::D if self.d == Some(at) => Life::Terminated,
            Timer::M if self.m == Some(at) => Life::Terminated,
            _ => Life::Alive,
        }
    }

    /// The ACK for a non-2xx final response (RFC 3261 §17.1.1.3): the original Request-URI,
    /// Call-ID, From, CSeq number and top Via, the response's To, the original Route set.
    fn build_ack(&self, response: &Response) -> Bytes {
        let src = &self.request.headers;
        let mut h = Headers::with_capacity(8);
        if let Some(via) = src.get(HeaderName::Via) {
            h.push_known(
                HeaderName::Via,
                crate::message::headers::first_list_item(via),
            );
        }
        h.copy_from(src, HeaderName::Route);
        h.copy_from(src, HeaderName::MaxForwards);
        h.copy_from(src, HeaderName::From);
        h.copy_from(&response.headers, HeaderName::To);
        h.copy_from(src, HeaderName::CallId);
        let seq = src.cseq().map_or(0, |c| c.seq);
        h.push_known(HeaderName::CSeq, format!("{seq} ACK"));
        h.push_static(HeaderName::ContentLength, "0");
        let ack = Request {
            method: Method::Ack,
            uri: self.request.uri.clone(),
            headers: h,
            body: Bytes::new(),
        };
        ack.to_bytes()
    }

    pub(crate) fn flow(&self) -> Flow {
        self.flow
    }
}
