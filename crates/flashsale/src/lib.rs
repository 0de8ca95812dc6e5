//! The `flashsale` binary's library: settings, secrets and the assembly of
//! the engine, so that tests start the very engine the binary runs, on
//! port 0.
//!
//! # Layout
//! - [`settings`]: what `flashsale up` is configured by (flags and `FLASHSALE_*`).
//! - [`secrets`]: the admin token and JWT secret, generated and kept in the
//!   data folder when not given.
//! - [`embedded`]: the embedded engine (memory stock, SQLite, one process).
//! - [`token`]: `flashsale token`, minting buyer JWTs.

pub mod embedded;
pub mod secrets;
pub mod settings;
pub mod token;

pub use embedded::{EmbeddedEngine, StartError};
pub use settings::Settings;
