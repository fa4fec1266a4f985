//! The header section of a message (RFC 3261 §7.3): an ordered list of fields.
//!
//! A parsed message keeps its header section as one shared UTF-8 buffer; each field's name
//! and value are spans into it, so parsing copies nothing. Text that is not in that buffer
//! (fields added or changed later, the To of a response with its new tag, unfolded values)
//! lives in a second, append-only buffer, the side buffer, shared by clones like the first.
//! A field is therefore plain data (`Copy`): the fields are copied and dropped as one block.
//! Values are stored trimmed, with line folding (§7.3.1) already replaced by a single space,
//! so a value never holds CR or LF.

use std::sync::Arc;

use bytestring::ByteString;

use super::HeaderName;

/// The bit of [`Text::start`] saying the span is in the side buffer.
const SIDE: u32 = 1 << 31;

/// Past this many bytes of side text, an append first drops the text no field uses any more
/// (values replaced by `set`), when that is more than half of it.
const COMPACT_AT: usize = 1024;

/// Text of a header field: a span of the header buffer, or of the side buffer when `start`
/// has its top bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Text {
    start: u32,
    end: u32,
}

impl Text {
    /// The empty text.
    pub(crate) const EMPTY: Text = Text { start: 0, end: 0 };

    /// `s..e` of the header buffer.
    #[inline]
    pub(crate) const fn span(s: u32, e: u32) -> Text {
        Text { start: s, end: e }
    }

    /// `s..e` of the side buffer.
    #[inline]
    const fn side(s: u32, e: u32) -> Text {
        Text {
            start: s | SIDE,
            end: e,
        }
    }

    /// `s..e` of the side buffer, as the parser builds it (the empty text past 2 GiB).
    #[inline]
    pub(crate) fn side_span(s: u32, e: u32) -> Text {
        if e >= SIDE {
            Text::EMPTY
        } else {
            Text::side(s, e)
        }
    }

    /// The span of the side buffer, `None` for header-buffer text.
    #[inline]
    pub(crate) fn side_range(self) -> Option<std::ops::Range<usize>> {
        self.in_side().then(|| self.range())
    }

    /// Whether the text is in the side buffer.
    #[inline]
    pub(crate) fn in_side(self) -> bool {
        self.start & SIDE != 0
    }

    /// The span of the header buffer, `None` for side text.
    #[inline]
    pub(crate) fn buf_range(self) -> Option<(usize, usize)> {
        (!self.in_side()).then_some((self.start as usize, self.end as usize))
    }

    /// Moves the end of a header-buffer span (a folded value growing over its continuation
    /// lines).
    #[inline]
    pub(crate) fn set_end(&mut self, e: u32) {
        self.end = e;
    }

    #[inline]
    fn range(self) -> std::ops::Range<usize> {
        (self.start & !SIDE) as usize..self.end as usize
    }
}

/// The name of a field: a known [`HeaderName`] or an unknown name kept verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Name {
    Known(HeaderName),
    Other(Text),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) name: Name,
    pub(crate) value: Text,
    /// Where the value started in the parsed message (0 for fields added later); kept for
    /// unfolded values, whose text is in the side buffer, so errors still point into the
    /// message.
    pub(crate) offset: u32,
}

impl Entry {
    /// A filler (arrays of entries are made whole before they are filled).
    pub(crate) const EMPTY: Entry = Entry {
        name: Name::Known(HeaderName::Accept),
        value: Text::EMPTY,
        offset: 0,
    };
}
/// Turns CR and LF into spaces and trims: a value that cannot break the header section.
pub(crate) fn clean(v: Box<str>) -> Box<str> {
    let b = v.as_bytes();
    let ws = |c: Option<&u8>| matches!(c, Some(b' ' | b'\t'));
    if ws(b.first()) || ws(b.last()) || memchr::memchr2(b'\r', b'\n', b).is_some() {
        v.replace(['\r', '\n'], " ")
            .trim_matches([' ', '\t'])
            .into()
    } else {
        v
    }
}

/// Fields that can grow, with their side buffer: the text of theirs not in the header buffer,
/// append-only (a clone that changes copies both, so the spans of every clone stay valid).
#[derive(Debug, Clone, Default)]
pub(crate) struct Grown {
    pub(crate) list: Vec<Entry>,
    pub(crate) side: String,
}

/// The fields of a header section, shared by clones and copied on the first change of one (a
/// kept INVITE is cloned into the events of several layers, and never changed).
#[derive(Debug, Clone)]
pub(crate) enum Entries {
    /// As parsed: the fields and their count in one allocation, all text in the buffer.
    Parsed(Arc<[Entry]>),
    /// Built, or changed after parsing: room to grow, and the side buffer.
    Growable(Arc<Grown>),
}

impl Default for Entries {
    fn default() -> Self {
        Entries::Growable(Arc::default())
    }
}

impl std::ops::Deref for Entries {
    type Target = [Entry];

    #[inline]
    fn deref(&self) -> &[Entry] {
        match self {
            Entries::Parsed(e) => e,
            Entries::Growable(g) => &g.list,
        }
    }
}

impl Entries {
    /// The fields, for a change: parsed fields become growable, shared ones are copied.
    pub(crate) fn make_mut(&mut self) -> &mut Vec<Entry> {
        &mut self.grown().list
    }

    /// The fields and the side buffer, for a change (see [`make_mut`](Self::make_mut)).
    pub(crate) fn grown(&mut self) -> &mut Grown {
        match self {
            Entries::Growable(g) => Arc::make_mut(g),
            Entries::Parsed(e) => {
                *self = Entries::Growable(Arc::new(Grown {
                    list: e.to_vec(),
                    side: String::new(),
                }));
                self.grown()
            }
        }
    }

    /// The side buffer.
    #[inline]
    pub(crate) fn side(&self) -> &str {
        match self {
            Entries::Parsed(_) => "",
            Entries::Growable(g) => &g.side,
        }
    }
}

/// One header field as seen through [`Headers::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    /// The known header, or `None` for an extension header.
    pub known: Option<HeaderName>,
    /// The name as it will be written: canonical for known headers, verbatim otherwise.
    pub name: &'a str,
    /// The value, trimmed, folding replaced by one space.
    pub value: &'a str,
}

/// The ordered header fields of a message.
///
/// Lookups by [`HeaderName`] are case-insensitive by construction (names are normalised at
/// parse time, compact forms included); unknown headers are looked up with
/// [`Headers::get_other`], also case-insensitively, and are kept verbatim and in order.
#[derive(Clone, Default)]
pub struct Headers {
    pub(crate) buf: ByteString,
    /// Shared by clones, copied on the first change of one; with the side buffer.
    pub(crate) entries: Entries,
}

impl std::fmt::Debug for Headers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|h| (h.name, h.value)))
            .finish()
    }
}

impl PartialEq for Headers {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

impl Eq for Headers {}

impl Headers {
    /// An empty header section.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty header section with room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            buf: ByteString::new(),
            entries: Entries::Growable(Arc::new(Grown {
                list: Vec::with_capacity(n),
                side: String::new(),
            })),
        }
    }

    pub(crate) fn from_parts(buf: ByteString, entries: Entries) -> Self {
        Self { buf, entries }
    }

    /// The text `t` stands for.
    #[inline]
    pub(crate) fn text(&self, t: Text) -> &str {
        let src: &str = if t.in_side() {
            self.entries.side()
        } else {
            &self.buf
        };
        src.get(t.range()).unwrap_or("")
    }

    /// The bytes of `t` (read without a UTF-8 boundary check: spans are cut at ASCII
    /// delimiters of validated text).
    #[inline]
    pub(crate) fn text_bytes(&self, t: Text) -> &[u8] {
        let src: &[u8] = if t.in_side() {
            self.entries.side().as_bytes()
        } else {
            self.buf.as_bytes()
        };
        src.get(t.range()).unwrap_or(b"")
    }

    /// Appends `v` to the side buffer; its span there. Text past 2 GiB of side buffer (far
    /// beyond any message) is not kept: the empty text stands for it.
    pub(crate) fn add_text(&mut self, v: &str) -> Text {
        if v.is_empty() {
            return Text::EMPTY;
        }
        self.value_text(&[v])
    }

    /// `parts` end to end as a value (CR and LF made spaces, trimmed: what [`clean`] makes),
    /// written straight into the side buffer when already clean (a builder's values need no
    /// string of their own).
    pub(crate) fn value_text(&mut self, parts: &[&str]) -> Text {
        let ws = |c: Option<&u8>| matches!(c, Some(b' ' | b'\t'));
        let first = parts.iter().find(|p| !p.is_empty()).map(|p| p.as_bytes());
        let last = parts
            .iter()
            .rev()
            .find(|p| !p.is_empty())
            .map(|p| p.as_bytes());
        let dirty = first.is_some_and(|p| ws(p.first()))
            || last.is_some_and(|p| ws(p.last()))
            || parts
                .iter()
                .any(|p| memchr::memchr2(b'\r', b'\n', p.as_bytes()).is_some());
        if dirty {
            let mut v = String::new();
            for p in parts {
                v.push_str(p);
            }
            return self.add_text(&clean(v.into()));
        }
        if self.entries.side().len() > COMPACT_AT {
            self.compact_side();
        }
        let side = &mut self.entries.grown().side;
        let start = side.len();
        let end = start + parts.iter().map(|p| p.len()).sum::<usize>();
        if end >= SIDE as usize || end == start {
            return Text::EMPTY;
        }
        for p in parts {
            side.push_str(p);
        }
        Text::side(start as u32, end as u32)
    }

    /// Drops the side text no field refers to any more, when that is more than half of it.
    fn compact_side(&mut self) {
        let side_len = |t: &Text| if t.in_side() { t.range().len() } else { 0 };
        let live: usize = self
            .entries
            .iter()
            .map(|e| {
                side_len(&e.value)
                    + match &e.name {
                        Name::Other(t) => side_len(t),
                        Name::Known(_) => 0,
                    }
            })
            .sum();
        if live * 2 >= self.entries.side().len() {
            return;
        }
        let grown = self.entries.grown();
        let old = std::mem::take(&mut grown.side);
        let mut s = String::with_capacity(live);
        let mut keep = |t: &mut Text| {
            if t.in_side() {
                let at = s.len();
                s.push_str(old.get(t.range()).unwrap_or(""));
                *t = Text::side(at as u32, s.len() as u32);
            }
        };
        for e in &mut grown.list {
            if let Name::Other(t) = &mut e.name {
                keep(t);
            }
            keep(&mut e.value);
        }
        grown.side = s;
    }

    /// `t`, a text of `other`, as a text of `self`: the same span when both share the buffer
    /// it is in, else copied into the side buffer.
    fn import(&mut self, other: &Headers, t: Text) -> Text {
        let shared = if t.in_side() {
            let (a, b) = (self.entries.side(), other.entries.side());
            !a.is_empty() && a.as_ptr() == b.as_ptr() && a.len() == b.len()
        } else {
            self.buf.as_ptr() == other.buf.as_ptr() && self.buf.len() == other.buf.len()
        };
        if shared || t == Text::EMPTY {
            t
        } else {
            self.add_text(other.text(t))
        }
    }

    /// An entry of `other` as an entry of `self`.
    fn import_entry(&mut self, other: &Headers, e: &Entry) -> Entry {
        let name = match e.name {
            Name::Other(t) => Name::Other(self.import(other, t)),
            known => known,
        };
        Entry {
            name,
            value: self.import(other, e.value),
            offset: e.offset,
        }
    }

    /// Before copying fields of `other`: shares its buffer when `self` has none yet (so a
    /// response built from a request copies spans, not text).
    fn adopt_buffers(&mut self, other: &Headers) {
        if self.buf.is_empty() {
            self.buf = other.buf.clone();
        }
    }

    /// The fields, for a change (copied first if a clone shares them).
    fn entries_mut(&mut self) -> &mut Vec<Entry> {
        self.entries.make_mut()
    }

    /// Number of fields (lines, after unfolding), not of comma-separated values.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there is no field at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn field(&self, e: &Entry) -> Field<'_> {
        match e.name {
            Name::Known(h) => Field {
                known: Some(h),
                name: h.as_str(),
                value: self.text(e.value),
            },
            Name::Other(t) => Field {
                known: None,
                name: self.text(t),
                value: self.text(e.value),
            },
        }
    }

    /// All fields in order.
    pub fn iter(&self) -> impl Iterator<Item = Field<'_>> + '_ {
        self.entries.iter().map(|e| self.field(e))
    }

    /// The value of the first field named `name`.
    pub fn get(&self, name: HeaderName) -> Option<&str> {
        self.get_all(name).next()
    }

    /// The values of every field named `name`, one per line (see [`Headers::values`] to split
    /// comma-separated lists).
    pub fn get_all(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.entries.iter().filter_map(move |e| match e.name {
            Name::Known(h) if h == name => Some(self.text(e.value)),
            _ => None,
        })
    }

    /// Every value of `name`: each line, and for list headers ([`HeaderName::is_list`]) each
    /// comma-separated element of each line (RFC 3261 §7.3.1). Commas inside quoted strings and
    /// inside `<...>` do not split. Empty elements are skipped.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = &str> + '_ {
        self.values_at(name).map(|(v, _)| v)
    }

    /// Like [`Headers::values`], with each value's byte offset in the parsed message (0 for
    /// fields added after parsing).
    pub(crate) fn values_at(&self, name: HeaderName) -> impl Iterator<Item = (&str, usize)> + '_ {
        let list = name.is_list();
        self.entries
            .iter()
            .filter(move |e| matches!(e.name, Name::Known(h) if h == name))
            .flat_map(move |e| {
                let v = self.text(e.value);
                let base = e.offset as usize;
                let mut rest = list.then_some(v);
                let mut single = (!list).then_some(v);
                std::iter::from_fn(move || {
                    if let Some(s) = single.take() {
                        return Some((s, base));
                    }
                    loop {
                        let r = rest?;
                        let (item, tail) = split_list_item(r);
                        rest = tail;
                        if !item.is_empty() {
                            // `item` is a sub-slice of `v`: its distance from `v` is its offset.
                            return Some((
                                item,
                                base + (item.as_ptr() as usize - v.as_ptr() as usize),
                            ));
                        }
                    }
                })
            })
    }

    /// A `ByteString` of `s`: shares the buffer when `s` lies in it, else copies.
    pub(crate) fn share(&self, s: &str) -> ByteString {
        let (b0, b1) = (
            self.buf.as_ptr() as usize,
            self.buf.as_ptr() as usize + self.buf.len(),
        );
        let p = s.as_ptr() as usize;
        if p >= b0 && p + s.len() <= b1 && !s.is_empty() {
            self.buf.slice_ref(s)
        } else {
            ByteString::from(s)
        }
    }

    /// Replaces the value of the first field named `name` (a rewritten top Via).
    pub(crate) fn replace_first(&mut self, name: HeaderName, value: impl Into<Box<str>>) {
        if let Some(i) = self
            .entries
            .iter()
            .position(|e| matches!(e.name, Name::Known(h) if h == name))
        {
            let value = self.add_text(&clean(value.into()));
            if let Some(e) = self.entries_mut().get_mut(i) {
                e.value = value;
            }
        }
    }

    /// Number of fields named `name`.
    pub fn count(&self, name: HeaderName) -> usize {
        self.get_all(name).count()
    }

    /// Whether a field named `name` is present.
    pub fn contains(&self, name: HeaderName) -> bool {
        self.get(name).is_some()
    }

    /// The first value of an extension header, by case-insensitive name.
    pub fn get_other(&self, name: &str) -> Option<&str> {
        self.entries.iter().find_map(|e| match e.name {
            Name::Other(t) if self.text(t).eq_ignore_ascii_case(name) => Some(self.text(e.value)),
            _ => None,
        })
    }

    /// Appends a field. Known names are normalised; unknown names are kept as given. The name
    /// must be a token and the value must not hold CR, LF or NUL (no header injection); the
    /// value is stored trimmed, as the parser would read it.
    pub fn push(&mut self, name: &str, value: &str) -> Result<(), crate::ParseError> {
        use crate::{ParseError, ParseErrorKind};
        if name.is_empty() || !name.bytes().all(crate::parse::scan::is_token) {
            return Err(ParseError::new(ParseErrorKind::InvalidHeaderName, 0));
        }
        if value.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(ParseError::new(ParseErrorKind::InvalidLineEnding, 0));
        }
        let value = value.trim_matches([' ', '\t']);
        let name = match HeaderName::from_bytes(name.as_bytes()) {
            Some(h) => Name::Known(h),
            None => Name::Other(self.add_text(name)),
        };
        let value = self.add_text(value);
        self.entries_mut().push(Entry {
            name,
            value,
            offset: 0,
        });
        Ok(())
    }

    /// Appends a field with a known name. CR and LF in `value` become spaces (what a fold
    /// means, §7.3.1), so no header can be injected.
    pub fn push_known(&mut self, name: HeaderName, value: impl Into<Box<str>>) {
        let value = self.add_text(&clean(value.into()));
        self.entries_mut().push(Entry {
            name: Name::Known(name),
            value,
            offset: 0,
        });
    }

    /// Appends a field with a known name and a static value (copied into the side buffer).
    pub fn push_static(&mut self, name: HeaderName, value: &'static str) {
        let value = self.add_text(value);
        self.entries_mut().push(Entry {
            name: Name::Known(name),
            value,
            offset: 0,
        });
    }

    /// Inserts a field before every other one (a new top Via, RFC 3261 §16.6 step 8). CR and
    /// LF in `value` become spaces.
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<Box<str>>) {
        let value = self.add_text(&clean(value.into()));
        self.entries_mut().insert(
            0,
            Entry {
                name: Name::Known(name),
                value,
                offset: 0,
            },
        );
    }

    /// Removes every field named `name`; returns how many were removed.
    pub fn remove(&mut self, name: HeaderName) -> usize {
        let before = self.entries.len();
        self.entries_mut()
            .retain(|e| !matches!(e.name, Name::Known(h) if h == name));
        before - self.entries.len()
    }

    /// Replaces every field named `name` by one field with `value`, at the place of the first.
    /// CR and LF in `value` become spaces.
    pub fn set(&mut self, name: HeaderName, value: impl Into<Box<str>>) {
        let value = self.add_text(&clean(value.into()));
        self.set_text(name, value);
    }

    /// [`set`](Self::set) with `parts` end to end as the value, written straight into the
    /// side buffer (no string of its own).
    pub(crate) fn set_parts(&mut self, name: HeaderName, parts: &[&str]) {
        let value = self.value_text(parts);
        self.set_text(name, value);
    }

    /// [`push_known`](Self::push_known) with `parts` end to end as the value.
    pub(crate) fn push_parts(&mut self, name: HeaderName, parts: &[&str]) {
        let value = self.value_text(parts);
        self.entries_mut().push(Entry {
            name: Name::Known(name),
            value,
            offset: 0,
        });
    }

    /// [`set`](Self::set) with a value already in the side buffer.
    fn set_text(&mut self, name: HeaderName, value: Text) {
        match self
            .entries
            .iter()
            .position(|e| matches!(e.name, Name::Known(h) if h == name))
        {
            Some(i) => {
                let entries = self.entries_mut();
                if let Some(e) = entries.get_mut(i) {
                    e.value = value;
                }
                let mut seen = 0usize;
                entries.retain(|e| {
                    let hit = matches!(e.name, Name::Known(h) if h == name);
                    seen += usize::from(hit);
                    !hit || seen == 1
                });
            }
            None => self.entries_mut().push(Entry {
                name: Name::Known(name),
                value,
                offset: 0,
            }),
        }
    }

    /// Copies the fields named in `names` from `other`, grouped in the order of `names`, each
    /// group in `other`'s order (what one [`copy_from`](Self::copy_from) per name does, in one
    /// pass); `extra` = `(i, name, value)` is appended before the group `i`, its value as given
    /// (already free of CR and LF, trimmed).
    pub(crate) fn copy_ordered(
        &mut self,
        other: &Headers,
        names: &[HeaderName],
        extra: Option<(usize, HeaderName, &str)>,
    ) {
        const MAX: usize = 32;
        // rank[h] = the place of `h` in `names`.
        let mut rank = [u8::MAX; 128];
        for (r, &h) in names.iter().enumerate() {
            if let Some(slot) = rank.get_mut(h as usize) {
                *slot = r as u8;
            }
        }
        let mut picked = [(0u8, 0u16); MAX];
        let mut n = 0;
        let src: &[Entry] = &other.entries;
        for (i, e) in src.iter().enumerate() {
            let Name::Known(h) = e.name else { continue };
            let r = rank.get(h as usize).copied().unwrap_or(u8::MAX);
            if r == u8::MAX {
                continue;
            }
            if n == MAX || i > usize::from(u16::MAX) {
                // Many fields: one pass per name.
                return self.copy_per_name(other, names, extra);
            }
            picked[n] = (r, i as u16);
            n += 1;
        }
        // Stable insertion sort by rank: few fields, mostly in order already.
        for a in 1..n {
            let mut b = a;
            while b > 0 && picked[b - 1].0 > picked[b].0 {
                picked.swap(b - 1, b);
                b -= 1;
            }
        }
        self.adopt_buffers(other);
        let mut extra = extra;
        for &(r, i) in &picked[..n] {
            if extra.as_ref().is_some_and(|x| usize::from(r) >= x.0)
                && let Some((_, name, value)) = extra.take()
            {
                self.push_clean(name, value);
            }
            let Some(e) = src.get(usize::from(i)) else {
                continue;
            };
            let e = self.import_entry(other, e);
            self.entries_mut().push(e);
        }
        if let Some((_, name, value)) = extra {
            self.push_clean(name, value);
        }
    }

    /// Appends a field whose value is free of CR and LF and trimmed already.
    fn push_clean(&mut self, name: HeaderName, value: &str) {
        let value = self.add_text(value);
        self.entries_mut().push(Entry {
            name: Name::Known(name),
            value,
            offset: 0,
        });
    }

    /// [`copy_ordered`](Self::copy_ordered) as one [`copy_from`](Self::copy_from) per name.
    fn copy_per_name(
        &mut self,
        other: &Headers,
        names: &[HeaderName],
        extra: Option<(usize, HeaderName, &str)>,
    ) {
        let mut extra = extra;
        for (r, &name) in names.iter().enumerate() {
            if extra.as_ref().is_some_and(|x| r >= x.0)
                && let Some((_, h, value)) = extra.take()
            {
                self.push_clean(h, value);
            }
            self.copy_from(other, name);
        }
        if let Some((_, h, value)) = extra {
            self.push_clean(h, value);
        }
    }

    /// Copies the fields named `name` from `other`, sharing its buffers when `self` has none
    /// yet (so a response built from a request copies spans, not text).
    pub(crate) fn copy_from(&mut self, other: &Headers, name: HeaderName) {
        self.adopt_buffers(other);
        for e in other.entries.iter() {
            if matches!(e.name, Name::Known(h) if h == name) {
                let e = self.import_entry(other, e);
                self.entries_mut().push(e);
            }
        }
    }
}

/// The first element of a comma-separated value (the top Via of a multi-value line).
pub(crate) fn first_list_item(s: &str) -> &str {
    split_list_item(s).0
}

/// Splits the first element off a comma-separated header value, honouring quoted strings
/// (with `\` escapes) and `<...>` URIs (RFC 3261 §7.3.1, §25.1).
pub(crate) fn split_list_item(s: &str) -> (&str, Option<&str>) {
    let b = s.as_bytes();
    // Most values hold no quote and no '<': the first comma, if any, ends the item.
    if memchr::memchr2(b'"', b'<', b).is_none() {
        return match memchr::memchr(b',', b) {
            Some(i) => (s[..i].trim_matches([' ', '\t']), Some(&s[i + 1..])),
            None => (s.trim_matches([' ', '\t']), None),
        };
    }
    let mut i = 0;
    let mut in_quote = false;
    let mut in_angle = false;
    while i < b.len() {
        match b[i] {
            b'\\' if in_quote => i += 1,
            b'"' if !in_angle => in_quote = !in_quote,
            b'<' if !in_quote => in_angle = true,
            b'>' if !in_quote => in_angle = false,
            b',' if !in_quote && !in_angle => {
                return (s[..i].trim_matches([' ', '\t']), Some(&s[i + 1..]));
            }
            _ => {}
        }
        i += 1;
    }
    (s.trim_matches([' ', '\t']), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_split_respects_quotes_and_angles() {
        let mut h = Headers::new();
        h.push("Contact", r#""A, B" <sip:a@x;p=1,2>;q=0.5, <sip:b@y>,,"#)
            .unwrap();
        h.push("Date", "Sat, 13 Nov 2010 23:29:00 GMT").unwrap();
        let v: Vec<_> = h.values(HeaderName::Contact).collect();
        assert_eq!(v, [r#""A, B" <sip:a@x;p=1,2>;q=0.5"#, "<sip:b@y>"]);
        let d: Vec<_> = h.values(HeaderName::Date).collect();
        assert_eq!(d, ["Sat, 13 Nov 2010 23:29:00 GMT"]);
    }

    #[test]
    fn parsed_fields_become_growable_on_change_and_clones_keep_theirs() {
        let raw = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
                   X-A: 1\r\nl: 0\r\n\r\n";
        let m = crate::parse_message(
            bytes::Bytes::copy_from_slice(raw.as_bytes()),
            &crate::Limits::default(),
        )
        .unwrap();
        let h = m.headers();
        assert!(matches!(h.entries, Entries::Parsed(_)));
        let mut changed = h.clone();
        changed.push_front(HeaderName::Via, "SIP/2.0/TCP p;branch=z9hG4bK2");
        changed.set(HeaderName::ContentLength, "5");
        changed.push("X-B", "2").unwrap();
        assert!(matches!(changed.entries, Entries::Growable(_)));
        let all = |h: &Headers| -> Vec<(String, String)> {
            h.iter()
                .map(|f| (f.name.to_owned(), f.value.to_owned()))
                .collect()
        };
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect()
        };
        assert_eq!(
            all(h),
            pairs(&[
                ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"),
                ("X-A", "1"),
                ("Content-Length", "0")
            ])
        );
        assert_eq!(
            all(&changed),
            pairs(&[
                ("Via", "SIP/2.0/TCP p;branch=z9hG4bK2"),
                ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"),
                ("X-A", "1"),
                ("Content-Length", "5"),
                ("X-B", "2")
            ])
        );
        assert_eq!(h.get_other("x-a"), Some("1"));
        assert_eq!(changed.count(HeaderName::Via), 2);
    }

    #[test]
    fn set_replaces_all_keeps_position() {
        let mut h = Headers::new();
        h.push("Via", "a").unwrap();
        h.push("Expires", "1").unwrap();
        h.push("X-Foo", "bar").unwrap();
        h.push("expires", "2").unwrap();
        h.set(HeaderName::Expires, "3");
        let names: Vec<_> = h.iter().map(|f| (f.name, f.value)).collect();
        assert_eq!(names, [("Via", "a"), ("Expires", "3"), ("X-Foo", "bar")]);
        assert_eq!(h.get_other("x-foo"), Some("bar"));
    }

    #[test]
    fn clones_keep_their_text_when_one_changes() {
        let mut a = Headers::new();
        a.push_known(HeaderName::CSeq, "1 OPTIONS");
        a.push("X-A", "one").unwrap();
        let b = a.clone();
        a.set(HeaderName::CSeq, "2 OPTIONS");
        a.push_static(HeaderName::ContentLength, "0");
        assert_eq!(b.get(HeaderName::CSeq), Some("1 OPTIONS"));
        assert_eq!(b.get_other("x-a"), Some("one"));
        assert_eq!(b.len(), 2);
        assert_eq!(a.get(HeaderName::CSeq), Some("2 OPTIONS"));
        assert_eq!(a.get(HeaderName::ContentLength), Some("0"));
        // Fields copied between two built sections carry their text along.
        let mut c = Headers::new();
        c.push_known(HeaderName::Via, "SIP/2.0/UDP h;branch=z9hG4bK1");
        c.copy_from(&a, HeaderName::CSeq);
        c.copy_ordered(
            &b,
            &[HeaderName::CSeq],
            Some((0, HeaderName::To, "<sip:t@t>")),
        );
        let all: Vec<_> = c.iter().map(|f| (f.name, f.value)).collect();
        assert_eq!(
            all,
            [
                ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"),
                ("CSeq", "2 OPTIONS"),
                ("To", "<sip:t@t>"),
                ("CSeq", "1 OPTIONS")
            ]
        );
    }

    #[test]
    fn replaced_text_is_dropped_from_the_side_buffer() {
        let mut h = Headers::new();
        h.push("X-Keep", "kept").unwrap();
        for i in 0..5_000 {
            h.set(HeaderName::CSeq, format!("{i} REGISTER"));
            h.replace_first(HeaderName::CSeq, format!("{i} REGISTER"));
        }
        assert!(
            h.entries.side().len() <= 2 * COMPACT_AT,
            "{}",
            h.entries.side().len()
        );
        assert_eq!(h.get(HeaderName::CSeq), Some("4999 REGISTER"));
        assert_eq!(h.get_other("X-KEEP"), Some("kept"));
    }

    proptest::proptest! {
        /// A value written from parts straight into the side buffer is what `clean` makes of
        /// the parts joined.
        #[test]
        fn parts_match_the_cleaned_value(
            parts in proptest::collection::vec("[ \t\r\na;=]{0,4}", 0..4),
        ) {
            let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
            let mut fast = Headers::new();
            fast.set_parts(HeaderName::Subject, &parts);
            fast.push_parts(HeaderName::Subject, &parts);
            let mut slow = Headers::new();
            slow.set(HeaderName::Subject, parts.concat());
            slow.push_known(HeaderName::Subject, parts.concat());
            proptest::prop_assert_eq!(fast, slow);
        }
    }
}
