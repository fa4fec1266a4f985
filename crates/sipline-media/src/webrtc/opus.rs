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

/// The rates Opus can be fed at or render to (RFC 6716 §2).
const OPUS_RATES: [u32; 5] = [8000, 12000, 16000, 24000, 48000];

/// The largest Opus packet (RFC 6716 §3.2.1: 1275 bytes of frames plus the TOC).
pub(crate) const MAX_PACKET: usize = 1276;

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
    /// An encoder fed at `rate` (one of 8/12/16/24/48 kHz), VoIP mode, with in-band FEC on
    /// (we offer `useinbandfec=1`, RFC 7587 §6.1) and `bitrate` bits per second.
    pub(crate) fn new(rate: u32, bitrate: u32) -> Result<Self, MediaError> {
        let rate = codec_rate_for(rate);
        let mut enc = OpusEncoder::new(rate as i32, 1, Application::Voip)
            .map_err(|e| codec_error("creating the encoder", e))?;
        enc.bitrate_bps = bitrate.clamp(6000, 510_000) as i32;
        enc.use_inband_fec = true;
        enc.packet_loss_perc = 5;
        Ok(Self { enc, rate })
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
                let bitrate = self.enc.bitrate_bps as u32;
                *self = Self::new(self.rate, bitrate)?;
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

    fn run(&mut self, packet: &[u8], max: usize, out: &mut Vec<i16>) -> Result<(), MediaError> {
        let (dec, pcm) = (&mut self.dec, &mut self.pcm);
        let result = catch_unwind(AssertUnwindSafe(|| dec.decode(packet, max, pcm)));
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
            let mut enc = OpusEnc::new(rate, 32000).unwrap();
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
