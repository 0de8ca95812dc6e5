//! The `flashsale` binary's library: settings, secrets and the assembly of
//! the engine, so that tests start the very engine the binary runs, on
//! port 0.
//!
//! # Layout
//! - [`settings`]: what `flashsale up` is configured by (flags and `FLASHSALE_*`).
//! - [`secrets`]: the admin token and JWT secret, generated and kept in the
//!   data folder when not given.
//! - [`engine`]: the started engine, whichever the stores; serving and
//!   graceful shutdown.
//! - [`embedded`]: the embedded assembly (memory stock, SQLite, one process).
//! - [`stack`]: the real-stack assembly (Redis, RabbitMQ, PostgreSQL).
//! - [`services`]: one service per process (`flashsale gateway|product|inventory|order`).
//! - [`token`]: `flashsale token`, minting buyer JWTs.

pub mod embedded;
pub mod engine;
pub mod secrets;
pub mod services;
pub mod settings;
pub mod stack;
pub mod token;

pub use engine::{Engine, StartError};
pub use settings::Settings;
