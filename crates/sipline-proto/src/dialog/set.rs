//! [`DialogSet`]: the dialogs of a user agent, found by id for in-dialog requests and
//! responses, with the forking rules of RFC 3261 §12.1.2, §12.3 and §13.2.2.4.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::{Dialog, DialogError, DialogId, DialogState, Role};
use crate::message::{HeaderName, Request, Response};

/// What a response to a dialog-creating request did to a [`DialogSet`]
/// ([`DialogSet::handle_response`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResponseOutcome {
    /// No dialog: a 100, or a provisional response without To tag (§12.1).
    NoDialog,
    /// A provisional response with a To tag created (`created`) or updated an early dialog
    /// (§12.1.2, §13.2.2.1). Forks get an early dialog each.
    Early {
        /// The dialog.
        id: DialogId,
        /// Whether the dialog is new.
        created: bool,
    },
    /// A 2xx created (`created`) or confirmed an early dialog (§13.2.2.4). Send the ACK
    /// ([`Dialog::ack`]).
    Confirmed {
        /// The dialog.
        id: DialogId,
        /// Whether no early dialog existed for it.
        created: bool,
    },
    /// A 2xx for a dialog already confirmed: a retransmission. Send the ACK again
    /// (§13.2.2.4).
    Retransmission {
        /// The dialog.
        id: DialogId,
    },
    /// A provisional response for a dialog already confirmed (reordered): nothing to do.
    Stale {
        /// The dialog.
        id: DialogId,
    },
    /// A 2xx from another fork while a dialog of the same request is already confirmed
    /// (§13.2.2.4). The returned dialog is confirmed but kept out of the set (its early
    /// dialog, if any, was taken out): send its ACK ([`Dialog::ack`]), then a BYE
    /// ([`Dialog::request`]) to end it. A retransmission of that 2xx yields this again: ACK
    /// it again, but keep track of the BYE already sent.
    ExtraFork(Box<Dialog>),
    /// A final non-2xx ended the early dialogs of the request (§12.3); they were removed.
    Terminated {
        /// The early dialogs removed.
        ids: Vec<DialogId>,
    },
}

/// The key of a group of dialogs: their Call-ID, held as the id of one of them (which shares
/// its text) rather than copied; hashes and compares as the Call-ID alone.
#[derive(Debug, Clone)]
struct CallId(DialogId);

impl PartialEq for CallId {
    fn eq(&self, other: &Self) -> bool {
        self.0.call_id() == other.0.call_id()
    }
}

impl Eq for CallId {}

impl Hash for CallId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.call_id().hash(state);
    }
}

impl Borrow<str> for CallId {
    fn borrow(&self) -> &str {
        self.0.call_id()
    }
}

/// The dialogs of a user agent (RFC 3261 §12), as UAC and as UAS.
///
/// Lookups by id do not allocate: dialogs are grouped by Call-ID, and a Call-ID holds few
/// (the forks of one INVITE, §12.1.2). Call-IDs come from the network, so the map uses a
/// randomly seeded hasher.
#[derive(Debug, Default)]
pub struct DialogSet {
    by_call_id: HashMap<CallId, Vec<Dialog>, foldhash::fast::RandomState>,
    len: usize,
}

impl DialogSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of dialogs.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there is no dialog.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every dialog, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Dialog> + '_ {
        self.by_call_id.values().flatten()
    }

    /// Adds a dialog; returns the one it replaces (same id), if any.
    pub fn insert(&mut self, dialog: Dialog) -> Option<Dialog> {
        let group = self
            .by_call_id
            .entry(CallId(dialog.id.clone()))
            // Most Call-IDs hold one dialog (forks are rare): no room reserved for more.
            .or_insert_with(|| Vec::with_capacity(1));
        match group.iter_mut().find(|d| d.id == dialog.id) {
            Some(d) => Some(std::mem::replace(d, dialog)),
            None => {
                group.push(dialog);
                self.len += 1;
                None
            }
        }
    }

    /// The dialog `(call_id, local_tag, remote_tag)`.
    pub fn find(&self, call_id: &str, local_tag: &str, remote_tag: &str) -> Option<&Dialog> {
        self.by_call_id
            .get(call_id)?
            .iter()
            .find(|d| d.id.is(call_id, local_tag, remote_tag))
    }

    /// The dialog `(call_id, local_tag, remote_tag)`, mutably.
    pub fn find_mut(
        &mut self,
        call_id: &str,
        local_tag: &str,
        remote_tag: &str,
    ) -> Option<&mut Dialog> {
        self.by_call_id
            .get_mut(call_id)?
            .iter_mut()
            .find(|d| d.id.is(call_id, local_tag, remote_tag))
    }

    /// The dialog with this id.
    pub fn get(&self, id: &DialogId) -> Option<&Dialog> {
        self.find(id.call_id(), id.local_tag(), id.remote_tag())
    }

    /// The dialog with this id, mutably.
    pub fn get_mut(&mut self, id: &DialogId) -> Option<&mut Dialog> {
        self.find_mut(id.call_id(), id.local_tag(), id.remote_tag())
    }

    /// Removes the dialog with this id (it terminated, §12.3).
    pub fn remove(&mut self, id: &DialogId) -> Option<Dialog> {
        let group = self.by_call_id.get_mut(id.call_id())?;
        let i = group.iter().position(|d| d.id == *id)?;
        let d = group.swap_remove(i);
        if group.is_empty() {
            self.by_call_id.remove(id.call_id());
        }
        self.len -= 1;
        Some(d)
    }

    /// The dialog a received request belongs to (RFC 3261 §12.2.2): Call-ID, To tag as local
    /// tag, From tag as remote tag. `None` if it has no To tag, has unreadable headers, or
    /// matches no dialog (a request with a To tag matching nothing is answered 481, §12.2.2).
    pub fn for_request_mut(&mut self, request: &Request) -> Option<&mut Dialog> {
        let h = &request.headers;
        let call_id = h.call_id().ok()?;
        let local = h.to().ok()?.tag()?;
        let from = h.from().ok()?;
        self.find_mut(call_id, local, from.tag().unwrap_or(""))
    }

    /// The dialog a response to one of our requests belongs to (§12.1.2, §12.2.1.2):
    /// Call-ID, From tag as local tag, To tag as remote tag. `None` without both tags, with
    /// unreadable headers, or without such a dialog.
    pub fn for_response_mut(&mut self, response: &Response) -> Option<&mut Dialog> {
        let h = &response.headers;
        let call_id = h.call_id().ok()?;
        let local = h.from().ok()?.tag()?;
        let remote = h.to().ok()?.tag()?;
        self.find_mut(call_id, local, remote)
    }

    /// The UAC dialogs created by responses to one request of ours (its forks, §12.1.2):
    /// same Call-ID and local tag.
    pub fn forks<'a>(
        &'a self,
        call_id: &'a str,
        local_tag: &'a str,
    ) -> impl Iterator<Item = &'a Dialog> + 'a {
        self.by_call_id
            .get(call_id)
            .into_iter()
            .flatten()
            .filter(move |d| d.role == Role::Uac && d.id.local_tag() == local_tag)
    }

    /// Removes the early dialogs among the forks of a request (§12.3: its transaction ended
    /// without a 2xx for them, e.g. 64*T1 after the first 2xx, §13.2.2.4). Returns their ids.
    pub fn remove_early(&mut self, call_id: &str, local_tag: &str) -> Vec<DialogId> {
        let Some(group) = self.by_call_id.get_mut(call_id) else {
            return Vec::new();
        };
        let mut removed = Vec::new();
        group.retain(|d| {
            let hit = d.role == Role::Uac
                && d.id.local_tag() == local_tag
                && d.state == DialogState::Early;
            if hit {
                removed.push(d.id.clone());
            }
            !hit
        });
        if group.is_empty() {
            self.by_call_id.remove(call_id);
        }
        self.len -= removed.len();
        removed
    }

    /// Applies a response to our dialog-creating `request` (an INVITE, SUBSCRIBE or REFER
    /// sent outside any dialog), as UAC (RFC 3261 §12.1.2, §12.3, §13.2.2.4):
    ///
    /// - 100, or 1xx without To tag: [`ResponseOutcome::NoDialog`];
    /// - 1xx with a To tag: a new early dialog per remote tag, or the existing one updated;
    /// - 2xx: the early dialog of its remote tag confirmed, or a new confirmed dialog; a
    ///   retransmission is reported as such; a 2xx from a second fork while another one is
    ///   confirmed yields [`ResponseOutcome::ExtraFork`] (ACK, then BYE);
    /// - 3xx to 6xx: the early dialogs of the request are removed (§12.3).
    ///
    /// Errors (the set is unchanged): a response to another request, a 2xx or 1xx that cannot
    /// create a dialog (no Contact, malformed headers; see [`Dialog::new_uac`]). The caller
    /// may treat a provisional response that fails so as creating no dialog.
    pub fn handle_response(
        &mut self,
        request: &Request,
        response: &Response,
    ) -> Result<ResponseOutcome, DialogError> {
        let status = response.status.as_u16();
        if status == 100 {
            return Ok(ResponseOutcome::NoDialog);
        }
        let call_id = request.headers.call_id().map_err(DialogError::request)?;
        let local_tag = request
            .headers
            .from()
            .map_err(DialogError::request)?
            .tag()
            .ok_or(DialogError::MissingTag {
                message: "request",
                header: HeaderName::From,
            })?;
        let rs = &response.headers;
        if rs.call_id().map_err(DialogError::response)? != call_id {
            return Err(DialogError::Mismatch { field: "Call-ID" });
        }
        if rs.from().map_err(DialogError::response)?.tag() != Some(local_tag) {
            return Err(DialogError::Mismatch { field: "From tag" });
        }
        if status >= 300 {
            let ids = self.remove_early(call_id, local_tag);
            return Ok(ResponseOutcome::Terminated { ids });
        }
        let to = rs.to().map_err(DialogError::response)?;
        let Some(remote_tag) = to.tag() else {
            if status < 200 {
                return Ok(ResponseOutcome::NoDialog);
            }
            return Err(DialogError::MissingTag {
                message: "response",
                header: HeaderName::To,
            });
        };
        let confirmed_fork = self
            .forks(call_id, local_tag)
            .any(|d| d.state == DialogState::Confirmed && d.id.remote_tag() != remote_tag);
        let existing = self.find_mut(call_id, local_tag, remote_tag);
        if status < 200 {
            return Ok(match existing {
                Some(d) if d.state == DialogState::Confirmed => {
                    ResponseOutcome::Stale { id: d.id.clone() }
                }
                Some(d) => {
                    d.update_from_response(response)?;
                    ResponseOutcome::Early {
                        id: d.id.clone(),
                        created: false,
                    }
                }
                None => {
                    let d = Dialog::new_uac(request, response)?;
                    let id = d.id.clone();
                    self.insert(d);
                    ResponseOutcome::Early { id, created: true }
                }
            });
        }
        match existing {
            Some(d) if d.state == DialogState::Confirmed => {
                Ok(ResponseOutcome::Retransmission { id: d.id.clone() })
            }
            Some(d) if confirmed_fork => {
                let mut extra = d.clone();
                extra.update_from_response(response)?;
                self.remove(&extra.id);
                Ok(ResponseOutcome::ExtraFork(Box::new(extra)))
            }
            Some(d) => {
                d.update_from_response(response)?;
                Ok(ResponseOutcome::Confirmed {
                    id: d.id.clone(),
                    created: false,
                })
            }
            None => {
                let d = Dialog::new_uac(request, response)?;
                if confirmed_fork {
                    return Ok(ResponseOutcome::ExtraFork(Box::new(d)));
                }
                let id = d.id.clone();
                self.insert(d);
                Ok(ResponseOutcome::Confirmed { id, created: true })
            }
        }
    }
}
