//! Operator-facing events: the security and activity log the dashboard
//! shows. Services emit them through an [`EventSink`]; the gateway keeps the
//! recent ones and streams them.

use serde::{Deserialize, Serialize};

use crate::ids::SaleId;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Requests refused by a rate limit (aggregated per second).
    RateLimited,
    /// A missing, malformed, forged or expired credential.
    AuthFailure,
    /// A buyer asked past the per-user limit.
    LimitAbuse,
    /// An operator's call to an admin endpoint.
    AdminAction,
    /// A sale changed state (by an operator or its schedule).
    SaleState,
    /// Units were added to or withdrawn from a sale.
    StockChanged,
    /// A sale's last unit was reserved.
    SoldOut,
    /// A simulated stampede started or finished.
    Stampede,
    /// Orders expired or cancelled (units back on sale), and payments that
    /// came after their order expired (to refund).
    Checkout,
    /// Start-up, shutdown and store trouble.
    System,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub kind: EventKind,
    pub severity: Severity,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<SaleId>,
}

impl Event {
    pub fn new(kind: EventKind, severity: Severity, message: impl Into<String>) -> Self {
        Self {
            kind,
            severity,
            message: message.into(),
            sale_id: None,
        }
    }

    pub fn for_sale(mut self, sale: SaleId) -> Self {
        self.sale_id = Some(sale);
        self
    }
}

/// Where services send events. Emitting never blocks and never fails: an
/// event log must not slow down or break the purchase path.
pub trait EventSink: Send + Sync + 'static {
    fn emit(&self, event: Event);
}

/// Discards events; for tools and tests that do not watch them.
pub struct NoEvents;

impl EventSink for NoEvents {
    fn emit(&self, _event: Event) {}
}
