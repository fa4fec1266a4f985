//! RTCP sender and receiver reports (RFC 3550 §6.4) and SDES CNAME (§6.5.1), written and
//! read by hand, plus the appendix arithmetic they need: the loss figures of RFC 3550 A.3,
//! NTP timestamps (§4) and the round-trip time of §6.4.1.
//!
//! [`write_report`] builds the compound packet this crate sends (§6.1: an SR or RR first,
//! then an SDES chunk with the CNAME). [`parse_compound`] reads any compound packet: SR, RR,
//! SDES CNAME and BYE are decoded, other packet types (APP, RTPFB, XR, ...) are returned as
//! [`RtcpPacket::Other`]. Malformed input gives an [`RtcpError`], never a panic.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Packet type of a sender report (RFC 3550 §6.4.1).
pub const PT_SR: u8 = 200;
/// Packet type of a receiver report (RFC 3550 §6.4.2).
pub const PT_RR: u8 = 201;
/// Packet type of source description items (RFC 3550 §6.5).
pub const PT_SDES: u8 = 202;
/// Packet type of a goodbye (RFC 3550 §6.6).
pub const PT_BYE: u8 = 203;
/// The SDES item type of CNAME (RFC 3550 §6.5.1).
const SDES_CNAME: u8 = 1;
/// Seconds from the NTP epoch (1900) to the Unix epoch (1970) (RFC 3550 §4).
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// Why a datagram is not a compound RTCP packet this crate can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtcpError {
    /// Shorter than a header, or than the length a header announces.
    #[error("RTCP packet truncated")]
    Truncated,
    /// The version field is not 2 (RFC 3550 §6.4.1).
    #[error("RTCP version {0}, expected 2")]
    BadVersion(u8),
    /// The report count or SDES chunks do not fit the packet's length (RFC 3550 A.2).
    #[error("RTCP length does not fit its contents")]
    BadLength,
    /// The padding count is zero or larger than the packet (RFC 3550 §6.4.1, P bit).
    #[error("bad RTCP padding")]
    BadPadding,
    /// A CNAME longer than the 255 octets an SDES item can carry (RFC 3550 §6.5).
    #[error("CNAME longer than 255 octets")]
    CnameTooLong,
}

/// The sender information of an SR (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// The wall-clock time of the report, 64-bit NTP format (RFC 3550 §4).
    pub ntp_timestamp: u64,
    /// The same instant in RTP timestamp units.
    pub rtp_timestamp: u32,
    /// RTP data packets sent since starting (modulo 2^32).
    pub packet_count: u32,
    /// RTP payload octets sent since starting (modulo 2^32).
    pub octet_count: u32,
}

/// One reception report block (RFC 3550 §6.4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    /// The source this block is about.
    pub ssrc: u32,
    /// Packets lost since the previous report, as a fixed-point fraction of 256 (RFC 3550 A.3).
    pub fraction_lost: u8,
    /// Packets lost since reception began, a 24-bit signed count (RFC 3550 A.3).
    pub cumulative_lost: i32,
    /// The extended highest sequence number received (cycles in the upper 16 bits).
    pub highest_sequence: u32,
    /// Interarrival jitter in timestamp units (RFC 3550 A.8).
    pub jitter: u32,
    /// LSR: the middle 32 bits of the NTP timestamp of the last SR from this source, 0 if
    /// none.
    pub last_sr: u32,
    /// DLSR: the delay since that SR was received, in units of 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// An SR (with sender information) or RR (without) (RFC 3550 §6.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The SSRC of the reporter.
    pub ssrc: u32,
    /// `Some` for an SR.
    pub sender: Option<SenderInfo>,
    /// Up to 31 report blocks; more are not written.
    pub blocks: Vec<ReportBlock>,
}

/// One packet of a compound RTCP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtcpPacket {
    /// An SR or RR.
    Report(Report),
    /// The CNAMEs of an SDES packet, by SSRC (chunks without a CNAME are left out).
    Sdes(Vec<(u32, String)>),
    /// A BYE and the sources leaving (RFC 3550 §6.6).
    Bye(Vec<u32>),
    /// Any other packet type, skipped.
    Other {
        /// Its packet type.
        packet_type: u8,
    },
}

/// Converts a wall-clock time to the 64-bit NTP format (RFC 3550 §4: seconds since 1900 in
/// the upper 32 bits, fraction in the lower). Times before 1970 give the Unix epoch.
pub fn ntp_timestamp(time: SystemTime) -> u64 {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs().wrapping_add(NTP_UNIX_OFFSET);
    let frac = (u64::from(since.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp, as LSR carries it (RFC 3550 §6.4.1).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A duration in units of 1/65536 s, as DLSR carries it (RFC 3550 §6.4.1), saturating.
pub fn to_short_ntp(d: Duration) -> u32 {
    let units = (d.as_nanos() << 16) / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

/// A duration from units of 1/65536 s.
pub fn from_short_ntp(units: u32) -> Duration {
    Duration::from_nanos((u64::from(units) * 1_000_000_000) >> 16)
}

/// The round-trip time of RFC 3550 §6.4.1: `A - LSR - DLSR`, where `arrival` is the middle
/// 32 bits of our NTP clock when the report arrived. `None` when the block echoes no SR
/// (LSR 0); a negative result (clock steps) gives zero.
pub fn round_trip(arrival: u32, block: &ReportBlock) -> Option<Duration> {
    if block.last_sr == 0 {
        return None;
    }
    let rtt = arrival
        .wrapping_sub(block.last_sr)
        .wrapping_sub(block.delay_since_last_sr);
    Some(if (rtt as i32) < 0 {
        Duration::ZERO
    } else {
        from_short_ntp(rtt)
    })
}

/// Receiver-side counters of one source (RFC 3550 A.3), kept between reports so the
/// fraction lost covers only the last interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LossCounter {
    expected_prior: i64,
    received_prior: u64,
}

impl LossCounter {
    /// The cumulative and fractional loss for a report now (RFC 3550 A.3), from the
    /// extended base and highest sequence numbers and the packets received so far; moves the
    /// interval on.
    pub fn report(&mut self, base: i64, highest: i64, received: u64) -> (i32, u8) {
        let expected = highest - base + 1;
        let lost = (expected - received as i64).clamp(-0x80_0000, 0x7F_FFFF) as i32;
        let expected_interval = expected - self.expected_prior;
        let received_interval = received as i64 - self.received_prior as i64;
        self.expected_prior = expected;
        self.received_prior = received;
        let lost_interval = expected_interval - received_interval;
        let fraction = if expected_interval <= 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / expected_interval).min(255) as u8
        };
        (lost, fraction)
    }
}

fn header(out: &mut Vec<u8>, count: u8, packet_type: u8) -> usize {
    let at = out.len();
    out.push(0x80 | (count & 0x1F));
    out.push(packet_type);
    out.extend_from_slice(&[0, 0]);
    at
}

/// Fills in the length field (32-bit words minus one, RFC 3550 §6.4.1) of the packet at `at`.
fn finish(out: &mut [u8], at: usize) {
    let words = ((out.len() - at) / 4).saturating_sub(1) as u16;
    out[at + 2..at + 4].copy_from_slice(&words.to_be_bytes());
}

fn write_block(out: &mut Vec<u8>, b: &ReportBlock) {
    out.extend_from_slice(&b.ssrc.to_be_bytes());
    let lost = (b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32) & 0x00FF_FFFF;
    out.extend_from_slice(&((u32::from(b.fraction_lost) << 24) | lost).to_be_bytes());
    out.extend_from_slice(&b.highest_sequence.to_be_bytes());
    out.extend_from_slice(&b.jitter.to_be_bytes());
    out.extend_from_slice(&b.last_sr.to_be_bytes());
    out.extend_from_slice(&b.delay_since_last_sr.to_be_bytes());
}

/// Appends a compound RTCP packet (RFC 3550 §6.1): the SR or RR of `report` (at most 31
/// blocks), then an SDES packet with one chunk carrying `cname` (§6.5.1).
///
/// # Errors
/// [`RtcpError::CnameTooLong`] for a CNAME over 255 octets.
pub fn write_report(report: &Report, cname: &str, out: &mut Vec<u8>) -> Result<(), RtcpError> {
    let cname = cname.as_bytes();
    let cname_len = u8::try_from(cname.len()).map_err(|_| RtcpError::CnameTooLong)?;
    let blocks = &report.blocks[..report.blocks.len().min(31)];
    let count = blocks.len() as u8;
    let at = match &report.sender {
        Some(s) => {
            let at = header(out, count, PT_SR);
            out.extend_from_slice(&report.ssrc.to_be_bytes());
            out.extend_from_slice(&s.ntp_timestamp.to_be_bytes());
            out.extend_from_slice(&s.rtp_timestamp.to_be_bytes());
            out.extend_from_slice(&s.packet_count.to_be_bytes());
            out.extend_from_slice(&s.octet_count.to_be_bytes());
            at
        }
        None => {
            let at = header(out, count, PT_RR);
            out.extend_from_slice(&report.ssrc.to_be_bytes());
            at
        }
    };
    for b in blocks {
        write_block(out, b);
    }
    finish(out, at);
    // SDES (§6.5): one chunk, the CNAME item, then a null item and padding to 32 bits.
    let at = header(out, 1, PT_SDES);
    out.extend_from_slice(&report.ssrc.to_be_bytes());
    out.push(SDES_CNAME);
    out.push(cname_len);
    out.extend_from_slice(cname);
    out.push(0);
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
    finish(out, at);
    Ok(())
}

fn be32(b: &[u8], at: usize) -> Result<u32, RtcpError> {
    b.get(at..at + 4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map(u32::from_be_bytes)
        .ok_or(RtcpError::BadLength)
}

fn parse_block(b: &[u8], at: usize) -> Result<ReportBlock, RtcpError> {
    let word = be32(b, at + 4)?;
    // Sign-extend the 24-bit cumulative count.
    let cumulative_lost = ((word << 8) as i32) >> 8;
    Ok(ReportBlock {
        ssrc: be32(b, at)?,
        fraction_lost: (word >> 24) as u8,
        cumulative_lost,
        highest_sequence: be32(b, at + 8)?,
        jitter: be32(b, at + 12)?,
        last_sr: be32(b, at + 16)?,
        delay_since_last_sr: be32(b, at + 20)?,
    })
}

fn parse_report(body: &[u8], count: usize, sr: bool) -> Result<Report, RtcpError> {
    let ssrc = be32(body, 0)?;
    let (sender, mut at) = if sr {
        let hi = be32(body, 4)?;
        let lo = be32(body, 8)?;
        let info = SenderInfo {
            ntp_timestamp: (u64::from(hi) << 32) | u64::from(lo),
            rtp_timestamp: be32(body, 12)?,
            packet_count: be32(body, 16)?,
            octet_count: be32(body, 20)?,
        };
        (Some(info), 24)
    } else {
        (None, 4)
    };
    let mut blocks = Vec::with_capacity(count);
    for _ in 0..count {
        blocks.push(parse_block(body, at)?);
        at += 24;
    }
    // Anything after the blocks is a profile-specific extension (§6.4.1), ignored.
    Ok(Report {
        ssrc,
        sender,
        blocks,
    })
}

fn parse_sdes(body: &[u8], count: usize) -> Result<Vec<(u32, String)>, RtcpError> {
    let mut out = Vec::new();
    let mut at = 0;
    for _ in 0..count {
        let ssrc = be32(body, at)?;
        at += 4;
        let mut cname = None;
        loop {
            let kind = *body.get(at).ok_or(RtcpError::BadLength)?;
            if kind == 0 {
                // The null item ends the chunk; pad to the next 32-bit boundary.
                at = (at + 4) & !3;
                break;
            }
            let len = usize::from(*body.get(at + 1).ok_or(RtcpError::BadLength)?);
            let text = body.get(at + 2..at + 2 + len).ok_or(RtcpError::BadLength)?;
            if kind == SDES_CNAME {
                cname = Some(String::from_utf8_lossy(text).into_owned());
            }
            at += 2 + len;
        }
        if let Some(c) = cname {
            out.push((ssrc, c));
        }
    }
    Ok(out)
}

/// Parses a compound RTCP packet (RFC 3550 §6.1) into its packets. The length of each packet
/// is checked against what its header announces (RFC 3550 A.2); unknown packet types are
/// skipped as [`RtcpPacket::Other`].
///
/// # Errors
/// An [`RtcpError`] for an empty or malformed datagram.
pub fn parse_compound(data: &[u8]) -> Result<Vec<RtcpPacket>, RtcpError> {
    if data.is_empty() {
        return Err(RtcpError::Truncated);
    }
    let mut packets = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(RtcpError::Truncated);
        }
        let version = rest[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion(version));
        }
        let padding = rest[0] & 0x20 != 0;
        let count = usize::from(rest[0] & 0x1F);
        let packet_type = rest[1];
        let len = 4 * (usize::from(u16::from_be_bytes([rest[2], rest[3]])) + 1);
        let packet = rest.get(..len).ok_or(RtcpError::Truncated)?;
        rest = &rest[len..];
        let mut body = &packet[4..];
        if padding {
            let pad = usize::from(*packet.last().ok_or(RtcpError::Truncated)?);
            if pad == 0 || pad > body.len() {
                return Err(RtcpError::BadPadding);
            }
            body = &body[..body.len() - pad];
        }
        packets.push(match packet_type {
            PT_SR => RtcpPacket::Report(parse_report(body, count, true)?),
            PT_RR => RtcpPacket::Report(parse_report(body, count, false)?),
            PT_SDES => RtcpPacket::Sdes(parse_sdes(body, count)?),
            PT_BYE => {
                let ssrcs = (0..count)
                    .map(|i| be32(body, 4 * i))
                    .collect::<Result<_, _>>()?;
                RtcpPacket::Bye(ssrcs)
            }
            other => RtcpPacket::Other { packet_type: other },
        });
    }
    Ok(packets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: 0x1234_5678,
            fraction_lost: 25,
            cumulative_lost: -3,
            highest_sequence: 0x0001_0005,
            jitter: 42,
            last_sr: 0xAABB_CCDD,
            delay_since_last_sr: 65536,
        }
    }

    #[test]
    fn sr_and_sdes_round_trip() {
        let report = Report {
            ssrc: 7,
            sender: Some(SenderInfo {
                ntp_timestamp: 0x0102_0304_0506_0708,
                rtp_timestamp: 160,
                packet_count: 10,
                octet_count: 1600,
            }),
            blocks: vec![block()],
        };
        let mut out = Vec::new();
        write_report(&report, "abc@host", &mut out).unwrap();
        assert_eq!(out.len() % 4, 0);
        assert_eq!(&out[..2], &[0x81, PT_SR]);
        assert_eq!(u16::from_be_bytes([out[2], out[3]]), 12); // 28 + 24 bytes = 13 words
        assert!(crate::rtp::is_rtcp(&out));
        let parsed = parse_compound(&out).unwrap();
        assert_eq!(
            parsed,
            [
                RtcpPacket::Report(report),
                RtcpPacket::Sdes(vec![(7, "abc@host".into())])
            ]
        );
    }

    #[test]
    fn rr_without_blocks_and_unknown_types() {
        let report = Report {
            ssrc: 9,
            sender: None,
            blocks: Vec::new(),
        };
        let mut out = Vec::new();
        write_report(&report, "", &mut out).unwrap();
        // An APP packet (204) of one word body is skipped.
        out.extend_from_slice(&[0x80, 204, 0, 1, 1, 2, 3, 4]);
        let parsed = parse_compound(&out).unwrap();
        assert_eq!(parsed[0], RtcpPacket::Report(report));
        assert_eq!(parsed[2], RtcpPacket::Other { packet_type: 204 });
    }

    #[test]
    fn malformed_packets_are_errors() {
        assert_eq!(parse_compound(&[]), Err(RtcpError::Truncated));
        assert_eq!(parse_compound(&[0x80, 201]), Err(RtcpError::Truncated));
        assert_eq!(
            parse_compound(&[0x40, 201, 0, 0]),
            Err(RtcpError::BadVersion(1))
        );
        // An RR announcing 5 words but carrying 1.
        assert_eq!(
            parse_compound(&[0x80, 201, 0, 5, 0, 0, 0, 1]),
            Err(RtcpError::Truncated)
        );
        // An RR claiming one block with room for none.
        assert_eq!(
            parse_compound(&[0x81, 201, 0, 1, 0, 0, 0, 1]),
            Err(RtcpError::BadLength)
        );
        assert_eq!(
            parse_compound(&[0xA0, 201, 0, 1, 0, 0, 0, 9]),
            Err(RtcpError::BadPadding)
        );
        let long = "x".repeat(256);
        let r = Report {
            ssrc: 1,
            sender: None,
            blocks: vec![],
        };
        assert_eq!(
            write_report(&r, &long, &mut Vec::new()),
            Err(RtcpError::CnameTooLong)
        );
    }

    #[test]
    fn ntp_and_round_trip_arithmetic() {
        let t = UNIX_EPOCH + Duration::from_millis(1500);
        let ntp = ntp_timestamp(t);
        assert_eq!(ntp >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(ntp as u32, 1 << 31);
        assert_eq!(
            ntp_middle(ntp),
            (((NTP_UNIX_OFFSET + 1) as u32) << 16) | 0x8000
        );
        assert_eq!(to_short_ntp(Duration::from_millis(500)), 0x8000);
        assert_eq!(from_short_ntp(0x8000), Duration::from_millis(500));
        // RFC 3550 §6.4.1 figure 2's numbers, in 1/65536 s.
        let b = ReportBlock {
            last_sr: 0xB705_2000,
            delay_since_last_sr: 0x0005_4000,
            ..block()
        };
        let rtt = round_trip(0xB710_8000, &b).unwrap();
        assert_eq!(to_short_ntp(rtt), 0x0006_2000);
        assert_eq!(rtt, Duration::from_nanos(6_125_000_000));
        assert_eq!(round_trip(0, &ReportBlock::default()), None, "no SR echoed");
    }

    #[test]
    fn loss_counter_follows_appendix_a3() {
        let mut c = LossCounter::default();
        // 100 expected, 90 received.
        assert_eq!(c.report(1000, 1099, 90), (10, 25)); // 10/100 * 256 = 25.6
        // Next interval: 100 more expected, all received.
        assert_eq!(c.report(1000, 1199, 190), (10, 0));
        // Duplicates make received exceed expected: negative, fraction 0.
        assert_eq!(c.report(1000, 1209, 212), (-2, 0));
    }

    #[test]
    fn cumulative_lost_is_24_bit_signed() {
        let mut out = Vec::new();
        let b = ReportBlock {
            cumulative_lost: -0x90_0000,
            ..block()
        };
        write_block(&mut out, &b);
        assert_eq!(parse_block(&out, 0).unwrap().cumulative_lost, -0x80_0000);
    }

    proptest::proptest! {
        #[test]
        fn random_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse_compound(&data);
        }

        #[test]
        fn mutated_reports_never_panic(
            idx in 0usize..80, byte in proptest::num::u8::ANY, cut in 0usize..80,
        ) {
            let r = Report { ssrc: 1, sender: Some(SenderInfo { ntp_timestamp: 5, rtp_timestamp: 6, packet_count: 7, octet_count: 8 }), blocks: vec![block()] };
            let mut out = Vec::new();
            write_report(&r, "cname", &mut out).unwrap();
            let i = idx % out.len();
            out[i] = byte;
            out.truncate(out.len() - cut.min(out.len()));
            let _ = parse_compound(&out);
        }
    }
}
