//! DTMF tones as RFC 4733 telephone-events: the event codes (§3.2) and the 4-byte payload
//! (§2.3).

use std::fmt;

/// A DTMF tone (RFC 4733 §3.2, events 0-15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfTone {
    /// `0`..`9`: the digit.
    Digit(u8),
    /// `*` (event 10).
    Star,
    /// `#` (event 11).
    Pound,
    /// `A` (event 12).
    A,
    /// `B` (event 13).
    B,
    /// `C` (event 14).
    C,
    /// `D` (event 15).
    D,
}

impl DtmfTone {
    /// The tone for a keypad character (`0-9`, `*`, `#`, `A-D`, case-insensitive).
    pub fn from_char(c: char) -> Option<Self> {
        Some(match c.to_ascii_uppercase() {
            '0'..='9' => DtmfTone::Digit(c as u8 - b'0'),
            '*' => DtmfTone::Star,
            '#' => DtmfTone::Pound,
            'A' => DtmfTone::A,
            'B' => DtmfTone::B,
            'C' => DtmfTone::C,
            'D' => DtmfTone::D,
            _ => return None,
        })
    }

    /// The keypad character.
    pub fn to_char(self) -> char {
        match self {
            DtmfTone::Digit(d) => char::from(b'0' + d.min(9)),
            DtmfTone::Star => '*',
            DtmfTone::Pound => '#',
            DtmfTone::A => 'A',
            DtmfTone::B => 'B',
            DtmfTone::C => 'C',
            DtmfTone::D => 'D',
        }
    }

    /// The RFC 4733 §3.2 event code.
    pub fn event_code(self) -> u8 {
        match self {
            DtmfTone::Digit(d) => d.min(9),
            DtmfTone::Star => 10,
            DtmfTone::Pound => 11,
            DtmfTone::A => 12,
            DtmfTone::B => 13,
            DtmfTone::C => 14,
            DtmfTone::D => 15,
        }
    }

    /// The tone of an RFC 4733 §3.2 event code; `None` for codes that are not DTMF.
    pub fn from_event_code(code: u8) -> Option<Self> {
        Some(match code {
            0..=9 => DtmfTone::Digit(code),
            10 => DtmfTone::Star,
            11 => DtmfTone::Pound,
            12 => DtmfTone::A,
            13 => DtmfTone::B,
            14 => DtmfTone::C,
            15 => DtmfTone::D,
            _ => return None,
        })
    }
}

impl fmt::Display for DtmfTone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_char())
    }
}

/// The telephone-event payload (RFC 4733 §2.3): event, E bit, volume, duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPayload {
    /// The event code (§3.2 for DTMF).
    pub event: u8,
    /// E: this packet ends the event (§2.5.1.3).
    pub end: bool,
    /// Power level in -dBm0, 0..=63 (§2.3.4).
    pub volume: u8,
    /// Duration so far in timestamp units (§2.3.5).
    pub duration: u16,
}

impl EventPayload {
    /// Appends the 4 bytes to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        out.push(self.event);
        out.push((u8::from(self.end) << 7) | (self.volume & 0x3F));
        out.extend_from_slice(&self.duration.to_be_bytes());
    }

    /// Parses the first 4 bytes of `payload`.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let b = payload.get(..4)?;
        Some(Self {
            event: b[0],
            end: b[1] & 0x80 != 0,
            volume: b[1] & 0x3F,
            duration: u16::from_be_bytes([b[2], b[3]]),
        })
    }
}

/// RFC 4733 receive state: one report per event, keyed by the event's timestamp.
#[derive(Debug, Clone, Default)]
pub(crate) struct DtmfReceive {
    current: Option<(u32, u8, u16)>,
    last_reported: Option<u32>,
}

impl DtmfReceive {
    /// Returns the events to report.
    pub(crate) fn handle(&mut self, timestamp: u32, ev: EventPayload) -> Vec<(u8, u16)> {
        let mut out = Vec::new();
        if let Some(last) = self.last_reported {
            // The same event again (end retransmission), or an older one arriving late.
            if (timestamp.wrapping_sub(last) as i32) <= 0 {
                return out;
            }
        }
        match self.current {
            Some((ts, _, _)) if ts == timestamp => {}
            Some((ts, event, dur)) => {
                // A new event began before we saw the previous one's end: report it now.
                out.push((event, dur));
                self.last_reported = Some(ts);
                self.current = None;
            }
            None => {}
        }
        let entry = self.current.get_or_insert((timestamp, ev.event, 0));
        entry.2 = entry.2.max(ev.duration);
        if ev.end {
            out.push((entry.1, entry.2));
            self.last_reported = Some(timestamp);
            self.current = None;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_chars() {
        for c in "0123456789*#ABCD".chars() {
            let t = DtmfTone::from_char(c).unwrap();
            assert_eq!(t.to_char(), c);
            assert_eq!(DtmfTone::from_event_code(t.event_code()), Some(t));
        }
        assert_eq!(DtmfTone::from_char('#').unwrap().event_code(), 11);
        assert_eq!(DtmfTone::from_char('a'), Some(DtmfTone::A));
        assert_eq!(DtmfTone::from_char('x'), None);
        assert_eq!(DtmfTone::from_event_code(16), None);
    }

    #[test]
    fn payload_round_trip() {
        // RFC 4733 §2.3 layout: event 5, E=1, volume 10, duration 800.
        let p = EventPayload {
            event: 5,
            end: true,
            volume: 10,
            duration: 800,
        };
        let mut buf = Vec::new();
        p.write_to(&mut buf);
        assert_eq!(buf, [5, 0x8A, 0x03, 0x20]);
        assert_eq!(EventPayload::parse(&buf), Some(p));
        assert_eq!(EventPayload::parse(&buf[..3]), None);
    }

    #[test]
    fn dtmf_receive_reports_each_event_once() {
        let mut r = DtmfReceive::default();
        let ev = |end, duration| EventPayload {
            event: 1,
            end,
            volume: 10,
            duration,
        };
        assert!(r.handle(100, ev(false, 400)).is_empty());
        assert_eq!(r.handle(100, ev(true, 800)), [(1, 800)]);
        assert!(r.handle(100, ev(true, 800)).is_empty());
        assert!(r.handle(100, ev(true, 800)).is_empty());
        // A new event whose end is lost is reported when the next begins.
        assert!(r.handle(2000, ev(false, 400)).is_empty());
        assert_eq!(r.handle(4000, ev(false, 400)), [(1, 400)]);
        assert!(
            r.handle(2000, ev(true, 800)).is_empty(),
            "late end of a reported event"
        );
    }
}
