//! Why a session failed or ended: SIP.js's `SIP.C.causes`, as an enum.

use std::fmt;

use crate::message::StatusCode;

/// Why a session failed or ended (SIP.js 0.5 "Failure and End Causes").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// The transport failed (RFC 3261 §17.1.4, §18.4).
    ConnectionError,
    /// No final response came (Timer B, §17.1.1.2), or a 408.
    RequestTimeout,
    /// A final failure response not covered by another cause.
    SipFailureCode,
    /// sipline could not build or send what was needed.
    InternalError,
    /// 486 or 600.
    Busy,
    /// 403 or 603.
    Rejected,
    /// 300, 301, 302, 305 or 380.
    Redirected,
    /// 410, 430 or 480.
    Unavailable,
    /// 404 or 604.
    NotFound,
    /// 484.
    AddressIncomplete,
    /// 488 or 606, or an offer/answer that cannot be used.
    IncompatibleSdp,
    /// 401 or 407 that could not be answered.
    AuthenticationError,
    /// The dialog could not be created or a request in it failed (e.g. 481).
    DialogError,
    /// The INVITE was canceled (§9).
    Canceled,
    /// The callee did not answer before the no-answer timer fired.
    NoAnswer,
    /// The INVITE's Expires elapsed.
    Expires,
    /// The ACK for our 2xx never came (§13.3.1.4).
    NoAck,
    /// A reliable provisional response was never acknowledged (RFC 3262 §3).
    NoPrack,
    /// The media description could not be used.
    BadMediaDescription,
    /// No media arrived for too long.
    RtpTimeout,
    /// The session ended with a BYE, sent or received.
    Bye,
}

impl Cause {
    /// The cause a final failure response maps to (SIP.js `SIP_ERROR_CAUSES`).
    pub fn from_status(status: StatusCode) -> Cause {
        match status.as_u16() {
            300 | 301 | 302 | 305 | 380 => Cause::Redirected,
            486 | 600 => Cause::Busy,
            403 | 603 => Cause::Rejected,
            404 | 604 => Cause::NotFound,
            408 => Cause::RequestTimeout,
            410 | 430 | 480 => Cause::Unavailable,
            484 => Cause::AddressIncomplete,
            487 => Cause::Canceled,
            488 | 606 => Cause::IncompatibleSdp,
            401 | 407 => Cause::AuthenticationError,
            481 => Cause::DialogError,
            _ => Cause::SipFailureCode,
        }
    }

    /// SIP.js's text for the cause.
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::ConnectionError => "Connection Error",
            Cause::RequestTimeout => "Request Timeout",
            Cause::SipFailureCode => "SIP Failure Code",
            Cause::InternalError => "Internal Error",
            Cause::Busy => "Busy",
            Cause::Rejected => "Rejected",
            Cause::Redirected => "Redirected",
            Cause::Unavailable => "Unavailable",
            Cause::NotFound => "Not Found",
            Cause::AddressIncomplete => "Address Incomplete",
            Cause::IncompatibleSdp => "Incompatible SDP",
            Cause::AuthenticationError => "Authentication Error",
            Cause::DialogError => "Dialog Error",
            Cause::Canceled => "Canceled",
            Cause::NoAnswer => "No Answer",
            Cause::Expires => "Expires",
            Cause::NoAck => "No ACK",
            Cause::NoPrack => "No PRACK",
            Cause::BadMediaDescription => "Bad Media Description",
            Cause::RtpTimeout => "RTP Timeout",
            Cause::Bye => "Terminated",
        }
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_as_sipjs_does() {
        let c = |n| Cause::from_status(StatusCode::new(n).unwrap());
        assert_eq!(c(486), Cause::Busy);
        assert_eq!(c(603), Cause::Rejected);
        assert_eq!(c(302), Cause::Redirected);
        assert_eq!(c(480), Cause::Unavailable);
        assert_eq!(c(488), Cause::IncompatibleSdp);
        assert_eq!(c(407), Cause::AuthenticationError);
        assert_eq!(c(500), Cause::SipFailureCode);
        assert_eq!(Cause::NoAck.to_string(), "No ACK");
    }
}
