//! The users file: who may register, and with which password (RFC 3261 §22.1 digest
//! credentials, checked by the registrar, §10.3 step 3).
//!
//! Format: one `user:password` per line; blank lines and lines starting with `#` are
//! ignored; the password is everything after the first `:` (it may hold `:`). A user
//! name is a SIP URI user part without `:` or whitespace.

use std::collections::HashMap;
use std::path::Path;

/// The most users a file may list (a limit on what is read into memory).
pub const MAX_USERS: usize = 100_000;

/// Why a users file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UsersError {
    /// The file could not be read.
    #[error("cannot read the users file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A line is not `user:password`.
    #[error("users file line {line}: expected `user:password`")]
    Syntax {
        /// The 1-based line number.
        line: usize,
    },
    /// A user is listed twice.
    #[error("users file line {line}: user {user:?} is listed twice")]
    Duplicate {
        /// The 1-based line number.
        line: usize,
        /// The user.
        user: String,
    },
    /// More than [`MAX_USERS`] users.
    #[error("the users file lists more than {MAX_USERS} users")]
    TooMany,
}

/// The users allowed to register and their passwords.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Users {
    map: HashMap<String, String>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print passwords.
        f.debug_struct("Users")
            .field("count", &self.map.len())
            .finish_non_exhaustive()
    }
}

impl Users {
    /// Parses the users file format (see the module documentation).
    pub fn parse(text: &str) -> Result<Users, UsersError> {
        let mut map = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, password) = line
                .split_once(':')
                .ok_or(UsersError::Syntax { line: i + 1 })?;
            let user = user.trim();
            if user.is_empty() || user.contains(char::is_whitespace) {
                return Err(UsersError::Syntax { line: i + 1 });
            }
            if map.len() >= MAX_USERS {
                return Err(UsersError::TooMany);
            }
            if map.insert(user.to_owned(), password.to_owned()).is_some() {
                return Err(UsersError::Duplicate {
                    line: i + 1,
                    user: user.to_owned(),
                });
            }
        }
        Ok(Users { map })
    }

    /// Reads and parses a users file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Users, UsersError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Users::parse(&text)
    }

    /// Adds or replaces a user.
    pub fn insert(&mut self, user: impl Into<String>, password: impl Into<String>) {
        self.map.insert(user.into(), password.into());
    }

    /// The password of `user`.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.map.get(user).map(String::as_str)
    }

    /// Whether `user` is listed.
    pub fn contains(&self, user: &str) -> bool {
        self.map.contains_key(user)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no user is listed.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_users_comments_and_colons_in_passwords() {
        let u = Users::parse("# team\nalice:secret\n\n  bob : a:b:c\n").unwrap();
        assert_eq!(u.len(), 2);
        assert_eq!(u.password("alice"), Some("secret"));
        assert_eq!(u.password("bob"), Some(" a:b:c"));
        assert!(!u.contains("carol"));
        assert!(!format!("{u:?}").contains("secret"));
    }

    #[test]
    fn refuses_bad_lines_and_duplicates() {
        assert!(matches!(
            Users::parse("alice\n"),
            Err(UsersError::Syntax { line: 1 })
        ));
        assert!(matches!(
            Users::parse("ok:1\n:pw\n"),
            Err(UsersError::Syntax { line: 2 })
        ));
        assert!(matches!(
            Users::parse("a:1\na:2"),
            Err(UsersError::Duplicate { line: 2, .. })
        ));
    }
}
