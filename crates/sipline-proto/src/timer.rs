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

use std::collections::VecDeque;
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

/// Pending timer entries, earliest first (entries order by their [`Ord`]: deadline first).
///
/// A transaction arms timers of a few fixed durations (T1, T2, T4, 64*T1, D, and the
/// doublings of T1), and `now` only moves forward, so the entries armed with one duration come
/// in deadline order. Each duration gets a FIFO lane: arming appends (O(1)), and the earliest
/// entry is the least of the lane heads. A binary heap would pay a sift of log n levels per
/// entry, and most entries (Timers E and F of a client transaction answered in time) are
/// stale when they come out. An entry that does not sort last in its lane (`now` went back, or
/// more durations than lanes) is inserted at its place: the order is always exactly the
/// entries' order.
#[derive(Debug)]
pub(crate) struct TimerQueue<T> {
    lanes: Vec<Lane<T>>,
    /// The lane whose head is the earliest entry (`None` when empty).
    min: Option<usize>,
    len: usize,
}

#[derive(Debug)]
struct Lane<T> {
    after: Duration,
    entries: VecDeque<T>,
}

/// Lanes at most; entries of further durations share the last lane.
const MAX_LANES: usize = 16;

impl<T: Ord + Copy> Default for TimerQueue<T> {
    fn default() -> Self {
        Self {
            lanes: Vec::new(),
            min: None,
            len: 0,
        }
    }
}

impl<T: Ord + Copy> TimerQueue<T> {
    /// Adds `entry`, armed to fire `after` from now.
    pub(crate) fn push(&mut self, after: Duration, entry: T) {
        let lane = match self.lanes.iter().position(|l| l.after == after) {
            Some(i) => i,
            None if self.lanes.len() < MAX_LANES => {
                self.lanes.push(Lane {
                    after,
                    entries: VecDeque::new(),
                });
                self.lanes.len() - 1
            }
            None => self.lanes.len() - 1,
        };
        let entries = &mut self.lanes[lane].entries;
        let appended = match entries.back() {
            Some(last) if *last > entry => {
                let at = entries.partition_point(|e| *e <= entry);
                entries.insert(at, entry);
                false
            }
            Some(_) => {
                entries.push_back(entry);
                true
            }
            None => {
                entries.push_back(entry);
                false
            }
        };
        self.len += 1;
        // Behind the last entry of the lane holding the earliest one, the entry is no earlier
        // than that head: the usual case (one lane per timer duration) skips the comparison.
        if appended && self.min == Some(lane) {
            return;
        }
        let earlier = match self.min.and_then(|m| self.lanes[m].entries.front()) {
            Some(head) => entry < *head,
            None => true,
        };
        if earlier {
            self.min = Some(lane);
        }
    }

    /// The earliest entry.
    pub(crate) fn peek(&self) -> Option<&T> {
        self.lanes.get(self.min?)?.entries.front()
    }

    /// Removes and returns the earliest entry if `due` says it is due: one look at the head
    /// where [`TimerQueue::peek`] then [`TimerQueue::pop`] take two (every expiry runs this).
    #[inline]
    pub(crate) fn pop_if(&mut self, due: impl FnOnce(&T) -> bool) -> Option<T> {
        let entries = &mut self.lanes.get_mut(self.min?)?.entries;
        if !due(entries.front()?) {
            return None;
        }
        let e = entries.pop_front()?;
        self.len -= 1;
        self.find_min();
        Some(e)
    }

    /// Removes the earliest entry.
    #[cfg(test)]
    pub(crate) fn pop(&mut self) -> Option<T> {
        self.pop_if(|_| true)
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Keeps only the entries `keep` accepts.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        for l in &mut self.lanes {
            l.entries.retain(&mut keep);
        }
        self.len = self.lanes.iter().map(|l| l.entries.len()).sum();
        self.find_min();
    }

    // Out of line: `pop_if` stays small enough to inline, its not-due answer a few
    // instructions.
    #[inline(never)]
    fn find_min(&mut self) {
        let mut min: Option<(usize, &T)> = None;
        for (i, l) in self.lanes.iter().enumerate() {
            if let Some(h) = l.entries.front()
                && min.is_none_or(|(_, m)| h < m)
            {
                min = Some((i, h));
            }
        }
        self.min = min.map(|(i, _)| i);
    }
}

#[cfg(test)]
mod tests {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// The queue gives the entries in the order a binary heap does, whatever the durations
        /// and however `now` moves (forward, still, or back), with removals and due-only pops
        /// on the way.
        #[test]
        fn timer_queue_orders_as_a_heap(
            ops in proptest::collection::vec((0u8..5, 0u64..40, 0u64..40, 0u32..1000), 0..300),
        ) {
            let mut q = TimerQueue::default();
            let mut h = BinaryHeap::new();
            let mut now = 1000u64;
            for (op, a, b, id) in ops {
                match op {
                    0 | 1 => {
                        // Mostly forward, sometimes back.
                        now = if op == 0 { now + a } else { now.saturating_sub(a / 4) };
                        let after = b % 20;
                        let e = (now + after, id);
                        q.push(Duration::from_millis(after), e);
                        h.push(Reverse(e));
                    }
                    2 => {
                        prop_assert_eq!(q.pop(), h.pop().map(|Reverse(e)| e));
                    }
                    3 => {
                        // `pop_if` takes the head only when it is due.
                        let due = |e: &(u64, u32)| e.0 <= now;
                        let want = match h.peek() {
                            Some(Reverse(e)) if due(e) => h.pop().map(|Reverse(e)| e),
                            _ => None,
                        };
                        prop_assert_eq!(q.pop_if(due), want);
                    }
                    _ => {
                        let cut = a as u32 * 25;
                        q.retain(|e| e.1 >= cut);
                        h.retain(|Reverse(e)| e.1 >= cut);
                    }
                }
                prop_assert_eq!(q.peek().copied(), h.peek().map(|Reverse(e)| *e));
                prop_assert_eq!(q.len(), h.len());
            }
            while let Some(Reverse(e)) = h.pop() {
                prop_assert_eq!(q.pop(), Some(e));
            }
            prop_assert_eq!(q.pop(), None);
        }
    }
}
