//! How a port call fails: a store out of reach, or a refusal that changed nothing.

use crate::book::StockChangeError;
use crate::purchase::PurchaseRejection;
use crate::sale::TransitionError;

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
    /// A sale split into buckets (`stock_buckets`) had units, but they were
    /// moving between its buckets each time this purchase looked. Nothing
    /// changed and no store failed: the buyer retries shortly (503
    /// `overloaded`, not logged as a store outage).
    #[error("units are moving between the sale's buckets; retry")]
    UnitsMoving,
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
