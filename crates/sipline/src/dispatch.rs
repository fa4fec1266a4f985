//! The dispatcher task: turns the core's events into session and UA events, and does the
//! media work they call for (applying answers, answering re-INVITEs) without waiting for the
//! application to poll.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use sipline_media::MediaEvent;
use sipline_proto::{Body, DtmfInfo, Method, SessionId, StatusCode, UaCore};
use sipline_tokio::EventStream;
use tokio::sync::mpsc;

use crate::Error;
use crate::session::{Role, Session, SessionEvent, Shared, State};
use crate::ua::{Entry, Ua, UaEvent, UaShared, lock, media_event};

/// Forwards a media task's events (RFC 4733 DTMF) into the session's event channel.
/// With `trickle`, late ICE candidates go to the peer (RFC 8840).
pub(crate) fn forward_media_events(
    mut rx: crate::queue::Rx<MediaEvent>,
    to: crate::queue::Tx<SessionEvent>,
    trickle: Option<crate::trickle::Target>,
) {
    tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            if let MediaEvent::LocalCandidates { sdpfrag } = &e {
                if let Some(t) = &trickle {
                    crate::trickle::send(t.clone(), sdpfrag.clone());
                }
                continue;
            }
            if let Some(e) = media_event(e)
                && to.send(e).is_err()
            {
                return;
            }
        }
    });
}

/// Resolves whoever waits in [`Ua::register`] or [`Ua::unregister`].
fn wake_registration(ua: &Ua, result: Result<(), Error>) {
    let waiters = std::mem::take(&mut *lock(&ua.shared.reg_waiters));
    let mut result = Some(result);
    for w in waiters {
        let r = match &result {
            Some(Ok(())) => Ok(()),
            Some(Err(Error::Rejected(s))) => Err(Error::Rejected(*s)),
            _ => match result.take() {
                Some(Err(e)) => Err(e),
                _ => Err(Error::Closed),
            },
        };
        let _ = w.send(r);
    }
}

pub(crate) async fn run(
    ua: Weak<UaShared>,
    mut events: EventStream<sipline_proto::UaEvent>,
    ua_tx: mpsc::UnboundedSender<UaEvent>,
) {
    while let Some(e) = events.next_event().await {
        let Some(shared) = ua.upgrade() else {
            return;
        };
        handle(&Ua { shared }, e, &ua_tx).await;
    }
}

/// The task that reports a referred call's progress to the session that sent the REFER,
/// one NOTIFY at a time so they arrive in order: each a `message/sipfrag` of the status
/// (RFC 3515 §2.4.4, §2.4.5); a final status ends the implicit subscription and the task.
pub(crate) fn referrer_notifier(ua: Ua, referrer: SessionId) -> mpsc::UnboundedSender<StatusCode> {
    let (tx, mut rx) = mpsc::unbounded_channel::<StatusCode>();
    tokio::spawn(async move {
        while let Some(status) = rx.recv().await {
            let n = sipline_proto::ReferNotify::for_status(status, None, 60);
            let headers = n
                .headers()
                .into_iter()
                .map(|(h, v)| (h.as_str().to_owned(), v))
                .collect();
            if let Err(e) = ua
                .request_in_dialog(referrer, Method::Notify, headers, Some(n.body()))
                .await
            {
                tracing::debug!(error = %e, "NOTIFY to the referrer failed");
                return;
            }
            if status.is_final() {
                return;
            }
        }
    });
    tx
}

/// Queues a NOTIFY for the referrer of `session`, if it was made by a REFER.
pub(crate) fn notify_referrer(ua: &Ua, session: SessionId, status: StatusCode) {
    let mut sessions = lock(&ua.shared.sessions);
    let Some(e) = sessions.get_mut(&session) else {
        return;
    };
    if let Some(tx) = &e.notify {
        let _ = tx.send(status);
    }
    if status.is_final() {
        e.notify = None;
    }
}

fn entry(ua: &Ua, id: SessionId) -> Option<(Arc<Shared>, crate::queue::Tx<SessionEvent>)> {
    lock(&ua.shared.sessions)
        .get(&id)
        .map(|e| (Arc::clone(&e.shared), e.events.clone()))
}

/// Applies the peer's SDP answer once (RFC 3264): from a reliable 18x, the 2xx or the ACK.
async fn apply_answer(shared: &Shared, body: &[u8]) {
    if body.is_empty() || shared.negotiated.load(Ordering::Relaxed) {
        return;
    }
    if let Some(media) = shared.media() {
        match media
            .accept_answer(String::from_utf8_lossy(body).into_owned())
            .await
        {
            Ok(()) => {
                shared.negotiated.store(true, Ordering::Relaxed);
                *lock(&shared.remote_sdp) = Some(String::from_utf8_lossy(body).into_owned());
            }
            Err(e) => tracing::warn!(error = %e, "the peer's SDP answer is unusable"),
        }
    }
}

async fn handle(ua: &Ua, e: sipline_proto::UaEvent, ua_tx: &mpsc::UnboundedSender<UaEvent>) {
    use sipline_proto::UaEvent as E;
    match e {
        E::Incoming { session, request } => {
            let shared = Arc::new(Shared::new(Role::Uas, None));
            shared.set_request(request);
            let (tx, rx) = crate::queue::queue();
            lock(&ua.shared.sessions).insert(
                session,
                Entry {
                    shared: Arc::clone(&shared),
                    events: tx.clone(),
                    notify: None,
                },
            );
            let s = Session::new(ua.clone(), session, shared, rx, tx);
            // Nobody listening: the session is dropped, which declines the call (480).
            let _ = ua_tx.send(UaEvent::Invite(s));
        }
        E::Progress { session, response } => {
            let Some((shared, tx)) = entry(ua, session) else {
                return;
            };
            if response.status != StatusCode::TRYING {
                shared.set_state(State::Early);
                notify_referrer(ua, session, response.status);
            }
            apply_answer(&shared, &response.body).await;
            let _ = tx.send(SessionEvent::Progress { response });
        }
        E::Accepted {
            session,
            response: Some(response),
        } => {
            let Some((shared, tx)) = entry(ua, session) else {
                return;
            };
            let _ = tx.send(SessionEvent::Connecting);
            if ua.shared.trickle_ice {
                shared.peer_trickle.store(
                    crate::trickle::peer_supports(&response.headers),
                    Ordering::Relaxed,
                );
            }
            apply_answer(&shared, &response.body).await;
            shared.set_state(State::Answered);
            *lock(&shared.start_time) = Some(SystemTime::now());
            notify_referrer(ua, session, response.status);
            let _ = tx.send(SessionEvent::Accepted {
                code: response.status,
                response: Some(response),
            });
        }
        E::Confirmed {
            session,
            ack: Some(ack),
        } => {
            // Inbound: the call is up once our 2xx is ACKed.
            let Some((shared, tx)) = entry(ua, session) else {
                return;
            };
            apply_answer(&shared, &ack.body).await;
            shared.set_state(State::Answered);
            *lock(&shared.start_time) = Some(SystemTime::now());
            let _ = tx.send(SessionEvent::Accepted {
                code: StatusCode::OK,
                response: None,
            });
        }
        E::Failed {
            session,
            cause,
            response,
        } => {
            let Some((_, tx)) = entry(ua, session) else {
                return;
            };
            notify_referrer(
                ua,
                session,
                response
                    .as_ref()
                    .map_or(StatusCode::SERVICE_UNAVAILABLE, |r| r.status),
            );
            if let Some(r) = &response {
                let _ = tx.send(SessionEvent::Rejected {
                    response: r.clone(),
                    cause: r.reason.to_string(),
                });
            }
            let _ = tx.send(SessionEvent::Failed {
                code: response.as_ref().map(|r| r.status),
                response,
                cause,
            });
        }
        E::Canceled { session, .. } => {
            if let Some((_, tx)) = entry(ua, session) {
                let _ = tx.send(SessionEvent::Cancel);
            }
        }
        E::Bye { session, request } => {
            if let Some((_, tx)) = entry(ua, session) {
                let _ = tx.send(SessionEvent::Bye { request });
            }
        }
        E::Terminated { session, cause } => {
            let removed = lock(&ua.shared.sessions).remove(&session);
            if let Some(Entry { shared, events, .. }) = removed {
                shared.set_state(State::Terminated);
                *lock(&shared.end_time) = Some(SystemTime::now());
                // Dropping the last media handle stops the RTP task.
                lock(&shared.media).take();
                if let Some(w) = lock(&shared.reoffer).take() {
                    let _ = w.send(Err(Error::Closed));
                }
                let _ = events.send(SessionEvent::Terminated { cause });
            }
        }
        E::Reinvite { session, request } => {
            let Some((shared, _)) = entry(ua, session) else {
                return;
            };
            if lock(&shared.reoffer).is_some() {
                // Session::renegotiate is preparing our re-INVITE (its offer is pending in
                // the media): the core has not sent it yet, but this is glare all the same
                // (RFC 3261 §14.2: 491).
                let _ = ua
                    .core(move |c: &mut UaCore, now| {
                        c.reject_reinvite(
                            now,
                            session,
                            sipline_proto::ReplyParams::status(StatusCode::REQUEST_PENDING),
                        )
                    })
                    .await;
                return;
            }
            // A new offer: new direction, codecs, or ICE credentials (an ICE restart, RFC
            // 8445 §9, answered with new credentials of ours, RFC 8839 §4.4.1.1.2).
            let answer = match shared.media() {
                Some(m) if !request.body.is_empty() => {
                    let offer = String::from_utf8_lossy(&request.body).into_owned();
                    let answer = m.accept_offer(offer.clone()).await;
                    if let Ok(a) = &answer {
                        *lock(&shared.remote_sdp) = Some(offer);
                        *lock(&shared.local_sdp) = Some(a.clone());
                    }
                    answer.map(Some)
                }
                Some(m) => m.create_offer().await.map(Some),
                None => Ok(None),
            };
            let _ = ua
                .core(move |c: &mut UaCore, now| match answer {
                    Ok(sdp) => c.accept_reinvite(now, session, sdp.map(Body::sdp)),
                    Err(_) => c.reject_reinvite(
                        now,
                        session,
                        sipline_proto::ReplyParams::status(StatusCode::NOT_ACCEPTABLE_HERE),
                    ),
                })
                .await;
        }
        E::ReinviteAccepted { session, response } => {
            // Our re-INVITE (Session::renegotiate): its 2xx carries the answer.
            let Some((shared, _)) = entry(ua, session) else {
                return;
            };
            let result = match shared.media() {
                Some(m) if !response.body.is_empty() => {
                    let answer = String::from_utf8_lossy(&response.body).into_owned();
                    let r = m.accept_answer(answer.clone()).await;
                    if r.is_ok() {
                        *lock(&shared.remote_sdp) = Some(answer);
                    }
                    r
                }
                Some(m) => {
                    let _ = m.cancel_offer().await;
                    Err(Error::Media(
                        "the 2xx to our re-INVITE carried no SDP answer".into(),
                    ))
                }
                None => Ok(()),
            };
            if let Some(w) = lock(&shared.reoffer).take() {
                let _ = w.send(result);
            }
        }
        E::ReinviteFailed { session, status } => {
            let Some((shared, _)) = entry(ua, session) else {
                return;
            };
            if let Some(m) = shared.media() {
                let _ = m.cancel_offer().await;
            }
            if let Some(w) = lock(&shared.reoffer).take() {
                let _ = w.send(Err(Error::Rejected(status)));
            }
        }
        E::InDialogRequest {
            session,
            tx,
            request,
        } => {
            let Some((_, events)) = entry(ua, session) else {
                ua.reply_later(tx, &request, StatusCode::CALL_OR_TRANSACTION_DOES_NOT_EXIST);
                return;
            };
            match request.method {
                Method::Info if crate::trickle::is_trickle_info(&request) => {
                    // RFC 8840 §9: the peer's late candidates. 469 Bad Info Package when we
                    // did not announce the package (RFC 6086 §4.2.2).
                    let media = entry(ua, session).and_then(|(s, _)| s.media());
                    let status = match media {
                        Some(m) if ua.shared.trickle_ice => {
                            let frag = String::from_utf8_lossy(&request.body).into_owned();
                            match m.add_remote_candidates(frag).await {
                                Ok(()) => StatusCode::OK,
                                Err(e) => {
                                    tracing::debug!(error = %e, "unusable trickled candidates");
                                    StatusCode::BAD_REQUEST
                                }
                            }
                        }
                        _ => StatusCode::new(469).unwrap_or(StatusCode::NOT_IMPLEMENTED),
                    };
                    ua.reply_later(tx, &request, status);
                }
                Method::Info => {
                    let ct = request.headers.get(sipline_proto::HeaderName::ContentType);
                    match DtmfInfo::parse(ct.unwrap_or(""), &request.body) {
                        Ok(info) => {
                            ua.reply_later(tx, &request, StatusCode::OK);
                            let _ = events.send(SessionEvent::Dtmf {
                                tone: info.tone.as_char(),
                                duration: info.duration.unwrap_or(Duration::from_millis(100)),
                                request: Some(request),
                            });
                        }
                        // RFC 6086 §4.2.2: an INFO package we do not read.
                        Err(_) => ua.reply_later(tx, &request, StatusCode::UNSUPPORTED_MEDIA_TYPE),
                    }
                }
                Method::Refer => {
                    // The 202 is queued before the REFER is reported: the first NOTIFY of
                    // follow_refer must not overtake it.
                    ua.reply_first(tx, &request, StatusCode::ACCEPTED).await;
                    let _ = events.send(SessionEvent::Refer { request });
                }
                Method::Notify => match sipline_proto::ReferNotify::parse(&request) {
                    Ok(n) => {
                        ua.reply_later(tx, &request, StatusCode::OK);
                        let _ = events.send(SessionEvent::ReferProgress {
                            status: n.frag.status,
                            request,
                        });
                    }
                    // RFC 6665 §8.3.1: an event package we do not know.
                    Err(_) => ua.reply_later(tx, &request, StatusCode::BAD_EVENT),
                },
                Method::Message | Method::Options => {
                    ua.reply_later(tx, &request, StatusCode::OK);
                }
                _ => ua.reply_later(tx, &request, StatusCode::NOT_IMPLEMENTED),
            }
        }
        E::Request { tx, request, .. } => {
            ua.reply_later(tx, &request, StatusCode::NOT_IMPLEMENTED);
        }
        E::Response { tx, response } => {
            if let Some(w) = lock(&ua.shared.pending).remove(&tx) {
                let _ = w.send(response);
            }
        }
        E::Registered { expires, .. } => {
            wake_registration(ua, Ok(()));
            let _ = ua_tx.send(UaEvent::Registered { expires });
        }
        E::Unregistered { .. } => {
            wake_registration(ua, Ok(()));
            let _ = ua_tx.send(UaEvent::Unregistered);
        }
        E::RegistrationFailed { status, reason, .. } => {
            let why = match status {
                Some(s) => Error::Rejected(s),
                None => Error::InvalidState(format!("registration failed: {reason}")),
            };
            wake_registration(ua, Err(why));
            let _ = ua_tx.send(UaEvent::RegistrationFailed { status, reason });
        }
        E::Dropped { flow, reason } => {
            tracing::debug!(remote = %flow.remote, ?reason, "message dropped");
        }
        _ => {}
    }
}
