//! Character classes and a byte cursor for the RFC 3261 §25 grammar.
//!
//! Every typed-header parser is written over [`Cursor`]; on failure it reports the byte offset
//! (local to the scanned text) where the grammar broke.

const TOKEN: u8 = 1;
const WORD: u8 = 2;

/// `token` (RFC 3261 §25.1): alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" /
/// "~". The one definition every byte-class table is built from.
pub(crate) const fn token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
        )
}

/// `word` (RFC 3261 §25.1): a token character or one of `( ) < > : \ " / [ ] ? { }`.
pub(crate) const fn word_byte(b: u8) -> bool {
    token_byte(b)
        || matches!(
            b,
            b'(' | b')'
                | b'<'
                | b'>'
                | b':'
                | b'\\'
                | b'"'
                | b'/'
                | b'['
                | b']'
                | b'?'
                | b'{'
                | b'}'
        )
}

/// Character classes of RFC 3261 §25.1, one bit per class, looked up once per byte.
static CLASSES: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = (token_byte(b) as u8 * TOKEN) | (word_byte(b) as u8 * WORD);
        i += 1;
    }
    t
};

/// `token` characters (RFC 3261 §25.1): alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" /
/// "`" / "'" / "~".
#[inline]
pub(crate) fn is_token(b: u8) -> bool {
    CLASSES[b as usize] & TOKEN != 0
}

/// `word` characters (RFC 3261 §25.1), used by Call-ID.
#[inline]
pub(crate) fn is_word(b: u8) -> bool {
    CLASSES[b as usize] & WORD != 0
}

/// SP or HTAB.
#[inline]
pub(crate) const fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// A position in a text being scanned. Failures are `Err(offset)`, local to the text.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

/// A scan result: the failure carries the local byte offset.
pub(crate) type Scan<T> = Result<T, usize>;

impl<'a> Cursor<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Self { s, pos: 0 }
    }

    #[inline]
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    #[inline]
    pub(crate) fn fail<T>(&self) -> Scan<T> {
        Err(self.pos)
    }

    #[inline]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.s.len()
    }

    /// The text between two positions.
    pub(crate) fn slice(&self, from: usize, to: usize) -> &'a str {
        self.s.get(from..to).unwrap_or("")
    }

    #[inline]
    pub(crate) fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub(crate) fn expect(&mut self, b: u8) -> Scan<()> {
        if self.eat(b) { Ok(()) } else { self.fail() }
    }

    /// Skips SP / HTAB (folding is already replaced by SP in stored values).
    #[inline]
    pub(crate) fn skip_ws(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(is_ws) {
            self.pos += 1;
        }
        self.pos > start
    }

    /// `SWS x SWS` for a separator byte such as `;`, `=`, `/`, `,` (RFC 3261 §25.1).
    pub(crate) fn eat_sep(&mut self, b: u8) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.eat(b) {
            self.skip_ws();
            true
        } else {
            self.pos = save;
            false
        }
    }

    pub(crate) fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        self.slice(start, self.pos)
    }

    /// A non-empty `token`.
    pub(crate) fn token(&mut self) -> Scan<&'a str> {
        let t = self.take_while(is_token);
        if t.is_empty() { self.fail() } else { Ok(t) }
    }

    /// A `quoted-string` (RFC 3261 §25.1), returned with its quotes, escapes untouched.
    pub(crate) fn quoted(&mut self) -> Scan<&'a str> {
        let start = self.pos;
        self.expect(b'"')?;
        let b = self.s.as_bytes();
        while let Some(&c) = b.get(self.pos) {
            match c {
                b'"' => {
                    self.pos += 1;
                    return Ok(self.slice(start, self.pos));
                }
                // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                b'\\' => match b.get(self.pos + 1) {
                    Some(&n) if n != b'\r' && n != b'\n' && n < 0x80 => self.pos += 2,
                    _ => return Err(self.pos),
                },
                c if c < 0x20 && c != b'\t' || c == 0x7f => return Err(self.pos),
                _ => self.pos += 1,
            }
        }
        Err(start)
    }

    /// Decimal digits as a `u64`, rejecting overflow past `max`.
    pub(crate) fn number(&mut self, max: u64) -> Scan<u64> {
        let start = self.pos;
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(start);
        }
        let mut n: u64 = 0;
        for d in digits.bytes() {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d - b'0')))
                .ok_or(start)?;
            if n > max {
                return Err(start);
            }
        }
        Ok(n)
    }

    /// Succeeds only at the end of the text (after optional trailing whitespace).
    pub(crate) fn end(&mut self) -> Scan<()> {
        self.skip_ws();
        if self.is_empty() { Ok(()) } else { self.fail() }
    }
}

/// Strips the quotes of a quoted-string and resolves its `\` escapes.
pub fn unquote(s: &str) -> std::borrow::Cow<'_, str> {
    let Some(inner) = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return s.into();
    };
    if !inner.contains('\\') {
        return inner.into();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// Validates `%HH` escapes and that every other byte satisfies `ok` (RFC 3261 §25.1 `escaped`).
pub(crate) fn check_escaped(s: &str, ok: impl Fn(u8) -> bool) -> Scan<()> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return Err(i);
            }
            i += 3;
        } else if ok(b[i]) {
            i += 1;
        } else {
            return Err(i);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_strings() {
        let mut c = Cursor::new(r#""a \"b\" c" rest"#);
        assert_eq!(c.quoted(), Ok(r#""a \"b\" c""#));
        assert_eq!(unquote(r#""a \"b\" c""#), r#"a "b" c"#);
        assert!(Cursor::new("\"unterminated").quoted().is_err());
    }

    #[test]
    fn numbers_reject_overflow() {
        assert_eq!(
            Cursor::new("4294967295").number(u32::MAX.into()),
            Ok(4294967295)
        );
        assert!(Cursor::new("4294967296").number(u32::MAX.into()).is_err());
        assert!(
            Cursor::new("99999999999999999999999999")
                .number(u64::MAX)
                .is_err()
        );
    }
}
