//! The RTP fixed header (RFC 3550 §5.1), written and read by hand: 12 bytes plus CSRCs and
//! an optional header extension, which is skipped on receive.

/// The fixed RTP header (RFC 3550 §5.1). CSRC lists and extensions are skipped on parse and
/// never written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    /// M: the first packet of a talkspurt for audio (RFC 3551 §4.1), the first packet of an
    /// event for telephone-event (RFC 4733 §2.5.1.1).
    pub marker: bool,
    /// PT, 7 bits.
    pub payload_type: u8,
    /// Sequence number, +1 per packet (RFC 3550 §5.1).
    pub sequence: u16,
    /// Sampling instant of the first octet, in clock-rate units.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
}

/// Why a datagram is not an RTP packet this crate accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// Shorter than the header it announces.
    #[error("packet truncated")]
    Truncated,
    /// The version field is not 2 (RFC 3550 §5.1).
    #[error("RTP version {0}, expected 2")]
    BadVersion(u8),
    /// The padding count is larger than the payload (RFC 3550 §5.1, P bit).
    #[error("bad padding")]
    BadPadding,
}

/// The fixed header length.
pub const RTP_HEADER_LEN: usize = 12;

impl RtpHeader {
    /// Appends the 12-byte header to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.push(0x80); // V=2, P=0, X=0, CC=0
        out.push((u8::from(self.marker) << 7) | (self.payload_type & 0x7F));
        out.extend_from_slice(&self.sequence.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
    }

    /// Parses a packet into its header and payload (padding removed).
    pub fn parse(packet: &[u8]) -> Result<(RtpHeader, &[u8]), RtpError> {
        if packet.len() < RTP_HEADER_LEN {
            return Err(RtpError::Truncated);
        }
        let b0 = packet[0];
        let version = b0 >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let padding = b0 & 0x20 != 0;
        let extension = b0 & 0x10 != 0;
        let csrc_count = usize::from(b0 & 0x0F);
        let header = RtpHeader {
            marker: packet[1] & 0x80 != 0,
            payload_type: packet[1] & 0x7F,
            sequence: u16::from_be_bytes([packet[2], packet[3]]),
            timestamp: u32::from_be_bytes([packet[4], packet[5], packet[6], packet[7]]),
            ssrc: u32::from_be_bytes([packet[8], packet[9], packet[10], packet[11]]),
        };
        let mut start = RTP_HEADER_LEN + 4 * csrc_count;
        if extension {
            // RFC 3550 §5.3.1: 16-bit profile, 16-bit length in 32-bit words.
            let ext = packet.get(start..start + 4).ok_or(RtpError::Truncated)?;
            start += 4 + 4 * usize::from(u16::from_be_bytes([ext[2], ext[3]]));
        }
        let mut end = packet.len();
        if padding {
            let pad = usize::from(*packet.last().ok_or(RtpError::Truncated)?);
            if pad == 0 || pad > end.saturating_sub(start) {
                return Err(RtpError::BadPadding);
            }
            end -= pad;
        }
        let payload = packet.get(start..end).ok_or(RtpError::Truncated)?;
        Ok((header, payload))
    }
}

/// Whether a datagram on an RTP port is RTCP rather than RTP (RFC 5761 §4: the second byte,
/// the RTCP packet type, is 192..=223).
pub fn is_rtcp(packet: &[u8]) -> bool {
    packet.len() >= 2 && (192..=223).contains(&packet[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_parses_the_fixed_header() {
        let h = RtpHeader {
            marker: true,
            payload_type: 8,
            sequence: 0xBEEF,
            timestamp: 0x01020304,
            ssrc: 0xCAFEBABE,
        };
        let mut buf = Vec::new();
        h.write_to(&mut buf);
        assert_eq!(
            buf,
            [0x80, 0x88, 0xBE, 0xEF, 1, 2, 3, 4, 0xCA, 0xFE, 0xBA, 0xBE]
        );
        buf.extend_from_slice(b"abc");
        let (p, payload) = RtpHeader::parse(&buf).unwrap();
        assert_eq!(p, h);
        assert_eq!(payload, b"abc");
    }

    #[test]
    fn skips_csrcs_extension_and_padding() {
        // CC=1, X=1, P=1.
        let mut buf = vec![0xB1, 0x00, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3];
        buf.extend_from_slice(&[9, 9, 9, 9]); // CSRC
        buf.extend_from_slice(&[0xBE, 0xDE, 0, 1, 7, 7, 7, 7]); // extension of one word
        buf.extend_from_slice(b"xy");
        buf.extend_from_slice(&[0, 0, 3]); // 3 bytes of padding
        let (h, payload) = RtpHeader::parse(&buf).unwrap();
        assert_eq!((h.sequence, h.timestamp, h.ssrc), (1, 2, 3));
        assert_eq!(payload, b"xy");
    }

    #[test]
    fn rejects_bad_packets() {
        assert_eq!(RtpHeader::parse(&[0x80; 5]), Err(RtpError::Truncated));
        assert_eq!(RtpHeader::parse(&[0x40; 12]), Err(RtpError::BadVersion(1)));
        let mut pad = vec![0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
        assert_eq!(RtpHeader::parse(&pad), Err(RtpError::BadPadding));
        pad[0] = 0x8F; // 15 CSRCs announced, none present
        assert_eq!(RtpHeader::parse(&pad), Err(RtpError::Truncated));
        assert!(is_rtcp(&[0x80, 200, 0, 6]));
        assert!(!is_rtcp(&[0x80, 0x80 | 101]));
    }
}
