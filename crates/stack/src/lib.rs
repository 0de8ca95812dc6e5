//! The real stack: the domain's ports on Redis, RabbitMQ and PostgreSQL,
//! for any number of replicas of each service.
//!
//! # Layout
//! - [`redis`]: [`RedisStock`], the stock store: one Lua script per atomic
//!   step, the outbox stream written by the same script as the
//!   reservation, and the pub/sub channel that clears sold-out flags.
//! - [`postgres`]: migrations, [`PgCatalog`] (sales, with an audit log),
//!   [`PgOrderStore`] (the order ledger, idempotent batches, and the one
//!   place that decides "order" or "void" per order id) and
//!   [`PgChangeLock`] (product changes serialised across processes).
//! - [`rabbitmq`]: the order queue: [`AmqpPublisher`] (confirmed publishes),
//!   the outbox [`Relay`] and the [`OrderConsumer`] that fills the ledger.
//! - [`sweeper`]: [`Sweeper`], which settles or releases what a failure
//!   left in flight as the ledger decided, reports what it has not decided
//!   (never releasing on silence), and rebuilds a sale Redis rolled back.
//! - [`cache`]: [`StackCacheRebuild`], the admin cache flush: Redis rebuilt
//!   from PostgreSQL while buyers buy.
//! - [`probes`]: the health of each store, of the relay, the consumer and
//!   the sweeper, and of each service.
//!
//! # The path of one purchase
//! `RedisStock::reserve` takes the units and appends the reservation to the
//! sale's outbox stream in one script, so the 202 is as durable as Redis's
//! AOF. A [`Relay`] publishes the outbox to RabbitMQ and deletes entries
//! only once the broker confirmed them; an [`OrderConsumer`] stores batches
//! in PostgreSQL, acks after the commit, then settles them in Redis. Every
//! hop is at least once and idempotent on the order id.

pub mod cache;
pub mod metrics;
pub mod postgres;
pub mod probes;
pub mod rabbitmq;
pub mod redis;
pub mod sweeper;

pub use crate::cache::StackCacheRebuild;
pub use crate::metrics::PipelineMetrics;
pub use crate::postgres::{PgCatalog, PgChangeLock, PgOrderStore};
pub use crate::rabbitmq::{AmqpPublisher, OrderConsumer, Relay, Topology};
pub use crate::redis::{RedisPending, RedisStock};
pub use crate::sweeper::{Recovery, Sweeper, SweeperConfig};
