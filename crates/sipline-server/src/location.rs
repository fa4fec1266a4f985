//! The location service (RFC 3261 §10.3, §16.5): address-of-record -> contact bindings,
//! each bound to the flow its REGISTER came over (RFC 5626 §7, RFC 7118 §5) and expiring
//! by time.

use std::collections::HashMap;
use std::time::Instant;

use sipline_proto::{ConnId, Flow};

/// One contact bound to an address of record (RFC 3261 §10.3 step 7).
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// The contact URI (without angle brackets or header parameters).
    pub contact: String,
    /// The `q` preference (0 to 1), if given.
    pub q: Option<f32>,
    /// The flow the REGISTER came over: requests to a WebSocket (or other connection)
    /// client go back on it (RFC 5626 §5.3, RFC 7118 §5).
    pub flow: Flow,
    /// When it expires.
    pub expires_at: Instant,
    /// Call-ID of the REGISTER that made it (§10.3 step 7 ordering).
    pub call_id: String,
    /// CSeq of that REGISTER.
    pub cseq: u32,
}

/// A binding as shown to the application: [`crate::Server::registrations`].
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// The address of record's user part (the registrar keys bindings by user: every
    /// host of ours is one domain).
    pub aor: String,
    /// The contact URI.
    pub contact: String,
    /// The flow it is bound to.
    pub flow: Flow,
    /// Seconds left.
    pub expires_in: u64,
}

/// Address of record -> bindings.
#[derive(Debug, Default)]
pub struct Location {
    aors: HashMap<String, Vec<Binding>>,
    count: usize,
}

impl Location {
    /// Bindings in total.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether there is no binding.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The live bindings of `aor` at `now`.
    pub fn lookup(&self, aor: &str, now: Instant) -> Vec<&Binding> {
        self.aors
            .get(aor)
            .map(|v| v.iter().filter(|b| b.expires_at > now).collect())
            .unwrap_or_default()
    }

    /// The binding of `aor` for `contact`, if any.
    pub fn get(&self, aor: &str, contact: &str) -> Option<&Binding> {
        self.aors
            .get(aor)
            .and_then(|v| v.iter().find(|b| b.contact == contact))
    }

    /// Adds or refreshes a binding (same AOR and contact URI).
    pub fn upsert(&mut self, aor: &str, binding: Binding) {
        let v = self.aors.entry(aor.to_owned()).or_default();
        match v.iter_mut().find(|b| b.contact == binding.contact) {
            Some(b) => *b = binding,
            None => {
                v.push(binding);
                self.count += 1;
            }
        }
    }

    /// Removes one binding; true if it existed.
    pub fn remove(&mut self, aor: &str, contact: &str) -> bool {
        let Some(v) = self.aors.get_mut(aor) else {
            return false;
        };
        let before = v.len();
        v.retain(|b| b.contact != contact);
        let removed = before - v.len();
        self.count -= removed;
        if v.is_empty() {
            self.aors.remove(aor);
        }
        removed > 0
    }

    /// Removes every binding of `aor` (`Contact: *`, §10.3 step 6); returns them.
    pub fn remove_all(&mut self, aor: &str) -> Vec<Binding> {
        let v = self.aors.remove(aor).unwrap_or_default();
        self.count -= v.len();
        v
    }

    /// Removes expired bindings, and returns them with their AOR.
    pub fn expire(&mut self, now: Instant) -> Vec<(String, Binding)> {
        self.remove_where(|b| b.expires_at <= now)
    }

    /// Removes the bindings whose connection closed (RFC 5626 §5.4: the flow is gone, a
    /// request to it could not be delivered); returns them with their AOR.
    pub fn remove_conn(&mut self, conn: ConnId) -> Vec<(String, Binding)> {
        self.remove_where(|b| b.flow.conn == Some(conn))
    }

    fn remove_where(&mut self, f: impl Fn(&Binding) -> bool) -> Vec<(String, Binding)> {
        let mut gone = Vec::new();
        self.aors.retain(|aor, v| {
            let mut keep = Vec::with_capacity(v.len());
            for b in v.drain(..) {
                if f(&b) {
                    gone.push((aor.clone(), b));
                } else {
                    keep.push(b);
                }
            }
            *v = keep;
            !v.is_empty()
        });
        self.count -= gone.len();
        gone
    }

    /// The earliest expiry.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.aors.values().flatten().map(|b| b.expires_at).min()
    }

    /// Every live binding at `now`.
    pub fn registrations(&self, now: Instant) -> Vec<Registration> {
        let mut out: Vec<Registration> = self
            .aors
            .iter()
            .flat_map(|(aor, v)| {
                v.iter()
                    .filter(move |b| b.expires_at > now)
                    .map(move |b| Registration {
                        aor: aor.clone(),
                        contact: b.contact.clone(),
                        flow: b.flow,
                        expires_in: b.expires_at.saturating_duration_since(now).as_secs(),
                    })
            })
            .collect();
        out.sort_by(|a, b| (&a.aor, &a.contact).cmp(&(&b.aor, &b.contact)));
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sipline_proto::TransportKind;
    use std::time::Duration;

    fn binding(contact: &str, conn: Option<u64>, at: Instant) -> Binding {
        Binding {
            contact: contact.into(),
            q: None,
            flow: Flow {
                transport: TransportKind::Ws,
                remote: "127.0.0.1:4000".parse().unwrap(),
                conn: conn.map(ConnId),
            },
            expires_at: at,
            call_id: "c".into(),
            cseq: 1,
        }
    }

    #[test]
    fn refresh_expire_and_closed_connections() {
        let t0 = Instant::now();
        let mut l = Location::default();
        l.upsert(
            "alice",
            binding("sip:a@x.invalid", Some(1), t0 + Duration::from_secs(60)),
        );
        l.upsert(
            "alice",
            binding("sip:a@x.invalid", Some(1), t0 + Duration::from_secs(90)),
        );
        l.upsert(
            "alice",
            binding("sip:a@1.2.3.4", None, t0 + Duration::from_secs(30)),
        );
        l.upsert(
            "bob",
            binding("sip:b@x.invalid", Some(2), t0 + Duration::from_secs(60)),
        );
        assert_eq!(l.len(), 3);
        assert_eq!(l.lookup("alice", t0).len(), 2);
        assert_eq!(l.next_expiry(), Some(t0 + Duration::from_secs(30)));
        let gone = l.expire(t0 + Duration::from_secs(30));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1.contact, "sip:a@1.2.3.4");
        assert_eq!(l.remove_conn(ConnId(2)).len(), 1);
        assert!(l.lookup("bob", t0).is_empty());
        assert_eq!(l.len(), 1);
        assert_eq!(l.remove_all("alice").len(), 1);
        assert!(l.is_empty());
    }
}
