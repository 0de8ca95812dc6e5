//! The ports: what the services need from the stores and from the
//! components around them, as traits. Each has an embedded adapter
//! (`crates/embedded`) and a real one (`crates/stack`), and each adapter
//! must pass the matching test in `contract` (feature `contract`).
//!
//! - [`catalog`]: `SaleCatalog`, `ChangeLock`, `CacheRebuild`, `UnitsBack` (the product service).
//! - [`stock`]: `StockStore` (the inventory service).
//! - [`draw`]: `DrawStore`, a fair start's draw (the inventory service).
//! - [`orders`]: `OrderQueue`, `OrderStore`, `PendingOrders` (the order service).
//! - [`shop`]: `ShopOutbox`, the events the ledger tells the shop (the order service).
//! - [`health`]: `HealthProbe` (every process's `/api/health`).
//! - [`errors`]: how a call fails.

pub mod catalog;
#[cfg(feature = "contract")]
pub mod contract;
pub mod draw;
pub mod errors;
pub mod health;
pub mod orders;
pub mod shop;
pub mod stock;

pub use catalog::{CacheRebuild, ChangeGuard, ChangeLock, SaleCatalog, UnitsBack};
pub use draw::{DrawAnswer, DrawEntry, DrawPhase, DrawStatus, DrawStore, Entered};
pub use errors::{QueueError, ReserveError, StockOpError, StoreError};
pub use health::{ComponentHealth, HealthProbe, HealthStatus};
pub use orders::{OrderQueue, OrderStore, OrderTotals, PendingOrders};
pub use shop::{OutboxBacklog, ShopEvent, ShopEventBody, ShopOutbox};
pub use stock::StockStore;
