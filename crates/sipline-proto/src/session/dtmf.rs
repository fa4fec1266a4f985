//! DTMF over SIP INFO (RFC 6086 carries the bodies; their formats are de facto): the
//! `application/dtmf-relay` body (`Signal=5\r\nDuration=160\r\n`) that SIP.js, JsSIP,
//! Asterisk and Cisco send, the bare `application/dtmf` body (`5`), and a sans-IO scheduler
//! that paces a string of tones as SIP.js's `Session.dtmf()` does.
//!
//! SIP.js 0.5 (`src/Session.js` `dtmf()`, `src/Session/DTMF.js`): one INFO per tone, the
//! next one `duration + interToneGap` after it; `,` waits 2 s and sends nothing; duration
//! defaults to 100 ms and is clamped to 70..=6000 ms, interToneGap defaults to 500 ms with a
//! 50 ms minimum (no maximum); tones are `[0-9A-D#*]`, case-insensitive; a `Number` is
//! turned into its decimal string. [`ToneQueue`] does the same without timers: ask it
//! [`ToneQueue::next_deadline`], call [`ToneQueue::next_tone`] then, send an INFO with
//! [`DtmfInfo::to_body`] for what it returns.
//!
//! DTMF as RTP telephone-events (RFC 4733) belongs to the media layer, not here; the event
//! codes of RFC 4733 §3.2 are used for numeric `Signal` values.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use super::Body;
use crate::message::MediaType;

/// The `application/dtmf-relay` media type.
pub const DTMF_RELAY: &str = "application/dtmf-relay";
/// The `application/dtmf` media type.
pub const DTMF: &str = "application/dtmf";

/// SIP.js's default tone duration (`DTMF.C.DEFAULT_DURATION`, 100 ms).
pub const DEFAULT_DURATION: Duration = Duration::from_millis(100);
/// SIP.js's shortest tone (`DTMF.C.MIN_DURATION`, 70 ms); shorter ones are raised to it.
pub const MIN_DURATION: Duration = Duration::from_millis(70);
/// SIP.js's longest tone (`DTMF.C.MAX_DURATION`, 6000 ms); longer ones are cut to it.
pub const MAX_DURATION: Duration = Duration::from_millis(6000);
/// SIP.js's default gap between tones (`DTMF.C.DEFAULT_INTER_TONE_GAP`, 500 ms).
pub const DEFAULT_INTER_TONE_GAP: Duration = Duration::from_millis(500);
/// SIP.js's shortest gap (`DTMF.C.MIN_INTER_TONE_GAP`, 50 ms); shorter ones are raised.
pub const MIN_INTER_TONE_GAP: Duration = Duration::from_millis(50);
/// What a `,` in a tone string waits (SIP.js: `timeout = 2000`).
pub const PAUSE: Duration = Duration::from_millis(2000);

/// A DTMF tone: a key of the 4x4 keypad, numbered as the events of RFC 4733 §3.2
/// (0-9, `*` = 10, `#` = 11, A-D = 12-15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum DtmfTone {
    /// `0`
    Zero = 0,
    /// `1`
    One = 1,
    /// `2`
    Two = 2,
    /// `3`
    Three = 3,
    /// `4`
    Four = 4,
    /// `5`
    Five = 5,
    /// `6`
    Six = 6,
    /// `7`
    Seven = 7,
    /// `8`
    Eight = 8,
    /// `9`
    Nine = 9,
    /// `*`
    Star = 10,
    /// `#`
    Pound = 11,
    /// `A`
    A = 12,
    /// `B`
    B = 13,
    /// `C`
    C = 14,
    /// `D`
    D = 15,
}

const TONES: [DtmfTone; 16] = [
    DtmfTone::Zero,
    DtmfTone::One,
    DtmfTone::Two,
    DtmfTone::Three,
    DtmfTone::Four,
    DtmfTone::Five,
    DtmfTone::Six,
    DtmfTone::Seven,
    DtmfTone::Eight,
    DtmfTone::Nine,
    DtmfTone::Star,
    DtmfTone::Pound,
    DtmfTone::A,
    DtmfTone::B,
    DtmfTone::C,
    DtmfTone::D,
];

impl DtmfTone {
    /// The tone of a keypad character: `0-9`, `*`, `#`, `A-D` in either case (SIP.js
    /// upper-cases the tone before checking `/^[0-9A-D#*]$/`).
    pub fn from_char(c: char) -> Result<DtmfTone, DtmfError> {
        match c.to_ascii_uppercase() {
            d @ '0'..='9' => Ok(TONES[usize::from(d as u8 - b'0')]),
            '*' => Ok(DtmfTone::Star),
            '#' => Ok(DtmfTone::Pound),
            l @ 'A'..='D' => Ok(TONES[usize::from(l as u8 - b'A') + 12]),
            _ => Err(DtmfError::InvalidTone(c)),
        }
    }

    /// The tone of a digit 0-9: SIP.js accepts a `Number` and sends its decimal string.
    pub fn from_digit(n: u32) -> Result<DtmfTone, DtmfError> {
        match n {
            0..=9 => Ok(TONES[n as usize]),
            _ => Err(DtmfError::InvalidNumber(n)),
        }
    }

    /// The tone of an RFC 4733 §3.2 event code 0-15 (16, hook flash, is not a tone).
    pub fn from_event(code: u8) -> Result<DtmfTone, DtmfError> {
        TONES
            .get(usize::from(code))
            .copied()
            .ok_or(DtmfError::InvalidNumber(u32::from(code)))
    }

    /// The RFC 4733 §3.2 event code.
    pub fn event(self) -> u8 {
        self as u8
    }

    /// The keypad character (letters in upper case).
    pub fn as_char(self) -> char {
        match self {
            DtmfTone::Star => '*',
            DtmfTone::Pound => '#',
            t if t.event() < 10 => char::from(b'0' + t.event()),
            t => char::from(b'A' + t.event() - 12),
        }
    }
}

impl fmt::Display for DtmfTone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

impl TryFrom<char> for DtmfTone {
    type Error = DtmfError;
    fn try_from(c: char) -> Result<Self, Self::Error> {
        DtmfTone::from_char(c)
    }
}

impl TryFrom<u32> for DtmfTone {
    type Error = DtmfError;
    fn try_from(n: u32) -> Result<Self, Self::Error> {
        DtmfTone::from_digit(n)
    }
}

impl FromStr for DtmfTone {
    type Err = DtmfError;
    /// Exactly one keypad character, surrounding whitespace ignored.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut chars = s.trim().chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) => DtmfTone::from_char(c),
            (None, _) => Err(DtmfError::Empty),
            (Some(_), Some(_)) => Err(DtmfError::InvalidSignal(s.trim().to_owned())),
        }
    }
}

/// Why a tone, a tone string or a DTMF body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DtmfError {
    /// Not a keypad character (`0-9`, `*`, `#`, `A-D`; `,` only inside a tone string).
    InvalidTone(char),
    /// A number that is not a digit 0-9 (or, as an event code, not 0-15).
    InvalidNumber(u32),
    /// An empty tone string or body (SIP.js: `TypeError('Invalid tones')`).
    Empty,
    /// A dtmf-relay body without a `Signal` line.
    MissingSignal,
    /// A `Signal` (or `application/dtmf`) value that is no tone.
    InvalidSignal(String),
    /// The body is not UTF-8 text.
    NotText,
    /// The Content-Type is neither `application/dtmf-relay` nor `application/dtmf`; a UAS
    /// answers 415 with `Accept: application/dtmf-relay` (RFC 3261 §21.4.13, as SIP.js does).
    UnsupportedContentType(String),
}

impl fmt::Display for DtmfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidTone(c) => write!(f, "invalid DTMF tone {c:?}"),
            Self::InvalidNumber(n) => write!(f, "invalid DTMF number {n}"),
            Self::Empty => f.write_str("no DTMF tone given"),
            Self::MissingSignal => f.write_str("dtmf-relay body without a Signal line"),
            Self::InvalidSignal(s) => write!(f, "invalid DTMF signal {s:?}"),
            Self::NotText => f.write_str("DTMF body is not UTF-8 text"),
            Self::UnsupportedContentType(t) => write!(f, "unsupported DTMF content type {t:?}"),
        }
    }
}

impl std::error::Error for DtmfError {}

/// One DTMF tone carried in an INFO body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfInfo {
    /// The tone.
    pub tone: DtmfTone,
    /// The `Duration` line in milliseconds, if the body had a usable one (`application/dtmf`
    /// has none). See [`DtmfInfo::duration_or_default`].
    pub duration: Option<Duration>,
}

impl DtmfInfo {
    /// A tone with a duration, clamped as SIP.js clamps it ([`clamp_duration`]).
    pub fn new(tone: DtmfTone, duration: Duration) -> DtmfInfo {
        DtmfInfo {
            tone,
            duration: Some(clamp_duration(Some(duration))),
        }
    }

    /// The duration, or SIP.js's treatment of a missing or out-of-range one
    /// ([`clamp_duration`]: default 100 ms, 70..=6000 ms).
    pub fn duration_or_default(&self) -> Duration {
        clamp_duration(self.duration)
    }

    /// Reads an INFO body by its Content-Type: `application/dtmf-relay` or
    /// `application/dtmf` (parameters and case ignored).
    pub fn parse(content_type: &str, body: &[u8]) -> Result<DtmfInfo, DtmfError> {
        let unsupported = || DtmfError::UnsupportedContentType(content_type.trim().to_owned());
        let mt = MediaType::parse(content_type).map_err(|_| unsupported())?;
        if mt.is("application", "dtmf-relay") {
            DtmfInfo::parse_relay(body)
        } else if mt.is("application", "dtmf") {
            DtmfInfo::parse_dtmf(body)
        } else {
            Err(unsupported())
        }
    }

    /// Reads an `application/dtmf-relay` body: `Signal=<tone>` and optionally
    /// `Duration=<ms>` lines, in any order.
    ///
    /// Tolerant as receivers must be: keys in any case, spaces or tabs around `=` and the
    /// value (SIP.js sends `Signal= 5\r\nDuration= 160` without a final line break), `\n` or
    /// `\r\n` line ends, blank and unknown lines skipped. `Signal` is a keypad character
    /// (either case) or an RFC 4733 event code 0-15 (`Signal=10` is `*`, as Asterisk reads
    /// it). A `Duration` that is not a number is treated as absent.
    pub fn parse_relay(body: &[u8]) -> Result<DtmfInfo, DtmfError> {
        let text = std::str::from_utf8(body).map_err(|_| DtmfError::NotText)?;
        let mut tone = None;
        let mut duration = None;
        for line in text.split('\n') {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let value = value.trim();
            // The first line of each kind counts.
            let key = key.trim();
            if key.eq_ignore_ascii_case("signal") && tone.is_none() {
                tone = Some(parse_signal(value)?);
            } else if key.eq_ignore_ascii_case("duration") && duration.is_none() {
                duration = leading_number(value).map(Duration::from_millis);
            }
        }
        Ok(DtmfInfo {
            tone: tone.ok_or(DtmfError::MissingSignal)?,
            duration,
        })
    }

    /// Reads an `application/dtmf` body: the tone alone (`5`), or its RFC 4733 event code,
    /// surrounding whitespace and line breaks ignored.
    pub fn parse_dtmf(body: &[u8]) -> Result<DtmfInfo, DtmfError> {
        let text = std::str::from_utf8(body).map_err(|_| DtmfError::NotText)?;
        let value = text.trim();
        if value.is_empty() {
            return Err(DtmfError::Empty);
        }
        Ok(DtmfInfo {
            tone: parse_signal(value)?,
            duration: None,
        })
    }

    /// The `application/dtmf-relay` text: `Signal=5\r\nDuration=160\r\n`, the duration in
    /// whole milliseconds ([`DtmfInfo::duration_or_default`]), as Asterisk writes it.
    pub fn to_relay_string(&self) -> String {
        format!(
            "Signal={}\r\nDuration={}\r\n",
            self.tone,
            self.duration_or_default().as_millis()
        )
    }

    /// The INFO body: [`DtmfInfo::to_relay_string`] as `application/dtmf-relay`.
    pub fn to_body(&self) -> Body {
        Body {
            content_type: DTMF_RELAY.to_owned(),
            bytes: self.to_relay_string().into(),
        }
    }
}

impl fmt::Display for DtmfInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_relay_string())
    }
}

/// A keypad character, or an RFC 4733 event code 0-15.
fn parse_signal(value: &str) -> Result<DtmfTone, DtmfError> {
    // SIP.js's receiver keeps the first character after `Signal=`; take the first token.
    let token = value.split([' ', '\t', '\r']).next().unwrap_or("");
    if token.is_empty() {
        return Err(DtmfError::InvalidSignal(value.to_owned()));
    }
    if token.len() > 1 && token.bytes().all(|b| b.is_ascii_digit()) {
        return match token.parse::<u8>() {
            Ok(code) => {
                DtmfTone::from_event(code).map_err(|_| DtmfError::InvalidSignal(token.to_owned()))
            }
            Err(_) => Err(DtmfError::InvalidSignal(token.to_owned())),
        };
    }
    token
        .parse::<DtmfTone>()
        .map_err(|_| DtmfError::InvalidSignal(token.to_owned()))
}

/// The decimal number at the start of `s` (`160`, `160 ms`), if any.
fn leading_number(s: &str) -> Option<u64> {
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().ok()
}

/// SIP.js's duration rule: absent or zero gives [`DEFAULT_DURATION`]; below
/// [`MIN_DURATION`] is raised to it; above [`MAX_DURATION`] is cut to it.
pub fn clamp_duration(duration: Option<Duration>) -> Duration {
    match duration {
        None => DEFAULT_DURATION,
        Some(d) if d.is_zero() => DEFAULT_DURATION,
        Some(d) => d.clamp(MIN_DURATION, MAX_DURATION),
    }
}

/// SIP.js's interToneGap rule: absent or zero gives [`DEFAULT_INTER_TONE_GAP`]; below
/// [`MIN_INTER_TONE_GAP`] is raised to it; there is no maximum.
pub fn clamp_inter_tone_gap(gap: Option<Duration>) -> Duration {
    match gap {
        None => DEFAULT_INTER_TONE_GAP,
        Some(g) if g.is_zero() => DEFAULT_INTER_TONE_GAP,
        Some(g) => g.max(MIN_INTER_TONE_GAP),
    }
}

/// One element of a tone string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToneItem {
    /// A tone to send.
    Tone(DtmfTone),
    /// `,`: wait [`PAUSE`], send nothing.
    Pause,
}

/// Reads a tone string as SIP.js's `Session.dtmf()` accepts it (`/^[0-9A-D#*,]+$/i`).
pub fn parse_tones(tones: &str) -> Result<Vec<ToneItem>, DtmfError> {
    if tones.is_empty() {
        return Err(DtmfError::Empty);
    }
    tones
        .chars()
        .map(|c| match c {
            ',' => Ok(ToneItem::Pause),
            c => DtmfTone::from_char(c).map(ToneItem::Tone),
        })
        .collect()
}

/// A queued element with the pacing of the call that queued it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Queued {
    item: ToneItem,
    duration: Duration,
    gap: Duration,
}

/// Paces tones the way SIP.js's `Session.dtmf()` does, without timers: one tone, then the
/// next `duration + inter_tone_gap` later; a `,` waits [`PAUSE`]. Tones queued while others
/// are pending are appended (SIP.js: "Tones are already queued, just add to the queue").
///
/// Unlike SIP.js 0.5, whose later calls' tones inherit the first call's duration and gap,
/// each call's tones keep their own.
///
/// ```
/// use std::time::{Duration, Instant};
/// use sipline_proto::session::dtmf::{DtmfTone, ToneQueue};
///
/// let t0 = Instant::now();
/// let mut q = ToneQueue::new();
/// q.dtmf(t0, "1#", Some(Duration::from_millis(160)), Some(Duration::from_millis(1200)))?;
/// assert_eq!(q.next_deadline(), Some(t0));
/// assert_eq!(q.next_tone(t0), Some((DtmfTone::One, Duration::from_millis(160))));
/// assert_eq!(q.next_tone(t0), None); // not yet
/// let t1 = q.next_deadline().unwrap();
/// assert_eq!(t1, t0 + Duration::from_millis(1360));
/// assert_eq!(q.next_tone(t1), Some((DtmfTone::Pound, Duration::from_millis(160))));
/// # Ok::<(), sipline_proto::session::dtmf::DtmfError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ToneQueue {
    queue: VecDeque<Queued>,
    /// Not before this instant may the next element go.
    not_before: Option<Instant>,
}

impl ToneQueue {
    /// An empty queue.
    pub fn new() -> ToneQueue {
        ToneQueue::default()
    }

    /// Queues `tones` (`[0-9A-Da-d#*,]+`) with a tone `duration` and an `inter_tone_gap`,
    /// each clamped as SIP.js does ([`clamp_duration`], [`clamp_inter_tone_gap`]; `None`
    /// for the defaults). The whole string is checked before anything is queued. If the
    /// queue was idle, the first tone is due at `now` (or when the previous tone's
    /// duration and gap have passed, whichever is later).
    pub fn dtmf(
        &mut self,
        now: Instant,
        tones: &str,
        duration: Option<Duration>,
        inter_tone_gap: Option<Duration>,
    ) -> Result<(), DtmfError> {
        let items = parse_tones(tones)?;
        let duration = clamp_duration(duration);
        let gap = clamp_inter_tone_gap(inter_tone_gap);
        if self.queue.is_empty() {
            self.not_before = Some(self.not_before.map_or(now, |t| t.max(now)));
        }
        self.queue.extend(items.into_iter().map(|item| Queued {
            item,
            duration,
            gap,
        }));
        Ok(())
    }

    /// [`ToneQueue::dtmf`] for a number: SIP.js sends `tones.toString()`, so `1234` is the
    /// four tones `1`, `2`, `3`, `4`.
    pub fn dtmf_number(
        &mut self,
        now: Instant,
        tones: u64,
        duration: Option<Duration>,
        inter_tone_gap: Option<Duration>,
    ) -> Result<(), DtmfError> {
        self.dtmf(now, &tones.to_string(), duration, inter_tone_gap)
    }

    /// The tone to send now, with its duration (put it in an INFO with
    /// [`DtmfInfo::to_body`]), or `None` when the queue is empty or the next tone is not
    /// due yet. Pauses due by `now` are consumed on the way.
    pub fn next_tone(&mut self, now: Instant) -> Option<(DtmfTone, Duration)> {
        loop {
            if self.not_before.is_some_and(|t| now < t) {
                return None;
            }
            let q = self.queue.pop_front()?;
            match q.item {
                ToneItem::Pause => self.not_before = now.checked_add(PAUSE),
                ToneItem::Tone(tone) => {
                    self.not_before = now.checked_add(q.duration + q.gap);
                    return Some((tone, q.duration));
                }
            }
        }
    }

    /// When [`ToneQueue::next_tone`] will have something: `None` when nothing is queued.
    /// A deadline in the past means now.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.queue.is_empty() {
            None
        } else {
            self.not_before
        }
    }

    /// Drops every queued tone: an INFO failed or the session ended (SIP.js stops on a
    /// tone's `failed` event and on termination). The pacing of the last tone sent stays.
    pub fn clear(&mut self) {
        self.queue.clear();
    }

    /// How many tones and pauses are queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn tones_from_chars_numbers_and_events() {
        let all = "0123456789*#ABCD";
        for (i, c) in all.chars().enumerate() {
            let t = DtmfTone::from_char(c).unwrap();
            assert_eq!(usize::from(t.event()), i);
            assert_eq!(t.as_char(), c);
            assert_eq!(DtmfTone::from_event(i as u8).unwrap(), t);
        }
        assert_eq!(DtmfTone::from_char('b').unwrap(), DtmfTone::B);
        assert_eq!("d".parse::<DtmfTone>().unwrap(), DtmfTone::D);
        assert_eq!(DtmfTone::try_from(7u32).unwrap(), DtmfTone::Seven);
        assert_eq!(DtmfTone::from_digit(10), Err(DtmfError::InvalidNumber(10)));
        assert_eq!(DtmfTone::from_char('E'), Err(DtmfError::InvalidTone('E')));
        assert_eq!(DtmfTone::from_char(','), Err(DtmfError::InvalidTone(',')));
        assert!(DtmfTone::from_event(16).is_err());
        assert!("12".parse::<DtmfTone>().is_err());
        assert_eq!("".parse::<DtmfTone>(), Err(DtmfError::Empty));
        assert_eq!(DtmfTone::Pound.to_string(), "#");
    }

    #[test]
    fn relay_bodies_as_peers_send_them() {
        let cases: &[(&[u8], DtmfTone, Option<u64>)] = &[
            (b"Signal=5\r\nDuration=160\r\n", DtmfTone::Five, Some(160)),
            // SIP.js 0.5: a space after '=', no final CRLF.
            (b"Signal= 5\r\nDuration= 160", DtmfTone::Five, Some(160)),
            // Bare LF, lower case, spaces around '='.
            (b"signal = #\nduration = 250\n", DtmfTone::Pound, Some(250)),
            (b"SIGNAL=*\r\n", DtmfTone::Star, None),
            (b"Duration=100\r\nSignal=a\r\n", DtmfTone::A, Some(100)),
            // Event codes (Asterisk reads Signal=10 as '*').
            (b"Signal=10\r\nDuration=100\r\n", DtmfTone::Star, Some(100)),
            (b"Signal=15\r\n", DtmfTone::D, None),
            // Unknown lines, blank lines, tabs, a unit after the number.
            (
                b"\r\nX-Foo=bar\r\nSignal=\t9 \r\n\r\nDuration=40 ms\r\n",
                DtmfTone::Nine,
                Some(40),
            ),
            // A garbage duration is absent.
            (b"Signal=1\r\nDuration=long\r\n", DtmfTone::One, None),
        ];
        for (body, tone, dur) in cases {
            let info = DtmfInfo::parse_relay(body).unwrap();
            assert_eq!(info.tone, *tone, "{:?}", String::from_utf8_lossy(body));
            assert_eq!(
                info.duration,
                dur.map(MS),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn bad_relay_bodies() {
        assert_eq!(
            DtmfInfo::parse_relay(b"Duration=100\r\n"),
            Err(DtmfError::MissingSignal)
        );
        assert_eq!(DtmfInfo::parse_relay(b""), Err(DtmfError::MissingSignal));
        assert!(matches!(
            DtmfInfo::parse_relay(b"Signal=E\r\n"),
            Err(DtmfError::InvalidSignal(_))
        ));
        assert!(matches!(
            DtmfInfo::parse_relay(b"Signal=16\r\n"),
            Err(DtmfError::InvalidSignal(_))
        ));
        assert!(matches!(
            DtmfInfo::parse_relay(b"Signal=\r\n"),
            Err(DtmfError::InvalidSignal(_))
        ));
        assert_eq!(
            DtmfInfo::parse_relay(b"Signal=\xff\r\n"),
            Err(DtmfError::NotText)
        );
    }

    #[test]
    fn dtmf_bodies() {
        assert_eq!(DtmfInfo::parse_dtmf(b"5").unwrap().tone, DtmfTone::Five);
        assert_eq!(DtmfInfo::parse_dtmf(b" c\r\n").unwrap().tone, DtmfTone::C);
        assert_eq!(DtmfInfo::parse_dtmf(b"11").unwrap().tone, DtmfTone::Pound);
        assert_eq!(DtmfInfo::parse_dtmf(b"\r\n"), Err(DtmfError::Empty));
        assert!(DtmfInfo::parse_dtmf(b"x").is_err());
    }

    #[test]
    fn parse_by_content_type() {
        let info = DtmfInfo::parse("Application/DTMF-Relay", b"Signal=3\r\n").unwrap();
        assert_eq!(info.tone, DtmfTone::Three);
        let info = DtmfInfo::parse("application/dtmf; charset=utf-8", b"4").unwrap();
        assert_eq!(info.tone, DtmfTone::Four);
        assert_eq!(
            DtmfInfo::parse("application/sdp", b"v=0"),
            Err(DtmfError::UnsupportedContentType("application/sdp".into()))
        );
        assert!(DtmfInfo::parse("", b"5").is_err());
    }

    #[test]
    fn format_and_round_trip() {
        let info = DtmfInfo::new(DtmfTone::Five, MS(160));
        assert_eq!(info.to_relay_string(), "Signal=5\r\nDuration=160\r\n");
        let body = info.to_body();
        assert_eq!(body.content_type, "application/dtmf-relay");
        assert_eq!(&body.bytes[..], b"Signal=5\r\nDuration=160\r\n");
        assert_eq!(DtmfInfo::parse_relay(&body.bytes).unwrap(), info);
        // Clamped on the way out.
        let long = DtmfInfo::new(DtmfTone::D, MS(10_000));
        assert_eq!(long.to_string(), "Signal=D\r\nDuration=6000\r\n");
        let absent = DtmfInfo {
            tone: DtmfTone::Star,
            duration: None,
        };
        assert_eq!(absent.to_relay_string(), "Signal=*\r\nDuration=100\r\n");
    }

    #[test]
    fn clamps_follow_sipjs() {
        assert_eq!(clamp_duration(None), MS(100));
        assert_eq!(clamp_duration(Some(MS(0))), MS(100));
        assert_eq!(clamp_duration(Some(MS(10))), MS(70));
        assert_eq!(clamp_duration(Some(MS(70))), MS(70));
        assert_eq!(clamp_duration(Some(MS(160))), MS(160));
        assert_eq!(clamp_duration(Some(MS(6001))), MS(6000));
        assert_eq!(clamp_inter_tone_gap(None), MS(500));
        assert_eq!(clamp_inter_tone_gap(Some(MS(0))), MS(500));
        assert_eq!(clamp_inter_tone_gap(Some(MS(20))), MS(50));
        assert_eq!(clamp_inter_tone_gap(Some(MS(1200))), MS(1200));
        assert_eq!(clamp_inter_tone_gap(Some(MS(60_000))), MS(60_000));
    }

    #[test]
    fn tone_strings() {
        assert_eq!(parse_tones(""), Err(DtmfError::Empty));
        assert_eq!(parse_tones("12x"), Err(DtmfError::InvalidTone('x')));
        assert_eq!(
            parse_tones("a,#").unwrap(),
            [
                ToneItem::Tone(DtmfTone::A),
                ToneItem::Pause,
                ToneItem::Tone(DtmfTone::Pound)
            ]
        );
    }

    #[test]
    fn queue_paces_1234_pound() {
        let t0 = Instant::now();
        let mut q = ToneQueue::new();
        assert_eq!(q.next_deadline(), None);
        assert_eq!(q.next_tone(t0), None);
        q.dtmf(t0, "1234#", None, None).unwrap();
        assert_eq!(q.len(), 5);
        let mut sent = Vec::new();
        let mut now = t0;
        while let Some(deadline) = q.next_deadline() {
            now = now.max(deadline);
            let (tone, d) = q.next_tone(now).unwrap();
            assert_eq!(d, MS(100));
            sent.push((tone.as_char(), now - t0));
            // Nothing more until the pacing allows.
            assert_eq!(q.next_tone(now + MS(599)), None);
        }
        let step = MS(600); // 100 ms tone + 500 ms gap
        assert_eq!(
            sent,
            [
                ('1', MS(0)),
                ('2', step),
                ('3', step * 2),
                ('4', step * 3),
                ('#', step * 4)
            ]
        );
        assert!(q.is_empty());
    }

    #[test]
    fn queue_pause_appending_and_clear() {
        let t0 = Instant::now();
        let mut q = ToneQueue::new();
        q.dtmf(t0, "1,2", Some(MS(160)), Some(MS(1200))).unwrap();
        assert_eq!(q.next_tone(t0), Some((DtmfTone::One, MS(160))));
        // The pause is consumed when its turn comes, and waits 2 s.
        let t1 = q.next_deadline().unwrap();
        assert_eq!(t1, t0 + MS(1360));
        assert_eq!(q.next_tone(t1), None);
        assert_eq!(q.next_deadline(), Some(t1 + PAUSE));
        // Appended while busy: keeps its own options (clamped) and waits its turn.
        q.dtmf(t1, "9", Some(MS(1)), Some(MS(1))).unwrap();
        let t2 = t1 + PAUSE;
        assert_eq!(q.next_tone(t2), Some((DtmfTone::Two, MS(160))));
        let t3 = q.next_deadline().unwrap();
        assert_eq!(t3, t2 + MS(1360));
        assert_eq!(q.next_tone(t3), Some((DtmfTone::Nine, MS(70))));
        // A new string right after the last tone still waits for its duration and gap.
        q.dtmf(t3 + MS(10), "5", None, None).unwrap();
        assert_eq!(q.next_deadline(), Some(t3 + MS(70 + 50)));
        // Long idle: due at once.
        let mut q2 = q.clone();
        q2.clear();
        q2.dtmf(t3 + MS(10_000), "6", None, None).unwrap();
        assert_eq!(q2.next_deadline(), Some(t3 + MS(10_000)));
        // Invalid strings queue nothing.
        assert_eq!(
            q.dtmf(t3, "1z", None, None),
            Err(DtmfError::InvalidTone('z'))
        );
        assert_eq!(q.len(), 1);
        q.clear();
        assert_eq!(q.next_deadline(), None);
        assert_eq!(q.next_tone(t3 + MS(10_000)), None);
    }

    #[test]
    fn numbers_become_their_digits() {
        let t0 = Instant::now();
        let mut q = ToneQueue::new();
        q.dtmf_number(t0, 1234, None, None).unwrap();
        assert_eq!(q.len(), 4);
        assert_eq!(q.next_tone(t0), Some((DtmfTone::One, MS(100))));
    }
}
