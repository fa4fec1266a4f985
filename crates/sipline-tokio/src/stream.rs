//! TCP and TLS: listeners, and serving a connection. Messages are cut out of the byte stream
//! by Content-Length (RFC 3261 §18.3, [`StreamFramer`]); `CRLF CRLF` pings are answered with a
//! `CRLF` pong (RFC 5626 §3.5.1). A framing error closes the connection: a stream cannot be
//! resynchronised.

use std::net::SocketAddr;
use std::time::Duration;

use sipline_proto::parse::Framed;
use sipline_proto::{StreamFramer, TransportKind};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;

use crate::conn::{Conn, ConnError, Io, Liveness, Outgoing};
use crate::driver::NetEvent;

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 16 * 1024;

/// Opens a listening TCP socket; an IPv6 one serves IPv6 only, so that `0.0.0.0:P` and
/// `[::]:P` can both be bound.
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Accepts connections and hands them to the driver, which numbers them, applies the
/// connection limit and starts their tasks. Used by the TCP, TLS, WS and WSS listeners.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    kind: TransportKind,
    tls: Option<TlsAcceptor>,
    net_tx: mpsc::Sender<NetEvent>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, remote)) => {
                let ev = NetEvent::Accepted {
                    kind,
                    stream,
                    remote,
                    tls: tls.clone(),
                };
                if net_tx.send(ev).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: wait for some to be freed.
                tracing::warn!(%kind, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves an established TCP or TLS connection until it ends.
pub(crate) async fn serve(
    io: Box<dyn Io>,
    conn: &Conn,
    mut queue_rx: mpsc::Receiver<Outgoing>,
) -> ConnError {
    let (reader, mut writer) = tokio::io::split(io);
    let live = Liveness::new();
    let reason = tokio::select! {
        e = read_loop(reader, conn, &live) => e,
        e = write_loop(&mut writer, &mut queue_rx, &live) => e,
        e = live.supervise(conn) => e,
    };
    if !matches!(reason, ConnError::Write(_) | ConnError::QueueFull) {
        // Say goodbye (FIN, TLS close_notify), but never wait on a peer that does not read.
        let _ = tokio::time::timeout(Duration::from_secs(1), writer.shutdown()).await;
    }
    reason
}

async fn read_loop<R: AsyncRead + Unpin>(mut reader: R, conn: &Conn, live: &Liveness) -> ConnError {
    let mut framer = StreamFramer::new(conn.limits);
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(0) => return ConnError::PeerClosed,
            Ok(n) => n,
            Err(e) => return ConnError::Read(e),
        };
        framer.push(&buf[..n]);
        loop {
            match framer.next_frame() {
                Ok(None) => break,
                Ok(Some(Framed::Message(m))) => {
                    if let Err(e) = conn.deliver(live, m).await {
                        return e;
                    }
                }
                Ok(Some(Framed::Ping)) => {
                    live.pinged();
                    if let Err(e) = conn.queue(Outgoing::Pong) {
                        return e;
                    }
                }
                Ok(Some(Framed::Pong)) => live.pong(),
                Err(e) => return ConnError::Framing(e),
            }
        }
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    writer: &mut W,
    queue: &mut mpsc::Receiver<Outgoing>,
    live: &Liveness,
) -> ConnError {
    while let Some(item) = queue.recv().await {
        let bytes: &[u8] = match &item {
            Outgoing::Message(m) => {
                live.touch();
                m
            }
            Outgoing::Ping => b"\r\n\r\n",
            Outgoing::Pong => b"\r\n",
        };
        if let Err(e) = writer.write_all(bytes).await {
            return ConnError::Write(e);
        }
        if queue.is_empty()
            && let Err(e) = writer.flush().await
        {
            return ConnError::Write(e);
        }
    }
    ConnError::Stopped
}
