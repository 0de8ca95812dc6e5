//! The PostgreSQL side: the catalog of sales, the order ledger and the
//! audit log.
//!
//! # Layout
//! - [`mod@migrate`]: the schema, applied once by whichever process starts first.
//! - [`catalog`]: [`PgCatalog`], the [`SaleCatalog`](flashsale_domain::SaleCatalog).
//! - [`orders`]: [`PgOrderStore`], the [`OrderStore`](flashsale_domain::OrderStore).
//! - [`lock`]: [`PgChangeLock`], the product service's changes serialised
//!   across processes.

pub mod catalog;
pub mod lock;
pub mod migrate;
pub mod orders;

pub use catalog::PgCatalog;
pub use lock::PgChangeLock;
pub use migrate::{migrate, migration_names, MigrateError};
pub use orders::{InsertError, PgOrderStore};

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

/// The store name in [`flashsale_domain::StoreError`]s from PostgreSQL.
pub(crate) const STORE: &str = "postgres";

pub(crate) fn store_error(e: impl ToString) -> flashsale_domain::StoreError {
    flashsale_domain::StoreError::new(STORE, e)
}

/// Opens a pool of at most `max_connections` to `url`; a call waits at most
/// five seconds for a connection, so a down database fails requests
/// quickly instead of piling them up.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url)
        .await
}
