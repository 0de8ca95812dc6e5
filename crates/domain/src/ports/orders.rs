//! The order service's ports: the queue that carries reservations, the
//! ledger that decides them, and the reservations still pending.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{QueueError, StoreError};
use crate::ids::{IdempotencyKey, OrderId, SaleId, UserId};
use crate::purchase::{Decision, LedgerSnapshot, Order, OrderChange, Reservation};

/// Carries reservations to the order store.
///
/// # Errors
/// `publish` returns `Ok` only once the queue holds the reservations durably
/// (for the embedded queue: once they are committed as orders); after an
/// error the caller must assume nothing was taken.
#[async_trait]
pub trait OrderQueue: Send + Sync + 'static {
    async fn publish(&self, reservations: Vec<Reservation>) -> Result<(), QueueError>;
    /// [`Self::publish`], with each reservation's trace context (a W3C
    /// `traceparent`, "" for none; in the order of `reservations`) for the
    /// consumer to continue the purchase's trace. Queues that cannot carry
    /// them publish without.
    async fn publish_traced(
        &self,
        reservations: Vec<Reservation>,
        traces: Vec<String>,
    ) -> Result<(), QueueError> {
        let _ = traces;
        self.publish(reservations).await
    }
    /// Reservations taken but not yet stored.
    fn depth(&self) -> u64;
}

/// Per-sale totals of the order store. `orders` and `units` count the
/// orders whose units are sold or held (confirmed or paid); of those,
/// `paid_*` are paid. Expired and cancelled orders gave their units back.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderTotals {
    pub orders: u64,
    pub units: u64,
    #[serde(default)]
    pub paid_orders: u64,
    #[serde(default)]
    pub paid_units: u64,
    #[serde(default)]
    pub expired_orders: u64,
    #[serde(default)]
    pub cancelled_orders: u64,
}

impl OrderTotals {
    /// Whether nothing was ever stored for the sale.
    pub fn is_empty(&self) -> bool {
        self.orders + self.expired_orders + self.cancelled_orders == 0
    }
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
///
/// Checkout: `pay`, `cancel` and `expire_due` each change an order only from
/// `confirmed` with a payment due, in one conditional write of its row, so
/// of a payment and an expiry (or a cancel) racing on one order exactly one
/// wins, with any number of order services. The ledger's own clock decides
/// whether `payment_due_at` has passed. An expired or cancelled order waits
/// in `units_to_give_back` until `mark_given_back`: the units go back on
/// sale after the ledger's decision, and again after a crash in between
/// (the stock store's give-back is once per order).
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
    /// What the ledger holds of a sale: enough to rebuild its stock book.
    async fn reservations_of(&self, sale: SaleId) -> Result<LedgerSnapshot, StoreError>;
    /// Orders and units stored for each of `sales` (a sale with none is
    /// absent).
    async fn totals(&self, sales: &[SaleId]) -> Result<HashMap<SaleId, OrderTotals>, StoreError>;
    /// The order `user` made on `sale` with idempotency `key`, if the ledger
    /// stored one: a keyed retry's first answer once the sale's live records
    /// are gone (archived).
    async fn first_answer(
        &self,
        sale: SaleId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<Reservation>, StoreError>;
    /// Pays the order if it awaits payment and its payment is not overdue;
    /// `None`: no such order.
    async fn pay(&self, id: OrderId) -> Result<Option<OrderChange>, StoreError>;
    /// Cancels the order if it awaits payment and its payment is not
    /// overdue; `None`: no such order.
    async fn cancel(&self, id: OrderId) -> Result<Option<OrderChange>, StoreError>;
    /// Expires up to `limit` orders whose payment is overdue; returns them.
    async fn expire_due(&self, limit: usize) -> Result<Vec<Order>, StoreError>;
    /// Up to `limit` expired or cancelled orders whose units are not back on
    /// sale yet, oldest decision first.
    async fn units_to_give_back(&self, limit: usize) -> Result<Vec<Order>, StoreError>;
    /// Records that the units of these orders are back on sale.
    async fn mark_given_back(&self, ids: &[OrderId]) -> Result<(), StoreError>;
}

/// Reservations answered but not yet decided by the ledger (status
/// `pending`). The embedded engine has none: it answers after the commit.
#[async_trait]
pub trait PendingOrders: Send + Sync + 'static {
    async fn find(&self, id: OrderId) -> Result<Option<Reservation>, StoreError>;
    /// Gives back the units of a pending reservation the ledger voided; one
    /// no longer pending is left alone.
    async fn release(&self, reservation: &Reservation) -> Result<(), StoreError>;
}
