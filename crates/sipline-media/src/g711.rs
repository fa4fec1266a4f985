//! G.711 µ-law and A-law (ITU-T G.711, RFC 3551 §4.5.14), 16-bit linear PCM in and out.
//!
//! Encoding follows the segment formulas of G.711 §2-§3 (as in the well-known Sun reference
//! implementation): µ-law works on 14-bit magnitudes with a bias of 33 (here 0x84 in 16-bit
//! scale), A-law on 13-bit magnitudes, and both invert bits as the recommendation requires
//! (µ-law all bits, A-law the even bits, `0x55`). Decoding uses 256-entry tables built at
//! compile time from the same formulas.

const ULAW_BIAS: i32 = 0x84;
const ULAW_CLIP: i32 = 32635;

/// Encodes one linear sample to µ-law (G.711 Table 2a).
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample);
    let sign = if pcm < 0 {
        pcm = -pcm;
        0x80
    } else {
        0
    };
    pcm = pcm.min(ULAW_CLIP) + ULAW_BIAS;
    // pcm >> 7 is in 1..=255, so the exponent (segment) is 0..=7.
    let exponent = 31 - ((pcm >> 7) as u32).leading_zeros() as i32;
    let mantissa = (pcm >> (exponent + 3)) & 0x0F;
    !(sign | (exponent << 4) | mantissa) as u8
}

const fn ulaw_decode(code: u8) -> i16 {
    let u = !code;
    let exponent = ((u >> 4) & 0x07) as i32;
    let mantissa = (u & 0x0F) as i32;
    let magnitude = (((mantissa << 3) + ULAW_BIAS) << exponent) - ULAW_BIAS;
    if u & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

const fn alaw_decode(code: u8) -> i16 {
    let a = code ^ 0x55;
    let mut t = ((a & 0x0F) as i32) << 4;
    let seg = ((a & 0x70) >> 4) as i32;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    if a & 0x80 != 0 { t as i16 } else { -t as i16 }
}

const fn build(alaw: bool) -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut i = 0;
    while i < 256 {
        table[i] = if alaw {
            alaw_decode(i as u8)
        } else {
            ulaw_decode(i as u8)
        };
        i += 1;
    }
    table
}

static ULAW_TABLE: [i16; 256] = build(false);
static ALAW_TABLE: [i16; 256] = build(true);

/// Decodes one µ-law code to a linear sample (G.711 Table 2a).
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_TABLE[usize::from(code)]
}

/// Encodes one linear sample to A-law (G.711 Table 1a).
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    let mut pcm = i32::from(sample) >> 3;
    let mask = if pcm >= 0 {
        0xD5
    } else {
        pcm = -pcm - 1;
        0x55
    };
    // Segment ends of the 13-bit magnitude: 0x1F, 0x3F, ..., 0xFFF.
    let seg = (32 - (pcm as u32 >> 5).leading_zeros()) as i32;
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let mantissa = if seg < 2 {
        (pcm >> 1) & 0x0F
    } else {
        (pcm >> seg) & 0x0F
    };
    (((seg << 4) | mantissa) ^ mask) as u8
}

/// Decodes one A-law code to a linear sample (G.711 Table 1a).
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_TABLE[usize::from(code)]
}

/// Encodes `pcm` to µ-law into `out` (cleared first).
pub fn encode_ulaw(pcm: &[i16], out: &mut Vec<u8>) {
    out.clear();
    out.extend(pcm.iter().map(|&s| linear_to_ulaw(s)));
}

/// Encodes `pcm` to A-law into `out` (cleared first).
pub fn encode_alaw(pcm: &[i16], out: &mut Vec<u8>) {
    out.clear();
    out.extend(pcm.iter().map(|&s| linear_to_alaw(s)));
}

/// Decodes µ-law `codes` into `out` (cleared first).
pub fn decode_ulaw(codes: &[u8], out: &mut Vec<i16>) {
    out.clear();
    out.extend(codes.iter().map(|&c| ulaw_to_linear(c)));
}

/// Decodes A-law `codes` into `out` (cleared first).
pub fn decode_alaw(codes: &[u8], out: &mut Vec<i16>) {
    out.clear();
    out.extend(codes.iter().map(|&c| alaw_to_linear(c)));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known values: G.711 µ-law code words (after inversion) and their decoded outputs,
    /// as tabulated for the 16-bit scale (±32124 full scale, 0xFF/0x7F zero).
    #[test]
    fn ulaw_known_values() {
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_ulaw(-1), 0x7F);
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_ulaw(1000), 0xCE);
        assert_eq!(linear_to_ulaw(-1000), 0x4E);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(ulaw_to_linear(0x7F), 0);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        assert_eq!(ulaw_to_linear(0x00), -32124);
        assert_eq!(ulaw_to_linear(0xCE), 988);
        assert_eq!(ulaw_to_linear(0xFE), 8);
        assert_eq!(ulaw_to_linear(0xF0), 120);
        assert_eq!(ulaw_to_linear(0xEF), 132);
        // Segment end points: first code of each segment (G.711 Table 2a, scaled by 4).
        let seg_starts: Vec<i16> = (0..8)
            .map(|s| ulaw_to_linear(!(s << 4) & 0x7F | 0x80))
            .collect();
        assert_eq!(seg_starts, [0, 132, 396, 924, 1980, 4092, 8316, 16764]);
    }

    #[test]
    fn alaw_known_values() {
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_alaw(-1), 0x55);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(alaw_to_linear(0x55), -8);
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(alaw_to_linear(0x2A), -32256);
        assert_eq!(linear_to_alaw(1000), 0xFA);
        assert_eq!(alaw_to_linear(0xFA), 1008);
        // Segment starts (G.711 Table 1a decision values, scaled by 8).
        let seg_starts: Vec<i16> = (0..8)
            .map(|s| alaw_to_linear(((s << 4) | 0x80) ^ 0x55))
            .collect();
        assert_eq!(seg_starts, [8, 264, 528, 1056, 2112, 4224, 8448, 16896]);
    }

    #[test]
    fn every_code_round_trips() {
        for code in 0..=255u8 {
            assert_eq!(
                linear_to_alaw(alaw_to_linear(code)),
                code,
                "A-law {code:#x}"
            );
            if code != 0x7F {
                // µ-law has two zeros; -0 (0x7F) decodes to 0 which encodes as +0 (0xFF).
                assert_eq!(
                    linear_to_ulaw(ulaw_to_linear(code)),
                    code,
                    "µ-law {code:#x}"
                );
            }
        }
    }

    #[test]
    fn quantisation_is_monotonic_and_error_is_bounded() {
        let (mut prev_u, mut prev_a) = (i16::MIN, i16::MIN);
        for x in i16::MIN..=i16::MAX {
            let u = ulaw_to_linear(linear_to_ulaw(x));
            let a = alaw_to_linear(linear_to_alaw(x));
            assert!(u >= prev_u && a >= prev_a, "not monotonic at {x}");
            (prev_u, prev_a) = (u, a);
            // At most half the top segment's step (1024), plus µ-law's clipping above 32635.
            let eu = (i32::from(u) - i32::from(x)).abs();
            let ea = (i32::from(a) - i32::from(x)).abs();
            assert!(
                eu <= 1024 && ea <= 1024,
                "{x}: µ-law err {eu}, A-law err {ea}"
            );
        }
    }

    #[test]
    fn slice_helpers() {
        let pcm = [0i16, 1000, -1000, 32000];
        let mut enc = Vec::new();
        let mut dec = Vec::new();
        encode_ulaw(&pcm, &mut enc);
        decode_ulaw(&enc, &mut dec);
        assert_eq!(dec, [0, 988, -988, 32124]);
        encode_alaw(&pcm, &mut enc);
        decode_alaw(&enc, &mut dec);
        assert_eq!(dec, [8, 1008, -1008, 32256]);
    }
}
