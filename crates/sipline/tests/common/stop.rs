//! Stopping a peer process a test started, by its pid and never by name: SIGTERM (to the
//! process, or to its whole process group), a grace period to exit, then SIGKILL to its process
//! group and to the process itself, and the child reaped, so that no test leaves a process
//! behind, whether it passed or failed. Shared (`#[path]`) by the peer harnesses of
//! `crates/sipline/tests/common` and `crates/sipline-cli/tests/common/chromium.rs`.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Who receives the SIGTERM.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Term {
    /// The process alone (it stops its own children, as Kamailio and coturn do).
    Process,
    /// Its whole process group (a browser with its renderer and GPU processes).
    Group,
}

/// Stops `child`: SIGTERM to `term`, up to `grace` to exit, then SIGKILL to its group and to
/// it, and reaps it. Its pid cannot have been reused meanwhile: the child is not reaped until
/// the end, so the group id equal to that pid can only be the one it leads.
pub(crate) fn stop(child: &mut Child, term: Term, grace: Duration) {
    let pid = child.id();
    let target = match term {
        Term::Process => pid.to_string(),
        Term::Group => format!("-{pid}"),
    };
    let _ = Command::new("kill")
        .args(["-TERM", "--", &target])
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => break,
        }
    }
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{pid}")])
        .stderr(Stdio::null())
        .status();
    let _ = child.kill();
    let _ = child.wait();
}
