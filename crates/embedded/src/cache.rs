//! The embedded stock rebuilt from the SQLite file: at start-up
//! ([`restore`]), and on the admin cache flush ([`EmbeddedCache`]).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use flashsale_domain::{CacheRebuild, OrderStore, Sale, SaleCatalog, StoreError};

use crate::{MemoryStock, SqliteCatalog, SqliteOrderStore};

/// What start-up found in the database.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreReport {
    pub sales: usize,
    pub orders: usize,
    pub elapsed: Duration,
}

/// Rebuilds every sale's stock book from the catalog and the order ledger.
pub async fn restore(
    catalog: &SqliteCatalog,
    orders: &SqliteOrderStore,
    stock: &MemoryStock,
) -> Result<RestoreReport, StoreError> {
    let started = Instant::now();
    let mut report = RestoreReport::default();
    for sale in catalog.list().await? {
        let ledger = orders.reservations_of(sale.id).await?;
        report.sales += 1;
        report.orders += ledger.orders.len();
        stock.restore(sale.terms(), ledger);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The embedded cache flush: each sale's book is rebuilt from the ledger,
/// keeping the reservations still in flight.
///
/// The ledger is read without the sale's lock (purchases, on the runtime's
/// threads, would wait on it for the whole read): a fence opened first
/// keeps every reservation settled meanwhile, and the book is replaced
/// under the lock from the snapshot and the fence (see
/// [`flashsale_domain::SaleBook::rebuilt`]), so nothing is lost or counted twice.
pub struct EmbeddedCache {
    pub stock: MemoryStock,
    pub orders: SqliteOrderStore,
}

#[async_trait]
impl CacheRebuild for EmbeddedCache {
    async fn rebuild(&self, sales: Vec<Sale>) -> Result<usize, StoreError> {
        let mut rebuilt = 0;
        for sale in sales {
            if !self.stock.open_fence(sale.id) {
                continue;
            }
            let ledger = self.orders.reservations_of(sale.id).await?;
            rebuilt += usize::from(self.stock.replace_book(sale.id, |old| old.rebuilt(ledger)));
        }
        Ok(rebuilt)
    }
}
