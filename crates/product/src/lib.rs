//! The product service: sale sessions and everything an operator does to
//! them.
//!
//! # Layout
//! - [`catalog::sqlite`]: the embedded [`SaleCatalog`](flashsale_domain::SaleCatalog).
//! - [`service`]: create, start, pause, resume, end, change stock, and the
//!   schedule that starts and ends sales by themselves.

pub mod catalog;
pub mod service;

pub use catalog::sqlite::SqliteCatalog;
pub use service::{
    CacheRebuild, ChangeGuard, ChangeLock, LocalChangeLock, ProductError, ProductService, SaleView, UnitsBack,
};
