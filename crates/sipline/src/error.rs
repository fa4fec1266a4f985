//! Errors of the public API: SIP.js's TypeError and INVALID_STATE_ERROR, plus what a network
//! stack adds.

/// An error of a [`Ua`](crate::Ua) or [`Session`](crate::Session) call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument is unusable (SIP.js's TypeError): a bad target URI, tone, status code.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The call does not fit the session's state (SIP.js's INVALID_STATE_ERROR).
    #[error("invalid state: {0}")]
    InvalidState(String),
    /// The transports could not be started or used.
    #[error("transport: {0}")]
    Transport(#[from] sipline_tokio::Error),
    /// The media could not be set up or negotiated.
    #[error("media: {0}")]
    Media(String),
    /// The request got a failure response (e.g. a REFER answered 403).
    #[error("the request failed with {0}")]
    Rejected(sipline_proto::StatusCode),
    /// The user agent has stopped.
    #[error("the user agent has stopped")]
    Closed,
}

impl From<sipline_proto::Error> for Error {
    fn from(e: sipline_proto::Error) -> Self {
        match e {
            sipline_proto::Error::InvalidState(s) => Error::InvalidState(s.to_owned()),
            sipline_proto::Error::InvalidArgument(s) => Error::InvalidArgument(s),
            other => Error::InvalidState(other.to_string()),
        }
    }
}
