//! The embedded adapters: every port on memory and one SQLite file, so the
//! engine runs with no infrastructure (`flashsale up` without store URLs).
//! The real ones, on Redis, RabbitMQ and PostgreSQL, are `flashsale-stack`.
//!
//! # Layout
//! - [`database`]: the data folder's one SQLite file: its lock, opening it
//!   safely (WAL, `synchronous = FULL`), migrations.
//! - [`stock`]: [`MemoryStock`], the `StockStore`: one `SaleBook` per sale, each
//!   behind its own lock.
//! - [`catalog`]: [`SqliteCatalog`], the `SaleCatalog`.
//! - [`orders`]: [`SqliteOrderStore`], the `OrderStore` (the ledger).
//! - [`queue`]: [`EmbeddedQueue`], the `OrderQueue`: a bounded in-process
//!   queue drained by one writer thread that commits whole batches (group
//!   commit) and only then answers each publisher.
//! - [`draw`]: [`SqliteDraws`], the `DrawStore` of a fair start.
//! - [`cache`]: the stock rebuilt from the file, at start-up and on a flush.
//! - [`probes`]: the health of each component.

pub mod cache;
pub mod catalog;
pub mod database;
pub mod draw;
pub mod orders;
pub mod probes;
pub mod queue;
pub mod stock;

pub use cache::{restore, EmbeddedCache, RestoreReport};
pub use catalog::SqliteCatalog;
pub use database::DbError;
pub use draw::SqliteDraws;
pub use orders::SqliteOrderStore;
pub use queue::{EmbeddedQueue, QueueConfig};
pub use stock::MemoryStock;
