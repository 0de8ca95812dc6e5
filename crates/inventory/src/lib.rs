//! The inventory service: the purchase path.
//!
//! # Layout
//! - [`service`]: [`InventoryService::purchase`], the whole path of one
//!   purchase, from the sold-out fast path to the durable answer.
//! - [`fair`]: the gate that sends a fair start's opening attempts to its
//!   draw, and where each waits.
//! - [`draw`]: [`DrawServer`], a fair start's draw served in its order.
//! - [`sold_out`]: the local sold-out flag that answers rejected buyers
//!   without touching the stock store.

pub mod draw;
pub mod fair;
pub mod service;
pub mod sold_out;

pub use draw::{run_draws, DrawServer, ServeError};
pub use fair::{DrawWait, DrawWaits, FairStarts};
pub use service::{Durability, InventoryService, PurchaseError, PurchaseReceipt};
pub use sold_out::SoldOutFlags;
