//! INVITE sessions (RFC 3261 §13-§15), kept apart from dialogs and transactions as PJSIP
//! does: a session owns the INVITE, the dialog it creates and the offer/answer state; the
//! transaction layer ([`Endpoint`](crate::Endpoint)) retransmits and matches; the dialog layer
//! ([`crate::dialog`]) builds and checks in-dialog requests.
//!
//! [`UaCore`] is the user-agent core (the "TU" of RFC 3261 §17) that drives them: it wraps
//! an [`Endpoint`](crate::Endpoint), turns its transaction events into session events and
//! keeps the session timers (2xx retransmission and ACK wait of §13.3.1.4, the no-answer
//! timer). It is sans-IO like the rest of the crate: feed it with
//! [`UaCore::handle_input`], drain [`UaCore::poll_output`].
//!
//! ## States
//! ```text
//!  UAC:  invite()                       UAS: INVITE received
//!          │                                   │
//!          ▼                                   ▼
//!       Calling ──1xx (101-199)──┐          Incoming ──progress()──┐
//!          │                     ▼             │                    ▼
//!          │                   Early           │                  Early
//!          │  2xx                │ 2xx          │ accept()           │ accept()
//!          ▼                     ▼             ▼                    ▼
//!       Connecting  (2xx received, ACK being   Connecting (2xx sent, waiting for the ACK;
//!          │         sent; an offer in the        │        retransmitted T1..T2, §13.3.1.4)
//!          │         2xx waits for `ack()`)       │ ACK
//!          ▼                                      ▼
//!       Confirmed ◀───────────────────────────  Confirmed
//!          │
//!          │ bye(), BYE received, a final non-2xx, CANCEL, timeout, no ACK in 64*T1
//!          ▼
//!       Terminated
//! ```

mod cause;
mod core;
pub mod dtmf;
pub mod refer;

use std::fmt;

use bytes::Bytes;

pub use cause::Cause;
pub use core::{
    InviteParams, LocalTransport, RegistrationId, Rel100, ReplyParams, UaConfig, UaCore, UaEvent,
    UaOutput,
};

/// Identifies a session of a [`UaCore`]; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub(crate) u64);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s{}", self.0)
    }
}

/// Where an INVITE session is (PJSIP's invite-session states).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// UAC: the INVITE is sent, no provisional response with a To tag yet.
    Calling,
    /// UAS: the INVITE arrived and is not answered yet.
    Incoming,
    /// A provisional response with a To tag was sent or received: an early dialog exists.
    Early,
    /// A 2xx was sent (UAS, waiting for the ACK) or received (UAC, the ACK not sent yet).
    Connecting,
    /// The ACK was sent or received: the session is established.
    Confirmed,
    /// Ended; no further request or response is handled.
    Terminated,
}

/// Which side of the INVITE this user agent is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionRole {
    /// We sent the INVITE.
    Uac,
    /// We received it.
    Uas,
}

/// A message body with its media type (RFC 3261 §7.4): an SDP offer or answer, a sipfrag, ...
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The Content-Type, e.g. `application/sdp`.
    pub content_type: String,
    /// The bytes.
    pub bytes: Bytes,
}

impl Body {
    /// An `application/sdp` body (RFC 3264).
    pub fn sdp(bytes: impl Into<Bytes>) -> Self {
        Self {
            content_type: "application/sdp".to_owned(),
            bytes: bytes.into(),
        }
    }
}
