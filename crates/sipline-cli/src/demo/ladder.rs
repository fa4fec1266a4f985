//! The call ladder: the SIP messages the three user agents actually exchanged, captured
//! from the runtime's `sipline::wire` trace events (each message sent and received, RFC 3261
//! §7), drawn as arrows between the parties' columns.
//!
//! A `send` event names the destination, a `recv` event the source; the same bytes pair the
//! two, so each arrow has both ends even though the three user agents share one process.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Most messages kept (a demo call exchanges about 40; a runaway loop must not eat memory).
const MAX_MESSAGES: usize = 1000;

/// One SIP message as it crossed the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// When it was received.
    pub(crate) at: Instant,
    /// Who sent it (a party's index).
    pub(crate) from: usize,
    /// Who received it.
    pub(crate) to: usize,
    /// `INVITE`, `183 Session Progress`, ...
    pub(crate) label: String,
    /// The method of the request, or of the CSeq of the response.
    pub(crate) method: String,
    /// The status code of a response.
    pub(crate) status: Option<u16>,
}

#[derive(Default)]
struct State {
    /// Destinations of messages sent and not yet received, by their bytes.
    in_flight: HashMap<String, SocketAddr>,
    /// The parties' signalling addresses, by index.
    parties: Vec<SocketAddr>,
    messages: Vec<Message>,
}

/// The captured messages; cheap to clone (shared with the tracing layer).
#[derive(Clone, Default)]
pub(crate) struct Capture(Arc<Mutex<State>>);

impl Capture {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Names the parties: their signalling addresses, in column order.
    pub(crate) fn set_parties(&self, addrs: Vec<SocketAddr>) {
        self.lock().parties = addrs;
    }

    /// The messages so far.
    pub(crate) fn messages(&self) -> Vec<Message> {
        self.lock().messages.clone()
    }

    fn sent(&self, to: SocketAddr, text: String) {
        let mut s = self.lock();
        if s.in_flight.len() < MAX_MESSAGES {
            s.in_flight.insert(text, to);
        }
    }

    fn received(&self, from: SocketAddr, text: &str) {
        let mut s = self.lock();
        let Some(to) = s.in_flight.remove(text) else {
            return;
        };
        let index = |a: SocketAddr| s.parties.iter().position(|p| *p == a);
        let (Some(from), Some(to)) = (index(from), index(to)) else {
            return;
        };
        if s.messages.len() >= MAX_MESSAGES {
            return;
        }
        let (label, method, status) = describe(text);
        s.messages.push(Message {
            at: Instant::now(),
            from,
            to,
            label,
            method,
            status,
        });
    }
}

/// The label, method and status of a message: the request method (the sipfrag status of a
/// NOTIFY, RFC 3515 §2.4.5; the tone of a DTMF INFO) or the status line, with `+sdp` when it
/// carries a session description.
pub(crate) fn describe(text: &str) -> (String, String, Option<u16>) {
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or((text, ""));
    let mut lines = head.lines();
    let first = lines.next().unwrap_or("").trim();
    let header = |name: &str, short: &str| {
        head.lines().skip(1).find_map(|l| {
            let (n, v) = l.split_once(':')?;
            let n = n.trim();
            (n.eq_ignore_ascii_case(name) || n.eq_ignore_ascii_case(short))
                .then(|| v.trim().to_owned())
        })
    };
    let sdp = header("Content-Type", "c")
        .is_some_and(|c| c.to_ascii_lowercase().starts_with("application/sdp"));
    let cseq_method = header("CSeq", "CSeq")
        .and_then(|c| c.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_default();
    let mut label;
    let method;
    let mut status = None;
    if let Some(rest) = first.strip_prefix("SIP/2.0 ") {
        let code = rest.split_whitespace().next().unwrap_or("");
        status = code.parse().ok();
        label = format!("{code} {cseq_method}");
        if header("Require", "Require").is_some_and(|r| r.contains("100rel")) {
            label.push_str(" 100rel");
        }
        method = cseq_method;
    } else {
        method = first.split_whitespace().next().unwrap_or("?").to_owned();
        label = method.clone();
        match method.as_str() {
            "NOTIFY" => {
                if let Some(line) = body.lines().next().and_then(|l| l.strip_prefix("SIP/2.0 ")) {
                    let code = line.split_whitespace().next().unwrap_or("");
                    label = format!("NOTIFY {code}");
                }
            }
            "INFO" => {
                if let Some(sig) = body.lines().find_map(|l| {
                    let (k, v) = l.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("Signal")
                        .then(|| v.trim().to_owned())
                }) {
                    label = format!("INFO {sig}");
                }
            }
            _ => {}
        }
    }
    if sdp {
        label.push_str(" +sdp");
    }
    (label, method, status)
}

/// Draws the ladder: a header of party names, then one line per message with its time
/// since `start` and an arrow from the sender's column to the receiver's.
pub(crate) fn render(names: &[&str], messages: &[Message], start: Instant) -> String {
    const GAP: usize = 28;
    const TIME: usize = 9;
    let width = GAP * names.len().saturating_sub(1) + 1;
    let col = |i: usize| i * GAP;
    let mut out = String::new();
    let mut head = vec![' '; width + GAP];
    for (i, n) in names.iter().enumerate() {
        let start_at = col(i).saturating_sub(n.chars().count() / 2);
        for (k, c) in n.chars().enumerate() {
            if let Some(slot) = head.get_mut(start_at + k) {
                *slot = c;
            }
        }
    }
    out.push_str(&" ".repeat(TIME));
    out.push_str(head.iter().collect::<String>().trim_end());
    for m in messages {
        let mut line = vec![' '; width];
        for i in 0..names.len() {
            line[col(i)] = '|';
        }
        let (a, b) = (col(m.from.min(m.to)), col(m.from.max(m.to)));
        if a != b && b < width {
            for slot in &mut line[a + 1..b] {
                *slot = '-';
            }
            if m.to > m.from {
                line[b - 1] = '>';
            } else {
                line[a + 1] = '<';
            }
            let room = b - a - 5;
            let label: String = m.label.chars().take(room).collect();
            let text = format!(" {label} ");
            let n = text.chars().count();
            let at = a + 1 + (b - a - 1 - n) / 2;
            for (k, c) in text.chars().enumerate() {
                line[at + k] = c;
            }
        }
        let t = m.at.saturating_duration_since(start).as_secs_f64();
        out.push('\n');
        out.push_str(&format!("{:>6.2}s  ", t));
        out.push_str(line.iter().collect::<String>().trim_end());
    }
    out
}

/// A tracing layer feeding a [`Capture`] from the `sipline::wire` events.
pub(crate) struct CaptureLayer(pub(crate) Capture);

#[derive(Default)]
struct WireFields {
    message: String,
    remote: String,
}

impl tracing::field::Visit for WireFields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "remote" => self.remote = format!("{value:?}"),
            _ => {}
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_owned(),
            "remote" => self.remote = value.to_owned(),
            _ => {}
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CaptureLayer {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if event.metadata().target() != "sipline::wire" {
            return;
        }
        let mut f = WireFields::default();
        event.record(&mut f);
        let Ok(remote) = f.remote.parse::<SocketAddr>() else {
            return;
        };
        match f.message.split_once('\n') {
            Some(("send", text)) => self.0.sent(remote, text.to_owned()),
            Some(("recv", text)) => self.0.received(remote, text),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::time::Duration;

    #[test]
    fn labels_say_method_status_and_what_rides_along() {
        let invite = "INVITE sip:bob@127.0.0.1:5 SIP/2.0\r\nCSeq: 1 INVITE\r\n\
                      Content-Type: application/sdp\r\n\r\nv=0\r\n";
        assert_eq!(
            describe(invite),
            ("INVITE +sdp".into(), "INVITE".into(), None)
        );
        let p183 = "SIP/2.0 183 Session Progress\r\nCSeq: 1 INVITE\r\nRequire: 100rel\r\n\
                    c: application/sdp\r\n\r\nv=0\r\n";
        assert_eq!(
            describe(p183),
            ("183 INVITE 100rel +sdp".into(), "INVITE".into(), Some(183))
        );
        let notify = "NOTIFY sip:a SIP/2.0\r\nCSeq: 3 NOTIFY\r\n\
                      Content-Type: message/sipfrag;version=2.0\r\n\r\nSIP/2.0 100 Trying\r\n";
        assert_eq!(describe(notify).0, "NOTIFY 100");
        let info = "INFO sip:a SIP/2.0\r\nCSeq: 4 INFO\r\n\r\nSignal=#\r\nDuration=100\r\n";
        assert_eq!(describe(info).0, "INFO #");
        assert_eq!(describe("garbage").0, "garbage");
        assert_eq!(describe("").0, "?");
    }

    #[test]
    fn arrows_run_between_the_right_columns() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let msg = |ms, from, to, label: &str| Message {
            at: at(ms),
            from,
            to,
            label: label.into(),
            method: String::new(),
            status: None,
        };
        let messages = [
            msg(10, 0, 1, "INVITE +sdp"),
            msg(1500, 1, 0, "183 INVITE 100rel +sdp"),
            msg(9000, 0, 2, "INVITE +sdp"),
            msg(
                9100,
                1,
                0,
                "a label far too long to fit between two columns",
            ),
        ];
        let text = render(&["alice", "bob", "carol"], &messages, start);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert_eq!(
            lines[0],
            "         alice                      bob                        carol"
        );
        assert_eq!(
            lines[1],
            "  0.01s  |------- INVITE +sdp ------>|                           |"
        );
        assert_eq!(
            lines[2],
            "  1.50s  |< 183 INVITE 100rel +sdp --|                           |"
        );
        // alice -> carol passes over bob's column.
        assert_eq!(
            lines[3],
            "  9.00s  |--------------------- INVITE +sdp -------------------->|"
        );
        // A long label is cut to fit.
        assert_eq!(
            lines[4],
            "  9.10s  |< a label far too long to -|                           |"
        );
    }

    #[test]
    fn a_sent_message_is_drawn_when_it_is_received() {
        let c = Capture::default();
        let a: SocketAddr = "127.0.0.1:5001".parse().unwrap();
        let b: SocketAddr = "127.0.0.1:5002".parse().unwrap();
        c.set_parties(vec![a, b]);
        let bye = "BYE sip:b SIP/2.0\r\nCSeq: 9 BYE\r\n\r\n";
        c.received(b, bye); // never sent: ignored
        c.sent(b, bye.into());
        assert!(c.messages().is_empty(), "not received yet");
        c.received(a, bye);
        let m = c.messages();
        assert_eq!((m.len(), m[0].from, m[0].to), (1, 0, 1));
        assert_eq!(m[0].method, "BYE");
    }
}
