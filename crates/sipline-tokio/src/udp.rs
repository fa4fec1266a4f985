//! UDP (RFC 3261 §18.1.1, §18.2.1): one datagram is one message. A receive task per socket
//! forwards datagrams to the driver; the driver sends directly, without blocking: a datagram
//! that does not fit the socket buffer is dropped, and the transaction layer retransmits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sipline_proto::{Flow, TransportKind};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use crate::driver::NetEvent;

/// Opens a UDP socket; an IPv6 one serves IPv6 only, so that `0.0.0.0:P` and `[::]:P` can
/// both be bound. Returns once the reactor has seen the socket writable: tokio caches
/// readiness, a new socket has none, and until the reactor has polled it `try_send_to` (see
/// [`send`]) reports `WouldBlock` without trying; the first request of a runtime that sends
/// at once was dropped that way and left only with its retransmission, T1 later.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    // A burst of requests must not overflow the kernel's queue while the driver is busy: at
    // 8,000 calls/s the default (~208 KiB) dropped datagrams and caused retransmissions.
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(UDP_RECV_BUFFER);
    socket.bind(&addr.into())?;
    let socket = UdpSocket::from_std(socket.into())?;
    socket.writable().await?;
    Ok(socket)
}

/// The receive buffer asked for UDP sockets (4 MiB, as sipp load tests use).
const UDP_RECV_BUFFER: usize = 4 * 1024 * 1024;

/// Receives datagrams and forwards them to the driver. Datagrams over `max_size` bytes are
/// dropped here (the parser would refuse them anyway).
pub(crate) async fn recv_loop(
    socket: Arc<UdpSocket>,
    max_size: usize,
    net_tx: mpsc::Sender<NetEvent>,
) {
    // One byte more than allowed, to see that a datagram was too large.
    let mut buf = vec![0u8; max_size.saturating_add(1).min(65_536)];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, remote)) if n > max_size => {
                tracing::debug!(%remote, len = n, "UDP datagram over the size limit dropped");
            }
            Ok((n, remote)) => {
                let ev = NetEvent::Received {
                    flow: Flow {
                        transport: TransportKind::Udp,
                        remote,
                        conn: None,
                    },
                    payload: Bytes::copy_from_slice(&buf[..n]),
                };
                if net_tx.send(ev).await.is_err() {
                    return;
                }
            }
            // ICMP errors of earlier sends surface here on some systems: not ours to handle.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset
                ) => {}
            Err(e) => {
                tracing::warn!(error = %e, "UDP receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// Sends a datagram without waiting. A full socket buffer drops it (UDP is lossy; the
/// transaction layer retransmits); other errors are returned.
pub(crate) fn send(socket: &UdpSocket, payload: &[u8], to: SocketAddr) -> std::io::Result<()> {
    match socket.try_send_to(payload, to) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
            tracing::debug!(%to, "UDP send buffer full, datagram dropped");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
