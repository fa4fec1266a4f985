//! Trickle ICE over SIP (RFC 8840), when [`crate::UaBuilder::trickle_ice`] turns it on: we
//! say `Supported: trickle-ice` and `Recv-Info: trickle-ice` (RFC 8840 §4.1, RFC 6086 §5.2)
//! in our INVITEs and 2xx; candidates gathered after our SDP went out go to a peer that said
//! the same in INFO requests of the `trickle-ice` Info Package (RFC 8840 §5, §9), whose
//! `application/trickle-ice-sdpfrag` bodies carry `a=candidate` lines and
//! `a=end-of-candidates`; the peer's go to the media session's ICE agent.
//!
//! What is trickled: today the server-reflexive candidate of a STUN server
//! ([`crate::UaBuilder::stun_server`]) and the end of gathering. As the callee of a peer
//! that supports trickle ICE, our answer does not wait for the STUN response; as the caller
//! we cannot know the callee supports it before its answer, so our offer has every
//! candidate it can within the usual bounded wait ("half trickle", RFC 8840 §4.2), and only
//! a late one is trickled.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sipline_proto::{Body, HeaderName, Headers, Method, Request, SessionId};

use crate::session::{Shared, State};
use crate::ua::{Ua, UaShared};

/// The Info Package (RFC 8840 §6) and the body type (§9.1).
pub(crate) const PACKAGE: &str = "trickle-ice";
pub(crate) const CONTENT_TYPE: &str = "application/trickle-ice-sdpfrag";

/// How long a candidate waits for the dialog to be confirmed before it is dropped.
const DIALOG_WAIT: Duration = Duration::from_secs(32);

/// The header fields that announce trickle ICE in an INVITE or its 2xx (RFC 8840 §4.1).
pub(crate) fn announce() -> Vec<(String, String)> {
    vec![
        ("Supported".into(), PACKAGE.into()),
        ("Recv-Info".into(), PACKAGE.into()),
    ]
}

/// Whether a message's header fields say the peer does trickle ICE over SIP.
pub(crate) fn peer_supports(headers: &Headers) -> bool {
    headers
        .values(HeaderName::Supported)
        .any(|v| v.trim().eq_ignore_ascii_case(PACKAGE))
}

/// Whether `request` is an INFO of the trickle-ice package (RFC 8840 §9).
pub(crate) fn is_trickle_info(request: &Request) -> bool {
    request
        .headers
        .get_other("Info-Package")
        .is_some_and(|p| p.trim().eq_ignore_ascii_case(PACKAGE))
        || request
            .headers
            .get(HeaderName::ContentType)
            .is_some_and(|c| c.trim().eq_ignore_ascii_case(CONTENT_TYPE))
}

/// Where a session's media task sends its trickled candidates.
#[derive(Clone)]
pub(crate) struct Target {
    pub(crate) ua: Weak<UaShared>,
    pub(crate) session: SessionId,
    pub(crate) shared: Weak<Shared>,
}

/// Sends `sdpfrag` in an INFO (RFC 8840 §9) once the call is established, if the
/// peer announced trickle ICE; in a task of its own.
pub(crate) fn send(target: Target, sdpfrag: String) {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + DIALOG_WAIT;
        loop {
            let Some(shared) = target.shared.upgrade() else {
                return;
            };
            match shared.state() {
                State::Answered => break,
                State::Terminated => return,
                _ if tokio::time::Instant::now() > deadline => return,
                _ => {}
            }
            drop(shared);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let peer = target
            .shared
            .upgrade()
            .is_some_and(|s| s.peer_trickle.load(Ordering::Relaxed));
        let Some(ua) = target.ua.upgrade() else {
            return;
        };
        if !peer {
            tracing::debug!("late ICE candidates not sent: the peer does not do trickle ICE");
            return;
        }
        let headers = vec![
            ("Info-Package".to_owned(), PACKAGE.to_owned()),
            ("Content-Disposition".to_owned(), "Info-Package".to_owned()),
        ];
        let body = Body {
            content_type: CONTENT_TYPE.into(),
            bytes: sdpfrag.into_bytes().into(),
        };
        if let Err(e) = (Ua { shared: ua })
            .request_in_dialog(target.session, Method::Info, headers, Some(body))
            .await
        {
            tracing::debug!(error = %e, "trickle-ice INFO failed");
        }
    });
}
