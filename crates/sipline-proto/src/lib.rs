//! # sipline-proto
//!
//! The sans-IO core of sipline: SIP messages (RFC 3261 §7, §20, §25), their parser and
//! serializer, and, as the stack grows, transactions, dialogs and sessions. Nothing in this
//! crate opens a socket or reads the clock; bytes and instants go in, values come out.
//!
//! ```
//! use sipline_proto::{parse_message, Limits, Message, HeaderName, StatusCode, Response};
//!
//! let raw = b"OPTIONS sip:bob@example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK776asdhds\r\n\
//! Max-Forwards: 70\r\n\
//! To: <sip:bob@example.com>\r\n\
//! From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
//! Call-ID: a84b4c76e66710\r\n\
//! CSeq: 63104 OPTIONS\r\n\
//! Content-Length: 0\r\n\r\n";
//!
//! let msg = parse_message(bytes::Bytes::from_static(raw), &Limits::default())?;
//! let Message::Request(req) = msg else { unreachable!() };
//! assert_eq!(req.uri.host(), "example.com");
//! let via = req.top_via()?;
//! assert_eq!(via.branch(), Some("z9hG4bK776asdhds"));
//!
//! // Answer it (RFC 3261 §8.2.6) and write the response into a buffer.
//! let resp = Response::from_request(&req, StatusCode::OK, Some("a6c85cf"));
//! let mut out = Vec::new();
//! resp.write_to(&mut out);
//! assert!(out.starts_with(b"SIP/2.0 200 OK\r\n"));
//! assert_eq!(resp.headers.get(HeaderName::To), Some("<sip:bob@example.com>;tag=a6c85cf"));
//! # Ok::<(), sipline_proto::ParseError>(())
//! ```
#![forbid(unsafe_code)]

pub mod auth;
pub mod dialog;
pub mod endpoint;
pub mod error;
pub mod input;
pub mod message;
pub mod parse;
pub mod registration;
pub mod session;
pub mod timer;
pub mod transaction;

#[cfg(test)]
mod test_util;

pub use auth::{
    Algorithm, AuthError, AuthKind, Challenge, Credentials, DigestClient, DigestResponse,
    DigestServer,
};
pub use dialog::{Dialog, DialogError, DialogId, DialogReject, DialogSet, DialogState};
pub use endpoint::{DropReason, Endpoint, EndpointConfig, Event, Validation};
pub use error::{Error, ParseError, ParseErrorKind};
pub use input::{ConnId, Flow, Input, Output, Receive, Transmit, TransportFailure, TransportKind};
pub use message::{
    HeaderName, Headers, Message, Method, NameAddr, Request, RequestBuilder, Response, StatusCode,
    Uri, UriRef,
};
pub use parse::{Framed, Limits, StreamFramer, parse_message};
pub use registration::{
    RegisterParams, Registration, RegistrationError, RegistrationState, RegistrationStep,
};
pub use session::dtmf::{DtmfError, DtmfInfo, DtmfTone, ToneQueue};
pub use session::refer::{ReferError, ReferNotify, ReferTo, Replaces, SipFrag};
pub use session::{
    Body, Cause, InviteParams, LocalTransport, RegistrationId, Rel100, ReplyParams, SessionId,
    SessionRole, SessionState, UaConfig, UaCore, UaEvent, UaOutput,
};
pub use timer::{Timer, TimerConfig};
pub use transaction::{ClientTxId, ServerTxId, TxId};
