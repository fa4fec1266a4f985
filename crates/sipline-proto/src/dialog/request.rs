//! Requests inside a dialog: building ours (RFC 3261 §12.2.1.1, §13.2.2.4) and checking the
//! peer's (§12.2.2), with the remote target refreshes of §12.2.1.2 and §12.2.2.

use super::state::FIRST_UAS_SEQ;
use super::{Dialog, DialogError, DialogId, DialogReject, is_target_refresh, request_uri};
use crate::message::{HeaderName, Method, Request, RequestBuilder, Response, Uri};

impl Dialog {
    /// Starts a request of `method` inside the dialog (RFC 3261 §12.2.1.1), taking the next
    /// local CSeq number (a UAS dialog's first request uses 1).
    ///
    /// The builder holds the Request-URI and Route headers (see below), To with the remote
    /// URI and tag, From with the local URI and tag, Call-ID, CSeq, and, for target refresh
    /// methods ([`super::is_target_refresh`]), our Contact; Max-Forwards defaults to 70 at
    /// [`RequestBuilder::build`]. The caller adds the Via (with a fresh branch from
    /// [`Endpoint::new_branch`](crate::Endpoint::new_branch), which
    /// [`Endpoint::send_request`](crate::Endpoint::send_request) requires), a body, any other
    /// header (Contact for another method with [`RequestBuilder::contact`] and
    /// [`Dialog::local_contact`]), then builds.
    ///
    /// Routing: with an empty route set the Request-URI is the remote target. If the first
    /// route carries `lr` (loose routing) the Request-URI is the remote target and the Route
    /// headers are the route set in order. Otherwise (strict routing, RFC 2543) the
    /// Request-URI is the first route, the Route headers the rest of the route set followed by
    /// the remote target. A Request-URI loses any `method` parameter and headers, which
    /// §19.1.1 Table 1 forbids there. Send the request to [`Dialog::next_hop`].
    ///
    /// ACK has [`Dialog::ack`]; CANCEL is built from the request it cancels (§9.1): both are
    /// [`DialogError::MethodNotAllowed`].
    pub fn request(&mut self, method: Method) -> Result<RequestBuilder, DialogError> {
        if matches!(method, Method::Ack | Method::Cancel) {
            return Err(DialogError::MethodNotAllowed(method));
        }
        let seq = match self.local_seq {
            None => FIRST_UAS_SEQ,
            Some(n) => n
                .checked_add(1)
                .filter(|&n| n < 1 << 31)
                .ok_or(DialogError::CSeqExhausted)?,
        };
        let contact = is_target_refresh(&method);
        let b = self.start(method, seq)?;
        self.local_seq = Some(seq);
        Ok(if contact {
            b.contact(&self.local_contact)
        } else {
            b
        })
    }

    /// Starts the ACK for a 2xx `response` to an INVITE of this dialog (RFC 3261 §13.2.2.4):
    /// built like any in-dialog request, with the CSeq number of the INVITE and method ACK;
    /// the local CSeq does not move. The caller adds a Via with a new branch, the
    /// credentials the INVITE carried, the SDP answer if the INVITE had no offer, and sends
    /// it with [`Endpoint::send_stateless`](crate::Endpoint::send_stateless).
    ///
    /// Errors: the response is not a 2xx to an INVITE, or belongs to another dialog.
    pub fn ack(&self, response: &Response) -> Result<RequestBuilder, DialogError> {
        if !response.status.is_success() {
            return Err(DialogError::NotDialogCreating {
                status: response.status,
            });
        }
        let cseq = response.headers.cseq().map_err(DialogError::response)?;
        if cseq.method != Method::Invite {
            return Err(DialogError::Mismatch { field: "CSeq" });
        }
        self.check_response(response)?;
        self.start(Method::Ack, cseq.seq)
    }

    /// Where a request of this dialog goes first (RFC 3261 §12.2.1.1, §8.1.2): the first
    /// route if the route set is not empty, else the remote target. Resolve it with RFC 3263.
    pub fn next_hop(&self) -> &Uri {
        self.route_set.first().unwrap_or(&self.remote_target)
    }

    /// Whether the first route is a strict router (RFC 2543): its URI has no `lr` (§12.2.1.1).
    pub fn is_strict_routing(&self) -> bool {
        self.route_set
            .first()
            .is_some_and(|r| !r.params().contains("lr"))
    }

    /// Checks that a response to one of our requests belongs to this dialog. A peer that
    /// sent no tag (RFC 2543, empty remote tag) may answer without a To tag.
    fn check_response(&self, response: &Response) -> Result<(), DialogError> {
        let h = &response.headers;
        let call_id = h.call_id().map_err(DialogError::response)?;
        let from = h.from().map_err(DialogError::response)?;
        let to = h.to().map_err(DialogError::response)?;
        if call_id != self.id.call_id() {
            return Err(DialogError::Mismatch { field: "Call-ID" });
        }
        if from.tag() != Some(self.id.local_tag()) {
            return Err(DialogError::Mismatch { field: "local tag" });
        }
        if to.tag().unwrap_or("") != self.id.remote_tag() {
            return Err(DialogError::Mismatch {
                field: "remote tag",
            });
        }
        Ok(())
    }

    fn start(&self, method: Method, seq: u32) -> Result<RequestBuilder, DialogError> {
        let (uri, routes, target_last) = match self.route_set.split_first() {
            Some((first, rest)) if self.is_strict_routing() => (request_uri(first)?, rest, true),
            _ => (
                request_uri(&self.remote_target)?,
                &self.route_set[..],
                false,
            ),
        };
        let mut b = Request::builder(method, uri);
        for r in routes {
            b = b.header(HeaderName::Route.as_str(), &format!("<{r}>"));
        }
        if target_last {
            b = b.header(
                HeaderName::Route.as_str(),
                &format!("<{}>", self.remote_target),
            );
        }
        let remote_tag = Some(self.id.remote_tag()).filter(|t| !t.is_empty());
        Ok(b.to(&self.remote_addr, remote_tag)
            .from(&self.local_addr, self.id.local_tag())
            .call_id(self.id.call_id())
            .cseq(seq))
    }

    /// Checks a request received inside this dialog (RFC 3261 §12.2.2) and records its CSeq.
    ///
    /// The Call-ID and tags must be this dialog's (else [`DialogReject::WrongDialog`], 481).
    /// Then, except for ACK and CANCEL, which reuse the CSeq number of the request they
    /// belong to: a CSeq number lower than the remote sequence number is out of order
    /// ([`DialogReject::OutOfOrder`], 500); otherwise it becomes the remote sequence number.
    /// An equal number passes (§12.2.2 rejects only lower ones; retransmissions are absorbed
    /// by the transaction layer before this).
    ///
    /// A target refresh request (re-INVITE, UPDATE) does not change the remote target here:
    /// call [`Dialog::refresh_target_from_request`] once it succeeded.
    pub fn check_request(&mut self, request: &Request) -> Result<(), DialogReject> {
        let id = match DialogId::from_request_as_uas(request) {
            Ok(id) => id,
            Err(DialogError::Header { error, .. }) => return Err(DialogReject::Malformed(error)),
            Err(_) => return Err(DialogReject::WrongDialog),
        };
        if self.check_id(&id).is_err() {
            return Err(DialogReject::WrongDialog);
        }
        if matches!(request.method, Method::Ack | Method::Cancel) {
            return Ok(());
        }
        let cseq = request.headers.cseq().map_err(DialogReject::Malformed)?;
        if let Some(remote_seq) = self.remote_seq
            && cseq.seq < remote_seq
        {
            return Err(DialogReject::OutOfOrder {
                method: request.method.clone(),
                cseq: cseq.seq,
                remote_seq,
            });
        }
        self.remote_seq = Some(cseq.seq);
        Ok(())
    }

    /// Applies a target refresh request of the peer once it succeeded (RFC 3261 §12.2.2; a
    /// re-INVITE's 2xx sent, an UPDATE's 2xx sent; RFC 6665 §4.1 for SUBSCRIBE/NOTIFY): its
    /// Contact, if any, becomes the remote target. Returns whether the target changed.
    /// A request of another dialog or one that is no target refresh is an error.
    pub fn refresh_target_from_request(&mut self, request: &Request) -> Result<bool, DialogError> {
        if !is_target_refresh(&request.method) {
            return Err(DialogError::MethodNotAllowed(request.method.clone()));
        }
        self.check_id(&DialogId::from_request_as_uas(request)?)?;
        self.refresh_target(&request.headers, "request")
    }

    /// Applies a 2xx to our target refresh request (RFC 3261 §12.2.1.2): its Contact, if any,
    /// becomes the remote target. Returns whether the target changed. A non-2xx, a response
    /// of another dialog or to a method that is no target refresh is an error.
    pub fn refresh_target_from_response(
        &mut self,
        response: &Response,
    ) -> Result<bool, DialogError> {
        if !response.status.is_success() {
            return Err(DialogError::NotDialogCreating {
                status: response.status,
            });
        }
        let cseq = response.headers.cseq().map_err(DialogError::response)?;
        if !is_target_refresh(&cseq.method) {
            return Err(DialogError::MethodNotAllowed(cseq.method));
        }
        self.check_response(response)?;
        self.refresh_target(&response.headers, "response")
    }
}
