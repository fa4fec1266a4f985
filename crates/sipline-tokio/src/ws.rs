//! SIP over WebSocket (RFC 7118) for WS and WSS: the handshake negotiates the `sip`
//! subprotocol (§4.1), and every text or binary WebSocket message carries exactly one SIP
//! message (§5.2), so no stream framing is needed; the message size limit is enforced by the
//! WebSocket layer. Keep-alives are WebSocket Ping frames (§6); tungstenite answers the
//! peer's pings itself.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use sipline_proto::{Limits, TransportKind};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::conn::{Conn, ConnError, Io, Liveness, Outgoing};

/// A WebSocket over plain TCP or TLS.
pub(crate) type WsStream = WebSocketStream<Box<dyn Io>>;

/// The subprotocol name registered by RFC 7118 §9.1.
const SUBPROTOCOL: &str = "sip";

fn config(limits: &Limits) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(limits.max_message_size))
        .max_frame_size(Some(limits.max_message_size))
}

/// Whether a `Sec-WebSocket-Protocol` request header offers `sip`.
fn offers_sip(req: &Request) -> bool {
    req.headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case(SUBPROTOCOL))
}

/// Server side of the handshake: accepted only if the client offers `sip`, which the answer
/// then names (RFC 7118 §4.1).
pub(crate) async fn accept(io: Box<dyn Io>, limits: &Limits) -> Result<WsStream, ConnError> {
    // The signature is tungstenite's `Callback`.
    #[allow(clippy::result_large_err)]
    let check = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        if !offers_sip(req) {
            let mut err = ErrorResponse::new(Some(
                "SIP over WebSocket needs Sec-WebSocket-Protocol: sip (RFC 7118)".into(),
            ));
            *err.status_mut() = StatusCode::BAD_REQUEST;
            return Err(err);
        }
        resp.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOL),
        );
        Ok(resp)
    };
    tokio_tungstenite::accept_hdr_async_with_config(io, check, Some(config(limits)))
        .await
        .map_err(ConnError::WsHandshake)
}

/// Client side of the handshake: offers `sip` and insists on getting it back.
pub(crate) async fn connect(
    io: Box<dyn Io>,
    remote: SocketAddr,
    kind: TransportKind,
    limits: &Limits,
) -> Result<WsStream, ConnError> {
    let scheme = if kind == TransportKind::Wss {
        "wss"
    } else {
        "ws"
    };
    let mut req = format!("{scheme}://{remote}/")
        .into_client_request()
        .map_err(ConnError::WsHandshake)?;
    req.headers_mut().insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let (ws, resp) = tokio_tungstenite::client_async_with_config(req, io, Some(config(limits)))
        .await
        .map_err(ConnError::WsHandshake)?;
    // tungstenite already rejects a missing or foreign subprotocol; check anyway, it is the
    // one thing RFC 7118 §4.1 requires of the answer.
    let agreed = resp
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(SUBPROTOCOL));
    if !agreed {
        return Err(ConnError::WsHandshake(tungstenite::Error::Protocol(
            tungstenite::error::ProtocolError::SecWebSocketSubProtocolError(
                tungstenite::error::SubProtocolError::NoSubProtocol,
            ),
        )));
    }
    Ok(ws)
}

/// Serves an established WebSocket until it ends.
pub(crate) async fn serve(
    ws: WsStream,
    conn: &Conn,
    mut queue: mpsc::Receiver<Outgoing>,
) -> ConnError {
    let (mut sink, mut stream) = ws.split();
    let live = Liveness::new();
    let max = conn.limits.max_message_size;
    let reader = async {
        loop {
            let payload: Bytes = match stream.next().await {
                None => return ConnError::PeerClosed,
                Some(Err(e)) => return ConnError::Ws(e),
                Some(Ok(Message::Text(t))) => t.into(),
                Some(Ok(Message::Binary(b))) => b,
                Some(Ok(Message::Pong(_))) => {
                    live.pong();
                    continue;
                }
                Some(Ok(Message::Close(_))) => return ConnError::PeerClosed,
                Some(Ok(Message::Ping(_))) => {
                    // tungstenite queues the Pong itself.
                    live.pinged();
                    continue;
                }
                Some(Ok(Message::Frame(_))) => continue,
            };
            if payload.len() > max {
                return ConnError::TooLarge(payload.len());
            }
            if let Err(e) = conn.deliver(&live, payload).await {
                return e;
            }
        }
    };
    let writer = async {
        while let Some(item) = queue.recv().await {
            let msg = match item {
                Outgoing::Message(m) => {
                    live.touch();
                    // A SIP message is text unless its body is binary (RFC 7118 §5.2).
                    match tungstenite::Utf8Bytes::try_from(m.clone()) {
                        Ok(text) => Message::Text(text),
                        Err(_) => Message::Binary(m),
                    }
                }
                Outgoing::Ping => Message::Ping(Bytes::new()),
                Outgoing::Pong => continue,
            };
            if let Err(e) = sink.feed(msg).await {
                return ConnError::Ws(e);
            }
            if queue.is_empty()
                && let Err(e) = sink.flush().await
            {
                return ConnError::Ws(e);
            }
        }
        ConnError::Stopped
    };
    let reason = tokio::select! {
        e = reader => e,
        e = writer => e,
        e = live.supervise(conn) => e,
    };
    if matches!(
        reason,
        ConnError::Idle(_) | ConnError::KeepaliveTimeout(_) | ConnError::TooLarge(_)
    ) {
        // Our decision: say so with a Close frame, but never wait on a peer that does not read.
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
    }
    reason
}
