//! Trickle ICE over SIP (RFC 8840), when [`crate::UaBuilder::trickle_ice`] turns it on: we
//! say `Supported: trickle-ice` and `Recv-Info: trickle-ice` (RFC 8840 §4.1, RFC 6086 §5.2)
//! in our INVITEs and 2xx; candidates gathered after our SDP went out go to a peer that said
//! the same in INFO requests of the `trickle-ice` Info Package (RFC 8840 §5, §9), whose
//! `application/trickle-ice-sdpfrag` bodies carry `a=candidate` lines and
//! `a=end-of-candidates`; the peer's go to the media session's ICE agent.
//!
//! What is trickled: today the server-reflexive candidate of a STUN server
//! ([`crate::UaBuilder::stun_server`]) and the end of gathering. As the callee of a peer
//! that supports trickle ICE, our answer does not wait for the STUN response. As the caller,
//! [`TrickleMode`] says what the offer does: with [`TrickleMode::Half`] we cannot know the
//! callee supports trickle before its answer, so the offer has every candidate it can within
//! the usual bounded wait ("half trickle", RFC 8840 §4.2), and only a late one is trickled;
//! with [`TrickleMode::Full`] the application knows the callee does trickle ICE, so the
//! INVITE leaves at once with host candidates only and the rest follows by INFO as soon as
//! a dialog exists: the early one of a 18x with a To tag (RFC 8840 §5.1), else the
//! confirmed one.

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

/// Trickle ICE over SIP (RFC 8840), as [`crate::UaBuilder::trickle_ice_mode`] sets it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum TrickleMode {
    /// No trickle ICE: every SDP waits for gathering (bounded) and nothing is sent later.
    #[default]
    Off,
    /// RFC 8840 §4.2 "half trickle": we announce trickle ICE and trickle what gathering
    /// finds late; as the caller our offer still waits (bounded) for gathering, since the
    /// callee's support is unknown until it answers. What `trickle_ice(true)` turns on.
    Half,
    /// RFC 8840 §4.2 full trickle, for when the application knows the callee does trickle
    /// ICE: as the caller our INVITE leaves at once with the host candidates; the others and
    /// `a=end-of-candidates` go in INFO requests once a dialog exists (the early dialog of a
    /// 18x with a To tag, RFC 8840 §5.1; else the one of the 2xx). As the callee, as
    /// [`TrickleMode::Half`].
    Full,
}

impl TrickleMode {
    /// Trickle ICE is on (half or full).
    pub fn is_on(self) -> bool {
        self != TrickleMode::Off
    }
}

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
    /// Full trickle ([`TrickleMode::Full`]) as the caller: sent in an early dialog too, and
    /// without waiting for the peer's `Supported: trickle-ice` (the application vouched).
    pub(crate) full: bool,
}

/// Sends `sdpfrag` in an INFO (RFC 8840 §9) once the call is established (or, with
/// [`Target::full`], once an early dialog is: RFC 8840 §5.1), if the peer announced trickle
/// ICE or the application vouched for it; in a task of its own. An INFO the early dialog
/// refuses (a 18x without a To tag makes none) is sent again once the call is established.
pub(crate) fn send(target: Target, sdpfrag: String) {
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + DIALOG_WAIT;
        let mut tried_early = false;
        loop {
            let Some(shared) = target.shared.upgrade() else {
                return;
            };
            let state = shared.state();
            drop(shared);
            let early = match state {
                State::Answered => false,
                State::Early if target.full && !tried_early => true,
                State::Terminated => return,
                _ if tokio::time::Instant::now() > deadline => return,
                _ => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            };
            let peer = target
                .shared
                .upgrade()
                .is_some_and(|s| s.peer_trickle.load(Ordering::Relaxed));
            if !peer && !target.full {
                tracing::debug!("late ICE candidates not sent: the peer does not do trickle ICE");
                return;
            }
            let Some(ua) = target.ua.upgrade() else {
                return;
            };
            match info(Ua { shared: ua }, target.session, &sdpfrag).await {
                Ok(()) => return,
                Err(e) if early => {
                    tracing::debug!(error = %e, "trickle-ice INFO in the early dialog failed");
                    tried_early = true;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "trickle-ice INFO failed");
                    return;
                }
            }
        }
    });
}

/// One INFO of the trickle-ice package with `sdpfrag` (RFC 8840 §9, RFC 6086 §4.2).
async fn info(ua: Ua, session: SessionId, sdpfrag: &str) -> Result<(), crate::Error> {
    let headers = vec![
        ("Info-Package".to_owned(), PACKAGE.to_owned()),
        ("Content-Disposition".to_owned(), "Info-Package".to_owned()),
    ];
    let body = Body {
        content_type: CONTENT_TYPE.into(),
        bytes: sdpfrag.as_bytes().to_vec().into(),
    };
    ua.request_in_dialog(session, Method::Info, headers, Some(body))
        .await
        .map(|_| ())
}
