//! The Redis side: the live stock of every sale and its outbox.
//!
//! # Layout
//! - [`keys`]: the key names of one sale, all under its hash tag.
//! - [`record`]: the one-string form of a reservation the scripts share.
//! - [`scripts`]: the Lua scripts, each an atomic step of the purchase path.
//! - [`conn`]: one Redis or a Redis Cluster, behind one handle.
//! - `batch`: reservations of one sale sent in batches, one script call each.
//! - [`stock`]: [`RedisStock`], the [`StockStore`](flashsale_domain::StockStore).
//! - `draw`: the [`DrawStore`](flashsale_domain::ports::DrawStore) of `RedisStock`.
//! - [`pending`]: [`RedisPending`], the order service's pending orders.
//! - [`units_back`]: the pub/sub channel that clears sold-out flags everywhere.
//! - `pubsub`: the reconnecting subscription both channels use.
//! - [`persistence`]: what a 202 survives, as Redis is configured.
//! - [`transfers`]: units of a sale moved between slots exactly once (the
//!   buckets of a hot sale).

mod batch;
pub mod buckets;
pub mod conn;
mod draw;
pub mod events;
pub mod keys;
pub mod pending;
pub mod persistence;
mod pubsub;
pub mod record;
pub mod scripts;
pub mod stock;
pub mod transfers;
pub mod units_back;

pub use batch::{
    ReserveBatchStats, ReserveOptions, DEFAULT_BATCH as DEFAULT_RESERVE_BATCH, REPLICAS_ACK_WAIT,
};
pub use conn::{RedisConn, RedisNodes};
pub use events::{subscribe_events, RedisEvents, EVENTS_CHANNEL};
pub use keys::SaleKeys;
pub use pending::RedisPending;
pub use persistence::{Persistence, RedisProfile};
pub use stock::RedisStock;
pub use transfers::{Amount, Place, PlaceLook, Transfers};
pub use units_back::{publish_units_back, subscribe_units_back, UNITS_BACK_CHANNEL};

/// The store name in [`flashsale_domain::StoreError`]s from Redis.
pub(crate) const STORE: &str = "redis";

pub(crate) fn store_error(e: impl ToString) -> flashsale_domain::StoreError {
    flashsale_domain::StoreError::new(STORE, e)
}
