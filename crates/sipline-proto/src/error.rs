//! Errors of the message layer.
//!
//! A [`ParseError`] says what was wrong ([`ParseErrorKind`]), where (`offset`, a byte index into
//! the input) and which SIP response a UAS should answer with ([`ParseErrorKind::status`]),
//! following RFC 3261 §8.2 and §21.

use std::fmt;

use crate::message::{HeaderName, StatusCode};

/// A message (or a part of one) could not be parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// Byte offset into the parsed input where the problem was found.
    pub offset: usize,
}

impl ParseError {
    /// A new error of `kind` at `offset`.
    pub fn new(kind: ParseErrorKind, offset: usize) -> Self {
        Self { kind, offset }
    }

    /// The status a UAS should answer a request failing this way with (RFC 3261 §8.2, §21).
    pub fn status(&self) -> StatusCode {
        self.kind.status()
    }

    /// The same error with its offset moved by `base` (for errors found inside a sub-slice).
    pub(crate) fn shifted(self, base: usize) -> Self {
        Self {
            kind: self.kind,
            offset: self.offset + base,
        }
    }
}

/// The reason a message was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// The input holds no message at all.
    Empty,
    /// The message is larger than [`Limits::max_message_size`](crate::Limits).
    MessageTooLarge,
    /// A line is longer than [`Limits::max_line_length`](crate::Limits).
    LineTooLong,
    /// More header fields than [`Limits::max_headers`](crate::Limits).
    TooManyHeaders,
    /// More Via values than [`Limits::max_vias`](crate::Limits).
    TooManyVias,
    /// The header section does not end with an empty line (CRLF CRLF).
    Incomplete,
    /// The header section is not valid UTF-8 (RFC 3261 §7.3.1: TEXT-UTF8).
    InvalidUtf8,
    /// A line ends with a bare CR or LF instead of CRLF, or holds a control character.
    InvalidLineEnding,
    /// The start line is neither a Request-Line nor a Status-Line (RFC 3261 §7.1, §7.2).
    InvalidStartLine,
    /// The method is not a token (RFC 3261 §25.1).
    InvalidMethod,
    /// A URI does not follow RFC 3261 §19.1 / §25.1 (or RFC 3966 for tel).
    InvalidUri,
    /// The SIP-Version is malformed.
    InvalidVersion,
    /// The SIP-Version is well formed but not SIP/2.0 (answer 505).
    UnsupportedVersion,
    /// The Status-Code is not three digits in 100..=699.
    InvalidStatusCode,
    /// The Reason-Phrase holds a forbidden character.
    InvalidReasonPhrase,
    /// A header field name is not a token, or the colon is missing.
    InvalidHeaderName,
    /// The value of a known header does not follow its grammar.
    InvalidHeader(HeaderName),
    /// A header required in this message is missing (RFC 3261 §8.1.1).
    MissingHeader(HeaderName),
    /// A header that may appear once appears more than once with different values.
    DuplicateHeader(HeaderName),
    /// Content-Length is not a number, or larger than the limits allow.
    InvalidContentLength,
    /// The message carries fewer body bytes than its Content-Length says (RFC 3261 §18.3).
    BodyTooShort,
    /// A stream-transport message has no Content-Length (RFC 3261 §18.3: mandatory there).
    MissingContentLength,
    /// The CSeq method differs from the request method (RFC 3261 §8.1.1.5).
    CSeqMethodMismatch,
}

impl ParseErrorKind {
    /// The status a UAS should answer a request failing this way with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MessageTooLarge => StatusCode::MESSAGE_TOO_LARGE,
            Self::UnsupportedVersion => StatusCode::VERSION_NOT_SUPPORTED,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// A short, stable, snake_case name for logs and the CLI (`invalid_header`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::MessageTooLarge => "message_too_large",
            Self::LineTooLong => "line_too_long",
            Self::TooManyHeaders => "too_many_headers",
            Self::TooManyVias => "too_many_vias",
            Self::Incomplete => "incomplete",
            Self::InvalidUtf8 => "invalid_utf8",
            Self::InvalidLineEnding => "invalid_line_ending",
            Self::InvalidStartLine => "invalid_start_line",
            Self::InvalidMethod => "invalid_method",
            Self::InvalidUri => "invalid_uri",
            Self::InvalidVersion => "invalid_version",
            Self::UnsupportedVersion => "unsupported_version",
            Self::InvalidStatusCode => "invalid_status_code",
            Self::InvalidReasonPhrase => "invalid_reason_phrase",
            Self::InvalidHeaderName => "invalid_header_name",
            Self::InvalidHeader(_) => "invalid_header",
            Self::MissingHeader(_) => "missing_header",
            Self::DuplicateHeader(_) => "duplicate_header",
            Self::InvalidContentLength => "invalid_content_length",
            Self::BodyTooShort => "body_too_short",
            Self::MissingContentLength => "missing_content_length",
            Self::CSeqMethodMismatch => "cseq_method_mismatch",
        }
    }
}

impl fmt::Display for ParseErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("no message in input"),
            Self::MessageTooLarge => f.write_str("message exceeds the size limit"),
            Self::LineTooLong => f.write_str("line exceeds the length limit"),
            Self::TooManyHeaders => f.write_str("too many header fields"),
            Self::TooManyVias => f.write_str("too many Via values"),
            Self::Incomplete => f.write_str("header section is not terminated by an empty line"),
            Self::InvalidUtf8 => f.write_str("header section is not valid UTF-8"),
            Self::InvalidLineEnding => f.write_str("bare CR or LF, or a control character"),
            Self::InvalidStartLine => f.write_str("malformed start line"),
            Self::InvalidMethod => f.write_str("malformed method"),
            Self::InvalidUri => f.write_str("malformed URI"),
            Self::InvalidVersion => f.write_str("malformed SIP-Version"),
            Self::UnsupportedVersion => f.write_str("SIP version not supported"),
            Self::InvalidStatusCode => f.write_str("malformed status code"),
            Self::InvalidReasonPhrase => f.write_str("malformed reason phrase"),
            Self::InvalidHeaderName => f.write_str("malformed header name"),
            Self::InvalidHeader(h) => write!(f, "malformed {} header", h.as_str()),
            Self::MissingHeader(h) => write!(f, "missing {} header", h.as_str()),
            Self::DuplicateHeader(h) => write!(f, "more than one {} header", h.as_str()),
            Self::InvalidContentLength => f.write_str("malformed Content-Length"),
            Self::BodyTooShort => f.write_str("body shorter than Content-Length"),
            Self::MissingContentLength => {
                f.write_str("Content-Length missing on a stream transport")
            }
            Self::CSeqMethodMismatch => f.write_str("CSeq method differs from the request method"),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {}: {}",
            self.kind.name(),
            self.offset,
            self.kind
        )
    }
}

impl std::error::Error for ParseError {}

/// An error of a command given to the core (sending a request, answering one, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The command does not fit the current state (SIP.js's INVALID_STATE_ERROR).
    InvalidState(&'static str),
    /// An argument is unusable (SIP.js's TypeError).
    InvalidArgument(String),
    /// No such transaction: it never existed, or it has terminated.
    UnknownTransaction,
    /// [`EndpointConfig::max_transactions`](crate::EndpointConfig) live transactions already.
    TooManyTransactions,
    /// A message could not be parsed.
    Parse(ParseError),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidState(s) => write!(f, "invalid state: {s}"),
            Error::InvalidArgument(s) => write!(f, "invalid argument: {s}"),
            Error::UnknownTransaction => f.write_str("no such transaction"),
            Error::TooManyTransactions => f.write_str("transaction limit reached"),
            Error::Parse(e) => write!(f, "parse error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Parse(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Self {
        Error::Parse(e)
    }
}
