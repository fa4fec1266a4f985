//! RFC 3264 §5.1 over real UDP sockets on 127.0.0.1: the offerer must be prepared to receive
//! media as soon as it sends the offer. The answerer starts sending right after it makes its
//! answer; the offerer applies the answer late; no packet is lost, and a stranger sending to
//! the offerer's port meanwhile neither gets played nor takes the stream over.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sipline_media::rtp::RtpHeader;
use sipline_media::{
    BufferHandle, BufferSink, MediaInput, MediaOutput, MediaSession, RtpConfig, RtpMedia,
    ToneSource, tone_frequency,
};

struct Peer {
    media: RtpMedia,
    socket: UdpSocket,
    heard: BufferHandle,
}

fn peer(seed: u64, freq: f32) -> Peer {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let addr = socket.local_addr().unwrap();
    let sink = BufferSink::new(8000);
    let heard = sink.handle();
    let media = RtpMedia::new(RtpConfig::new(addr, seed))
        .with_audio(Box::new(ToneSource::new(8000, freq, -10.0)), Box::new(sink))
        .unwrap();
    Peer {
        media,
        socket,
        heard,
    }
}

impl Peer {
    /// Sends what the media wants sent, feeds it what arrived, and fires its timers.
    fn step(&mut self) {
        let mut buf = [0u8; 2048];
        loop {
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => self.media.handle_input(
                    Instant::now(),
                    MediaInput::Receive {
                        source: from,
                        contents: &buf[..n],
                    },
                ),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        self.media.handle_input(Instant::now(), MediaInput::Timeout);
        loop {
            match self.media.poll_output() {
                MediaOutput::Transmit(t) => {
                    self.socket.send_to(&t.contents, t.destination).unwrap();
                }
                MediaOutput::Event(_) => {}
                MediaOutput::Timeout(_) => break,
            }
        }
    }
}

/// A stranger's PCMU packet (another SSRC, a 1 kHz-ish square wave).
fn stranger_packet(seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0x00];
    p.extend(seq.to_be_bytes());
    p.extend((u32::from(seq) * 160).to_be_bytes());
    p.extend(0x5eed_5eedu32.to_be_bytes());
    p.extend((0..160).map(|i| if i % 8 < 4 { 0x10 } else { 0x90 }));
    p
}

fn run(peers: &mut [&mut Peer], stranger: Option<(&UdpSocket, SocketAddr, &mut u16)>, d: Duration) {
    let until = Instant::now() + d;
    let mut stranger = stranger;
    while Instant::now() < until {
        for p in peers.iter_mut() {
            p.step();
        }
        if let Some((socket, to, seq)) = stranger.as_mut() {
            socket.send_to(&stranger_packet(**seq), *to).unwrap();
            **seq = seq.wrapping_add(1);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn early_rtp_before_the_answer_is_played_and_a_stranger_cannot_take_the_stream() {
    let mut a = peer(1, 440.0);
    let mut b = peer(2, 880.0);
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    let a_addr = a.socket.local_addr().unwrap();
    let b_addr = b.socket.local_addr().unwrap();
    let mut stranger_seq = 100u16;

    let offer = a.media.create_offer(Instant::now()).unwrap();
    // The stranger is first: it sprays A's port before B even answers.
    run(
        &mut [&mut a],
        Some((&stranger, a_addr, &mut stranger_seq)),
        Duration::from_millis(60),
    );
    let answer = b.media.accept_offer(Instant::now(), &offer).unwrap();
    // B sends at once (its first packet goes out in accept_offer's run); A has no answer
    // for 200 ms (a slow 200 OK).
    run(
        &mut [&mut b, &mut a],
        Some((&stranger, a_addr, &mut stranger_seq)),
        Duration::from_millis(200),
    );
    let early = b.media.stats().packets_sent;
    assert!(early >= 8, "B sent {early} packets before the answer");
    assert_eq!(a.media.stats().packets_received, 0);
    a.media.accept_answer(Instant::now(), &answer).unwrap();
    // The stranger keeps at it after the answer too.
    run(
        &mut [&mut b, &mut a],
        Some((&stranger, a_addr, &mut stranger_seq)),
        Duration::from_millis(300),
    );
    // B stops; what is in flight arrives.
    let sent = b.media.stats().packets_sent;
    run(&mut [&mut a], None, Duration::from_millis(100));

    let stats = a.media.stats();
    assert_eq!(stats.packets_received, sent, "{stats:?}");
    assert_eq!(stats.packets_lost, 0, "{stats:?}");
    assert_eq!(a.media.remote_addr(), Some(b_addr));
    let heard = a.heard.take();
    assert_eq!(heard.len() as u64, sent * 160, "every packet played");
    let f = tone_frequency(&heard, 8000).unwrap_or(0.0);
    assert!((f - 880.0).abs() < 5.0, "A heard {f} Hz");
    // The stranger's packets were all refused.
    assert!(stats.packets_invalid >= 20, "{stats:?}");

    // What A sends goes to B, not to the stranger.
    stranger.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 2048];
    assert!(
        stranger.recv_from(&mut buf).is_err(),
        "A sent to the stranger"
    );
    let (n, from) = loop {
        b.socket.set_nonblocking(false).unwrap();
        b.socket
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        run(&mut [&mut a], None, Duration::from_millis(40));
        if let Ok(r) = b.socket.recv_from(&mut buf) {
            break r;
        }
    };
    assert_eq!(from, a_addr);
    assert!(RtpHeader::parse(&buf[..n]).is_ok());
}

/// Behind a NAT the answerer's packets come from another address than its SDP's: then the
/// early packets of the first source are played (symmetric RTP, RFC 4961), as they would
/// have been after the answer.
#[test]
fn early_rtp_from_a_natted_peer_is_played_and_latched() {
    let mut a = peer(3, 440.0);
    let mut b = peer(4, 880.0);
    let offer = a.media.create_offer(Instant::now()).unwrap();
    let answer = b.media.accept_offer(Instant::now(), &offer).unwrap();
    // The answer names an address B's packets do not come from.
    let b_port = b.socket.local_addr().unwrap().port();
    let answer = answer.replace(&format!("m=audio {b_port} "), "m=audio 9 ");
    run(&mut [&mut b, &mut a], None, Duration::from_millis(150));
    a.media.accept_answer(Instant::now(), &answer).unwrap();
    run(&mut [&mut b, &mut a], None, Duration::from_millis(150));
    let sent = b.media.stats().packets_sent;
    run(&mut [&mut a], None, Duration::from_millis(100));
    let stats = a.media.stats();
    assert_eq!(stats.packets_received, sent, "{stats:?}");
    assert_eq!(stats.packets_lost, 0, "{stats:?}");
    assert_eq!(a.media.remote_addr(), Some(b.socket.local_addr().unwrap()));
}
