//! A real phone through the server: baresip (Debian `baresip-core`) registers as `bob`
//! (open registration) and auto-answers; a sipline UA registered over UDP calls
//! `sip:bob@sipline.test` through the server. Audio is checked both ways (sipline hears
//! baresip's 880 Hz sine; baresip's decoded-audio dump holds our 440 Hz), then baresip
//! hangs up and its BYE reaches sipline along the Record-Route path. baresip is killed by its pid on every path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../sipline/tests/common/baresip.rs"]
#[allow(dead_code, unreachable_pub)]
mod baresip;

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use sipline::{
    BufferSink, Cause, InviteOptions, SessionEvent, ToneSource, TransportKind, Ua, UaEvent,
    tone_frequency,
};
use sipline_server::{Server, ServerEvent};
use tokio::time::timeout;

/// baresip as `bob@127.0.0.1:<server>` registering every 60 s, auto-answering with an
/// 880 Hz sine and dumping what it decodes into `dir/snd`.
fn start_baresip(dir: &std::path::Path, server: SocketAddr) -> tokio::process::Child {
    let port = baresip::free_sip_port();
    std::fs::create_dir_all(dir.join("snd")).unwrap();
    let config = format!(
        "poll_method epoll\nmodule_path {modules}\nsip_listen 127.0.0.1:{port}\n\
         net_interface 127.0.0.1\naudio_player alsa,null\naudio_alert alsa,null\n\
         audio_source ausine,{hz}\nausrc_srate 48000\nausrc_channels 2\n\
         jitter_buffer_delay 1-10\nsnd_path {snd}\nmodule stdio.so\nmodule g711.so\n\
         module sndfile.so\nmodule alsa.so\nmodule ausine.so\nmodule_tmp account.so\n\
         module_app menu.so\n",
        modules = baresip::module_path().display(),
        hz = baresip::BARESIP_HZ as u32,
        snd = dir.join("snd").display(),
    );
    std::fs::write(dir.join("config"), config).unwrap();
    std::fs::write(
        dir.join("accounts"),
        format!("<sip:bob@{server}>;regint=60;answermode=auto\n"),
    )
    .unwrap();
    std::fs::write(dir.join("contacts"), "").unwrap();
    let log = std::fs::File::create(dir.join("out.log")).unwrap();
    tokio::process::Command::new(baresip::baresip_path())
        .arg("-f")
        .arg(dir)
        .args(["-t", "60"])
        .stdin(Stdio::piped())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()
        .expect("start baresip")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sipline_ua_calls_baresip_through_the_server() {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let server = Server::builder()
        .udp(any)
        .domain("sipline.test")
        .start()
        .await
        .unwrap();
    let at = server.local_addr(TransportKind::Udp).unwrap();
    let dir = std::env::temp_dir().join(format!("sipline-server-baresip-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut child = start_baresip(&dir, at);
    let log = || std::fs::read_to_string(dir.join("out.log")).unwrap_or_default();
    let registered = timeout(Duration::from_secs(15), async {
        loop {
            match server.next_event().await {
                Some(ServerEvent::Registered { aor, .. }) if aor == "bob" => return,
                Some(_) => {}
                None => panic!("server stopped"),
            }
        }
    })
    .await;
    assert!(registered.is_ok(), "baresip did not register\n{}", log());

    let alice = Ua::builder()
        .uri("sip:alice@sipline.test")
        .registrar("sip:sipline.test")
        .outbound_proxy(format!("sip:{at}"))
        .udp(any)
        .build()
        .await
        .unwrap();
    assert!(matches!(
        timeout(Duration::from_secs(5), alice.next_event()).await,
        Ok(Some(UaEvent::Registered { .. }))
    ));
    let sink = BufferSink::new(8000);
    let ear = sink.handle();
    let mut call = alice
        .invite(
            "sip:bob@sipline.test",
            InviteOptions {
                audio_source: Box::new(ToneSource::new(8000, baresip::SIPLINE_HZ, -10.0)),
                audio_sink: Box::new(sink),
                ..InviteOptions::default()
            },
        )
        .await
        .unwrap();
    loop {
        match timeout(Duration::from_secs(10), call.next_event()).await {
            Ok(Some(SessionEvent::Accepted { .. })) => break,
            Ok(Some(SessionEvent::Progress { .. } | SessionEvent::Connecting)) => {}
            other => panic!("{other:?}\n--- baresip ---\n{}", log()),
        }
    }
    let mut heard = None;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        heard = tone_frequency(&ear.take(), 8000);
        if heard.is_some_and(|f| (f - baresip::BARESIP_HZ).abs() < 5.0) {
            break;
        }
    }
    assert!(
        heard.is_some_and(|f| (f - baresip::BARESIP_HZ).abs() < 5.0),
        "sipline heard {heard:?}\n{}",
        log()
    );
    // Enough audio for baresip's dump to hold a clear tone.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // baresip hangs up: its BYE follows its route set (our Record-Route) back to alice.
    {
        use tokio::io::AsyncWriteExt;
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(b"/hangup\n").await.unwrap();
        stdin.flush().await.unwrap();
    }
    match timeout(Duration::from_secs(10), call.next_event()).await {
        Ok(Some(SessionEvent::Bye { .. })) => {}
        other => panic!("{other:?}\n--- baresip ---\n{}", log()),
    }
    match timeout(Duration::from_secs(10), call.next_event()).await {
        Ok(Some(SessionEvent::Terminated { cause: Cause::Bye })) => {}
        other => panic!("{other:?}\n--- baresip ---\n{}", log()),
    }
    // baresip quits: its WAV dumps are complete once it has exited.
    {
        use tokio::io::AsyncWriteExt;
        let stdin = child.stdin.as_mut().unwrap();
        stdin.write_all(b"/quit\n").await.unwrap();
        stdin.flush().await.unwrap();
    }
    let exited = timeout(Duration::from_secs(10), child.wait()).await;
    assert!(exited.is_ok(), "baresip did not quit\n{}", log());
    let wav = std::fs::read_dir(dir.join("snd"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
        .unwrap_or_else(|| panic!("no decoded WAV\n{}", log()));
    let (samples, rate) = baresip::read_wav(&wav);
    baresip::assert_tone("baresip heard", &samples, rate, baresip::SIPLINE_HZ);
    let _ = std::fs::remove_dir_all(&dir);
    server.shutdown().await;
}
