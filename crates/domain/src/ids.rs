//! Identifiers parsed at the edge: once a value has one of these types it is
//! known to be well formed, so no layer below the HTTP handlers checks again.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Why a raw identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("not a valid UUID")]
    NotUuid,
    #[error("user id must be 1 to {max} visible characters", max = UserId::MAX_LEN)]
    BadUserId,
    #[error("idempotency key must be 1 to {max} visible ASCII characters", max = IdempotencyKey::MAX_LEN)]
    BadIdempotencyKey,
}

/// A sale session. A UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SaleId(Uuid);

impl SaleId {
    /// A fresh, time-ordered id.
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    /// Parses the textual form; anything else (including a path-traversal
    /// attempt) is refused.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        Uuid::try_parse(raw).map(Self).map_err(|_| IdError::NotUuid)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl fmt::Display for SaleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for SaleId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// One reservation, and later the order it becomes. A UUIDv7 generated when
/// the units are reserved: it is the deduplication key all the way to the
/// order store, so a redelivered reservation can never make a second order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(Uuid);

impl OrderId {
    pub fn generate() -> Self {
        Self(Uuid::now_v7())
    }

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        Uuid::try_parse(raw).map(Self).map_err(|_| IdError::NotUuid)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    pub fn from_uuid(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What a text id (a `Box<str>` checked by its `parse`) shares: reading it
/// back, and the serde conversions that run `parse` on the way in.
macro_rules! text_id {
    ($name:ident) => {
        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0.into()
            }
        }
    };
}

/// A buyer, as named by the `sub` claim of a verified JWT.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserId(Box<str>);

impl UserId {
    pub const MAX_LEN: usize = 128;

    /// Accepts 1 to [`Self::MAX_LEN`] characters with no control characters
    /// and no surrounding whitespace.
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok = !raw.is_empty()
            && raw.chars().count() <= Self::MAX_LEN
            && raw.trim() == raw
            && !raw.chars().any(char::is_control);
        if ok {
            Ok(Self(raw.into()))
        } else {
            Err(IdError::BadUserId)
        }
    }
}

text_id!(UserId);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The client's `Idempotency-Key`: a retried request with the same key, from
/// the same buyer, gets the first answer again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdempotencyKey(Box<str>);

impl IdempotencyKey {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let ok = !raw.is_empty() && raw.len() <= Self::MAX_LEN && raw.bytes().all(|b| b.is_ascii_graphic());
        if ok {
            Ok(Self(raw.into()))
        } else {
            Err(IdError::BadIdempotencyKey)
        }
    }
}

text_id!(IdempotencyKey);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sale_id_refuses_anything_but_a_uuid() {
        for raw in ["", "1", "../etc/passwd", "0190b3c2-0000-7000-8000-00000000000g"] {
            assert_eq!(SaleId::parse(raw), Err(IdError::NotUuid), "{raw:?}");
        }
        let id = SaleId::generate();
        assert_eq!(SaleId::parse(&id.to_string()), Ok(id));
    }

    #[test]
    fn user_id_refuses_blank_control_and_oversized() {
        for raw in ["", " alice", "alice ", "a\u{0}b", "a\nb"] {
            assert!(UserId::parse(raw).is_err(), "{raw:?}");
        }
        assert!(UserId::parse(&"x".repeat(129)).is_err());
        assert!(UserId::parse(&"é".repeat(128)).is_ok());
        assert_eq!(UserId::parse("buyer-1").unwrap().as_str(), "buyer-1");
    }

    #[test]
    fn idempotency_key_is_visible_ascii() {
        assert!(IdempotencyKey::parse("retry-7f3a").is_ok());
        for raw in ["", "has space", "é", &"k".repeat(129)] {
            assert!(IdempotencyKey::parse(raw).is_err(), "{raw:?}");
        }
    }
}
