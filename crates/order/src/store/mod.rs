//! Order ledger adapters.

pub mod sqlite;
