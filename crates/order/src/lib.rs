//! The order service: every reservation becomes exactly one order.
//!
//! # Layout
//! - [`store::sqlite`]: the embedded order ledger, an [`OrderStore`] on the
//!   SQLite file; inserts ignore an order id already stored.
//! - [`queue::embedded`]: the embedded [`OrderQueue`]: a bounded in-process
//!   queue drained by one writer thread that commits whole batches (group
//!   commit) and only then answers each publisher.
//! - [`service`]: order status for buyers.
//!
//! [`OrderStore`]: flashsale_domain::OrderStore
//! [`OrderQueue`]: flashsale_domain::OrderQueue

pub mod queue;
pub mod service;
pub mod store;

pub use queue::embedded::{EmbeddedQueue, QueueConfig};
pub use service::{OrderLookupError, OrderService, OrderVoidError, PendingOrders};
pub use store::sqlite::SqliteOrderStore;
