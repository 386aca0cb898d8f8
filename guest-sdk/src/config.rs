//! Parsing a strategy's config string: `key=value` pairs separated by
//! commas, for example `epochs=10,lr=3e-4`.
//!
//! The evaluator passes the string as is; an empty string means "all
//! defaults". A strategy takes the keys it knows with [`Config::take`] or
//! [`Config::take_or`] and then calls [`Config::finish`], which refuses any
//! key left over: a typo never silently falls back to a default.

use std::fmt;
use std::str::FromStr;

/// Why a config string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// A non-empty segment without `=`, or with an empty key.
    Malformed {
        /// The offending segment.
        segment: String,
    },
    /// The same key given twice.
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// A value that does not parse as the key's type.
    InvalidValue {
        /// The key.
        key: String,
        /// The value as given.
        value: String,
        /// The parser's explanation.
        reason: String,
    },
    /// Keys the strategy does not know.
    UnknownKeys {
        /// The unknown keys, in the order given.
        keys: Vec<String>,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { segment } => {
                write!(f, "config entry {segment:?} is not key=value")
            }
            Self::DuplicateKey { key } => write!(f, "config key {key:?} given twice"),
            Self::InvalidValue { key, value, reason } => {
                write!(f, "config key {key:?}: invalid value {value:?}: {reason}")
            }
            Self::UnknownKeys { keys } => write!(f, "unknown config keys: {}", keys.join(", ")),
        }
    }
}

impl std::error::Error for ConfigError {}

/// A parsed config string: the entries not yet taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Config {
    entries: Vec<(String, String)>,
}

impl Config {
    /// Parses `key=value,key=value`. Whitespace around keys and values is
    /// ignored, and so are empty segments (an empty string, a trailing
    /// comma). Values may contain `=` (only the first one splits).
    pub fn parse(config: &str) -> Result<Self, ConfigError> {
        let mut entries: Vec<(String, String)> = Vec::new();
        for segment in config.split(',') {
            if segment.trim().is_empty() {
                continue;
            }
            let Some((key, value)) = segment.split_once('=') else {
                return Err(ConfigError::Malformed {
                    segment: segment.trim().to_owned(),
                });
            };
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() {
                return Err(ConfigError::Malformed {
                    segment: segment.trim().to_owned(),
                });
            }
            if entries.iter().any(|(k, _)| k == key) {
                return Err(ConfigError::DuplicateKey {
                    key: key.to_owned(),
                });
            }
            entries.push((key.to_owned(), value.to_owned()));
        }
        Ok(Self { entries })
    }

    /// Removes `key` and parses its value; `None` when it was not given.
    pub fn take<T>(&mut self, key: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        let Some(pos) = self.entries.iter().position(|(k, _)| k == key) else {
            return Ok(None);
        };
        let (key, value) = self.entries.remove(pos);
        match value.parse() {
            Ok(parsed) => Ok(Some(parsed)),
            Err(e) => Err(ConfigError::InvalidValue {
                key,
                value,
                reason: e.to_string(),
            }),
        }
    }

    /// Like [`Config::take`], with `default` when the key was not given.
    pub fn take_or<T>(&mut self, key: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        Ok(self.take(key)?.unwrap_or(default))
    }

    /// Whether no entries are left.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries not yet taken, in the order given.
    pub fn remaining(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Succeeds when every entry was taken; otherwise names the unknown
    /// keys.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.entries.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::UnknownKeys {
                keys: self.entries.into_iter().map(|(k, _)| k).collect(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_string_means_defaults() {
        let mut c = Config::parse("").unwrap();
        assert_eq!(c.take_or("epochs", 20u32).unwrap(), 20);
        c.finish().unwrap();
    }

    #[test]
    fn typed_values() {
        let mut c = Config::parse(" epochs = 3, lr=1e-4 ,").unwrap();
        assert_eq!(c.take_or("epochs", 20u32).unwrap(), 3);
        assert_eq!(c.take_or("lr", 1e-3f32).unwrap(), 1e-4);
        c.finish().unwrap();
    }

    #[test]
    fn unknown_keys_are_refused() {
        let mut c = Config::parse("epochs=3,lr=0.1,momentum=0.9").unwrap();
        c.take::<u32>("epochs").unwrap();
        let err = c.finish().unwrap_err();
        assert_eq!(err.to_string(), "unknown config keys: lr, momentum");
    }

    #[test]
    fn malformed_and_invalid_entries() {
        assert!(matches!(
            Config::parse("epochs").unwrap_err(),
            ConfigError::Malformed { .. }
        ));
        assert!(matches!(
            Config::parse("=3").unwrap_err(),
            ConfigError::Malformed { .. }
        ));
        assert!(matches!(
            Config::parse("a=1,a=2").unwrap_err(),
            ConfigError::DuplicateKey { .. }
        ));
        let mut c = Config::parse("epochs=-1").unwrap();
        let err = c.take::<u32>("epochs").unwrap_err();
        assert!(matches!(err, ConfigError::InvalidValue { .. }), "{err}");
    }
}
