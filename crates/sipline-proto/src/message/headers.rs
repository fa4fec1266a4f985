//! The header section of a message (RFC 3261 §7.3): an ordered list of fields.
//!
//! A parsed message keeps its header section as one shared UTF-8 buffer; each field's name
//! and value are spans into it, so parsing copies nothing. Fields added later own their text.
//! Values are stored trimmed, with line folding (§7.3.1) already replaced by a single space,
//! so a value never holds CR or LF.

use std::sync::Arc;

use bytestring::ByteString;

use super::HeaderName;

/// Text of a header field: a span of the shared buffer, owned, or static.
#[derive(Debug, Clone)]
pub(crate) enum Text {
    Span(u32, u32),
    Owned(Box<str>),
    Static(&'static str),
}

impl Text {
    /// The bytes of the text (a span read without a UTF-8 boundary check: it was cut at ASCII
    /// delimiters of a validated buffer).
    #[inline]
    pub(crate) fn resolve_bytes<'a>(&'a self, buf: &'a [u8]) -> &'a [u8] {
        match self {
            Text::Span(s, e) => buf.get(*s as usize..*e as usize).unwrap_or(b""),
            Text::Owned(s) => s.as_bytes(),
            Text::Static(s) => s.as_bytes(),
        }
    }

    #[inline]
    fn resolve<'a>(&'a self, buf: &'a str) -> &'a str {
        match self {
            Text::Span(s, e) => buf.get(*s as usize..*e as usize).unwrap_or(""),
            Text::Owned(s) => s,
            Text::Static(s) => s,
        }
    }
}

/// The name of a field: a known [`HeaderName`] or an unknown name kept verbatim (boxed:
/// unknown names are rare, and inline they made every field 8 B larger).
#[derive(Debug, Clone)]
pub(crate) enum Name {
    Known(HeaderName),
    Other(Box<Text>),
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) name: Name,
    pub(crate) value: Text,
    /// Where the value started in the parsed message (0 for fields added later); kept for
    /// unfolded values, whose text is owned, so errors still point into the message.
    pub(crate) offset: u32,
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

/// The fields of a header section, shared by clones and copied on the first change of one (a
/// kept INVITE is cloned into the events of several layers, and never changed).
#[derive(Debug, Clone)]
pub(crate) enum Entries {
    /// As parsed: the fields and their count in one allocation.
    Parsed(Arc<[Entry]>),
    /// Built, or changed after parsing: room to grow.
    Growable(Arc<Vec<Entry>>),
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
            Entries::Growable(e) => e,
        }
    }
}

impl Entries {
    /// The fields, for a change: parsed fields become growable, shared ones are copied.
    pub(crate) fn make_mut(&mut self) -> &mut Vec<Entry> {
        match self {
            Entries::Growable(e) => Arc::make_mut(e),
            Entries::Parsed(e) => {
                *self = Entries::Growable(Arc::new(e.to_vec()));
                self.make_mut()
            }
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
    /// Shared by clones, copied on the first change of one.
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
            entries: Entries::Growable(Arc::new(Vec::with_capacity(n))),
        }
    }

    pub(crate) fn from_parts(buf: ByteString, entries: Entries) -> Self {
        Self { buf, entries }
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

    fn field<'a>(&'a self, e: &'a Entry) -> Field<'a> {
        match &e.name {
            Name::Known(h) => Field {
                known: Some(*h),
                name: h.as_str(),
                value: e.value.resolve(&self.buf),
            },
            Name::Other(t) => Field {
                known: None,
                name: t.resolve(&self.buf),
                value: e.value.resolve(&self.buf),
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
            Name::Known(h) if h == name => Some(e.value.resolve(&self.buf)),
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
                let v = e.value.resolve(&self.buf);
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
        if let Some(e) = self
            .entries_mut()
            .iter_mut()
            .find(|e| matches!(e.name, Name::Known(h) if h == name))
        {
            e.value = Text::Owned(clean(value.into()));
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
        self.entries.iter().find_map(|e| match &e.name {
            Name::Other(t) if t.resolve(&self.buf).eq_ignore_ascii_case(name) => {
                Some(e.value.resolve(&self.buf))
            }
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
            None => Name::Other(Box::new(Text::Owned(name.into()))),
        };
        self.entries_mut().push(Entry {
            name,
            value: Text::Owned(value.into()),
            offset: 0,
        });
        Ok(())
    }

    /// Appends a field with a known name. CR and LF in `value` become spaces (what a fold
    /// means, §7.3.1), so no header can be injected.
    pub fn push_known(&mut self, name: HeaderName, value: impl Into<Box<str>>) {
        self.entries_mut().push(Entry {
            name: Name::Known(name),
            value: Text::Owned(clean(value.into())),
            offset: 0,
        });
    }

    /// Appends a field with a known name and a static value (no allocation).
    pub fn push_static(&mut self, name: HeaderName, value: &'static str) {
        self.entries_mut().push(Entry {
            name: Name::Known(name),
            value: Text::Static(value),
            offset: 0,
        });
    }

    /// Inserts a field before every other one (a new top Via, RFC 3261 §16.6 step 8). CR and
    /// LF in `value` become spaces.
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<Box<str>>) {
        self.entries_mut().insert(
            0,
            Entry {
                name: Name::Known(name),
                value: Text::Owned(clean(value.into())),
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
        let value = Text::Owned(clean(value.into()));
        match self
            .entries
            .iter()
            .position(|e| matches!(e.name, Name::Known(h) if h == name))
        {
            Some(i) => {
                let entries = self.entries_mut();
                entries[i].value = value;
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
        extra: Option<(usize, HeaderName, Text)>,
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
        if self.buf.is_empty() {
            self.buf = other.buf.clone();
        }
        let share = self.buf.as_ptr() == other.buf.as_ptr() && self.buf.len() == other.buf.len();
        let entries = self.entries.make_mut();
        let mut extra = extra;
        for &(r, i) in &picked[..n] {
            if extra.as_ref().is_some_and(|x| usize::from(r) >= x.0)
                && let Some((_, name, value)) = extra.take()
            {
                entries.push(Entry {
                    name: Name::Known(name),
                    value,
                    offset: 0,
                });
            }
            let Some(e) = src.get(usize::from(i)) else {
                continue;
            };
            let value = match (&e.value, share) {
                (Text::Span(..), false) => Text::Owned(e.value.resolve(&other.buf).into()),
                (v, _) => v.clone(),
            };
            entries.push(Entry {
                name: e.name.clone(),
                value,
                offset: e.offset,
            });
        }
        if let Some((_, name, value)) = extra {
            entries.push(Entry {
                name: Name::Known(name),
                value,
                offset: 0,
            });
        }
    }

    /// [`copy_ordered`](Self::copy_ordered) as one [`copy_from`](Self::copy_from) per name.
    fn copy_per_name(
        &mut self,
        other: &Headers,
        names: &[HeaderName],
        extra: Option<(usize, HeaderName, Text)>,
    ) {
        let mut extra = extra;
        for (r, &name) in names.iter().enumerate() {
            if extra.as_ref().is_some_and(|x| r >= x.0)
                && let Some((_, h, value)) = extra.take()
            {
                self.entries_mut().push(Entry {
                    name: Name::Known(h),
                    value,
                    offset: 0,
                });
            }
            self.copy_from(other, name);
        }
        if let Some((_, h, value)) = extra {
            self.entries_mut().push(Entry {
                name: Name::Known(h),
                value,
                offset: 0,
            });
        }
    }

    /// Copies the fields named `name` from `other`, sharing its buffer when `self` has none yet
    /// (so a response built from a request copies spans, not text).
    pub(crate) fn copy_from(&mut self, other: &Headers, name: HeaderName) {
        if self.buf.is_empty() {
            self.buf = other.buf.clone();
        }
        let share = self.buf.as_ptr() == other.buf.as_ptr() && self.buf.len() == other.buf.len();
        let entries = self.entries.make_mut();
        for e in other.entries.iter() {
            if matches!(e.name, Name::Known(h) if h == name) {
                let value = match (&e.value, share) {
                    (Text::Span(..), false) => Text::Owned(e.value.resolve(&other.buf).into()),
                    (v, _) => v.clone(),
                };
                entries.push(Entry {
                    name: Name::Known(name),
                    value,
                    offset: e.offset,
                });
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
}
