//! The product service: sale sessions and everything an operator does to
//! them, over the `SaleCatalog`, `StockStore`, `CacheRebuild` and
//! `ChangeLock` ports.
//!
//! # Layout
//! - [`service`]: create, start, pause, resume, end, change stock, and the
//!   schedule that starts and ends sales by themselves.

pub mod service;

pub use service::{LocalChangeLock, ProductError, ProductService, SalePage, SaleQuery, SaleView};
