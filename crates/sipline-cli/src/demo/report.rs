//! The demo's verdict: each check with what was expected and what was seen, the summary
//! table (one row per party and call), and the closing line (`all N checks passed`).

use serde_json::{Value, json};

/// How a check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// What was expected happened.
    Passed,
    /// It did not (or the step could not run).
    Failed,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Failed => "FAILED",
        }
    }
}

/// One check of the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    /// Short name: `early media`, `dtmf rfc4733 alice->bob`.
    pub(crate) name: String,
    /// What should happen.
    pub(crate) expected: String,
    /// What did.
    pub(crate) seen: String,
    /// The verdict.
    pub(crate) outcome: Outcome,
}

impl Check {
    /// A check that passed when `ok`.
    pub(crate) fn new(
        name: impl Into<String>,
        ok: bool,
        expected: impl Into<String>,
        seen: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            expected: expected.into(),
            seen: seen.into(),
            outcome: if ok { Outcome::Passed } else { Outcome::Failed },
        }
    }

    /// One line: `passed  early media: alice heard 660 Hz before the answer`.
    pub(crate) fn line(&self) -> String {
        match self.outcome {
            Outcome::Passed => format!("  ok      {}: {}", self.name, self.seen),
            Outcome::Failed => format!(
                "  FAILED  {}: expected {}; seen {}",
                self.name, self.expected, self.seen
            ),
        }
    }

    /// As JSON.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "event": "check",
            "name": self.name,
            "outcome": self.outcome.as_str(),
            "expected": self.expected,
            "seen": self.seen,
        })
    }
}

/// One row of the summary table: one party on one call.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Row {
    /// `alice (with bob)`.
    pub(crate) party: String,
    /// Session events seen, in order, repeats counted: `Progress x2, Accepted, Bye`.
    pub(crate) events: String,
    /// DTMF tones received, in order.
    pub(crate) dtmf: String,
    /// What the recording heard in the talk phase: `660 Hz`, `silence`.
    pub(crate) heard: String,
    /// RTP packets sent.
    pub(crate) sent: u64,
    /// RTP packets received.
    pub(crate) received: u64,
    /// RTP packets lost (RFC 3550 §6.4.1).
    pub(crate) lost: i64,
    /// Call setup time in ms (INVITE to the first media-carrying response), for the caller.
    pub(crate) setup_ms: Option<f64>,
}

impl Row {
    /// As JSON.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "party": self.party,
            "events": self.events,
            "dtmf_received": self.dtmf,
            "heard": self.heard,
            "packets_sent": self.sent,
            "packets_received": self.received,
            "packets_lost": self.lost,
            "setup_ms": self.setup_ms,
        })
    }
}

/// Counts repeats of consecutive or scattered names: `Progress x2, Connecting, Accepted`.
pub(crate) fn summarize_events(names: &[&str]) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for n in names {
        match counts.iter_mut().find(|(m, _)| m == n) {
            Some((_, c)) => *c += 1,
            None => counts.push((n, 1)),
        }
    }
    counts
        .iter()
        .map(|(n, c)| {
            if *c > 1 {
                format!("{n} x{c}")
            } else {
                (*n).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The summary table as aligned text, one line per row after a header.
pub(crate) fn table(rows: &[Row]) -> String {
    let header = [
        "party",
        "events seen",
        "dtmf",
        "heard",
        "rtp sent",
        "rtp recv",
        "lost",
        "setup",
    ];
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            [
                r.party.clone(),
                r.events.clone(),
                if r.dtmf.is_empty() {
                    "-".to_owned()
                } else {
                    r.dtmf.clone()
                },
                r.heard.clone(),
                r.sent.to_string(),
                r.received.to_string(),
                r.lost.to_string(),
                r.setup_ms
                    .map_or_else(|| "-".to_owned(), |ms| format!("{ms:.0} ms")),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: &[String]| {
        let mut s = String::new();
        for (i, (c, w)) in cols.iter().zip(widths).enumerate() {
            if i > 0 {
                s.push_str(" | ");
            }
            // Numbers right-aligned, text left-aligned.
            if (4..8).contains(&i) {
                s.push_str(&format!("{c:>w$}"));
            } else {
                s.push_str(&format!("{c:<w$}"));
            }
        }
        s.trim_end().to_owned()
    };
    let mut out = line(&header.map(str::to_owned));
    out.push('\n');
    let total: usize = widths.iter().sum::<usize>() + 3 * (widths.len() - 1);
    out.push_str(&"-".repeat(total));
    for row in &cells {
        out.push('\n');
        out.push_str(&line(row));
    }
    out
}

/// The verdict over all checks: the closing line and whether the demo succeeded (every
/// check that ran passed, and at least one did).
pub(crate) fn verdict(checks: &[Check]) -> (String, bool) {
    let passed = checks
        .iter()
        .filter(|c| c.outcome == Outcome::Passed)
        .count();
    let failed = checks
        .iter()
        .filter(|c| c.outcome == Outcome::Failed)
        .count();
    if failed == 0 && passed > 0 {
        (format!("all {passed} checks passed"), true)
    } else {
        (
            format!("{failed} of {} checks FAILED", passed + failed),
            false,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_failed_check_fails_the_verdict() {
        let ok = Check::new("audio", true, "660 Hz", "660.2 Hz");
        assert_eq!(
            verdict(std::slice::from_ref(&ok)),
            ("all 1 checks passed".to_owned(), true)
        );
        let bad = Check::new("early media", false, "660 Hz", "silence");
        let (line, ok_all) = verdict(&[ok, bad.clone()]);
        assert!(!ok_all);
        assert_eq!(line, "1 of 2 checks FAILED");
        assert_eq!(
            bad.line(),
            "  FAILED  early media: expected 660 Hz; seen silence"
        );
        // No checks is no success either.
        assert!(!verdict(&[]).1);
    }

    #[test]
    fn the_table_aligns_its_columns() {
        let rows = [
            Row {
                party: "alice (with bob)".into(),
                events: summarize_events(&["Progress", "Progress", "Accepted"]),
                dtmf: "#9".into(),
                heard: "660 Hz".into(),
                sent: 512,
                received: 498,
                lost: 0,
                setup_ms: Some(12.4),
            },
            Row {
                party: "bob".into(),
                events: "Accepted".into(),
                heard: "440 Hz".into(),
                sent: 7,
                ..Row::default()
            },
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 4, "{t}");
        assert!(
            lines[0].starts_with("party            | events seen"),
            "{t}"
        );
        assert!(lines[2].contains("Progress x2, Accepted"), "{t}");
        assert!(lines[2].ends_with("|    0 | 12 ms"), "{t}");
        assert!(lines[3].contains("| -    |"), "no DTMF: {t}");
        // Every `|` of a row sits where the header's does.
        let bars = |l: &str| l.match_indices('|').map(|(i, _)| i).collect::<Vec<_>>();
        assert_eq!(bars(lines[0]), bars(lines[2]));
        assert_eq!(bars(lines[0]), bars(lines[3]));
    }
}
