//! `WebRtcMedia` video passthrough, sans-IO: two instances back to back in memory in virtual
//! time, sending VP8 and H.264 files (fixtures made with ffmpeg, see `fixtures/README.md`)
//! and recording what arrives; and a Chromium offer with audio and video.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sipline_media::{
    AnnexBSource, BufferSink, ChannelVideoSink, Direction, IvfRecorder, IvfSource, MediaError,
    MediaInput, MediaKind, MediaOutput, MediaSession, RtpConfig, RtpMedia, SilenceSource,
    VideoCodec, VideoError, VideoFrame, VideoRead, VideoSink, VideoSource, WebRtcConfig,
    WebRtcMedia,
};

const A: &str = "127.0.0.1:42000";
const B: &str = "127.0.0.1:42002";

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn tmp(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("sipline-video-{}-{name}", std::process::id()))
}

fn all_frames(mut s: impl VideoSource) -> Vec<VideoFrame> {
    let mut v = Vec::new();
    while let VideoRead::Frame(f) = s.read_frame().unwrap() {
        v.push(f);
    }
    v
}

fn vp8_frames() -> Vec<VideoFrame> {
    all_frames(IvfSource::open(fixture("vp8.ivf")).unwrap())
}

fn h264_frames() -> Vec<VideoFrame> {
    all_frames(AnnexBSource::open_with_rate(fixture("h264.h264"), 15.0).unwrap())
}

/// A source repeating frames forever, timestamps going on.
struct LoopSource {
    frames: Vec<VideoFrame>,
    i: usize,
    period: u64,
}

impl LoopSource {
    fn new(frames: Vec<VideoFrame>) -> Self {
        let step = frames[1].timestamp - frames[0].timestamp;
        let period = frames.last().unwrap().timestamp + step;
        Self {
            frames,
            i: 0,
            period,
        }
    }
}

impl VideoSource for LoopSource {
    fn read_frame(&mut self) -> Result<VideoRead, VideoError> {
        let n = self.frames.len();
        let mut f = self.frames[self.i % n].clone();
        f.timestamp += (self.i / n) as u64 * self.period;
        self.i += 1;
        Ok(VideoRead::Frame(f))
    }
}

fn media(addr: &str, seed: u64) -> WebRtcMedia {
    let addr: SocketAddr = addr.parse().unwrap();
    WebRtcMedia::new(WebRtcConfig::new(addr, seed))
        .with_audio(
            Box::new(SilenceSource::new(8000)),
            Box::new(BufferSink::new(8000)),
        )
        .unwrap()
}

struct Pair {
    now: Instant,
    a: WebRtcMedia,
    b: WebRtcMedia,
}

fn pump(from: &mut WebRtcMedia, to: &mut WebRtcMedia, now: Instant) -> Option<Instant> {
    loop {
        match from.poll_output() {
            MediaOutput::Transmit(t) => to.handle_input(
                now,
                MediaInput::Receive {
                    source: t.source,
                    contents: &t.contents,
                },
            ),
            MediaOutput::Event(_) => {}
            MediaOutput::Timeout(d) => return d,
        }
    }
}

impl Pair {
    fn connect(mut a: WebRtcMedia, mut b: WebRtcMedia) -> Self {
        let now = Instant::now();
        let offer = a.create_offer(now).unwrap();
        let answer = b.accept_offer(now, &offer).unwrap();
        a.accept_answer(now, &answer).unwrap();
        Self { now, a, b }
    }

    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            let da = pump(&mut self.a, &mut self.b, self.now);
            let db = pump(&mut self.b, &mut self.a, self.now);
            let next = [da, db].into_iter().flatten().min().unwrap_or(end).min(end);
            self.now = next.max(self.now + Duration::from_micros(100));
            self.a.handle_input(self.now, MediaInput::Timeout);
            self.b.handle_input(self.now, MediaInput::Timeout);
        }
    }
}

fn assert_same(got: &[VideoFrame], sent: &[VideoFrame], what: &str) {
    assert_eq!(got.len(), sent.len(), "{what}: frame count");
    let base = sent[0].timestamp;
    for (i, (g, s)) in got.iter().zip(sent).enumerate() {
        assert_eq!(g.codec, s.codec, "{what} frame {i} codec");
        assert_eq!(g.keyframe, s.keyframe, "{what} frame {i} keyframe flag");
        assert_eq!(g.data, s.data, "{what} frame {i} bytes");
        assert_eq!(
            g.timestamp,
            s.timestamp - base,
            "{what} frame {i} timestamp"
        );
    }
}

#[test]
fn vp8_and_h264_files_arrive_identical_in_the_recordings() {
    let rec_a = tmp("a.ivf");
    let rec_b = tmp("b.ivf");
    let a = media(A, 1).with_video(
        Some(Box::new(IvfSource::open(fixture("vp8.ivf")).unwrap())),
        Some(Box::new(IvfRecorder::create(&rec_a).unwrap())),
    );
    let b = media(B, 2).with_video(
        Some(Box::new(
            AnnexBSource::open_with_rate(fixture("h264.h264"), 15.0).unwrap(),
        )),
        Some(Box::new(IvfRecorder::create(&rec_b).unwrap())),
    );
    let mut p = Pair::connect(a, b);
    assert_eq!(p.a.video_direction(), Some(Direction::SendRecv));
    assert_eq!(p.b.video_direction(), Some(Direction::SendRecv));
    p.run(Duration::from_secs(4));
    let (sa, sb) = (p.a.stats(), p.b.stats());
    assert_eq!(sa.video_frames_sent, 30, "{sa:?}");
    assert_eq!(sb.video_frames_sent, h264_frames().len() as u64, "{sb:?}");
    assert_eq!(sa.video_frames_dropped, 0, "{sa:?}");
    assert!(p.a.video_codecs().contains(&VideoCodec::Vp8));
    assert!(p.a.video_codecs().contains(&VideoCodec::H264));
    drop(p); // the recorders write their frame counts

    let got_b = all_frames(IvfSource::open(&rec_b).unwrap());
    assert_same(&got_b, &vp8_frames(), "VP8 A->B");
    let got_a = IvfSource::open(&rec_a).unwrap();
    assert_eq!(
        got_a.codec(),
        VideoCodec::H264,
        "the recorder keeps the codec that arrived"
    );
    let got_a = all_frames(got_a);
    assert_same(&got_a, &h264_frames(), "H.264 B->A");
    assert!(got_a[0].keyframe && got_b[0].keyframe);
    let _ = std::fs::remove_file(rec_a);
    let _ = std::fs::remove_file(rec_b);
}

#[test]
fn video_mute_stops_frames_and_unmute_resumes_at_a_keyframe() {
    let (sink, rx) = ChannelVideoSink::new();
    let a = media(A, 3).with_video(Some(Box::new(LoopSource::new(vp8_frames()))), None);
    let b = media(B, 4).with_video(None, Some(Box::new(sink)));
    let mut p = Pair::connect(a, b);
    assert_eq!(p.a.video_direction(), Some(Direction::SendOnly));
    assert_eq!(p.b.video_direction(), Some(Direction::RecvOnly));
    p.run(Duration::from_millis(1500));
    let before: Vec<_> = rx.try_iter().collect();
    assert!(before.len() > 10, "{} frames", before.len());
    assert!(before[0].keyframe);

    p.a.set_muted(MediaKind::Video, true);
    p.run(Duration::from_millis(200)); // what was in flight
    rx.try_iter().count();
    p.run(Duration::from_secs(2));
    assert_eq!(rx.try_iter().count(), 0, "frames arrived while muted");
    assert!(p.a.stats().video_frames_dropped >= 25, "{:?}", p.a.stats());

    p.a.set_muted(MediaKind::Video, false);
    p.run(Duration::from_secs(2));
    let after: Vec<_> = rx.try_iter().collect();
    assert!(after.len() > 10, "{} frames after unmute", after.len());
    assert!(after[0].keyframe, "sending resumed with a delta frame");
    // Audio mute leaves video alone.
    p.a.set_muted(MediaKind::Audio, true);
    p.run(Duration::from_millis(500));
    assert!(rx.try_iter().count() > 3);
}

#[test]
fn without_video_configured_video_is_not_offered() {
    let mut a = media(A, 5);
    let offer = a.create_offer(Instant::now()).unwrap();
    assert!(!offer.contains("m=video"), "{offer}");
    assert_eq!(a.video_direction(), None);
    // Too late to add video once str0m is set up without video codecs.
    let (sink, _rx) = ChannelVideoSink::new();
    assert!(matches!(
        a.set_video_sink(Box::new(sink)),
        Err(MediaError::VideoUnsupported(_))
    ));
}

#[test]
fn our_offer_has_vp8_and_h264_with_feedback() {
    let (sink, _rx) = ChannelVideoSink::new();
    let mut a = media(A, 6).with_video(None, Some(Box::new(sink)));
    let offer = a.create_offer(Instant::now()).unwrap();
    let video = &offer[offer.find("m=video").expect("no video m-line")..];
    for needle in [
        "VP8/90000",
        "H264/90000",
        "packetization-mode=1",
        "profile-level-id=42e01f",
        "nack pli",
        "ccm fir",
        "a=recvonly",
        "a=rtcp-mux",
    ] {
        assert!(video.contains(needle), "{needle} missing in\n{video}");
    }
    let bundle = offer
        .lines()
        .find(|l| l.starts_with("a=group:BUNDLE "))
        .unwrap();
    assert_eq!(
        bundle.split(' ').count(),
        3,
        "audio and video bundled: {bundle}"
    );
}

#[test]
fn rtp_media_has_no_video() {
    let mut m = RtpMedia::new(RtpConfig::new("127.0.0.1:42010".parse().unwrap(), 1));
    let (sink, _rx) = ChannelVideoSink::new();
    assert!(matches!(
        m.set_video_sink(Box::new(sink)),
        Err(MediaError::VideoUnsupported(_))
    ));
    assert!(matches!(
        m.set_video_source(Box::new(LoopSource::new(vp8_frames()))),
        Err(MediaError::VideoUnsupported(_))
    ));
}

#[test]
fn answers_a_chromium_offer_with_video_accepted_when_configured() {
    for (source, sink, want) in [
        (true, true, "a=sendrecv"),
        (true, false, "a=sendonly"),
        (false, true, "a=recvonly"),
    ] {
        let source: Option<Box<dyn VideoSource>> =
            source.then(|| Box::new(LoopSource::new(vp8_frames())) as _);
        let sink: Option<Box<dyn VideoSink>> =
            sink.then(|| Box::new(ChannelVideoSink::new().0) as _);
        let mut b = media(B, 7).with_video(source, sink);
        let answer = b.accept_offer(Instant::now(), CHROME_OFFER).unwrap();
        let at = answer.find("m=video").expect("video m-line");
        let video = &answer[at..];
        let mline = video.lines().next().unwrap();
        assert!(
            !mline.starts_with("m=video 0 "),
            "video rejected:\n{answer}"
        );
        assert!(video.contains("VP8/90000"), "{video}");
        assert!(video.contains(want), "{want} missing:\n{video}");
        assert!(answer.contains("a=group:BUNDLE 0 1"), "{answer}");
    }
    // Without video, rejected as before.
    let mut b = media(B, 8);
    let answer = b.accept_offer(Instant::now(), CHROME_OFFER).unwrap();
    assert!(answer.contains("m=video 0 "), "{answer}");
}

#[test]
fn a_browser_style_call_with_audio_and_video_both_ways() {
    // Both sides offer VP8 first, but frames go out with the codec they are in: H.264 both
    // ways, on the PT negotiated for packetization-mode 1.
    let (sink_a, rx_a) = ChannelVideoSink::new();
    let (sink_b, rx_b) = ChannelVideoSink::new();
    let a = media(A, 9).with_video(
        Some(Box::new(LoopSource::new(h264_frames()))),
        Some(Box::new(sink_a)),
    );
    let b = media(B, 10).with_video(
        Some(Box::new(LoopSource::new(h264_frames()))),
        Some(Box::new(sink_b)),
    );
    let mut p = Pair::connect(a, b);
    p.run(Duration::from_secs(3));
    let at_a: Vec<_> = rx_a.try_iter().collect();
    let at_b: Vec<_> = rx_b.try_iter().collect();
    assert!(
        at_a.len() > 30 && at_b.len() > 30,
        "{} {}",
        at_a.len(),
        at_b.len()
    );
    assert!(at_a.iter().all(|f| f.codec == VideoCodec::H264));
    assert!(at_a[0].keyframe && at_b[0].keyframe);
}

#[test]
fn hold_reoffer_stops_video_from_the_held_side_and_resume_restarts_it() {
    let (sink_a, rx_a) = ChannelVideoSink::new();
    let (sink_b, rx_b) = ChannelVideoSink::new();
    let a = media(A, 11).with_video(
        Some(Box::new(LoopSource::new(vp8_frames()))),
        Some(Box::new(sink_a)),
    );
    let b = media(B, 12).with_video(
        Some(Box::new(LoopSource::new(vp8_frames()))),
        Some(Box::new(sink_b)),
    );
    let mut p = Pair::connect(a, b);
    p.run(Duration::from_secs(1));
    assert!(rx_a.try_iter().count() > 5 && rx_b.try_iter().count() > 5);

    // A puts B on hold: A only sends (RFC 3264 §8.4), video included.
    p.a.set_direction(Direction::SendOnly);
    let offer = p.a.create_offer(p.now).unwrap();
    let answer = p.b.accept_offer(p.now, &offer).unwrap();
    p.a.accept_answer(p.now, &answer).unwrap();
    assert_eq!(p.a.video_direction(), Some(Direction::SendOnly));
    assert_eq!(p.b.video_direction(), Some(Direction::RecvOnly));
    p.run(Duration::from_millis(300));
    rx_a.try_iter().count();
    rx_b.try_iter().count();
    p.run(Duration::from_secs(2));
    assert_eq!(rx_a.try_iter().count(), 0, "B still sends video on hold");
    assert!(rx_b.try_iter().count() > 20, "A stopped sending video");

    // A refused re-offer leaves the direction as it was.
    p.a.set_direction(Direction::SendRecv);
    let _ = p.a.create_offer(p.now).unwrap();
    p.a.cancel_offer();
    assert_eq!(p.a.video_direction(), Some(Direction::SendOnly));

    // Resume: B sends again, from a keyframe.
    let offer = p.a.create_offer(p.now).unwrap();
    let answer = p.b.accept_offer(p.now, &offer).unwrap();
    p.a.accept_answer(p.now, &answer).unwrap();
    assert_eq!(p.b.video_direction(), Some(Direction::SendRecv));
    p.run(Duration::from_secs(2));
    let resumed: Vec<_> = rx_a.try_iter().collect();
    assert!(resumed.len() > 10, "{} frames after resume", resumed.len());
    assert!(resumed[0].keyframe, "resumed with a delta frame");
}

/// What Chromium 120+ offers through SIP.js for an audio+video call (shared with webrtc.rs).
const CHROME_OFFER: &str = include_str!("fixtures/chromium_offer.sdp");
