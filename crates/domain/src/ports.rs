//! The ports: what the services need from the stores, as traits. Each has an
//! embedded adapter (no infrastructure) and a production adapter, and each
//! adapter must pass the matching test in [`crate::contract`].

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::book::{StockChangeError, StockLevel};
use crate::ids::{IdempotencyKey, OrderId, SaleId, UserId};
use crate::purchase::{Decision, Order, PurchaseRejection, Reservation, ReserveOutcome, ReserveRequest};
use crate::sale::{Sale, SaleState, SaleTerms, Transition, TransitionError};

/// A store could not do what was asked; the caller may retry later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{store} unavailable: {reason}")]
pub struct StoreError {
    pub store: &'static str,
    pub reason: String,
}

impl StoreError {
    pub fn new(store: &'static str, reason: impl ToString) -> Self {
        Self {
            store,
            reason: reason.to_string(),
        }
    }
}

/// Why a reservation was not made. Nothing changed in any case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReserveError {
    #[error(transparent)]
    Rejected(#[from] PurchaseRejection),
    #[error("no such sale")]
    SaleNotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an operator's change to a sale was refused. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StockOpError {
    #[error("no such sale")]
    SaleNotFound,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    Change(#[from] StockChangeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why the queue did not take reservations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueError {
    /// The queue is at its bound: shed load rather than let latency grow.
    #[error("the order queue is full")]
    Full,
    #[error("the order queue is unavailable: {0}")]
    Unavailable(String),
}

/// Products and sale sessions: the source of truth for a sale's terms.
///
/// # Errors
/// Every method returns [`StoreError`] when the store cannot be reached;
/// an adapter MUST NOT report success for a write it did not make durable.
#[async_trait]
pub trait SaleCatalog: Send + Sync + 'static {
    /// Stores a new sale.
    async fn insert(&self, sale: &Sale) -> Result<(), StoreError>;
    /// Overwrites a sale's state and stock (the only fields that change).
    async fn update(&self, sale: &Sale) -> Result<(), StoreError>;
    async fn get(&self, id: SaleId) -> Result<Option<Sale>, StoreError>;
    /// Every sale, oldest first.
    async fn list(&self) -> Result<Vec<Sale>, StoreError>;
}

/// The live stock of every sale, with the buyers' counts and idempotency
/// records: the purchase path.
///
/// # Errors
/// `reserve` MUST check state, quantity, limit, stock and idempotency key and
/// take the units in one atomic step: two concurrent calls never both see the
/// last unit, and a refusal changes nothing.
#[async_trait]
pub trait StockStore: Send + Sync + 'static {
    /// Makes a sale's terms known, or replaces them (state, limit, window,
    /// stock). Units already sold stay sold.
    async fn load(&self, terms: SaleTerms) -> Result<(), StoreError>;
    /// Atomically checks and takes units; see the trait's docs.
    async fn reserve(&self, request: ReserveRequest) -> Result<ReserveOutcome, ReserveError>;
    /// Returns the units of a reservation that will never become an order.
    /// A reservation already released or settled is left alone.
    async fn release(&self, reservation: &Reservation) -> Result<(), StoreError>;
    /// Records that these reservations of `sale` were committed to the order
    /// store; ids not in flight are ignored.
    async fn settle(&self, sale: SaleId, orders: &[OrderId]) -> Result<(), StoreError>;
    /// Applies an operator's command, atomically with purchases: once it
    /// returns `Paused` or `Ended`, no reservation of this sale succeeds.
    async fn transition(
        &self,
        sale: SaleId,
        t: Transition,
        now: DateTime<Utc>,
    ) -> Result<SaleState, StockOpError>;
    /// Adds or withdraws units, atomically with purchases.
    async fn adjust(&self, sale: SaleId, delta: i64, now: DateTime<Utc>) -> Result<StockLevel, StockOpError>;
    /// The sale's live counters, read in one consistent step.
    async fn level(&self, sale: SaleId) -> Result<Option<StockLevel>, StoreError>;
    /// The first answer kept for `user`'s idempotency `key` on `sale`, if
    /// any: one cheap look-up, for a keyed retry on a sale this replica
    /// knows is sold out.
    async fn first_answer(
        &self,
        sale: SaleId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<Reservation>, StoreError>;
}

/// Carries reservations to the order store.
///
/// # Errors
/// `publish` returns `Ok` only once the queue holds the reservations durably
/// (for the embedded queue: once they are committed as orders); after an
/// error the caller must assume nothing was taken.
#[async_trait]
pub trait OrderQueue: Send + Sync + 'static {
    async fn publish(&self, reservations: Vec<Reservation>) -> Result<(), QueueError>;
    /// Reservations taken but not yet stored.
    fn depth(&self) -> u64;
}

/// Per-sale totals of the order store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderTotals {
    pub orders: u64,
    pub units: u64,
}

/// The order ledger: every order exactly once, and the one place that
/// decides, once per order id, between "order" and "void".
///
/// # Errors
/// `insert_batch` MUST be all or nothing and MUST ignore an order id the
/// ledger already decided (stored, or voided), so a redelivered batch is a
/// no-op and a copy that arrives after a void is refused. `void` and
/// `insert_batch` on the same id MUST be arbitrated by the store itself (a
/// primary key, a unique constraint): whichever reaches it first wins, and
/// a timeout of either says nothing about which. `reservations_of` and
/// `totals` count orders only, never void ones.
#[async_trait]
pub trait OrderStore: Send + Sync + 'static {
    /// Stores orders for the reservations; returns how many were new.
    async fn insert_batch(&self, reservations: &[Reservation]) -> Result<u64, StoreError>;
    /// Voids the reservation unless the ledger already decided it; returns
    /// the decision that holds (the first one taken).
    async fn void(&self, reservation: &Reservation, reason: &str) -> Result<Decision, StoreError>;
    /// The decisions taken for `ids`; an id not decided yet is absent.
    async fn decisions(&self, ids: &[OrderId]) -> Result<HashMap<OrderId, Decision>, StoreError>;
    /// The order (`confirmed`, or `void` with its reason).
    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError>;
    /// Every stored reservation of a sale: enough to rebuild its stock book.
    async fn reservations_of(&self, sale: SaleId) -> Result<Vec<Reservation>, StoreError>;
    /// Orders and units stored, per sale.
    async fn totals(&self) -> Result<HashMap<SaleId, OrderTotals>, StoreError>;
}
