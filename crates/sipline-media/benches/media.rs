//! G.711 and Opus encode/decode and RTP packetisation per 20 ms frame.

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sipline_media::{
    AudioSource, MediaInput, MediaOutput, MediaSession, RtpConfig, RtpMedia, ToneSource,
    WebRtcConfig, WebRtcMedia, g711,
};

fn frame() -> Vec<i16> {
    let mut f = vec![0i16; 160];
    ToneSource::new(8000, 440.0, -10.0).read(&mut f);
    f
}

fn g711_bench(c: &mut Criterion) {
    let pcm = frame();
    let mut enc = Vec::with_capacity(160);
    let mut dec = Vec::with_capacity(160);
    c.bench_function("ulaw_encode_160", |b| {
        b.iter(|| g711::encode_ulaw(black_box(&pcm), &mut enc))
    });
    c.bench_function("alaw_encode_160", |b| {
        b.iter(|| g711::encode_alaw(black_box(&pcm), &mut enc))
    });
    g711::encode_ulaw(&pcm, &mut enc);
    c.bench_function("ulaw_decode_160", |b| {
        b.iter(|| g711::decode_ulaw(black_box(&enc), &mut dec))
    });
    g711::encode_alaw(&pcm, &mut enc);
    c.bench_function("alaw_decode_160", |b| {
        b.iter(|| g711::decode_alaw(black_box(&enc), &mut dec))
    });
}

/// One 20 ms frame through encoder and decoder: Opus (opus-rs, as `WebRtcMedia` runs it:
/// mono, VoIP, 32 kbit/s, in-band FEC) at 8 and 48 kHz, against G.711 µ-law at 8 kHz.
fn codec_round_trip_bench(c: &mut Criterion) {
    let pcm = frame();
    let mut enc = Vec::with_capacity(160);
    let mut dec = Vec::with_capacity(160);
    c.bench_function("ulaw_round_trip_20ms", |b| {
        b.iter(|| {
            g711::encode_ulaw(black_box(&pcm), &mut enc);
            g711::decode_ulaw(black_box(&enc), &mut dec);
        })
    });
    for rate in [8000usize, 48000] {
        let n = rate / 50;
        let mut pcm = vec![0i16; n];
        ToneSource::new(rate as u32, 440.0, -10.0).read(&mut pcm);
        let Ok(mut encoder) = opus_rs::OpusEncoder::new(rate as i32, 1, opus_rs::Application::Voip)
        else {
            return;
        };
        encoder.bitrate_bps = 32000;
        encoder.use_inband_fec = true;
        let Ok(mut decoder) = opus_rs::OpusDecoder::new(rate as i32, 1) else {
            return;
        };
        let mut packet = vec![0u8; 1276];
        let mut out = vec![0f32; rate * 120 / 1000];
        c.bench_function(&format!("opus_round_trip_20ms_{}k", rate / 1000), |b| {
            b.iter(|| {
                let len = encoder
                    .encode_i16(black_box(&pcm), n, &mut packet)
                    .unwrap_or(0);
                let max = out.len();
                black_box(decoder.decode(&packet[..len], max, &mut out).unwrap_or(0));
            })
        });
    }
}

fn packetise_bench(c: &mut Criterion) {
    let mut a = RtpMedia::new(RtpConfig::new(
        "127.0.0.1:40000".parse().unwrap_or_else(|_| unreachable!()),
        1,
    ));
    let mut b = RtpMedia::new(RtpConfig::new(
        "127.0.0.1:40002".parse().unwrap_or_else(|_| unreachable!()),
        2,
    ));
    let _ = a.set_audio_source(Box::new(ToneSource::new(8000, 440.0, -10.0)));
    let mut now = Instant::now();
    let offer = a.create_offer(now).unwrap_or_default();
    let answer = b.accept_offer(now, &offer).unwrap_or_default();
    let _ = a.accept_answer(now, &answer);
    c.bench_function("rtp_packetise_frame", |bench| {
        bench.iter(|| {
            now += Duration::from_millis(20);
            a.handle_input(now, MediaInput::Timeout);
            loop {
                match a.poll_output() {
                    MediaOutput::Timeout(_) => break,
                    other => {
                        black_box(other);
                    }
                }
            }
        })
    });
}

/// A fresh media session and its first SDP offer: what `Ua::invite` does before the INVITE
/// goes out. For WebRTC that builds the str0m instance, which generates a fresh self-signed
/// DTLS certificate, and the ICE credentials.
fn create_offer_bench(c: &mut Criterion) {
    let addr = "127.0.0.1:40000".parse().unwrap_or_else(|_| unreachable!());
    let mut seed = 0u64;
    c.bench_function("webrtc_create_offer", |b| {
        b.iter(|| {
            seed += 1;
            let mut m = WebRtcMedia::new(WebRtcConfig::new(addr, seed));
            black_box(m.create_offer(Instant::now()).map(|s| s.len()).unwrap_or(0))
        })
    });
    c.bench_function("rtp_create_offer", |b| {
        b.iter(|| {
            seed += 1;
            let mut m = RtpMedia::new(RtpConfig::new(addr, seed));
            black_box(m.create_offer(Instant::now()).map(|s| s.len()).unwrap_or(0))
        })
    });
}

criterion_group!(
    benches,
    g711_bench,
    codec_round_trip_bench,
    packetise_bench,
    create_offer_bench
);
criterion_main!(benches);
