//! The timers of RFC 3261 §17 (Table 4 of §A) and RFC 6026 §8.
//!
//! | timer | value | meaning |
//! |---|---|---|
//! | T1 | 500 ms default | RTT estimate |
//! | T2 | 4 s | maximum retransmit interval for non-INVITE requests and INVITE responses |
//! | T4 | 5 s | maximum duration a message stays in the network |
//! | A | T1, doubling | INVITE request retransmit (unreliable only; not capped by T2) |
//! | B | 64*T1 | INVITE transaction timeout |
//! | D | > 32 s unreliable, 0 reliable | wait for response retransmits (client INVITE) |
//! | E | T1, doubling to T2 | non-INVITE request retransmit (unreliable) |
//! | F | 64*T1 | non-INVITE transaction timeout |
//! | G | T1, doubling to T2 | INVITE response retransmit (unreliable) |
//! | H | 64*T1 | wait for ACK receipt |
//! | I | T4 unreliable, 0 reliable | wait for ACK retransmits |
//! | J | 64*T1 unreliable, 0 reliable | wait for non-INVITE request retransmits |
//! | K | T4 unreliable, 0 reliable | wait for non-INVITE response retransmits |
//! | L | 64*T1 | server INVITE Accepted: wait for INVITE retransmits (RFC 6026) |
//! | M | 64*T1 | client INVITE Accepted: wait for 2xx retransmits (RFC 6026) |

use std::time::Duration;

/// A transaction timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE request retransmit.
    A,
    /// INVITE transaction timeout.
    B,
    /// Client INVITE Completed: wait for response retransmits.
    D,
    /// Non-INVITE request retransmit.
    E,
    /// Non-INVITE transaction timeout.
    F,
    /// INVITE final response retransmit.
    G,
    /// Wait for ACK.
    H,
    /// Wait for ACK retransmits.
    I,
    /// Wait for non-INVITE request retransmits.
    J,
    /// Wait for non-INVITE response retransmits.
    K,
    /// Server INVITE Accepted state lifetime (RFC 6026).
    L,
    /// Client INVITE Accepted state lifetime (RFC 6026).
    M,
}

/// T1, T2, T4 and Timer D: everything else derives from them (RFC 3261 §17, Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, default 500 ms.
    pub t1: Duration,
    /// Retransmit cap, default 4 s.
    pub t2: Duration,
    /// Network lifetime of a message, default 5 s.
    pub t4: Duration,
    /// Timer D for unreliable transports, default 32 s (RFC 3261 §17.1.1.2: at least 32 s).
    pub d: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            d: Duration::from_secs(32),
        }
    }
}

impl TimerConfig {
    /// 64*T1: Timers B, F, H, L, M, and J on unreliable transports.
    pub fn t64(&self) -> Duration {
        self.t1 * 64
    }
}
