//! The inventory service: the purchase path.
//!
//! # Layout
//! - [`service`]: [`InventoryService::purchase`], the whole path of one
//!   purchase, from the sold-out fast path to the durable answer.
//! - [`draw`]: [`DrawServer`], a fair start's draw served in its order.
//! - [`sold_out`]: the local sold-out flag that answers rejected buyers
//!   without touching the stock store.

pub mod draw;
pub mod service;
pub mod sold_out;

pub use draw::{DrawServer, ServeError};
pub use service::{Durability, InventoryService, PurchaseError, PurchaseReceipt};
pub use sold_out::SoldOutFlags;
