//! The shop's events: what the order ledger tells the shop (`order.confirmed`,
//! `order.paid`, `order.expired`, `order.cancelled`, `order.void`), kept in
//! an outbox in the ledger's own database, written in the transaction that
//! changes the order, and delivered at least once by the order service.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::purchase::{Order, OrderStatus};

/// The kind of a shop event, named after the order's new status.
pub fn event_type(status: OrderStatus) -> Option<&'static str> {
    match status {
        OrderStatus::Confirmed => Some("order.confirmed"),
        OrderStatus::Paid => Some("order.paid"),
        OrderStatus::Expired => Some("order.expired"),
        OrderStatus::Cancelled => Some("order.cancelled"),
        OrderStatus::Void => Some("order.void"),
        OrderStatus::Pending => None,
    }
}

/// The body the shop receives: `{"id", "type", "created_at", "data": Order}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopEventBody {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub data: Order,
}

/// One event waiting in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopEvent {
    pub id: String,
    /// The JSON body, as stored: sent byte for byte (it is what is signed).
    pub payload: String,
    pub created_at: DateTime<Utc>,
    /// Deliveries tried before this one.
    pub attempts: u32,
}

/// What waits in the outbox.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxBacklog {
    /// Waiting for a delivery (first or retried).
    pub pending: u64,
    /// Of those, failed at least once.
    pub failing: u64,
    /// Given up on after a day of retries: the shop never got them.
    pub gave_up: u64,
}

/// The outbox of shop events, in the ledger's database.
///
/// # Errors
/// `claim` MUST hand an event to one deliverer at a time for `lease` (a
/// deliverer that dies leaves it to another once the lease passes), and
/// MUST return due events only: never one delivered or given up.
#[async_trait]
pub trait ShopOutbox: Send + Sync + 'static {
    /// Claims up to `limit` events due for delivery, oldest due first.
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<ShopEvent>, StoreError>;
    /// The shop acknowledged the event: it leaves the outbox.
    async fn delivered(&self, id: &str) -> Result<(), StoreError>;
    /// A delivery failed: retried at `retry_at`, or given up when `None`.
    async fn failed(&self, id: &str, error: &str, retry_at: Option<DateTime<Utc>>) -> Result<(), StoreError>;
    async fn backlog(&self) -> Result<OutboxBacklog, StoreError>;
}
