//! The inventory service's port: the live stock, where the purchase is decided.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ReserveError, StockOpError, StoreError};
use crate::book::StockLevel;
use crate::ids::{IdempotencyKey, OrderId, SaleId, UserId};
use crate::purchase::{Order, Reservation, ReserveOutcome, ReserveRequest};
use crate::sale::{SaleState, SaleTerms, Transition};

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
    /// Puts the units of a stored order that expired or was cancelled back
    /// on sale (see [`crate::SaleBook::give_back`]); returns how many. MUST
    /// be once per order id, across replicas and retries: a second call
    /// returns 0 and changes nothing, and so does one for an order whose
    /// give-back a rebuild read from the ledger. Only after the ledger
    /// decided the order expired or cancelled.
    async fn give_back(&self, order: &Order) -> Result<u64, StoreError>;
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
    /// The terms the store holds for `sale` (its state as set, not as the
    /// clock makes it), if it knows the sale.
    async fn terms(&self, sale: SaleId) -> Result<Option<SaleTerms>, StoreError>;
    /// Removes an ended sale's live state (counters, buyers' counts,
    /// idempotency records, outbox) in one atomic step, but only once nothing
    /// of it is in flight nor waiting to be relayed; returns its last
    /// counters when it did. `None`: the sale is not ended, still has work
    /// in the pipeline, or is unknown; nothing changed.
    async fn forget(&self, sale: SaleId) -> Result<Option<StockLevel>, StoreError>;
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
