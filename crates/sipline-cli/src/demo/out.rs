//! Where the demo tells what happens: plain lines (`[ 0.12s] alice -> bob: INVITE`), the
//! same with a live status line for long waits when standard output is a terminal, or one
//! JSON object per line with `--json`.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How output looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Lines, for pipes and logs.
    Plain,
    /// Lines and a live status line redrawn in place.
    Terminal,
    /// JSON objects, one per line; nothing else on standard output.
    Json,
}

impl Mode {
    /// JSON when asked, else a terminal's or plain lines depending on standard output.
    pub(crate) fn pick(json: bool) -> Self {
        if json {
            Mode::Json
        } else if std::io::stdout().is_terminal() {
            Mode::Terminal
        } else {
            Mode::Plain
        }
    }
}

#[derive(Default)]
struct Status {
    /// What we wait for, shown with a spinner (terminal only), and since when.
    text: Option<(String, Instant)>,
    /// The status line is on screen.
    drawn: bool,
    frame: usize,
}

/// The demo's output; cheap to clone.
#[derive(Clone)]
pub(crate) struct Out {
    mode: Mode,
    start: Instant,
    status: Arc<Mutex<Status>>,
}

const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

impl Out {
    /// Output in `mode`; times count from now. On a terminal, a task redraws the status
    /// line ten times a second while there is one.
    pub(crate) fn new(mode: Mode) -> Self {
        let out = Self {
            mode,
            start: Instant::now(),
            status: Arc::default(),
        };
        if mode == Mode::Terminal {
            let o = out.clone();
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    o.redraw();
                }
            });
        }
        out
    }

    /// When the demo started.
    pub(crate) fn start(&self) -> Instant {
        self.start
    }

    /// Whether output is JSON.
    pub(crate) fn json(&self) -> bool {
        self.mode == Mode::Json
    }

    fn lock(&self) -> MutexGuard<'_, Status> {
        self.status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// One step of the story: `[ 1.52s] bob: accepts`. JSON: `{"event":"step",...}`.
    pub(crate) fn step(&self, text: &str) {
        let t = self.elapsed();
        if self.mode == Mode::Json {
            self.json_line(&json!({"event": "step", "t": round_ms(t), "text": text}));
        } else {
            self.print(&format!("[{t:5.2}s] {text}"));
        }
    }

    /// A JSON object on its own line (JSON mode only).
    pub(crate) fn json_line(&self, v: &Value) {
        if self.mode == Mode::Json {
            let mut o = std::io::stdout().lock();
            let _ = writeln!(o, "{v}");
        }
    }

    /// Text as it is (not in JSON mode), below the status line if one is drawn.
    pub(crate) fn print(&self, text: &str) {
        if self.mode == Mode::Json {
            return;
        }
        let mut s = self.lock();
        let mut o = std::io::stdout().lock();
        if s.drawn {
            let _ = write!(o, "\r\x1b[K");
            s.drawn = false;
        }
        let _ = writeln!(o, "{text}");
        let _ = o.flush();
    }

    /// Shows what we are waiting for (registering, ringing, ICE) until [`Out::done`]; on a
    /// terminal only (plain output already has the step lines).
    pub(crate) fn waiting(&self, text: &str) {
        if self.mode == Mode::Terminal {
            self.lock().text = Some((text.to_owned(), Instant::now()));
            self.redraw();
        }
    }

    /// Removes the status line.
    pub(crate) fn done(&self) {
        if self.mode != Mode::Terminal {
            return;
        }
        let mut s = self.lock();
        s.text = None;
        if s.drawn {
            let mut o = std::io::stdout().lock();
            let _ = write!(o, "\r\x1b[K");
            let _ = o.flush();
            s.drawn = false;
        }
    }

    fn redraw(&self) {
        let mut s = self.lock();
        let Some((text, since)) = s.text.clone() else {
            return;
        };
        let t = since.elapsed().as_secs_f64();
        s.frame = (s.frame + 1) % SPINNER.len();
        let mut o = std::io::stdout().lock();
        let _ = write!(o, "\r\x1b[K{} {text} ({t:.1}s)", SPINNER[s.frame]);
        let _ = o.flush();
        s.drawn = true;
    }
}

/// Seconds rounded to milliseconds, for JSON.
pub(crate) fn round_ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}
