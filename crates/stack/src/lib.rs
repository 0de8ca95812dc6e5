//! The real stack: the domain's ports on Redis, RabbitMQ and PostgreSQL,
//! for any number of replicas of each service.
//!
//! # Layout
//! - [`redis`]: [`RedisStock`], the stock store: one Lua script per atomic
//!   step, the outbox stream written by the same script as the
//!   reservation, and the pub/sub channel that clears sold-out flags.
//! - [`postgres`]: migrations, [`PgCatalog`] (sales, with an audit log) and
//!   [`PgOrderStore`] (the order ledger, idempotent batches).
//!
//! # The path of one purchase
//! `RedisStock::reserve` takes the units and appends the reservation to the
//! sale's outbox stream in one script, so the 202 is as durable as Redis's
//! AOF.

pub mod postgres;
pub mod redis;

pub use crate::postgres::{PgCatalog, PgOrderStore};
pub use crate::redis::RedisStock;
