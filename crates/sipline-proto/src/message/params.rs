//! `;name=value` parameter lists (RFC 3261 §25.1 `generic-param`, `uri-parameter`).

use crate::parse::scan::{Cursor, Scan, is_token};

/// A view of a parameter list, as found after a URI or a header value. The text starts at the
/// first `;` (or is empty). Names compare case-insensitively (RFC 3261 §7.3.1, §19.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params<'a> {
    raw: &'a str,
}

impl<'a> Params<'a> {
    pub(crate) fn new(raw: &'a str) -> Self {
        Self { raw }
    }

    /// The raw text, starting with `;` unless empty.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Whether there is no parameter.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// Each parameter as `(name, value)`; the value is `None` for a flag such as `;lr`, and is
    /// given as written (a quoted-string keeps its quotes: see [`crate::parse::unquote`]).
    pub fn iter(&self) -> ParamsIter<'a> {
        ParamsIter { rest: self.raw }
    }

    /// Looks a parameter up: `None` if absent, `Some(None)` for a flag, `Some(Some(v))` else.
    pub fn get(&self, name: &str) -> Option<Option<&'a str>> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The value of a parameter, quotes stripped (not unescaped); `None` if absent or a flag.
    pub fn value(&self, name: &str) -> Option<&'a str> {
        self.get(name).flatten().map(|v| {
            v.strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v)
        })
    }

    /// Whether a parameter is present, with or without a value.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Iterator over a [`Params`] list.
#[derive(Debug, Clone)]
pub struct ParamsIter<'a> {
    rest: &'a str,
}

fn trim_ws(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

impl<'a> Iterator for ParamsIter<'a> {
    type Item = (&'a str, Option<&'a str>);

    fn next(&mut self) -> Option<Self::Item> {
        // One byte loop per parameter: parameters are short, so a plain scan beats setting up
        // several SIMD searches.
        loop {
            let b = self.rest.as_bytes();
            let start = b.iter().position(|&c| c == b';')? + 1;
            // The end is the next ';' outside a quoted string; note the first '='.
            let mut eq = None;
            let mut in_quote = false;
            let mut i = start;
            while i < b.len() {
                match b[i] {
                    b'\\' if in_quote => i += 1,
                    b'"' => in_quote = !in_quote,
                    b';' if !in_quote => break,
                    b'=' if eq.is_none() && !in_quote => eq = Some(i),
                    _ => {}
                }
                i += 1;
            }
            let end = i.min(b.len());
            let (name, value) = match eq {
                Some(e) => (
                    trim_ws(self.rest.get(start..e)?),
                    Some(trim_ws(self.rest.get(e + 1..end)?)),
                ),
                None => (trim_ws(self.rest.get(start..end)?), None),
            };
            self.rest = self.rest.get(end..)?;
            if !name.is_empty() {
                return Some((name, value));
            }
        }
    }
}

/// Scans `*( SEMI generic-param )` (RFC 3261 §25.1) from the cursor; returns the raw text.
/// gen-value = token / host / quoted-string.
pub(crate) fn scan_generic_params<'a>(c: &mut Cursor<'a>) -> Scan<Params<'a>> {
    scan_params_with(c, |_, _| Ok(()))
}

/// Scans `*( SEMI generic-param )`, calling `each(name, value)` on every parameter as it is
/// read (one pass for typed headers that check or keep some parameters).
pub(crate) fn scan_params_with<'a>(
    c: &mut Cursor<'a>,
    mut each: impl FnMut(&'a str, Option<&'a str>) -> Scan<()>,
) -> Scan<Params<'a>> {
    let start = c.pos();
    while c.eat_sep(b';') {
        let at = c.pos();
        let name = c.token()?;
        let value = if c.eat_sep(b'=') {
            Some(gen_value(c)?)
        } else {
            None
        };
        each(name, value).map_err(|_| at)?;
    }
    Ok(Params::new(c.slice(start, c.pos())))
}

/// `gen-value = token / host / quoted-string` (RFC 3261 §25.1).
fn gen_value<'a>(c: &mut Cursor<'a>) -> Scan<&'a str> {
    let start = c.pos();
    match c.peek() {
        Some(b'"') => {
            c.quoted()?;
        }
        Some(b'[') => {
            let v = c.take_while(|b| b != b']' && b != b';' && b != b',' && b != b' ');
            c.expect(b']')?;
            if !super::uri::valid_ipv6(&v[1..]) {
                return c.fail();
            }
        }
        _ => {
            // token covers hostnames and IPv4; IPv6 without brackets (received=, RFC 5118
            // §4.5) needs ':' too.
            if c.take_while(|b| is_token(b) || b == b':').is_empty() {
                return c.fail();
            }
        }
    }
    Ok(c.slice(start, c.pos()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iterate_and_lookup() {
        let p = Params::new(";tag=abc ; lr;Q=0.5;text=\"a;b\"");
        let all: Vec<_> = p.iter().collect();
        assert_eq!(
            all,
            [
                ("tag", Some("abc")),
                ("lr", None),
                ("Q", Some("0.5")),
                ("text", Some("\"a;b\""))
            ]
        );
        assert_eq!(p.get("q"), Some(Some("0.5")));
        assert_eq!(p.get("lr"), Some(None));
        assert_eq!(p.value("text"), Some("a;b"));
        assert_eq!(p.get("x"), None);
    }
}
