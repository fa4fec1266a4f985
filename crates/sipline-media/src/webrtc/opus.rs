//! Opus (RFC 6716) encode and decode for WebRTC audio, over the pure-Rust `opus-rs` port.
//!
//! On the wire Opus always uses a 48 kHz RTP clock (RFC 7587 §4.1), whatever rate the encoder
//! is fed at or the decoder produces: Opus encoders accept 8, 12, 16, 24 or 48 kHz input and
//! decoders render at any of those rates. So we run the codec at the source's or sink's own
//! rate when it is one of those (no resampling at all for the usual 8 kHz sources and sinks),
//! and at 48 kHz behind a [`Resampler`](super::resample::Resampler) otherwise.
//!
//! `opus-rs` is a port of libopus and may panic on a malformed packet it was not hardened
//! against; received payloads come from the network, so each decode runs under
//! [`std::panic::catch_unwind`] and a panicking decoder is replaced by a fresh one.

use std::panic::{AssertUnwindSafe, catch_unwind};

use opus_rs::{Application, OpusDecoder, OpusEncoder};

use crate::error::MediaError;
use crate::sdp::SessionDescription;

/// The rates Opus can be fed at or render to (RFC 6716 §2).
const OPUS_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];

/// The largest Opus packet (RFC 6716 §3.2.1: 1275 bytes of frames plus the TOC).
pub(crate) const MAX_PACKET: usize = 1276;

/// The packet loss the encoder expects when in-band FEC is on (libopus's
/// `OPUS_SET_PACKET_LOSS_PERC`): the encoder codes LBRR only for a non-zero figure, and
/// spends more on it the higher it is. 10 % is what WebRTC starts from before loss reports.
pub(crate) const FEC_LOSS_PERCENT: i32 = 10;

/// DTX (RFC 7587 §3.1.3): frames of silence before we stop sending, as libopus's
/// `NB_SPEECH_FRAMES_BEFORE_DTX` (10 frames of 20 ms).
const DTX_FRAMES_BEFORE: u32 = 10;
/// DTX: while silent, one frame in this many is still sent, to refresh the peer's comfort
/// noise and show we are alive (libopus's `MAX_CONSECUTIVE_DTX`, 20 frames = 400 ms).
const DTX_REFRESH_EVERY: u32 = 20;
/// DTX: a frame whose RMS level is below this (dBov) is silence.
const DTX_SILENCE_DBOV: f32 = -60.0;

/// The Opus fmtp parameters of a peer's SDP that change what we send (RFC 7587 §6.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OpusFmtp {
    /// `useinbandfec=1`: the peer's decoder uses in-band FEC, so we encode with it.
    pub inband_fec: bool,
    /// `usedtx=1`: the peer prefers DTX, so we may stop sending in silence.
    pub dtx: bool,
}

impl OpusFmtp {
    /// The Opus fmtp of the first live audio m-line of `sdp` (RFC 7587 §7: the `opus/48000/2`
    /// rtpmap). Parameters absent mean 0, their default (RFC 7587 §6.1).
    pub(crate) fn of(sdp: &SessionDescription) -> Self {
        let Some(m) = sdp.media.iter().find(|m| m.media == "audio" && m.port != 0) else {
            return Self::default();
        };
        let Some(pt) = m
            .rtpmaps()
            .find(|r| r.encoding.eq_ignore_ascii_case("opus"))
            .map(|r| r.payload_type)
        else {
            return Self::default();
        };
        let mut params = Self::default();
        for p in m.fmtp(pt).unwrap_or_default().split(';') {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let on = v.trim() == "1";
            match k.trim() {
                k if k.eq_ignore_ascii_case("useinbandfec") => params.inband_fec = on,
                k if k.eq_ignore_ascii_case("usedtx") => params.dtx = on,
                _ => {}
            }
        }
        params
    }
}

/// The sender's side of DTX (RFC 7587 §3.1.3, RFC 6716 §2.1.9). `opus-rs` has no DTX of its
/// own (libopus's `OPUS_SET_DTX`), so this gate does what libopus's does around the encoder:
/// after [`DTX_FRAMES_BEFORE`] silent frames it lets only one frame in
/// [`DTX_REFRESH_EVERY`] through, and the first frame of sound goes out at once. Every frame
/// is still encoded, so the encoder's state follows the audio.
#[derive(Debug, Default)]
pub(crate) struct DtxGate {
    silent_frames: u32,
}

impl DtxGate {
    /// Whether to send the frame `pcm` (20 ms).
    pub(crate) fn send(&mut self, pcm: &[i16]) -> bool {
        if rms_dbov(pcm) >= DTX_SILENCE_DBOV {
            self.silent_frames = 0;
            return true;
        }
        self.silent_frames = self.silent_frames.saturating_add(1);
        match self.silent_frames.checked_sub(DTX_FRAMES_BEFORE + 1) {
            None => true,
            Some(n) => (n + 1).is_multiple_of(DTX_REFRESH_EVERY),
        }
    }

    /// Whether the last frame was in DTX (not sent, or a refresh).
    #[cfg(test)]
    fn active(&self) -> bool {
        self.silent_frames > DTX_FRAMES_BEFORE
    }
}

fn rms_dbov(pcm: &[i16]) -> f32 {
    if pcm.is_empty() {
        return f32::NEG_INFINITY;
    }
    let sum: f64 = pcm.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    let rms = (sum / pcm.len() as f64).sqrt();
    (20.0 * (rms / 32768.0).log10()) as f32
}

/// The rate to run the codec at for audio at `rate`: `rate` itself if Opus supports it, else
/// 48 kHz (and the caller resamples).
pub(crate) fn codec_rate_for(rate: u32) -> u32 {
    if OPUS_RATES.contains(&rate) {
        rate
    } else {
        48000
    }
}

fn codec_error(what: &'static str, detail: &str) -> MediaError {
    MediaError::Codec {
        codec: "opus",
        detail: format!("{what}: {detail}"),
    }
}

/// A mono Opus encoder for 20 ms frames at one of [`OPUS_RATES`].
pub(crate) struct OpusEnc {
    enc: OpusEncoder,
    rate: u32,
}

impl std::fmt::Debug for OpusEnc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEnc")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl OpusEnc {
    /// An encoder fed at `rate` (one of 8/12/16/24/48 kHz), VoIP mode, `bitrate` bits per
    /// second, with in-band FEC (SILK LBRR, RFC 6716 §4.2.4) when `fec` is set: the peer's
    /// fmtp said `useinbandfec=1` (RFC 7587 §6.1). The expected loss is then
    /// [`FEC_LOSS_PERCENT`], which is what makes the encoder spend bits on FEC at all.
    pub(crate) fn new(rate: u32, bitrate: u32, fec: bool) -> Result<Self, MediaError> {
        let rate = codec_rate_for(rate);
        let mut enc = OpusEncoder::new(rate as i32, 1, Application::Voip)
            .map_err(|e| codec_error("creating the encoder", e))?;
        enc.bitrate_bps = bitrate.clamp(6000, 510_000) as i32;
        enc.use_inband_fec = fec;
        enc.packet_loss_perc = if fec { FEC_LOSS_PERCENT } else { 0 };
        Ok(Self { enc, rate })
    }

    /// Whether in-band FEC is on.
    pub(crate) fn fec(&self) -> bool {
        self.enc.use_inband_fec
    }

    /// The rate the encoder is fed at.
    pub(crate) fn rate(&self) -> u32 {
        self.rate
    }

    /// Encodes one frame (`pcm.len()` samples at [`Self::rate`], 2.5 to 60 ms) into `out`
    /// (cleared first).
    pub(crate) fn encode(&mut self, pcm: &[i16], out: &mut Vec<u8>) -> Result<(), MediaError> {
        out.clear();
        out.resize(MAX_PACKET, 0);
        let enc = &mut self.enc;
        let result = catch_unwind(AssertUnwindSafe(|| enc.encode_i16(pcm, pcm.len(), out)));
        match result {
            Ok(Ok(n)) => {
                out.truncate(n);
                Ok(())
            }
            Ok(Err(e)) => {
                out.clear();
                Err(codec_error("encoding", e))
            }
            Err(_) => {
                out.clear();
                // The encoder's state is unknown after a panic: start over.
                let (bitrate, fec) = (self.enc.bitrate_bps as u32, self.enc.use_inband_fec);
                *self = Self::new(self.rate, bitrate, fec)?;
                Err(codec_error("encoding", "the encoder panicked"))
            }
        }
    }
}

/// A mono Opus decoder rendering at one of [`OPUS_RATES`] (stereo packets are downmixed).
pub(crate) struct OpusDec {
    dec: OpusDecoder,
    rate: u32,
    pcm: Vec<f32>,
}

impl std::fmt::Debug for OpusDec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDec")
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl OpusDec {
    /// A decoder rendering at `rate` (one of 8/12/16/24/48 kHz).
    pub(crate) fn new(rate: u32) -> Result<Self, MediaError> {
        let rate = codec_rate_for(rate);
        let dec =
            OpusDecoder::new(rate as i32, 1).map_err(|e| codec_error("creating the decoder", e))?;
        // Room for the longest packet, 120 ms (RFC 6716 §3.2.5).
        let pcm = vec![0.0; rate as usize * 120 / 1000];
        Ok(Self { dec, rate, pcm })
    }

    /// The rate the decoder renders at.
    pub(crate) fn rate(&self) -> u32 {
        self.rate
    }

    /// Decodes one packet and appends the samples to `out`.
    pub(crate) fn decode(&mut self, packet: &[u8], out: &mut Vec<i16>) -> Result<(), MediaError> {
        let max = self.pcm.len();
        self.run(packet, max, out)
    }

    /// Conceals `samples` lost samples (Opus packet loss concealment, RFC 6716 §4.4) and
    /// appends them to `out`. At most 120 ms at a time.
    pub(crate) fn conceal(&mut self, samples: usize, out: &mut Vec<i16>) -> Result<(), MediaError> {
        let n = samples.min(self.pcm.len());
        self.run(&[], n, out)
    }

    /// Rebuilds `samples` lost samples from `next`, the packet that arrived after the loss
    /// (RFC 6716 §4.2.4, libopus's `decode_fec`): the last frame's worth comes from `next`'s
    /// in-band FEC (LBRR) data when it has some, the rest (and all of it when it has none)
    /// is concealed. `next` itself is not consumed: [`Self::decode`] it afterwards. At most
    /// 120 ms; `samples` is rounded down to a multiple of 2.5 ms as the decoder needs.
    pub(crate) fn recover(
        &mut self,
        next: &[u8],
        samples: usize,
        out: &mut Vec<i16>,
    ) -> Result<(), MediaError> {
        let step = self.rate as usize / 400;
        let n = samples.min(self.pcm.len()) / step.max(1) * step;
        if n == 0 {
            return Ok(());
        }
        let (dec, pcm) = (&mut self.dec, &mut self.pcm);
        let result = catch_unwind(AssertUnwindSafe(|| dec.decode_fec(next, n, pcm)));
        self.finish(result, n, out)
    }

    fn run(&mut self, packet: &[u8], max: usize, out: &mut Vec<i16>) -> Result<(), MediaError> {
        let (dec, pcm) = (&mut self.dec, &mut self.pcm);
        let result = catch_unwind(AssertUnwindSafe(|| dec.decode(packet, max, pcm)));
        self.finish(result, max, out)
    }

    fn finish(
        &mut self,
        result: std::thread::Result<Result<usize, &'static str>>,
        max: usize,
        out: &mut Vec<i16>,
    ) -> Result<(), MediaError> {
        match result {
            Ok(Ok(n)) => {
                out.extend(
                    self.pcm[..n.min(max)]
                        .iter()
                        .map(|&x| (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16),
                );
                Ok(())
            }
            Ok(Err(e)) => Err(codec_error("decoding", e)),
            Err(_) => {
                *self = Self::new(self.rate)?;
                Err(codec_error("decoding", "the decoder panicked"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{AudioSource, ToneSource, tone_frequency};

    #[test]
    fn round_trip_keeps_the_tone_at_8k_and_48k() {
        for rate in [8000u32, 48000] {
            let mut enc = OpusEnc::new(rate, 32000, true).unwrap();
            let mut dec = OpusDec::new(rate).unwrap();
            let mut src = ToneSource::new(rate, 440.0, -10.0);
            let frame_len = rate as usize / 50;
            let mut frame = vec![0i16; frame_len];
            let mut packet = Vec::new();
            let mut out = Vec::new();
            for _ in 0..100 {
                src.read(&mut frame);
                enc.encode(&frame, &mut packet).unwrap();
                assert!(!packet.is_empty() && packet.len() < 400, "{}", packet.len());
                dec.decode(&packet, &mut out).unwrap();
            }
            assert_eq!(out.len(), frame_len * 100);
            dec.conceal(frame_len, &mut out).unwrap();
            assert_eq!(out.len(), frame_len * 101);
            let f = tone_frequency(&out[frame_len * 10..], rate).unwrap_or(0.0);
            assert!((f - 440.0).abs() < 5.0, "{rate}: {f}");
        }
    }

    /// A voiced test signal: a 300 Hz tone and a 1170 Hz one under a slow (1.1 Hz)
    /// tremolo.
    fn voiced(rate: u32, frames: usize) -> Vec<Vec<i16>> {
        let n = rate as usize / 50;
        let tau = 2.0 * std::f64::consts::PI;
        (0..frames)
            .map(|f| {
                (0..n)
                    .map(|i| {
                        let t = (f * n + i) as f64 / f64::from(rate);
                        let low = (t * tau * 300.0).sin() * 8000.0;
                        let high = (t * tau * 1170.0).sin() * 3000.0 * (t * 7.0).sin();
                        (low + high) as i16
                    })
                    .collect()
            })
            .collect()
    }

    /// Signal-to-error ratio (dB) of `got` against `want` over the lost frames only.
    fn snr_db(want: &[i16], got: &[i16], lost: &[usize], n: usize) -> f64 {
        let (mut sig, mut err) = (0.0f64, 0.0f64);
        for &f in lost {
            for i in f * n..(f + 1) * n {
                let (w, g) = (f64::from(want[i]), f64::from(got[i]));
                sig += w * w;
                err += (w - g) * (w - g);
            }
        }
        10.0 * (sig / err.max(1.0)).log10()
    }

    /// Every 5th packet lost; the decoder rebuilds each lost frame from the next packet's
    /// FEC (RFC 6716 §4.2.4) when the encoder coded it, else conceals it (§4.4). The SNR of
    /// the lost frames against the loss-free decode tells the two apart.
    #[test]
    fn in_band_fec_recovers_lost_frames_better_than_concealment() {
        // 8 kHz: narrowband SILK, where our usual G.711-rate sources run the codec.
        let rate = 8000u32;
        let n = rate as usize / 50;
        let frames = voiced(rate, 150);
        let snr = |fec: bool, use_fec_data: bool| {
            let mut enc = OpusEnc::new(rate, 32000, fec).unwrap();
            assert_eq!(enc.fec(), fec);
            let packets: Vec<Vec<u8>> = frames
                .iter()
                .map(|f| {
                    let mut p = Vec::new();
                    enc.encode(f, &mut p).unwrap();
                    p
                })
                .collect();
            let mut clean = OpusDec::new(rate).unwrap();
            let mut want = Vec::new();
            for p in &packets {
                clean.decode(p, &mut want).unwrap();
            }
            let mut dec = OpusDec::new(rate).unwrap();
            let mut got = Vec::new();
            let lost: Vec<usize> = (10..packets.len() - 1).filter(|i| i % 5 == 0).collect();
            for (i, p) in packets.iter().enumerate() {
                if lost.contains(&i) {
                    continue;
                }
                if i > 0 && lost.contains(&(i - 1)) {
                    if use_fec_data {
                        dec.recover(p, n, &mut got).unwrap();
                    } else {
                        dec.conceal(n, &mut got).unwrap();
                    }
                }
                dec.decode(p, &mut got).unwrap();
            }
            assert_eq!(got.len(), want.len());
            // The mean of the per-frame SNRs: a few frames the LBRR codes poorly must
            // not hide the many it rebuilds well.
            let per_frame: f64 = lost.iter().map(|f| snr_db(&want, &got, &[*f], n)).sum();
            per_frame / lost.len() as f64
        };
        let recovered = snr(true, true);
        let concealed = snr(true, false);
        let no_fec_coded = snr(false, true);
        eprintln!(
            "{rate}: FEC {recovered:.1} dB, PLC {concealed:.1} dB, no LBRR {no_fec_coded:.1} dB"
        );
        assert!(recovered > 7.0, "{rate}: FEC gave {recovered:.1} dB");
        assert!(
            recovered > concealed + 4.0,
            "{rate}: FEC {recovered:.1} dB, concealment {concealed:.1} dB"
        );
        // Without LBRR in the packets, "recovering" is concealment.
        assert!(
            no_fec_coded < recovered - 4.0,
            "{rate}: {no_fec_coded:.1} dB"
        );
    }

    #[test]
    fn fmtp_params_of_the_peer() {
        let sdp = |fmtp: &str| {
            let body = format!(
                "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0 109\r\n\
                 c=IN IP4 0.0.0.0\r\na=rtpmap:109 OPUS/48000/2\r\n{fmtp}"
            );
            OpusFmtp::of(&SessionDescription::parse(&body).unwrap())
        };
        assert_eq!(sdp(""), OpusFmtp::default());
        let both = OpusFmtp {
            inband_fec: true,
            dtx: true,
        };
        assert_eq!(
            sdp("a=fmtp:109 minptime=10; useinbandfec=1;usedtx=1\r\n"),
            both
        );
        assert_eq!(
            sdp("a=fmtp:109 useinbandfec=0;usedtx=1\r\n"),
            OpusFmtp {
                inband_fec: false,
                dtx: true
            }
        );
        // Another payload type's fmtp is not Opus's.
        assert_eq!(sdp("a=fmtp:0 useinbandfec=1\r\n"), OpusFmtp::default());
    }

    #[test]
    fn dtx_gate_stops_after_200_ms_of_silence_and_refreshes_every_400_ms() {
        let mut gate = DtxGate::default();
        let tone: Vec<i16> = (0..160).map(|i| ((i % 16) as i16 - 8) * 1000).collect();
        let silence = vec![0i16; 160];
        let faint = vec![3i16; 160]; // -80 dBov: silence to the gate
        assert!(gate.send(&tone));
        let sent: Vec<bool> = (0..60)
            .map(|i| gate.send(if i % 2 == 0 { &silence } else { &faint }))
            .collect();
        assert!(sent[..10].iter().all(|s| *s), "{sent:?}");
        let later: Vec<usize> = (10..60).filter(|i| sent[*i]).collect();
        assert_eq!(later, [29, 49], "{sent:?}");
        assert!(gate.active());
        // Sound again: sent at once.
        assert!(gate.send(&tone));
        assert!(!gate.active());
    }

    #[test]
    fn garbage_is_an_error_or_silence_never_a_panic() {
        let mut dec = OpusDec::new(8000).unwrap();
        let mut out = Vec::new();
        for packet in [
            &[][..],
            &[0xff],
            &[0xff, 0xff, 0xff],
            &[0x03, 0xff, 0x00, 0x01],
        ] {
            let _ = dec.decode(packet, &mut out);
        }
        assert_eq!(codec_rate_for(44100), 48000);
        assert_eq!(codec_rate_for(16000), 16000);
    }
}
