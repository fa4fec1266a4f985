//! SRTP protect and unprotect per RTP packet (160 B and 1200 B payloads, 12 B header) against
//! the raw cipher, in one criterion run.
//!
//! What is reachable: str0m 0.25 keeps its SRTP context (`rtp_::SrtpContext`, with
//! `protect_rtp`/`unprotect_rtp`) private; only the `_internal_test_exports` feature ("UNSTABLE:
//! not public API") shows a protect-only wrapper. Its crypto provider API is public
//! (`str0m::crypto`: the cipher instances `SrtpContext` holds, and the RFC 3711 / RFC 7714
//! helpers it calls). So:
//!
//! - `str0m/*` does per packet exactly what `SrtpContext::protect_rtp` / `unprotect_rtp` do
//!   (str0m 0.25 `src/rtp/srtp.rs`) through that public API, with the aws-lc-rs provider str0m
//!   uses (`str0m::crypto::from_feature_flags()`): the same allocation, IV, cipher instance
//!   and HMAC calls; the RTP header is not serialised (it is given).
//! - `ours/*` is the same per-packet work with the provider `WebRtcMedia` installs
//!   (`sipline_media::webrtc::crypto::provider()`): str0m's aws-lc-rs provider with the AES-CM
//!   key schedule set up once per cipher instance and the SHA1-HMAC keys cached per key
//!   (`src/webrtc/crypto.rs`). AES-CM only: for GCM it is str0m's provider unchanged.
//! - `raw/*` is the least the same profile needs from aws-lc-rs: keys set up once, one
//!   reused buffer, AES-128-CTR + HMAC-SHA1 (tag cut to 80 bits) or AES-GCM in place.
//! - `webrtc_media/*` is the whole per-packet path of `WebRtcMedia` with PCMU (160 B payload):
//!   send = the 20 ms frame clock (looped tone read, G.711 encode, str0m packetise, SRTP protect,
//!   pacing; str0m's own timers are included), receive = one SRTP packet in (unprotect,
//!   depacketise, G.711 decode, sink). Two `WebRtcMedia` connected back to back in memory
//!   use AEAD_AES_256_GCM: the offerer is the DTLS server (the answer says `a=setup:active`)
//!   and dimpl 0.9, str0m's DTLS, picks that first when the client offers it.
//!
//! `cargo bench -p sipline-media --bench srtp -- --warm-up-time 1 --measurement-time 3`

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic, missing_docs)]

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use str0m::crypto::{
    AeadAes128Gcm, AeadAes128GcmCipher, AeadAes256Gcm, AeadAes256GcmCipher, Aes128CmSha1_80,
    Aes128CmSha1_80Cipher, CryptoProvider, Sha1HmacProvider,
};

use common::{Kind, Pair, Probe};
use sipline_media::WebRtcCodec;

const HLEN: usize = 12;
const SSRC: u32 = 0x1234_5678;
/// `CTR_BUFFER_PADDING` of str0m's `src/rtp/srtp.rs` (block size - 1).
const CTR_PADDING: usize = 15;
const CM_TAG: usize = Aes128CmSha1_80::HMAC_TAG_LEN;
const GCM_TAG: usize = AeadAes128Gcm::TAG_LEN;

fn packet(payload: usize, seq: u16) -> Vec<u8> {
    let mut p = vec![0u8; HLEN + payload];
    p[0] = 0x80;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p[8..12].copy_from_slice(&SSRC.to_be_bytes());
    for (i, b) in p[HLEN..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

/// The profiles, as str0m's `Derived` holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Profile {
    Aes128CmSha1_80,
    AeadAes128Gcm,
    AeadAes256Gcm,
}

impl Profile {
    fn name(self) -> &'static str {
        match self {
            Profile::Aes128CmSha1_80 => "aes128_cm_sha1_80",
            Profile::AeadAes128Gcm => "aead_aes128_gcm",
            Profile::AeadAes256Gcm => "aead_aes256_gcm",
        }
    }
}

const KEY32: [u8; 32] = [7; 32];
const AUTH_KEY: [u8; 20] = [9; 20];
const SALT14: [u8; 14] = [3; 14];
const SALT12: [u8; 12] = [5; 12];

/// `SrtpContext`'s per-packet work through str0m's public crypto provider API.
enum Str0m {
    Cm {
        enc: Box<dyn Aes128CmSha1_80Cipher>,
        dec: Box<dyn Aes128CmSha1_80Cipher>,
        hmac: &'static dyn Sha1HmacProvider,
    },
    Gcm128 {
        enc: Box<dyn AeadAes128GcmCipher>,
        dec: Box<dyn AeadAes128GcmCipher>,
    },
    Gcm256 {
        enc: Box<dyn AeadAes256GcmCipher>,
        dec: Box<dyn AeadAes256GcmCipher>,
    },
}

struct Str0mCtx {
    c: Str0m,
    rx_scratch: Vec<u8>,
}

impl Str0mCtx {
    fn new(profile: Profile, p: &CryptoProvider) -> Self {
        let k16: [u8; 16] = KEY32[..16].try_into().unwrap();
        let c = match profile {
            Profile::Aes128CmSha1_80 => {
                let s = p.srtp_provider.aes_128_cm_sha1_80();
                Str0m::Cm {
                    enc: s.create_cipher(k16, true),
                    dec: s.create_cipher(k16, false),
                    hmac: p.sha1_hmac_provider,
                }
            }
            Profile::AeadAes128Gcm => {
                let s = p.srtp_provider.aead_aes_128_gcm();
                Str0m::Gcm128 {
                    enc: s.create_cipher(k16, true),
                    dec: s.create_cipher(k16, false),
                }
            }
            Profile::AeadAes256Gcm => {
                let s = p.srtp_provider.aead_aes_256_gcm();
                Str0m::Gcm256 {
                    enc: s.create_cipher(KEY32, true),
                    dec: s.create_cipher(KEY32, false),
                }
            }
        };
        // RX_SCRATCH_CAPACITY of str0m: the largest datagram plus the CTR padding.
        Str0mCtx {
            c,
            rx_scratch: Vec::with_capacity(2000 + CTR_PADDING),
        }
    }

    /// `SrtpContext::protect_rtp`.
    fn protect(&mut self, buf: &[u8], seq: u16, srtp_index: u64) -> Vec<u8> {
        let input = &buf[HLEN..];
        match &mut self.c {
            Str0m::Cm { enc, hmac, .. } => {
                let iv = Aes128CmSha1_80::rtp_iv(SALT14, SSRC, srtp_index);
                let padding = CTR_PADDING.saturating_sub(CM_TAG);
                let mut output = vec![0_u8; buf.len() + CM_TAG + padding];
                enc.encrypt(&iv, input, &mut output[HLEN..])
                    .expect("rtp encrypt");
                output[..HLEN].copy_from_slice(&buf[..HLEN]);
                let sha1_hmac = |k: &[u8], p: &[&[u8]]| hmac.sha1_hmac(k, p);
                Aes128CmSha1_80::rtp_hmac(sha1_hmac, &AUTH_KEY, &mut output, srtp_index, buf.len());
                output.truncate(buf.len() + CM_TAG);
                output
            }
            Str0m::Gcm128 { enc, .. } => {
                let roc = (srtp_index >> 16) as u32;
                let iv = AeadAes128Gcm::rtp_iv(SALT12, SSRC, roc, seq);
                let aad = &buf[..HLEN];
                let mut output = vec![0_u8; buf.len() + GCM_TAG];
                enc.encrypt(&iv, aad, input, &mut output[HLEN..])
                    .expect("rtp encrypt");
                output[..HLEN].copy_from_slice(aad);
                output
            }
            Str0m::Gcm256 { enc, .. } => {
                let roc = (srtp_index >> 16) as u32;
                let iv = AeadAes256Gcm::rtp_iv(SALT12, SSRC, roc, seq);
                let aad = &buf[..HLEN];
                let mut output = vec![0_u8; buf.len() + GCM_TAG];
                enc.encrypt(&iv, aad, input, &mut output[HLEN..])
                    .expect("rtp encrypt");
                output[..HLEN].copy_from_slice(aad);
                output
            }
        }
    }

    /// `SrtpContext::unprotect_rtp`.
    fn unprotect(&mut self, buf: &[u8], seq: u16, srtp_index: u64) -> Option<&[u8]> {
        match &mut self.c {
            Str0m::Cm { dec, hmac, .. } => {
                let hmac_start = buf.len() - CM_TAG;
                let sha1_hmac = |k: &[u8], p: &[&[u8]]| hmac.sha1_hmac(k, p);
                if !Aes128CmSha1_80::rtp_verify(
                    sha1_hmac,
                    &AUTH_KEY,
                    &buf[..hmac_start],
                    srtp_index,
                    &buf[hmac_start..],
                ) {
                    return None;
                }
                let iv = Aes128CmSha1_80::rtp_iv(SALT14, SSRC, srtp_index);
                let input = &buf[HLEN..hmac_start];
                self.rx_scratch.resize(input.len() + CTR_PADDING, 0);
                dec.decrypt(&iv, input, &mut self.rx_scratch).ok()?;
                Some(&self.rx_scratch[..input.len()])
            }
            Str0m::Gcm128 { dec, .. } => {
                let roc = (srtp_index >> 16) as u32;
                let iv = AeadAes128Gcm::rtp_iv(SALT12, SSRC, roc, seq);
                let (aad, input) = buf.split_at(HLEN);
                let out_len = input.len() - GCM_TAG;
                self.rx_scratch.resize(out_len, 0);
                dec.decrypt(&iv, &[aad], input, &mut self.rx_scratch).ok()?;
                Some(&self.rx_scratch[..out_len])
            }
            Str0m::Gcm256 { dec, .. } => {
                let roc = (srtp_index >> 16) as u32;
                let iv = AeadAes256Gcm::rtp_iv(SALT12, SSRC, roc, seq);
                let (aad, input) = buf.split_at(HLEN);
                let out_len = input.len() - GCM_TAG;
                self.rx_scratch.resize(out_len, 0);
                dec.decrypt(&iv, &[aad], input, &mut self.rx_scratch).ok()?;
                Some(&self.rx_scratch[..out_len])
            }
        }
    }
}

/// The raw cipher: keys set up once, one buffer reused, work in place.
// One per profile, built once and never moved: the size does not matter; no indirection.
#[allow(clippy::large_enum_variant)]
enum Raw {
    Cm { ctr: EncryptingKey, mac: hmac::Key },
    Gcm(LessSafeKey),
}

struct RawCtx {
    c: Raw,
    out: Vec<u8>,
}

fn gcm_iv(seq: u16, roc: u32) -> [u8; 12] {
    // RFC 7714 §8.1: 00 00 || SSRC || ROC || SEQ, XOR the salt.
    let mut iv = [0u8; 12];
    iv[2..6].copy_from_slice(&SSRC.to_be_bytes());
    iv[6..10].copy_from_slice(&roc.to_be_bytes());
    iv[10..12].copy_from_slice(&seq.to_be_bytes());
    for (b, s) in iv.iter_mut().zip(SALT12) {
        *b ^= s;
    }
    iv
}

fn cm_iv(srtp_index: u64) -> [u8; 16] {
    // RFC 3711 §4.1.1: (salt << 16) XOR (SSRC << 64) XOR (index << 16).
    let mut iv = [0u8; 16];
    iv[4..8].copy_from_slice(&SSRC.to_be_bytes());
    for (i, b) in srtp_index.to_be_bytes().iter().enumerate() {
        iv[i + 6] ^= b;
    }
    for (b, s) in iv.iter_mut().zip(SALT14) {
        *b ^= s;
    }
    iv
}

impl RawCtx {
    fn new(profile: Profile) -> Self {
        let c = match profile {
            Profile::Aes128CmSha1_80 => Raw::Cm {
                ctr: EncryptingKey::ctr(UnboundCipherKey::new(&AES_128, &KEY32[..16]).unwrap())
                    .unwrap(),
                mac: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &AUTH_KEY),
            },
            Profile::AeadAes128Gcm => Raw::Gcm(LessSafeKey::new(
                UnboundKey::new(&AES_128_GCM, &KEY32[..16]).unwrap(),
            )),
            Profile::AeadAes256Gcm => Raw::Gcm(LessSafeKey::new(
                UnboundKey::new(&AES_256_GCM, &KEY32).unwrap(),
            )),
        };
        RawCtx {
            c,
            out: Vec::with_capacity(2048),
        }
    }

    fn protect(&mut self, buf: &[u8], seq: u16, srtp_index: u64) -> &[u8] {
        self.out.clear();
        self.out.extend_from_slice(buf);
        match &self.c {
            Raw::Cm { ctr, mac } => {
                let iv = FixedLength::from(cm_iv(srtp_index));
                ctr.less_safe_encrypt(&mut self.out[HLEN..], EncryptionContext::Iv128(iv))
                    .expect("ctr");
                let mut ctx = hmac::Context::with_key(mac);
                ctx.update(&self.out);
                ctx.update(&((srtp_index >> 16) as u32).to_be_bytes());
                let tag = ctx.sign();
                self.out.extend_from_slice(&tag.as_ref()[..CM_TAG]);
            }
            Raw::Gcm(key) => {
                let nonce = Nonce::assume_unique_for_key(gcm_iv(seq, (srtp_index >> 16) as u32));
                let (head, body) = self.out.split_at_mut(HLEN);
                let tag = key
                    .seal_in_place_separate_tag(nonce, Aad::from(&*head), body)
                    .expect("gcm");
                self.out.extend_from_slice(tag.as_ref());
            }
        }
        &self.out
    }

    fn unprotect(&mut self, buf: &[u8], seq: u16, srtp_index: u64) -> Option<&[u8]> {
        match &self.c {
            Raw::Cm { ctr, mac } => {
                let hmac_start = buf.len() - CM_TAG;
                let mut ctx = hmac::Context::with_key(mac);
                ctx.update(&buf[..hmac_start]);
                ctx.update(&((srtp_index >> 16) as u32).to_be_bytes());
                let tag = ctx.sign();
                aws_lc_rs::constant_time::verify_slices_are_equal(
                    &tag.as_ref()[..CM_TAG],
                    &buf[hmac_start..],
                )
                .ok()?;
                self.out.clear();
                self.out.extend_from_slice(&buf[HLEN..hmac_start]);
                let iv = FixedLength::from(cm_iv(srtp_index));
                // CTR is its own inverse.
                ctr.less_safe_encrypt(&mut self.out, EncryptionContext::Iv128(iv))
                    .ok()?;
                Some(&self.out)
            }
            Raw::Gcm(key) => {
                let nonce = Nonce::assume_unique_for_key(gcm_iv(seq, (srtp_index >> 16) as u32));
                let (aad, input) = buf.split_at(HLEN);
                let (ciphertext, tag) = input.split_at(input.len() - GCM_TAG);
                // Decrypted straight into the reused buffer (no copy, no clearing).
                self.out.resize(ciphertext.len(), 0);
                key.open_separate_gather(nonce, Aad::from(aad), ciphertext, tag, &mut self.out)
                    .ok()?;
                Some(&self.out)
            }
        }
    }
}

fn srtp_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("srtp");
    for size in [160usize, 1200] {
        g.throughput(Throughput::Bytes(size as u64));
        for profile in [
            Profile::Aes128CmSha1_80,
            Profile::AeadAes128Gcm,
            Profile::AeadAes256Gcm,
        ] {
            let seq = 1000u16;
            let idx = 0x0001_0000 + u64::from(seq);
            let plain = packet(size, seq);
            let mut s = Str0mCtx::new(profile, &str0m::crypto::from_feature_flags());
            let mut o = Str0mCtx::new(profile, &sipline_media::webrtc::crypto::provider());
            let mut r = RawCtx::new(profile);
            // All sides produce the same SRTP packet: the bench compares equal work.
            let protected = s.protect(&plain, seq, idx);
            assert_eq!(protected, r.protect(&plain, seq, idx), "{profile:?}");
            assert_eq!(protected, o.protect(&plain, seq, idx), "{profile:?}");
            assert_eq!(s.unprotect(&protected, seq, idx), Some(&plain[HLEN..]));
            assert_eq!(o.unprotect(&protected, seq, idx), Some(&plain[HLEN..]));
            assert_eq!(r.unprotect(&protected, seq, idx), Some(&plain[HLEN..]));

            let id = |what: &str| BenchmarkId::new(format!("{what}/{}", profile.name()), size);
            g.bench_function(id("str0m_protect"), |b| {
                b.iter(|| black_box(s.protect(black_box(&plain), seq, idx)))
            });
            if profile == Profile::Aes128CmSha1_80 {
                g.bench_function(id("ours_protect"), |b| {
                    b.iter(|| black_box(o.protect(black_box(&plain), seq, idx)))
                });
                g.bench_function(id("ours_unprotect"), |b| {
                    b.iter(|| {
                        black_box(
                            o.unprotect(black_box(&protected), seq, idx)
                                .map(<[u8]>::len),
                        )
                    })
                });
            }
            g.bench_function(id("raw_protect"), |b| {
                b.iter(|| black_box(r.protect(black_box(&plain), seq, idx).len()))
            });
            g.bench_function(id("str0m_unprotect"), |b| {
                b.iter(|| {
                    black_box(
                        s.unprotect(black_box(&protected), seq, idx)
                            .map(<[u8]>::len),
                    )
                })
            });
            g.bench_function(id("raw_unprotect"), |b| {
                b.iter(|| {
                    black_box(
                        r.unprotect(black_box(&protected), seq, idx)
                            .map(<[u8]>::len),
                    )
                })
            });
        }
    }
    g.finish();
}

/// Runs a connected PCMU `WebRtcMedia` pair for about `iters` 20 ms frames and returns side
/// 0's time per packet in the send path (`send`) or the receive path, times `iters`.
fn media_path(pair: &mut Pair, iters: u64, send: bool) -> Duration {
    pair.probe = Some(Probe::default());
    pair.run_for(Duration::from_millis(20) * iters as u32);
    let p = pair.probe.take().unwrap_or_default();
    let (spent, n) = if send {
        (p.send, p.sent)
    } else {
        (p.recv, p.received)
    };
    spent.mul_f64(iters as f64 / n.max(1) as f64)
}

fn webrtc_media_bench(c: &mut Criterion) {
    let mut pair = Pair::connected(Kind::WebRtc(WebRtcCodec::Pcmu, 8000), 0, Instant::now());
    let mut g = c.benchmark_group("webrtc_media");
    g.throughput(Throughput::Bytes(160));
    g.bench_function("send_path_pcmu/160", |b| {
        b.iter_custom(|iters| media_path(&mut pair, iters, true))
    });
    g.bench_function("recv_path_pcmu/160", |b| {
        b.iter_custom(|iters| media_path(&mut pair, iters, false))
    });
    g.finish();
}

criterion_group!(benches, srtp_bench, webrtc_media_bench);
criterion_main!(benches);
