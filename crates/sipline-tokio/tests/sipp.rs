//! Interop with sipp (Debian `sip-tester`), a real SIP peer: sipp sends OPTIONS and a
//! two-transaction MESSAGE scenario to a sipline runtime over UDP and TCP; every call must
//! succeed with no retransmission and no unexpected message.
//!
//! sipp is required: if it is missing the test fails and says how to install it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use common::sipp::{free_port, scenario, screen_counts, sipp_path, tempdir};
use common::{Peer, bounded};
use sipline_proto::TransportKind;
use sipline_tokio::Runtime;

const CALLS: u32 = 200;

async fn run_sipp(
    target: SocketAddr,
    transport: &str,
    xml: &str,
) -> (std::process::ExitStatus, String, String) {
    let dir = tempdir();
    let screen = dir.join("screen.log");
    let errors = dir.join("errors.log");
    let mut child = tokio::process::Command::new(sipp_path())
        .arg("-sf")
        .arg(scenario(xml))
        .arg(target.to_string())
        .args([
            "-t",
            transport,
            "-i",
            "127.0.0.1",
            "-p",
            &free_port().to_string(),
        ])
        .args([
            "-m",
            &CALLS.to_string(),
            "-r",
            "100",
            "-l",
            "20",
            "-nostdin",
            "-timeout",
            "30s",
        ])
        .args(["-buff_size", "4194304", "-trace_screen", "-trace_err"])
        .arg("-screen_file")
        .arg(&screen)
        .arg("-error_file")
        .arg(&errors)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start sipp");
    let status = match tokio::time::timeout(Duration::from_secs(40), child.wait()).await {
        Ok(s) => s.unwrap(),
        Err(_) => {
            // Stop it by its pid, never by name.
            child.kill().await.unwrap();
            panic!("sipp did not finish in 40 s");
        }
    };
    let screen = std::fs::read_to_string(&screen).unwrap_or_default();
    let errors = std::fs::read_to_string(&errors).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    (status, screen, errors)
}

async fn interop(kind: TransportKind, sipp_transport: &str, xml: &str) {
    bounded(async {
        let builder = match kind {
            TransportKind::Udp => Runtime::builder().udp("127.0.0.1:0".parse().unwrap()),
            _ => Runtime::builder().tcp("127.0.0.1:0".parse().unwrap()),
        };
        let mut sipline = Peer::start(builder).await;
        let target = sipline.handle.local_addr(kind).unwrap();
        let (status, screen, errors) = run_sipp(target, sipp_transport, xml).await;
        let (retrans, _, unexpected) = screen_counts(&screen);
        let lines = screen.lines().filter(|l| l.contains("---------->") || l.contains("<----------")).count();
        assert!(lines >= 2, "sipp's screen shows no message lines:\n{screen}");
        assert!(
            status.success() && retrans == 0 && unexpected == 0,
            "sipp {xml} over {kind}: {status}, {retrans} retransmissions, {unexpected} unexpected\n{screen}\n{errors}"
        );
        let mut answered = 0;
        while sipline.requests.try_recv().is_ok() {
            answered += 1;
        }
        let per_call = if xml.starts_with("message") { 2 } else { 1 };
        assert_eq!(answered, CALLS * per_call, "requests seen by the TU");
        sipline.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_options_over_udp() {
    interop(TransportKind::Udp, "u1", "options_uac.xml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_options_over_tcp() {
    interop(TransportKind::Tcp, "t1", "options_uac.xml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_message_over_udp() {
    interop(TransportKind::Udp, "u1", "message_uac.xml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_message_over_tcp() {
    interop(TransportKind::Tcp, "t1", "message_uac.xml").await;
}

#[test]
fn screen_parsing_counts_retransmissions_and_unexpected() {
    let screen = "junk\n                                 Messages  Retrans   Timeout   Unexpected-Msg\n\
      OPTIONS ---------->         200       3     \n\
          200 <----------         200       0         0         2   \n";
    assert_eq!(screen_counts(screen), (3, 0, 2));
    let uas = "                                 Messages  Retrans   Timeout   Unexpected-Msg\n\
      ----------> INVITE             5         1         0         4\n\
      <---------- 200                5         2         0\n\
      ----------> ACK         E-RTD1 5         0         3         0\n\
      [   4000ms] Pause              5                             2\n";
    assert_eq!(screen_counts(uas), (3, 3, 6));
}
