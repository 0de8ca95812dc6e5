//! The inventory service: the purchase path.
//!
//! # Layout
//! - [`service`]: [`InventoryService::purchase`], the whole path of one
//!   purchase, from the sold-out fast path to the durable answer.
//! - [`sold_out`]: the local sold-out flag that answers rejected buyers
//!   without touching the stock store.

pub mod service;
pub mod sold_out;

pub use service::{Durability, InventoryService, PurchaseError, PurchaseReceipt};
pub use sold_out::SoldOutFlags;
