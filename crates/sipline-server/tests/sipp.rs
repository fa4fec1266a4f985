//! A real peer through the server: sipp's built-in UAC (`-sn uac`) calls `bob`, a sipline
//! UA registered over UDP, by the server's address; the server looks bob up, forwards the
//! INVITE, its 200, the ACK and the BYE. sipp is killed by its pid on every path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../sipline-tokio/tests/common/sipp.rs"]
#[allow(dead_code, unreachable_pub)]
mod sipp;

use std::net::SocketAddr;
use std::time::Duration;

use sipline::{AcceptOptions, SessionEvent, TransportKind, Ua, UaEvent};
use sipline_server::{Server, ServerEvent};
use tokio::time::timeout;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_calls_a_registered_ua_through_the_server() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::builder().udp(any).start().await.unwrap();
    let at = server.local_addr(TransportKind::Udp).unwrap();
    let bob = Ua::builder()
        .uri(format!("sip:bob@{at}"))
        .registrar(format!("sip:{at}"))
        .register_expires(300)
        .udp(any)
        .build()
        .await
        .unwrap();
    assert!(matches!(
        timeout(Duration::from_secs(5), bob.next_event()).await,
        Ok(Some(UaEvent::Registered { .. }))
    ));
    // bob answers every call and keeps each session until it ends.
    let answering = bob.clone();
    let answered = tokio::spawn(async move {
        let mut n = 0;
        while let Some(UaEvent::Invite(mut s)) = answering.next_event().await {
            s.accept(AcceptOptions::default()).await.unwrap();
            n += 1;
            tokio::spawn(async move {
                while let Some(e) = s.next_event().await {
                    if matches!(e, SessionEvent::Terminated { .. }) {
                        break;
                    }
                }
            });
            if n == 5 {
                break;
            }
        }
        n
    });
    let port = sipp::free_port();
    let target = at.to_string();
    let sipp = sipp::Sipp::spawn(
        port,
        &[
            "-sn", "uac", &target, "-s", "bob", "-m", "5", "-r", "5", "-timeout", "30s",
        ],
    );
    let run = sipp.finish(Duration::from_secs(40)).await;
    assert_eq!(
        sipp::stat(&run.stats, "SuccessfulCall(C)"),
        Some(5),
        "{}",
        run.report()
    );
    assert_eq!(
        sipp::stat(&run.stats, "FailedCall(C)"),
        Some(0),
        "{}",
        run.report()
    );
    assert_eq!(
        timeout(Duration::from_secs(5), answered)
            .await
            .unwrap()
            .unwrap(),
        5
    );
    let mut routed = 0;
    while let Ok(Some(ev)) = timeout(Duration::from_millis(200), server.next_event()).await {
        if matches!(ev, ServerEvent::Routed { ref method, .. } if method.as_str() == "INVITE") {
            routed += 1;
        }
    }
    assert_eq!(routed, 5);
    server.shutdown().await;
}
