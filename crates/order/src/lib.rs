//! The order service: order status for buyers and the operator's void,
//! both decided by the order ledger (the `OrderStore` port). The ledger's
//! adapters are `flashsale-embedded` (SQLite, fed by a group-commit queue)
//! and `flashsale-stack` (PostgreSQL, fed by the RabbitMQ consumer).
//!
//! # Layout
//! - [`service`]: [`OrderService`]: status, and the void of an answered
//!   reservation the ledger has not decided.
//! - [`checkout`]: payments, cancels, and the expiry that puts unpaid units
//!   back on sale.

pub mod checkout;
pub mod service;

pub use checkout::{Checkout, CheckoutPass, PaymentOutcome};
pub use service::{OrderLookupError, OrderService, OrderVoidError};
