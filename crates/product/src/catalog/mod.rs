//! Sale catalog adapters.

pub mod sqlite;
