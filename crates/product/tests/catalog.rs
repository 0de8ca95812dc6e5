//! The embedded catalog against the port contract, and the schedule.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, Utc};
use flashsale_domain::{contract, NoEvents, Sale, SaleCatalog, SaleDraft, SaleState, StockStore, StoreError};
use flashsale_inventory::MemoryStock;
use flashsale_product::{CacheRebuild, ProductService, SqliteCatalog};

fn fresh_catalog(name: &str) -> (SqliteCatalog, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("flashsale-product-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = flashsale_sqlite::database_path(&dir);
    flashsale_sqlite::migrate(&mut flashsale_sqlite::open(&path).unwrap()).unwrap();
    (SqliteCatalog::open(&path).unwrap(), dir)
}

struct NoRebuild;

#[async_trait]
impl CacheRebuild for NoRebuild {
    async fn rebuild(&self, sales: Vec<Sale>) -> Result<usize, StoreError> {
        Ok(sales.len())
    }
}

/// The SQLite catalog keeps every promise of the `SaleCatalog` port, and a
/// reopened catalog reads back what was written.
#[tokio::test]
async fn sqlite_catalog_passes_the_contract_and_survives_reopening() {
    let (catalog, dir) = fresh_catalog("contract");
    contract::sale_catalog(&catalog).await;
    let before = catalog.list().await.unwrap();
    let reopened = SqliteCatalog::open(&flashsale_sqlite::database_path(&dir)).unwrap();
    assert_eq!(reopened.list().await.unwrap(), before);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A sale whose `starts_at` has come becomes active in the catalog and the
/// stock store; one whose `ends_at` has passed becomes ended.
#[tokio::test]
async fn schedule_starts_and_ends_sales() {
    let (catalog, dir) = fresh_catalog("schedule");
    let stock = Arc::new(MemoryStock::new());
    let service = ProductService::new(
        Arc::new(catalog.clone()),
        stock.clone(),
        Arc::new(NoRebuild),
        Arc::new(NoEvents),
        Arc::new(|_| {}),
    );
    let now = Utc::now();
    let draft = |start, end| SaleDraft::parse("Timed", "Lamp", 100, 5, 1, start, end).unwrap();
    let starting = service
        .create(draft(Some(now + Duration::seconds(1)), None))
        .await
        .unwrap();
    let ending = service
        .create(draft(None, Some(now + Duration::seconds(2))))
        .await
        .unwrap();
    assert!(service.apply_schedule(now).await.unwrap().is_empty());
    let changed = service.apply_schedule(now + Duration::seconds(3)).await.unwrap();
    assert_eq!(changed.len(), 2);
    assert_eq!(
        catalog.get(starting.sale.id).await.unwrap().unwrap().state,
        SaleState::Active
    );
    assert_eq!(
        catalog.get(ending.sale.id).await.unwrap().unwrap().state,
        SaleState::Ended
    );
    assert_eq!(
        stock.level(ending.sale.id).await.unwrap().unwrap().state,
        SaleState::Ended
    );
    let later = service
        .create(draft(
            Some(now + Duration::seconds(1)),
            Some(now + Duration::seconds(10)),
        ))
        .await
        .unwrap();
    service.apply_schedule(now + Duration::seconds(2)).await.unwrap();
    assert_eq!(
        stock.level(later.sale.id).await.unwrap().unwrap().state,
        SaleState::Active
    );
    std::fs::remove_dir_all(dir).unwrap();
}
