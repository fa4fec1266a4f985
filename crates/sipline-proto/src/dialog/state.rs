//! The [`Dialog`] state (RFC 3261 §12.1): how it is created by a UAC and a UAS, and how the
//! responses of the creating transaction move it from early to confirmed.

use bytestring::ByteString;

use super::{DialogError, DialogId, addr_without_tag, creates_dialog};
use crate::message::{ContactValue, HeaderName, Headers, NameAddr, Request, Response, Scheme, Uri};

/// The state of a [`Dialog`] (RFC 3261 §12): created early by a provisional response,
/// confirmed by a 2xx. A terminated dialog is dropped by its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DialogState {
    /// Created by a provisional response with a To tag (§12.1, §13.2.2.1, §13.3.1.1).
    Early,
    /// Created or confirmed by a 2xx (§12.1, §13.2.2.4, §13.3.1.4).
    Confirmed,
}

/// Which side of the creating transaction this user agent was (RFC 3261 §12.1.1, §12.1.2).
/// The role does not restrict which side sends requests afterwards (§12.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the dialog-creating request.
    Uac,
    /// We received it.
    Uas,
}

/// The CSeq a UAS dialog starts its own requests with when its local sequence number is
/// still empty (§12.1.1: any value below 2^31 will do, §8.1.1.5).
pub(super) const FIRST_UAS_SEQ: u32 = 1;

/// The state of one dialog (RFC 3261 §12): its id, the sequence numbers, the parties' URIs,
/// the remote target, the route set and the secure flag.
///
/// Build it with [`Dialog::new_uac`] or [`Dialog::new_uas`]; see the
/// [module documentation](super) for the states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialog {
    pub(super) id: DialogId,
    pub(super) state: DialogState,
    pub(super) role: Role,
    pub(super) local_seq: Option<u32>,
    pub(super) remote_seq: Option<u32>,
    /// From (UAC) or To (UAS) of the creating request, without tag, as a name-addr.
    pub(super) local_addr: ByteString,
    pub(super) local_uri: Uri,
    pub(super) remote_addr: ByteString,
    pub(super) remote_uri: Uri,
    pub(super) remote_target: Uri,
    pub(super) route_set: Vec<Uri>,
    pub(super) secure: bool,
    /// Our Contact value, put into target refresh requests (§12.2.1.1).
    pub(super) local_contact: ByteString,
}

/// The first Contact of a message as a remote target: a SIP or SIPS URI (§8.1.1.8, §12.1.1).
/// Several Contacts are a peer's error; the first is used. `shared`: the URI shares the
/// message's buffer (a message kept anyway) rather than copying its text.
fn remote_target(
    headers: &Headers,
    message: &'static str,
    shared: bool,
) -> Result<Uri, DialogError> {
    let parse_err = |error| DialogError::Header { message, error };
    match headers.contacts().next() {
        None => Err(DialogError::MissingContact { message }),
        Some(Err(e)) => Err(parse_err(e)),
        Some(Ok(ContactValue::Star)) => Err(DialogError::InvalidContact {
            message,
            reason: "Contact is *",
        }),
        Some(Ok(ContactValue::Addr(a))) => match a.uri.scheme() {
            Scheme::Sip | Scheme::Sips if shared => Ok(a.uri.to_shared(headers)),
            Scheme::Sip | Scheme::Sips => Ok(a.uri.to_owned()),
            _ => Err(DialogError::InvalidContact {
                message,
                reason: "not a SIP or SIPS URI",
            }),
        },
    }
}

/// [`addr_without_tag`] of a request's `name` field `na`, sharing the request's buffer when
/// the field's text starts with it (the tag, if any, is its last parameter): a UAS dialog's
/// addresses, from the INVITE its session keeps anyway.
fn shared_addr(headers: &Headers, name: HeaderName, na: &NameAddr<'_>) -> ByteString {
    let addr = addr_without_tag(na);
    match headers.get(name) {
        Some(raw) if raw.starts_with(addr.as_str()) => headers.share(&raw[..addr.len()]),
        _ => ByteString::from(addr),
    }
}

/// The URIs of every Record-Route value, top first, URI parameters kept (§12.1.1);
/// `shared` as for [`remote_target`].
fn record_route(
    headers: &Headers,
    message: &'static str,
    shared: bool,
) -> Result<Vec<Uri>, DialogError> {
    headers
        .name_addrs(HeaderName::RecordRoute)
        .map(|r| {
            r.map(|na| {
                if shared {
                    na.uri.to_shared(headers)
                } else {
                    na.uri.to_owned()
                }
            })
            .map_err(|error| DialogError::Header { message, error })
        })
        .collect()
}

/// Our own Contact value, checked to be one name-addr with a SIP or SIPS URI.
fn check_local_contact(value: &str, message: &'static str) -> Result<(), DialogError> {
    let bad = |reason| DialogError::InvalidContact { message, reason };
    let na = crate::message::NameAddr::parse(value.trim()).map_err(|_| bad("unparsable"))?;
    match na.uri.scheme() {
        Scheme::Sip | Scheme::Sips => Ok(()),
        _ => Err(bad("not a SIP or SIPS URI")),
    }
}

impl Dialog {
    /// The dialog a response to our dialog-creating `request` establishes, as UAC (RFC 3261
    /// §12.1.2): a 1xx with a To tag gives an early dialog, a 2xx a confirmed one.
    ///
    /// - id: the request's Call-ID, its From tag (local) and the response's To tag (remote);
    /// - route set: the response's Record-Route, reversed; remote target: its Contact;
    /// - local sequence number: the request's CSeq; remote sequence number: empty;
    /// - local URI and remote URI: From and To of the request, display names and header
    ///   parameters kept, tags removed; local Contact: the request's Contact;
    /// - secure: the Request-URI is a SIPS URI (§12.1.2 adds "sent over TLS", which SIPS
    ///   requires on every hop, RFC 5630 §3.1.3).
    ///
    /// Errors: a 100 or non-2xx final response, a method that creates no dialog, a response
    /// without To tag or Contact, a Contact that is not SIP or SIPS, a response to another
    /// request (Call-ID, From tag or CSeq differ), malformed headers.
    pub fn new_uac(request: &Request, response: &Response) -> Result<Dialog, DialogError> {
        if !creates_dialog(&request.method) {
            return Err(DialogError::MethodCannotCreate(request.method.clone()));
        }
        let status = response.status;
        let state = match status.as_u16() {
            101..=199 => DialogState::Early,
            200..=299 => DialogState::Confirmed,
            _ => return Err(DialogError::NotDialogCreating { status }),
        };
        let rq = &request.headers;
        let rs = &response.headers;
        let call_id = rq.call_id().map_err(DialogError::request)?;
        if rs.call_id().map_err(DialogError::response)? != call_id {
            return Err(DialogError::Mismatch { field: "Call-ID" });
        }
        let cseq = rq.cseq().map_err(DialogError::request)?;
        let rcseq = rs.cseq().map_err(DialogError::response)?;
        if rcseq != cseq {
            return Err(DialogError::Mismatch { field: "CSeq" });
        }
        let from = rq.from().map_err(DialogError::request)?;
        let to = rq.to().map_err(DialogError::request)?;
        let local_tag = from.tag().ok_or(DialogError::MissingTag {
            message: "request",
            header: HeaderName::From,
        })?;
        if rs.from().map_err(DialogError::response)?.tag() != Some(local_tag) {
            return Err(DialogError::Mismatch { field: "From tag" });
        }
        let remote_tag =
            rs.to()
                .map_err(DialogError::response)?
                .tag()
                .ok_or(DialogError::MissingTag {
                    message: "response",
                    header: HeaderName::To,
                })?;
        let local_contact = rq
            .values(HeaderName::Contact)
            .next()
            .ok_or(DialogError::MissingContact { message: "request" })?;
        check_local_contact(local_contact, "request")?;
        let remote_target = remote_target(rs, "response", false)?;
        let mut route_set = record_route(rs, "response", false)?;
        route_set.reverse();
        Ok(Dialog {
            id: DialogId::new(call_id, local_tag, remote_tag),
            state,
            role: Role::Uac,
            local_seq: Some(cseq.seq),
            remote_seq: None,
            local_addr: ByteString::from(addr_without_tag(&from)),
            local_uri: from.uri.to_owned(),
            remote_addr: ByteString::from(addr_without_tag(&to)),
            remote_uri: to.uri.to_owned(),
            remote_target,
            route_set,
            secure: request.uri.scheme() == Scheme::Sips,
            local_contact: ByteString::from(local_contact),
        })
    }

    /// The dialog we establish by answering `request` with a 1xx or 2xx carrying `local_tag`
    /// in its To and `local_contact` as Contact, as UAS (RFC 3261 §12.1.1). It starts
    /// [`DialogState::Early`]; call [`Dialog::confirm`] when the 2xx is sent.
    ///
    /// - id: the request's Call-ID, `local_tag`, its From tag (remote; empty if absent);
    /// - route set: the request's Record-Route in order; remote target: its Contact;
    /// - remote sequence number: the request's CSeq; local sequence number: empty until our
    ///   first request;
    /// - local URI: the To of the request, remote URI: its From (tags removed);
    /// - secure: the Request-URI is a SIPS URI.
    ///
    /// `local_contact` is a Contact value (`<sip:bob@192.0.2.4>`), SIP or SIPS.
    pub fn new_uas(
        request: &Request,
        local_tag: &str,
        local_contact: &str,
    ) -> Result<Dialog, DialogError> {
        if !creates_dialog(&request.method) {
            return Err(DialogError::MethodCannotCreate(request.method.clone()));
        }
        if local_tag.is_empty() {
            return Err(DialogError::MissingTag {
                message: "response",
                header: HeaderName::To,
            });
        }
        let rq = &request.headers;
        let call_id = rq.call_id().map_err(DialogError::request)?;
        let cseq = rq.cseq().map_err(DialogError::request)?;
        let from = rq.from().map_err(DialogError::request)?;
        let to = rq.to().map_err(DialogError::request)?;
        if to.tag().is_some() {
            return Err(DialogError::InDialog);
        }
        check_local_contact(local_contact, "local contact")?;
        // The URIs share the INVITE's buffer: its session keeps it for the whole call.
        let remote_target = remote_target(rq, "request", true)?;
        let route_set = record_route(rq, "request", true)?;
        Ok(Dialog {
            id: DialogId::new(call_id, local_tag, from.tag().unwrap_or("")),
            state: DialogState::Early,
            role: Role::Uas,
            local_seq: None,
            remote_seq: Some(cseq.seq),
            local_addr: shared_addr(rq, HeaderName::To, &to),
            local_uri: to.uri.to_shared(rq),
            remote_addr: shared_addr(rq, HeaderName::From, &from),
            remote_uri: from.uri.to_shared(rq),
            remote_target,
            route_set,
            secure: request.uri.scheme() == Scheme::Sips,
            local_contact: ByteString::from(local_contact.trim()),
        })
    }

    /// Applies a later response of the creating transaction to this UAC dialog (RFC 3261
    /// §12.1.2, §13.2.2.4): a 1xx refreshes the remote target from its Contact, if any; a 2xx
    /// confirms the dialog, recomputes the route set from its Record-Route (reversed) and takes
    /// the remote target from its Contact. On a confirmed dialog (a 2xx retransmission, a late
    /// 1xx) nothing changes.
    ///
    /// Errors leave the dialog untouched: a response of another dialog (Call-ID or tags
    /// differ), a 100 or non-2xx final response, a 2xx without Contact, malformed headers.
    pub fn update_from_response(&mut self, response: &Response) -> Result<(), DialogError> {
        if self.role != Role::Uac {
            return Err(DialogError::InvalidState(
                "only a UAC dialog is updated by responses to its creating request",
            ));
        }
        let id = DialogId::from_response_as_uac(response)?;
        self.check_id(&id)?;
        let status = response.status;
        match status.as_u16() {
            101..=199 => {
                if self.state == DialogState::Early
                    && response.headers.contains(HeaderName::Contact)
                {
                    self.remote_target = remote_target(&response.headers, "response", false)?;
                }
                Ok(())
            }
            200..=299 => {
                if self.state == DialogState::Confirmed {
                    return Ok(());
                }
                let target = remote_target(&response.headers, "response", false)?;
                let mut routes = record_route(&response.headers, "response", false)?;
                routes.reverse();
                self.remote_target = target;
                self.route_set = routes;
                self.state = DialogState::Confirmed;
                Ok(())
            }
            _ => Err(DialogError::NotDialogCreating { status }),
        }
    }

    /// Confirms a UAS dialog when its 2xx is sent (RFC 3261 §12.1.1, §13.3.1.4).
    pub fn confirm(&mut self) {
        self.state = DialogState::Confirmed;
    }

    pub(super) fn check_id(&self, id: &DialogId) -> Result<(), DialogError> {
        if id.call_id() != self.id.call_id() {
            Err(DialogError::Mismatch { field: "Call-ID" })
        } else if id.local_tag() != self.id.local_tag() {
            Err(DialogError::Mismatch { field: "local tag" })
        } else if id.remote_tag() != self.id.remote_tag() {
            Err(DialogError::Mismatch {
                field: "remote tag",
            })
        } else {
            Ok(())
        }
    }

    /// The dialog's id (§12).
    pub fn id(&self) -> &DialogId {
        &self.id
    }

    /// The Call-ID (§12.1.1, §12.1.2).
    pub fn call_id(&self) -> &str {
        self.id.call_id()
    }

    /// Our tag.
    pub fn local_tag(&self) -> &str {
        self.id.local_tag()
    }

    /// The peer's tag (empty if it sent none).
    pub fn remote_tag(&self) -> &str {
        self.id.remote_tag()
    }

    /// Early or confirmed (§12).
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// Whether the dialog is early.
    pub fn is_early(&self) -> bool {
        self.state == DialogState::Early
    }

    /// Whether the dialog is confirmed.
    pub fn is_confirmed(&self) -> bool {
        self.state == DialogState::Confirmed
    }

    /// Whether we created it as UAC or UAS (§12.1).
    pub fn role(&self) -> Role {
        self.role
    }

    /// The CSeq number of our last request in the dialog; `None` for a UAS dialog before its
    /// first request (§12.1.1).
    pub fn local_seq(&self) -> Option<u32> {
        self.local_seq
    }

    /// The CSeq number of the peer's last request; `None` until it sends one (§12.1.2).
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// The local URI (§12.1.1, §12.1.2): the URI of our From in requests we send.
    pub fn local_uri(&self) -> &Uri {
        &self.local_uri
    }

    /// Our address as written in From (display name and parameters kept, tag removed).
    pub fn local_addr(&self) -> &str {
        &self.local_addr
    }

    /// The remote URI (§12.1.1, §12.1.2): the URI of the To in requests we send.
    pub fn remote_uri(&self) -> &Uri {
        &self.remote_uri
    }

    /// The peer's address as written in To (display name and parameters kept, tag removed).
    pub fn remote_addr(&self) -> &str {
        &self.remote_addr
    }

    /// The remote target (§12.1.1, §12.1.2): the peer's Contact URI.
    pub fn remote_target(&self) -> &Uri {
        &self.remote_target
    }

    /// The route set (§12.1.1, §12.1.2), in the order the Route headers are written.
    pub fn route_set(&self) -> &[Uri] {
        &self.route_set
    }

    /// The secure flag (§12.1.1, §12.1.2): requests must go over TLS (SIPS).
    pub fn secure(&self) -> bool {
        self.secure
    }

    /// Our Contact value, sent in target refresh requests (§12.2.1.1).
    pub fn local_contact(&self) -> &str {
        &self.local_contact
    }

    /// Takes `contact`, a shared copy of the local contact's text, in place of its own.
    pub(crate) fn share_local_contact(&mut self, contact: ByteString) {
        if *self.local_contact == *contact {
            self.local_contact = contact;
        }
    }

    /// Replaces our Contact (a new address after a network change, sent in the next target
    /// refresh request, §12.2.1.1). It must be one name-addr with a SIP or SIPS URI.
    pub fn set_local_contact(&mut self, contact: &str) -> Result<(), DialogError> {
        check_local_contact(contact, "local contact")?;
        self.local_contact = ByteString::from(contact.trim());
        Ok(())
    }

    /// Replaces the remote target from the Contact of `headers`, if it has one.
    pub(super) fn refresh_target(
        &mut self,
        headers: &Headers,
        message: &'static str,
    ) -> Result<bool, DialogError> {
        if !headers.contains(HeaderName::Contact) {
            return Ok(false);
        }
        self.remote_target = remote_target(headers, message, false)?;
        Ok(true)
    }
}
