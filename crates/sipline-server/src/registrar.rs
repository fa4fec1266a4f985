//! The registrar (RFC 3261 §10.3): authenticates a REGISTER (§22, digest per RFC 7616 /
//! RFC 8760), then adds, refreshes or removes the bindings of its address of record in the
//! [`Location`] service and answers with the current bindings.

use std::time::{Duration, Instant};

use sipline_proto::message::ContactValue;
use sipline_proto::{
    AuthError, AuthKind, Credentials, DigestServer, Flow, HeaderName, Request, Response, StatusCode,
};

use crate::location::{Binding, Location};
use crate::users::Users;

/// Expiry policy and limits of the registrar (RFC 3261 §10.3 steps 7 and 8).
#[derive(Debug, Clone)]
pub struct RegistrarConfig {
    /// Shortest expiry accepted; shorter non-zero ones get 423 with `Min-Expires` (§10.3
    /// step 7, §20.23). Default 60 s.
    pub min_expires: u32,
    /// Longest expiry granted; longer ones are shortened. Default 3600 s.
    pub max_expires: u32,
    /// Expiry when the REGISTER names none. Default 3600 s.
    pub default_expires: u32,
    /// Most bindings in total; past it, new ones get 503. Default 10,000.
    pub max_registrations: usize,
    /// Most contacts per address of record; past it, 403. Default 10.
    pub max_contacts_per_aor: usize,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        Self {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_registrations: 10_000,
            max_contacts_per_aor: 10,
        }
    }
}

/// A change the registrar made, for the application's log.
#[derive(Debug, Clone, PartialEq)]
pub enum BindingChange {
    /// A binding was added or refreshed.
    Bound {
        /// The AOR user.
        aor: String,
        /// The contact URI.
        contact: String,
        /// Granted seconds.
        expires: u32,
        /// Where the REGISTER came from.
        flow: Flow,
    },
    /// A binding was removed by the client (`expires=0`, `Contact: *`).
    Unbound {
        /// The AOR user.
        aor: String,
        /// The contact URI.
        contact: String,
    },
}

/// What the registrar needs besides the request.
pub(crate) struct RegisterCtx<'a> {
    pub(crate) now: Instant,
    /// Seconds since the server started: the digest nonce clock.
    pub(crate) now_secs: u64,
    pub(crate) location: &'a mut Location,
    pub(crate) auth: Option<(&'a DigestServer, &'a Users)>,
    pub(crate) cfg: &'a RegistrarConfig,
    pub(crate) tag: String,
}

/// Handles one REGISTER whose Request-URI is ours (§10.3), returning the response and what
/// changed.
pub(crate) fn register(
    ctx: RegisterCtx<'_>,
    req: &Request,
    flow: Flow,
) -> (Response, Vec<BindingChange>) {
    let reply = |status: StatusCode| Response::from_request(req, status, Some(&ctx.tag));
    // Step 5: the address of record from To.
    let aor = match req.headers.to() {
        Ok(to) => to.uri.user().unwrap_or_default().to_owned(),
        Err(_) => return (reply(StatusCode::BAD_REQUEST), Vec::new()),
    };
    if aor.is_empty() {
        let mut r = reply(StatusCode::BAD_REQUEST);
        r.reason = "To Has No User".into();
        return (r, Vec::new());
    }
    // Step 3: authentication (§22.1), and step 6: the user may register this AOR.
    if let Some((digest, users)) = ctx.auth {
        let verified = digest.verify_request(ctx.now_secs, req, AuthKind::Www, |name, hashed| {
            if hashed {
                return None;
            }
            users
                .password(name)
                .map(|p| Credentials::new(name.to_owned(), p.to_owned()))
        });
        match verified {
            Ok(v) if v.username == aor => {}
            Ok(v) => {
                tracing::info!(user = %v.username, %aor, "REGISTER for another user's AOR refused");
                return (reply(StatusCode::FORBIDDEN), Vec::new());
            }
            Err(e @ (AuthError::MissingCredentials | AuthError::StaleNonce)) => {
                let stale = matches!(e, AuthError::StaleNonce);
                let mut r = reply(StatusCode::UNAUTHORIZED);
                digest.add_challenges(&mut r, AuthKind::Www, ctx.now_secs, stale);
                return (r, Vec::new());
            }
            Err(AuthError::InvalidNonce) => {
                // Not one of ours (an old server run): challenge again.
                let mut r = reply(StatusCode::UNAUTHORIZED);
                digest.add_challenges(&mut r, AuthKind::Www, ctx.now_secs, false);
                return (r, Vec::new());
            }
            Err(e) => {
                tracing::info!(%aor, error = %e, "REGISTER authentication failed");
                return (reply(StatusCode::FORBIDDEN), Vec::new());
            }
        }
    }
    let call_id = req.headers.call_id().unwrap_or_default().to_owned();
    let cseq = req.headers.cseq().map(|c| c.seq).unwrap_or(0);
    let header_expires = match req.headers.expires() {
        Ok(e) => e,
        Err(_) => return (reply(StatusCode::BAD_REQUEST), Vec::new()),
    };
    let mut contacts = Vec::new();
    let mut star = false;
    for c in req.headers.contacts() {
        match c {
            Ok(ContactValue::Star) => star = true,
            Ok(ContactValue::Addr(a)) => {
                let expires = ContactValue::Addr(a)
                    .expires()
                    .or(header_expires)
                    .unwrap_or(ctx.cfg.default_expires);
                let q = ContactValue::Addr(a).q();
                contacts.push((a.uri.as_str().to_owned(), expires, q));
            }
            Err(_) => return (reply(StatusCode::BAD_REQUEST), Vec::new()),
        }
    }
    let mut changes = Vec::new();
    // Step 6: `Contact: *` only alone and with Expires: 0.
    if star {
        if !contacts.is_empty() || header_expires != Some(0) {
            let mut r = reply(StatusCode::BAD_REQUEST);
            r.reason = "Contact * Needs Expires 0 And No Other Contact".into();
            return (r, Vec::new());
        }
        for b in ctx.location.remove_all(&aor) {
            changes.push(BindingChange::Unbound {
                aor: aor.clone(),
                contact: b.contact,
            });
        }
    }
    // Step 7: a non-zero expiry below the minimum is refused as a whole (423).
    if contacts
        .iter()
        .any(|(_, e, _)| *e != 0 && *e < ctx.cfg.min_expires)
    {
        let mut r = reply(StatusCode::INTERVAL_TOO_BRIEF);
        r.headers
            .push_known(HeaderName::MinExpires, ctx.cfg.min_expires.to_string());
        return (r, Vec::new());
    }
    // Limits before any change, so a refused request changes nothing.
    let existing = ctx.location.lookup(&aor, ctx.now).len();
    let added = contacts
        .iter()
        .filter(|(c, e, _)| *e != 0 && ctx.location.get(&aor, c).is_none())
        .count();
    if added > 0 && existing + added > ctx.cfg.max_contacts_per_aor {
        let mut r = reply(StatusCode::FORBIDDEN);
        r.reason = "Too Many Contacts For This AOR".into();
        return (r, Vec::new());
    }
    if added > 0 && ctx.location.len() + added > ctx.cfg.max_registrations {
        let mut r = reply(StatusCode::SERVICE_UNAVAILABLE);
        r.headers.push_static(HeaderName::RetryAfter, "60");
        return (r, Vec::new());
    }
    for (contact, expires, q) in contacts {
        // Step 7: a binding from the same Call-ID with a CSeq not higher is out of order.
        if let Some(b) = ctx.location.get(&aor, &contact)
            && b.call_id == call_id
            && b.cseq >= cseq
        {
            continue;
        }
        if expires == 0 {
            if ctx.location.remove(&aor, &contact) {
                changes.push(BindingChange::Unbound {
                    aor: aor.clone(),
                    contact,
                });
            }
            continue;
        }
        let expires = expires.min(ctx.cfg.max_expires);
        ctx.location.upsert(
            &aor,
            Binding {
                contact: contact.clone(),
                q,
                flow,
                expires_at: ctx.now + Duration::from_secs(u64::from(expires)),
                call_id: call_id.clone(),
                cseq,
            },
        );
        changes.push(BindingChange::Bound {
            aor: aor.clone(),
            contact,
            expires,
            flow,
        });
    }
    // Step 8: the 200 lists every current binding with its remaining expiry.
    let mut ok = reply(StatusCode::OK);
    for b in ctx.location.lookup(&aor, ctx.now) {
        let left = b.expires_at.saturating_duration_since(ctx.now).as_secs();
        let mut v = format!("<{}>;expires={left}", b.contact);
        if let Some(q) = b.q {
            v.push_str(&format!(";q={q}"));
        }
        ok.headers.push_known(HeaderName::Contact, v);
    }
    (ok, changes)
}
