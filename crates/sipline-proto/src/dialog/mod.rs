//! Dialogs (RFC 3261 §12): the peer-to-peer relationship between two user agents that an
//! INVITE (or SUBSCRIBE, REFER) establishes, with the state needed to send requests inside it
//! and to check the requests received inside it.
//!
//! This module is pure data: it does no I/O, owns no transaction and reads no clock. The
//! session layer creates a [`Dialog`] from the messages it sends and receives, keeps it in a
//! [`DialogSet`], asks it to build in-dialog requests ([`Dialog::request`], [`Dialog::ack`])
//! and to check incoming ones ([`Dialog::check_request`]), and drops it when it terminates.
//!
//! ## States (RFC 3261 §12, §12.3, §13.2.2.4)
//!
//! ```text
//!   UAC: 1xx with a To tag          UAC: 2xx
//!   UAS: 1xx sent                   UAS: 2xx sent (confirm)
//!   (no dialog) ───────────▶ Early ───────────────────────▶ Confirmed
//!        │                     │                                │
//!        │  2xx (UAC) /        │ non-2xx final (§12.3),         │ BYE (§15), or a
//!        │  2xx sent (UAS)     │ transaction ended              │ fatal error
//!        └─────────────────────┼──────────────▶ Confirmed       ▼
//!                              ▼                            (dropped by the owner)
//!                  (dropped by the owner)
//! ```
//!
//! A forked INVITE may create several early dialogs (same Call-ID and local tag, a remote
//! tag each); [`DialogSet::handle_response`] keeps them apart and tells the caller when a
//! second 2xx must be acknowledged and then ended with a BYE (§13.2.2.4).
//!
//! ## Example: a UAC dialog from a 200 OK, then a BYE
//!
//! ```
//! use bytes::Bytes;
//! use sipline_proto::{parse_message, Dialog, DialogState, Limits, Message, Method};
//!
//! let invite = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
//! Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
//! Max-Forwards: 70\r\n\
//! To: Bob <sip:bob@biloxi.example.com>\r\n\
//! From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
//! Call-ID: a84b4c76e66710\r\n\
//! CSeq: 314159 INVITE\r\n\
//! Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
//! Content-Length: 0\r\n\r\n";
//! let ok = b"SIP/2.0 200 OK\r\n\
//! Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n\
//! Record-Route: <sip:p2.biloxi.example.com;lr>, <sip:p1.atlanta.example.com;lr>\r\n\
//! To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n\
//! From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
//! Call-ID: a84b4c76e66710\r\n\
//! CSeq: 314159 INVITE\r\n\
//! Contact: <sip:bob@192.0.2.4>\r\n\
//! Content-Length: 0\r\n\r\n";
//! let limits = Limits::default();
//! let Message::Request(invite) = parse_message(Bytes::from_static(invite), &limits)? else {
//!     unreachable!()
//! };
//! let Message::Response(ok) = parse_message(Bytes::from_static(ok), &limits)? else {
//!     unreachable!()
//! };
//!
//! let mut dialog = Dialog::new_uac(&invite, &ok)?;
//! assert_eq!(dialog.state(), DialogState::Confirmed);
//!
//! // ACK the 2xx (§13.2.2.4): same CSeq number as the INVITE, a new branch.
//! let ack = dialog.ack(&ok)?.via("UDP", "pc33.atlanta.example.com", "z9hG4bK1").build()?;
//! assert_eq!(ack.headers.get(sipline_proto::HeaderName::CSeq), Some("314159 ACK"));
//!
//! // BYE (§15): loose routing keeps the remote target as Request-URI, routes in order.
//! let bye = dialog
//!     .request(Method::Bye)?
//!     .via("UDP", "pc33.atlanta.example.com", "z9hG4bK2")
//!     .build()?;
//! assert_eq!(bye.uri.as_str(), "sip:bob@192.0.2.4");
//! let routes: Vec<_> = bye.headers.values(sipline_proto::HeaderName::Route).collect();
//! assert_eq!(routes, ["<sip:p1.atlanta.example.com;lr>", "<sip:p2.biloxi.example.com;lr>"]);
//! assert_eq!(bye.headers.get(sipline_proto::HeaderName::CSeq), Some("314160 BYE"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod request;
mod set;
mod state;

use std::fmt;
use std::sync::Arc;

use crate::message::{HeaderName, Method, NameAddr, Request, Response, Uri};

pub use error::{DialogError, DialogReject};
pub use set::{DialogSet, ResponseOutcome};
pub use state::{Dialog, DialogState, Role};

/// Identifies a dialog (RFC 3261 §12): Call-ID, local tag and remote tag, as seen from this
/// user agent. Call-IDs and tags compare byte for byte (§19.3, §20.8).
///
/// The remote tag is empty when the peer sent no tag (an RFC 2543 peer, §12.1.1, §12.2.2).
///
/// The three parts are one shared string: a clone (the dialog, the session that owns it and
/// the index that finds it each hold one, for the whole call) allocates nothing.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// Call-ID, local tag and remote tag, one after the other.
    text: Arc<str>,
    /// Where the local tag starts.
    local_at: u32,
    /// Where the remote tag starts.
    remote_at: u32,
}

impl DialogId {
    /// A dialog id from its three parts.
    pub fn new(call_id: &str, local_tag: &str, remote_tag: &str) -> Self {
        let mut text = String::with_capacity(call_id.len() + local_tag.len() + remote_tag.len());
        text.push_str(call_id);
        text.push_str(local_tag);
        text.push_str(remote_tag);
        // (Messages are far below 4 GB; a longer part would only read as empty.)
        let at = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        Self {
            text: Arc::from(text),
            local_at: at(call_id.len()),
            remote_at: at(call_id.len() + local_tag.len()),
        }
    }

    /// The Call-ID (§20.8).
    pub fn call_id(&self) -> &str {
        self.text.get(..self.local_at as usize).unwrap_or("")
    }

    /// Our tag: From tag of the requests we send, To tag of those we receive (§19.3).
    pub fn local_tag(&self) -> &str {
        self.text
            .get(self.local_at as usize..self.remote_at as usize)
            .unwrap_or("")
    }

    /// The peer's tag; empty if it sent none.
    pub fn remote_tag(&self) -> &str {
        self.text.get(self.remote_at as usize..).unwrap_or("")
    }

    /// The id of the dialog a received request belongs to, seen from the UAS (§12.2.2):
    /// local tag = To tag, remote tag = From tag (empty if absent). A request without a To
    /// tag is outside any dialog: [`DialogError::MissingTag`].
    pub fn from_request_as_uas(request: &Request) -> Result<Self, DialogError> {
        let call_id = request.headers.call_id().map_err(DialogError::request)?;
        let to = request.headers.to().map_err(DialogError::request)?;
        let from = request.headers.from().map_err(DialogError::request)?;
        let local = to.tag().ok_or(DialogError::MissingTag {
            message: "request",
            header: HeaderName::To,
        })?;
        Ok(Self::new(call_id, local, from.tag().unwrap_or("")))
    }

    /// The id of the dialog a received response belongs to, seen from the UAC (§12.1.2):
    /// local tag = From tag, remote tag = To tag. Either tag missing is an error.
    pub fn from_response_as_uac(response: &Response) -> Result<Self, DialogError> {
        let call_id = response.headers.call_id().map_err(DialogError::response)?;
        let to = response.headers.to().map_err(DialogError::response)?;
        let from = response.headers.from().map_err(DialogError::response)?;
        let local = from.tag().ok_or(DialogError::MissingTag {
            message: "response",
            header: HeaderName::From,
        })?;
        let remote = to.tag().ok_or(DialogError::MissingTag {
            message: "response",
            header: HeaderName::To,
        })?;
        Ok(Self::new(call_id, local, remote))
    }

    /// Whether this id is `(call_id, local_tag, remote_tag)`, without allocating.
    pub fn is(&self, call_id: &str, local_tag: &str, remote_tag: &str) -> bool {
        self.call_id() == call_id
            && self.local_tag() == local_tag
            && self.remote_tag() == remote_tag
    }

    fn parts(&self) -> (&str, &str, &str) {
        (self.call_id(), self.local_tag(), self.remote_tag())
    }
}

impl PartialOrd for DialogId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// By Call-ID, then local tag, then remote tag.
impl Ord for DialogId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.parts().cmp(&other.parts())
    }
}

impl fmt::Debug for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DialogId")
            .field("call_id", &self.call_id())
            .field("local_tag", &self.local_tag())
            .field("remote_tag", &self.remote_tag())
            .finish()
    }
}

impl fmt::Display for DialogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{};local-tag={};remote-tag={}",
            self.call_id(),
            self.local_tag(),
            self.remote_tag()
        )
    }
}

/// Whether a request of `method` is a target refresh request: one that may change the
/// dialog's remote target with its Contact (RFC 3261 §12.2: re-INVITE; RFC 3311 UPDATE;
/// RFC 6665 §4.1 SUBSCRIBE and NOTIFY; RFC 3515 REFER, as listed by RFC 5057 §5.4). Requests
/// built with [`Dialog::request`] for these methods carry the local Contact.
pub fn is_target_refresh(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer
    )
}

/// Whether a request of `method` can create a dialog (RFC 3261 §12.1: INVITE; RFC 6665
/// SUBSCRIBE and NOTIFY; RFC 3515 REFER).
pub fn creates_dialog(method: &Method) -> bool {
    matches!(
        method,
        Method::Invite | Method::Subscribe | Method::Notify | Method::Refer
    )
}

/// The From/To value without its tag, written back as a name-addr: the display name as
/// written, the URI in angle brackets, every other header parameter kept (§12.1.1, §12.2.1.1).
fn addr_without_tag(na: &NameAddr<'_>) -> String {
    let uri = na.uri.as_str();
    let mut s = String::with_capacity(uri.len() + 32);
    if let Some(d) = na.display_name_raw() {
        s.push_str(d);
        s.push(' ');
    }
    s.push('<');
    s.push_str(uri);
    s.push('>');
    for (name, value) in na.params.iter() {
        if name.eq_ignore_ascii_case("tag") {
            continue;
        }
        s.push(';');
        s.push_str(name);
        if let Some(v) = value {
            s.push('=');
            s.push_str(v);
        }
    }
    s
}

/// A URI made fit for a Request-URI (RFC 3261 §19.1.1 Table 1): without `method` parameter
/// and without headers, which a Request-URI may not carry. Borrowed URIs that need no change
/// are copied cheaply.
fn request_uri(uri: &Uri) -> Result<Uri, DialogError> {
    let r = uri.as_ref();
    let params = r.params();
    let headers = r.headers();
    if headers.is_none() && !params.contains("method") {
        return Ok(uri.clone());
    }
    let s = uri.as_str();
    let base_len = s.len() - params.as_str().len() - headers.map_or(0, |h| h.len() + 1);
    let mut out = String::with_capacity(s.len());
    out.push_str(s.get(..base_len).unwrap_or(s));
    for (name, value) in params.iter() {
        if name.eq_ignore_ascii_case("method") {
            continue;
        }
        out.push(';');
        out.push_str(name);
        if let Some(v) = value {
            out.push('=');
            out.push_str(v);
        }
    }
    Uri::parse(&out).map_err(DialogError::InvalidUri)
}

#[cfg(test)]
mod tests;
