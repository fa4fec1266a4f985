//! The str0m crypto provider [`WebRtcMedia`](super::WebRtcMedia) runs on: str0m's own aws-lc-rs
//! provider, except for the two pieces of the `SRTP_AES128_CM_HMAC_SHA1_80` profile (RFC 5764
//! §4.1.2) that it sets up again for every packet.
//!
//! - **AES-CM** (RFC 3711 §4.1.1): str0m-aws-lc-rs 0.7 expands the AES-128 key schedule
//!   (`UnboundCipherKey::new` + `EncryptingKey::ctr`) inside every `encrypt`/`decrypt`. Our
//!   [`AesCmCipher`] expands it once, when str0m creates the cipher for a session key
//!   (one per SRTP/SRTCP direction), and keeps it.
//! - **HMAC-SHA1** (RFC 3711 §4.2.1): str0m computes the SRTP authentication tag through the
//!   provider's `Sha1HmacProvider::sha1_hmac(key, payloads)`, which gets the key bytes with every
//!   call and is shared with STUN (RFC 8489 §14.5). Setting up an HMAC key costs two SHA-1
//!   blocks (the key XOR ipad / opad, RFC 2104 §2), as much as hashing a 128-byte packet. Our
//!   [`CachedSha1Hmac`] keeps the set-up keys of SRTP's 20-byte authentication keys (RFC 3711
//!   §4.2.1, `n_a = 160`) in a small per-thread cache, [`HmacKeyCache`]: bounded at
//!   [`HMAC_KEY_CACHE_SLOTS`] keys per thread whatever the number of calls, sessions or keys,
//!   least recently used out first. Keys of other lengths (STUN's) are not cached.
//!
//! Everything else (AEAD-GCM, the key derivation's AES-ECB rounds, SHA-1, SHA-256, DTLS)
//! is str0m's aws-lc-rs provider, unchanged. The output is byte for byte that provider's
//! (the tests check it).

use std::cell::RefCell;
use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, OnceLock};

use aws_lc_rs::cipher::{AES_128, EncryptingKey, EncryptionContext, UnboundCipherKey};
use aws_lc_rs::hmac;
use aws_lc_rs::iv::FixedLength;
use str0m::crypto::{
    Aes128CmSha1_80, Aes128CmSha1_80Cipher, CryptoError, CryptoProvider, Sha1HmacProvider,
    SrtpProvider, SupportedAeadAes128Gcm, SupportedAeadAes256Gcm, SupportedAes128CmSha1_80,
};

/// How many set-up HMAC-SHA1 keys each thread keeps: [`HMAC_KEY_CACHE_WAYS`] per set. A
/// session uses four SRTP authentication keys (RTP and RTCP, each direction, RFC 3711 §4.3.1),
/// so this holds about 16 sessions per thread; more than that, and the least recently used keys
/// are set up again when they come back (what str0m's provider does for every packet).
pub const HMAC_KEY_CACHE_SLOTS: usize = 64;
/// Keys per set of the cache (set-associative, least recently used out).
pub const HMAC_KEY_CACHE_WAYS: usize = 2;
const HMAC_KEY_CACHE_SETS: usize = HMAC_KEY_CACHE_SLOTS / HMAC_KEY_CACHE_WAYS;

/// The length of the keys [`CachedSha1Hmac`] caches: SRTP's `n_a` of 160 bits (RFC 3711
/// §4.2.1, §8.2), that of `SRTP_AES128_CM_HMAC_SHA1_80`.
pub const SRTP_AUTH_KEY_LEN: usize = Aes128CmSha1_80::HMAC_KEY_LEN;

/// What can go wrong in the AES-CM cipher.
#[derive(Debug, thiserror::Error)]
pub enum AesCmError {
    /// str0m gave an output buffer shorter than the input.
    #[error("AES-CM: output buffer of {output} bytes for {input} bytes of input")]
    OutputTooShort {
        /// Input length.
        input: usize,
        /// Output buffer length.
        output: usize,
    },
    /// aws-lc refused the operation.
    #[error("AES-CM: aws-lc-rs {op} failed")]
    AwsLc {
        /// The operation.
        op: &'static str,
    },
}

impl From<AesCmError> for CryptoError {
    fn from(e: AesCmError) -> Self {
        CryptoError::Other(e.to_string())
    }
}

/// The crypto provider to give str0m (`RtcConfig::set_crypto_provider`): str0m's aws-lc-rs
/// provider with [`AesCmSrtpProvider`] and [`CachedSha1Hmac`] in place of its SRTP and
/// SHA1-HMAC parts. Built once per process.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            static SRTP: AesCmSrtpProvider = AesCmSrtpProvider;
            static SHA1_HMAC: CachedSha1Hmac = CachedSha1Hmac;
            Arc::new(CryptoProvider {
                srtp_provider: &SRTP,
                sha1_hmac_provider: &SHA1_HMAC,
                ..base()
            })
        })
        .clone()
}

/// str0m's own provider (aws-lc-rs): what everything we do not replace delegates to.
fn base() -> CryptoProvider {
    str0m::crypto::from_feature_flags()
}

/// The SRTP provider: our [`AesCmCipher`] for AES-CM, str0m's aws-lc-rs one for the rest.
#[derive(Debug)]
pub struct AesCmSrtpProvider;

impl SrtpProvider for AesCmSrtpProvider {
    fn aes_128_cm_sha1_80(&self) -> &'static dyn SupportedAes128CmSha1_80 {
        static CM: AesCmFactory = AesCmFactory;
        &CM
    }

    fn aead_aes_128_gcm(&self) -> &'static dyn SupportedAeadAes128Gcm {
        base().srtp_provider.aead_aes_128_gcm()
    }

    fn aead_aes_256_gcm(&self) -> &'static dyn SupportedAeadAes256Gcm {
        base().srtp_provider.aead_aes_256_gcm()
    }

    fn srtp_aes_128_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        base()
            .srtp_provider
            .srtp_aes_128_ecb_round(key, input, output)
    }

    fn srtp_aes_256_ecb_round(&self, key: &[u8], input: &[u8], output: &mut [u8]) {
        base()
            .srtp_provider
            .srtp_aes_256_ecb_round(key, input, output)
    }
}

/// Makes [`AesCmCipher`]s.
#[derive(Debug)]
struct AesCmFactory;

impl SupportedAes128CmSha1_80 for AesCmFactory {
    fn create_cipher(&self, key: [u8; 16], encrypt: bool) -> Box<dyn Aes128CmSha1_80Cipher> {
        match AesCmCipher::new(&key) {
            Ok(c) => Box::new(c),
            // A 16-byte AES-128 key cannot be refused; if aws-lc ever did, str0m's own cipher
            // (which sets the key up per packet) still works.
            Err(_) => base()
                .srtp_provider
                .aes_128_cm_sha1_80()
                .create_cipher(key, encrypt),
        }
    }
}

/// AES in counter mode for SRTP (RFC 3711 §4.1.1): the keystream is AES of the 128-bit
/// counter str0m gives as the IV (`(salt << 16) XOR (SSRC << 64) XOR (index << 16)`),
/// incremented per block, XORed onto the payload. Encrypting and decrypting are the same.
/// The AES-128 key schedule is expanded once, here.
pub struct AesCmCipher {
    key: EncryptingKey,
}

impl fmt::Debug for AesCmCipher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AesCmCipher").finish_non_exhaustive()
    }
}

impl AesCmCipher {
    /// Expands the AES-128 session key (RFC 3711 §4.3: `k_e`).
    pub fn new(key: &[u8; 16]) -> Result<Self, AesCmError> {
        let unbound = UnboundCipherKey::new(&AES_128, key).map_err(|_| AesCmError::AwsLc {
            op: "AES-128 key setup",
        })?;
        let key = EncryptingKey::ctr(unbound).map_err(|_| AesCmError::AwsLc {
            op: "CTR mode setup",
        })?;
        Ok(Self { key })
    }

    /// XORs the keystream from counter `iv` onto `input`, into the front of `output` (which
    /// str0m makes longer than the input; the rest is left alone).
    pub fn apply(&self, iv: &[u8; 16], input: &[u8], output: &mut [u8]) -> Result<(), AesCmError> {
        let output_len = output.len();
        let out = output
            .get_mut(..input.len())
            .ok_or(AesCmError::OutputTooShort {
                input: input.len(),
                output: output_len,
            })?;
        out.copy_from_slice(input);
        self.key
            .less_safe_encrypt(out, EncryptionContext::Iv128(FixedLength::from(*iv)))
            .map_err(|_| AesCmError::AwsLc { op: "AES-CTR" })?;
        Ok(())
    }
}

impl Aes128CmSha1_80Cipher for AesCmCipher {
    fn encrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        Ok(self.apply(iv, input, output)?)
    }

    fn decrypt(
        &mut self,
        iv: &[u8; 16],
        input: &[u8],
        output: &mut [u8],
    ) -> Result<(), CryptoError> {
        Ok(self.apply(iv, input, output)?)
    }
}

/// HMAC-SHA1 (RFC 2104) for SRTP authentication (RFC 3711 §4.2.1) and STUN message integrity:
/// 20-byte keys (SRTP's) go through this thread's [`HmacKeyCache`]; other keys are set up per
/// call, by str0m's aws-lc-rs provider.
#[derive(Debug)]
pub struct CachedSha1Hmac;

thread_local! {
    static HMAC_KEYS: RefCell<HmacKeyCache> = RefCell::new(HmacKeyCache::new());
}

impl Sha1HmacProvider for CachedSha1Hmac {
    fn sha1_hmac(&self, key: &[u8], payloads: &[&[u8]]) -> [u8; 20] {
        if let Ok(k) = <&[u8; SRTP_AUTH_KEY_LEN]>::try_from(key) {
            // `try_with` fails only while the thread is being torn down, `try_borrow_mut`
            // never (nothing here re-enters): then the key is set up for this call alone.
            let cached = HMAC_KEYS.try_with(|c| {
                c.try_borrow_mut()
                    .ok()
                    .map(|mut cache| cache.sign(k, payloads))
            });
            if let Ok(Some(tag)) = cached {
                return tag;
            }
        }
        base().sha1_hmac_provider.sha1_hmac(key, payloads)
    }
}

/// A set-up HMAC-SHA1 key and the bytes it came from.
struct CachedKey {
    bytes: [u8; SRTP_AUTH_KEY_LEN],
    key: hmac::Key,
}

/// Set-up HMAC-SHA1 keys by key bytes, at most [`HMAC_KEY_CACHE_SLOTS`]:
/// [`HMAC_KEY_CACHE_WAYS`]-way set-associative, the set chosen by a hash of the key bytes with
/// a random seed, least recently used out of a full set. Key bytes are compared in constant
/// time.
pub struct HmacKeyCache {
    hasher: RandomState,
    /// [`HMAC_KEY_CACHE_SETS`] sets (allocated at the first key) of at most
    /// [`HMAC_KEY_CACHE_WAYS`] keys each, most recently used first.
    sets: Vec<Vec<CachedKey>>,
    misses: u64,
}

impl fmt::Debug for HmacKeyCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKeyCache")
            .field("len", &self.len())
            .field("misses", &self.misses)
            .finish_non_exhaustive()
    }
}

impl Default for HmacKeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl HmacKeyCache {
    /// An empty cache (it allocates its sets at the first key).
    pub fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            sets: Vec::new(),
            misses: 0,
        }
    }

    /// HMAC-SHA1 of the concatenated `payloads` under `key` (RFC 2104 §2): the full 20-byte
    /// tag; SRTP keeps its first 10 bytes (RFC 3711 §4.2.1, `n_tag = 80`).
    pub fn sign(&mut self, key: &[u8; SRTP_AUTH_KEY_LEN], payloads: &[&[u8]]) -> [u8; 20] {
        let mac = self.key(key);
        let mut ctx = hmac::Context::with_key(mac);
        for p in payloads {
            ctx.update(p);
        }
        let mut out = [0u8; 20];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }

    /// How many keys are held (at most [`HMAC_KEY_CACHE_SLOTS`]).
    pub fn len(&self) -> usize {
        self.sets.iter().map(Vec::len).sum()
    }

    /// No key held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many times a key had to be set up (it was not held).
    pub fn misses(&self) -> u64 {
        self.misses
    }

    /// The set `bytes` goes in.
    fn set_of(&self, bytes: &[u8; SRTP_AUTH_KEY_LEN]) -> usize {
        (self.hasher.hash_one(bytes) % HMAC_KEY_CACHE_SETS as u64) as usize
    }

    /// The set-up key for `bytes`: found and moved to the front of its set, or set up and
    /// put there (the set's last key, the least recently used, dropped if the set is full).
    fn key(&mut self, bytes: &[u8; SRTP_AUTH_KEY_LEN]) -> &hmac::Key {
        if self.sets.is_empty() {
            self.sets.resize_with(HMAC_KEY_CACHE_SETS, || {
                Vec::with_capacity(HMAC_KEY_CACHE_WAYS)
            });
        }
        let s = self.set_of(bytes);
        let set = &mut self.sets[s];
        match set.iter().position(|c| ct_eq(&c.bytes, bytes)) {
            Some(i) => set[..=i].rotate_right(1),
            None => {
                self.misses += 1;
                set.truncate(HMAC_KEY_CACHE_WAYS - 1);
                set.insert(
                    0,
                    CachedKey {
                        bytes: *bytes,
                        key: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, bytes),
                    },
                );
            }
        }
        // Not empty: the key was found in it or just put in.
        &set[0].key
    }
}

/// Equality of two keys in time independent of where they differ.
fn ct_eq(a: &[u8; SRTP_AUTH_KEY_LEN], b: &[u8; SRTP_AUTH_KEY_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// A deterministic byte stream (xorshift) for test keys and payloads.
    fn bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn ours_cm(key: [u8; 16]) -> Box<dyn Aes128CmSha1_80Cipher> {
        provider()
            .srtp_provider
            .aes_128_cm_sha1_80()
            .create_cipher(key, true)
    }

    fn theirs_cm(key: [u8; 16]) -> Box<dyn Aes128CmSha1_80Cipher> {
        base()
            .srtp_provider
            .aes_128_cm_sha1_80()
            .create_cipher(key, true)
    }

    #[test]
    fn rfc3711_b2_aes_cm_keystream() {
        // RFC 3711 B.2: session key, counter = the shifted salt (SSRC and index zero).
        let key: [u8; 16] = hex("2B7E151628AED2A6ABF7158809CF4F3C").try_into().unwrap();
        let iv: [u8; 16] = hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000").try_into().unwrap();
        // The IV is what str0m's RFC 3711 §4.1.1 formula makes of that salt.
        let salt: [u8; 14] = iv[..14].try_into().unwrap();
        assert_eq!(Aes128CmSha1_80::rtp_iv(salt, 0, 0), iv);

        let mut c = ours_cm(key);
        // The whole keystream segment of the RFC: 65282 blocks.
        let zeros = vec![0u8; 65282 * 16];
        let mut ks = vec![0xEEu8; zeros.len() + 15];
        c.encrypt(&iv, &zeros, &mut ks).unwrap();
        let want_head = hex(
            "E03EAD0935C95E80E166B16DD92B4EB4 D23513162B02D0F72A43A2FE4A5F97AB
             41E95B3BB0A2E8DD477901E4FCA894C0",
        );
        let want_tail = hex(
            "EC8CDF7398607CB0F2D21675EA9EA1E4 362B7C3C6773516318A077D7FC5073AE
             6A2CC3787889374FBEB4C81B17BA6C44",
        );
        assert_eq!(ks[..48], want_head[..]);
        assert_eq!(ks[zeros.len() - 48..zeros.len()], want_tail[..]);
        // The padding str0m adds after the payload is not written.
        assert_eq!(ks[zeros.len()..], [0xEE; 15]);

        // Decrypting the keystream over itself gives zeros back.
        let mut back = vec![1u8; 48];
        c.decrypt(&iv, &want_head, &mut back).unwrap();
        assert_eq!(back, vec![0u8; 48]);
    }

    #[test]
    fn aes_cm_is_byte_identical_to_str0m_aws_lc_provider() {
        for (n, len) in [0usize, 1, 15, 16, 17, 160, 172, 1200, 1500]
            .into_iter()
            .enumerate()
        {
            let key: [u8; 16] = bytes(n as u64 + 1, 16).try_into().unwrap();
            let salt: [u8; 14] = bytes(n as u64 + 100, 14).try_into().unwrap();
            let (mut ours, mut theirs) = (ours_cm(key), theirs_cm(key));
            // The same cipher instance across packets, as str0m keeps it.
            for index in [0u64, 1, 0xFFFF, 0x1_0000, 0xFFFF_FFFF_FFFF] {
                let iv = Aes128CmSha1_80::rtp_iv(salt, 0xDEAD_BEEF, index);
                let input = bytes(index ^ len as u64, len);
                let (mut a, mut b) = (vec![7u8; len + 15], vec![7u8; len + 15]);
                ours.encrypt(&iv, &input, &mut a).unwrap();
                theirs.encrypt(&iv, &input, &mut b).unwrap();
                assert_eq!(a, b, "encrypt len {len} index {index}");
                let (mut da, mut db) = (vec![0u8; len], vec![0u8; len]);
                ours.decrypt(&iv, &a[..len], &mut da).unwrap();
                theirs.decrypt(&iv, &b[..len], &mut db).unwrap();
                assert_eq!(da, db);
                assert_eq!(da, input, "decrypt len {len} index {index}");
            }
        }
    }

    #[test]
    fn a_short_output_buffer_is_an_error_not_a_panic() {
        let mut c = ours_cm([1; 16]);
        let err = c.encrypt(&[0; 16], &[0; 32], &mut [0; 31]).unwrap_err();
        assert!(err.to_string().contains("31 bytes for 32"), "{err}");
    }

    #[test]
    fn rfc2202_hmac_sha1_test_case_1_through_the_cache() {
        // RFC 2202 §3 test case 1: a 20-byte key, so the cached path.
        let key = [0x0b; 20];
        let want = hex("b617318655057264e28bc0b6fb378c8ef146be00");
        let tag = provider()
            .sha1_hmac_provider
            .sha1_hmac(&key, &[b"Hi ", b"There"]);
        assert_eq!(tag[..], want[..]);
        // Again: from the cache now.
        let tag = provider()
            .sha1_hmac_provider
            .sha1_hmac(&key, &[b"Hi There"]);
        assert_eq!(tag[..], want[..]);
    }

    #[test]
    fn hmac_is_identical_to_str0m_aws_lc_provider_for_all_key_lengths() {
        let ours = provider().sha1_hmac_provider;
        let theirs = base().sha1_hmac_provider;
        // 16: long-term STUN credentials (MD5), 20: SRTP, 22 and 32: ICE passwords, 80: > block.
        for klen in [0usize, 16, 19, 20, 21, 22, 32, 80] {
            for round in 0..3u64 {
                let key = bytes(klen as u64 * 7 + 1, klen);
                let a = bytes(round + 11, 172);
                let b = 0x0001_0203u32.to_be_bytes();
                assert_eq!(
                    ours.sha1_hmac(&key, &[&a, &b]),
                    theirs.sha1_hmac(&key, &[&a, &b]),
                    "key length {klen} round {round}"
                );
            }
        }
    }

    #[test]
    fn the_cache_sets_a_key_up_once_and_stays_bounded() {
        let mut cache = HmacKeyCache::new();
        let key: [u8; 20] = bytes(5, 20).try_into().unwrap();
        for i in 0..100u32 {
            let tag = cache.sign(&key, &[&i.to_be_bytes()]);
            let want = base()
                .sha1_hmac_provider
                .sha1_hmac(&key, &[&i.to_be_bytes()]);
            assert_eq!(tag, want);
        }
        assert_eq!(cache.misses(), 1);
        assert_eq!(cache.len(), 1);

        // Ten times more keys than slots: the cache never holds more than its bound, and
        // every tag is still right.
        for k in 0..(10 * HMAC_KEY_CACHE_SLOTS as u64) {
            let key: [u8; 20] = bytes(k + 1000, 20).try_into().unwrap();
            let tag = cache.sign(&key, &[b"payload"]);
            assert_eq!(
                tag,
                base().sha1_hmac_provider.sha1_hmac(&key, &[b"payload"])
            );
            assert!(cache.len() <= HMAC_KEY_CACHE_SLOTS);
        }
        assert!(cache.len() > HMAC_KEY_CACHE_SLOTS / 2, "{}", cache.len());
    }

    #[test]
    fn four_session_keys_in_turn_stay_cached() {
        // One session's four authentication keys used in turn (send RTP, receive RTP, send
        // RTCP, receive RTCP), picked to fall in different sets of this cache's hash: each
        // is set up once, then always found.
        let mut cache = HmacKeyCache::new();
        let mut keys: Vec<[u8; 20]> = Vec::new();
        let mut sets = Vec::new();
        for seed in 77.. {
            let k: [u8; 20] = bytes(seed, 20).try_into().unwrap();
            let s = cache.set_of(&k);
            if !sets.contains(&s) {
                sets.push(s);
                keys.push(k);
            }
            if keys.len() == 4 {
                break;
            }
        }
        for _ in 0..50 {
            for k in &keys {
                let tag = cache.sign(k, &[b"x"]);
                assert_eq!(tag, base().sha1_hmac_provider.sha1_hmac(k, &[b"x"]));
            }
        }
        assert_eq!(cache.misses(), 4);
        assert_eq!(cache.len(), 4);
    }

    #[test]
    fn a_full_set_drops_its_least_recently_used_key() {
        let mut cache = HmacKeyCache::new();
        // Three keys of one set (a 2-way set holds two).
        let mut keys: Vec<[u8; 20]> = Vec::new();
        let first: [u8; 20] = bytes(1, 20).try_into().unwrap();
        let target = cache.set_of(&first);
        keys.push(first);
        for seed in 2.. {
            let k: [u8; 20] = bytes(seed, 20).try_into().unwrap();
            if cache.set_of(&k) == target {
                keys.push(k);
            }
            if keys.len() == HMAC_KEY_CACHE_WAYS + 1 {
                break;
            }
        }
        let (a, b, c) = (keys[0], keys[1], keys[2]);
        cache.sign(&a, &[]);
        cache.sign(&b, &[]);
        cache.sign(&a, &[]); // a is now the most recently used
        assert_eq!(cache.misses(), 2);
        cache.sign(&c, &[]); // drops b
        assert_eq!(cache.misses(), 3);
        cache.sign(&a, &[]);
        assert_eq!(cache.misses(), 3, "a was kept");
        cache.sign(&b, &[]);
        assert_eq!(cache.misses(), 4, "b was dropped");
        assert_eq!(cache.len(), HMAC_KEY_CACHE_WAYS);
    }

    #[test]
    fn protect_and_unprotect_round_trip_against_str0m_provider() {
        // SrtpContext::protect_rtp / unprotect_rtp's calls (str0m 0.25 src/rtp/srtp.rs) with
        // our provider on one side and str0m's on the other, both ways.
        const HLEN: usize = 12;
        let tag_len = Aes128CmSha1_80::HMAC_TAG_LEN;
        let key: [u8; 16] = bytes(3, 16).try_into().unwrap();
        let auth: [u8; 20] = bytes(4, 20).try_into().unwrap();
        let salt: [u8; 14] = bytes(5, 14).try_into().unwrap();
        let ssrc = 0x1234_5678;
        let ours = provider();
        let theirs = base();
        let protect = |p: &CryptoProvider, rtp: &[u8], index: u64| -> Vec<u8> {
            let mut c = p
                .srtp_provider
                .aes_128_cm_sha1_80()
                .create_cipher(key, true);
            let iv = Aes128CmSha1_80::rtp_iv(salt, ssrc, index);
            let mut out = vec![0u8; rtp.len() + tag_len + 5];
            c.encrypt(&iv, &rtp[HLEN..], &mut out[HLEN..]).unwrap();
            out[..HLEN].copy_from_slice(&rtp[..HLEN]);
            let hmac = |k: &[u8], d: &[&[u8]]| p.sha1_hmac_provider.sha1_hmac(k, d);
            Aes128CmSha1_80::rtp_hmac(hmac, &auth, &mut out, index, rtp.len());
            out.truncate(rtp.len() + tag_len);
            out
        };
        let unprotect = |p: &CryptoProvider, srtp: &[u8], index: u64| -> Option<Vec<u8>> {
            let start = srtp.len() - tag_len;
            let hmac = |k: &[u8], d: &[&[u8]]| p.sha1_hmac_provider.sha1_hmac(k, d);
            if !Aes128CmSha1_80::rtp_verify(hmac, &auth, &srtp[..start], index, &srtp[start..]) {
                return None;
            }
            let mut c = p
                .srtp_provider
                .aes_128_cm_sha1_80()
                .create_cipher(key, false);
            let iv = Aes128CmSha1_80::rtp_iv(salt, ssrc, index);
            let mut out = vec![0u8; start - HLEN + 15];
            c.decrypt(&iv, &srtp[HLEN..start], &mut out).unwrap();
            out.truncate(start - HLEN);
            Some(out)
        };
        for (len, index) in [(160usize, 1000u64), (1200, 0x2_0005)] {
            let mut rtp = bytes(len as u64, HLEN + len);
            rtp[0] = 0x80;
            let a = protect(&ours, &rtp, index);
            let b = protect(&theirs, &rtp, index);
            assert_eq!(a, b, "protect {len}");
            assert_eq!(unprotect(&ours, &b, index).as_deref(), Some(&rtp[HLEN..]));
            assert_eq!(unprotect(&theirs, &a, index).as_deref(), Some(&rtp[HLEN..]));
            // A flipped bit in the payload, or the wrong ROC, fails authentication.
            let mut bad = a.clone();
            bad[HLEN + 3] ^= 1;
            assert_eq!(unprotect(&ours, &bad, index), None);
            assert_eq!(unprotect(&ours, &a, index + 0x1_0000), None);
        }
    }
}
