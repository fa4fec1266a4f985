//! Errors of the dialog layer: [`DialogError`] for what the caller gave or received,
//! [`DialogReject`] for an in-dialog request to refuse, with the response to send.

use std::fmt;

use crate::error::ParseError;
use crate::message::{BuildError, HeaderName, Method, Request, Response, StatusCode};

/// Why a dialog could not be created, updated or asked for a request (RFC 3261 §12).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogError {
    /// A header the dialog needs is missing or does not follow its grammar.
    Header {
        /// `"request"` or `"response"`: the message that held it.
        message: &'static str,
        /// What the parser found.
        error: ParseError,
    },
    /// A tag the dialog needs is absent: the To tag of a response creating a dialog
    /// (§12.1.2), the From tag of our own request (§8.1.1.3), the To tag of an in-dialog
    /// request (§12.2.2).
    MissingTag {
        /// `"request"` or `"response"`.
        message: &'static str,
        /// From or To.
        header: HeaderName,
    },
    /// No Contact where the dialog needs one: the remote target (§12.1.1, §12.1.2) or our own
    /// Contact in the dialog-creating request (§8.1.1.8).
    MissingContact {
        /// `"request"` or `"response"`.
        message: &'static str,
    },
    /// A Contact the dialog would use is unusable.
    InvalidContact {
        /// `"request"`, `"response"` or `"local contact"`.
        message: &'static str,
        /// Why: `*`, not a SIP or SIPS URI, unparsable.
        reason: &'static str,
    },
    /// The response cannot create or update a dialog: a 100, or a final non-2xx (§12.1).
    NotDialogCreating {
        /// Its status.
        status: StatusCode,
    },
    /// The request's method does not create dialogs (§12.1; RFC 6665; RFC 3515).
    MethodCannotCreate(Method),
    /// A request passed to [`Dialog::new_uas`](super::Dialog::new_uas) already carries a To
    /// tag: it belongs to an existing dialog (§12.2.2).
    InDialog,
    /// The message belongs to another dialog or request.
    Mismatch {
        /// What differs: `"Call-ID"`, `"From tag"`, `"To tag"`, `"CSeq"`.
        field: &'static str,
    },
    /// The method cannot be built with [`Dialog::request`](super::Dialog::request): ACK has
    /// [`Dialog::ack`](super::Dialog::ack), CANCEL is built from the request it cancels
    /// (§9.1), not from the dialog.
    MethodNotAllowed(Method),
    /// The local CSeq would reach 2^31 (§8.1.1.5).
    CSeqExhausted,
    /// The operation does not fit the dialog's state or role.
    InvalidState(&'static str),
    /// A URI of the dialog could not be turned into a Request-URI.
    InvalidUri(ParseError),
    /// A value could not be built into a request.
    Build(BuildError),
}

impl DialogError {
    pub(super) fn request(error: ParseError) -> Self {
        DialogError::Header {
            message: "request",
            error,
        }
    }

    pub(super) fn response(error: ParseError) -> Self {
        DialogError::Header {
            message: "response",
            error,
        }
    }
}

impl fmt::Display for DialogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialogError::Header { message, error } => {
                write!(f, "unusable header in the {message}: {error}")
            }
            DialogError::MissingTag { message, header } => {
                write!(f, "the {message} has no {} tag", header.as_str())
            }
            DialogError::MissingContact { message } => {
                write!(
                    f,
                    "the {message} has no Contact to take the dialog's target from"
                )
            }
            DialogError::InvalidContact { message, reason } => {
                write!(f, "unusable Contact in the {message}: {reason}")
            }
            DialogError::NotDialogCreating { status } => {
                write!(f, "a {} response creates no dialog", status.as_u16())
            }
            DialogError::MethodCannotCreate(m) => write!(f, "a {m} request creates no dialog"),
            DialogError::InDialog => {
                f.write_str("the request has a To tag: it belongs to an existing dialog")
            }
            DialogError::Mismatch { field } => {
                write!(
                    f,
                    "the message belongs to another dialog: its {field} differs"
                )
            }
            DialogError::MethodNotAllowed(m) => {
                write!(f, "{m} is not built as an in-dialog request")
            }
            DialogError::CSeqExhausted => f.write_str("the local CSeq would reach 2^31"),
            DialogError::InvalidState(s) => write!(f, "invalid dialog state: {s}"),
            DialogError::InvalidUri(e) => write!(f, "unusable URI: {e}"),
            DialogError::Build(e) => write!(f, "cannot build the request: {e}"),
        }
    }
}

impl std::error::Error for DialogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DialogError::Header { error, .. } | DialogError::InvalidUri(error) => Some(error),
            DialogError::Build(e) => Some(e),
            _ => None,
        }
    }
}

impl From<BuildError> for DialogError {
    fn from(e: BuildError) -> Self {
        DialogError::Build(e)
    }
}

/// Why an in-dialog request is refused (RFC 3261 §12.2.2), and how to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogReject {
    /// The CSeq number is lower than the remote sequence number: the request is out of order
    /// (§12.2.2). Answer 500 Server Internal Error; for an INVITE with a Retry-After (§14.2).
    OutOfOrder {
        /// The request's method.
        method: Method,
        /// The request's CSeq number.
        cseq: u32,
        /// The dialog's remote sequence number.
        remote_seq: u32,
    },
    /// The request's Call-ID or tags are not this dialog's (§12.2.2): answer 481.
    WrongDialog,
    /// A header the check needs is missing or malformed: answer 400.
    Malformed(ParseError),
}

impl DialogReject {
    /// The status to answer with: 500, 481 or 400.
    pub fn status(&self) -> StatusCode {
        match self {
            DialogReject::OutOfOrder { .. } => StatusCode::SERVER_INTERNAL_ERROR,
            DialogReject::WrongDialog => StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST,
            DialogReject::Malformed(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// The reason phrase to answer with (RFC 3261 §21).
    pub fn reason(&self) -> &'static str {
        self.status().canonical_reason()
    }

    /// Whether the answer carries a Retry-After: a 500 to an INVITE (§14.2 asks for a random
    /// 0 to 10 seconds, which the caller, holding the randomness, picks).
    pub fn wants_retry_after(&self) -> bool {
        matches!(
            self,
            DialogReject::OutOfOrder {
                method: Method::Invite,
                ..
            }
        )
    }

    /// The response to send (§8.2.6): [`Response::from_request`] with [`Self::status`], and
    /// `Retry-After: {retry_after}` when [`Self::wants_retry_after`]. The request is inside a
    /// dialog, so its To already carries our tag.
    pub fn response(&self, request: &Request, retry_after: u32) -> Response {
        let mut r = Response::from_request(request, self.status(), None);
        if self.wants_retry_after() {
            r.headers
                .push_known(HeaderName::RetryAfter, retry_after.to_string());
        }
        r
    }
}

impl fmt::Display for DialogReject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialogReject::OutOfOrder {
                method,
                cseq,
                remote_seq,
            } => write!(
                f,
                "{method} with CSeq {cseq} is out of order: the dialog's remote CSeq is {remote_seq}"
            ),
            DialogReject::WrongDialog => f.write_str("the request belongs to another dialog"),
            DialogReject::Malformed(e) => write!(f, "malformed in-dialog request: {e}"),
        }
    }
}

impl std::error::Error for DialogReject {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DialogReject::Malformed(e) => Some(e),
            _ => None,
        }
    }
}
