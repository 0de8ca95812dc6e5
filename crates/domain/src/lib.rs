//! The FlashSale domain, with no I/O and no runtime.
//!
//! # Layout
//! - [`ids`]: `SaleId`, `OrderId`, `UserId`, `IdempotencyKey`, parsed once at the edge.
//! - [`sale`]: a sale's terms and its state machine (`scheduled → active ⇄ paused → ended`).
//! - [`purchase`]: `Quantity`, the reserve request, the reservation and the order.
//! - [`book`]: `SaleBook`, the purchase decision and the stock ledger of one sale.
//! - [`draw`]: the order a fair start's draw serves its entrants in.
//! - [`events`]: the operator's event log entries and the sink services emit them to.
//! - [`ports`]: the traits the services need from the stores, one module per
//!   service, and (feature `contract`) the tests every adapter must pass.

pub mod book;
pub mod draw;
pub mod events;
pub mod ids;
pub mod ports;
pub mod purchase;
pub mod sale;

pub use book::{SaleBook, StockChangeError, StockLevel};
pub use draw::{draw_order, DrawSeed, DrawSeedError};
pub use events::{Event, EventKind, EventSink, NoEvents, Severity};
pub use ids::{IdError, IdempotencyKey, OrderId, SaleId, UserId};
#[cfg(feature = "contract")]
pub use ports::contract;
pub use ports::{
    CacheRebuild, ChangeGuard, ChangeLock, ComponentHealth, HealthProbe, HealthStatus, OrderQueue,
    OrderStore, OrderTotals, OutboxBacklog, PendingOrders, QueueError, ReserveError, SaleCatalog, ShopEvent,
    ShopEventBody, ShopOutbox, StockOpError, StockStore, StoreError, UnitsBack,
};
pub use purchase::{
    Decision, LedgerSnapshot, Order, OrderChange, OrderStatus, PurchaseRejection, Quantity, QuantityError,
    Reservation, ReserveOutcome, ReserveRequest,
};
pub use sale::{
    effective_state, status_of, Archived, DraftError, Sale, SaleDraft, SaleState, SaleStatus, SaleTerms,
    Transition, TransitionError,
};
