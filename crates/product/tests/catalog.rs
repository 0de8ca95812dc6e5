//! The product service on the embedded catalog: the schedule, and operator
//! changes whose reply was lost.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{Duration, Utc};
use flashsale_domain::{
    CacheRebuild, NoEvents, Sale, SaleCatalog, SaleDraft, SaleState, StockStore, StoreError,
};
use flashsale_embedded::{database, MemoryStock, SqliteCatalog};
use flashsale_product::ProductService;

fn fresh_catalog(name: &str) -> (SqliteCatalog, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("flashsale-product-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    database::migrate_dir(&dir).unwrap();
    (SqliteCatalog::open(&database::database_path(&dir)).unwrap(), dir)
}

struct NoRebuild;

#[async_trait]
impl CacheRebuild for NoRebuild {
    async fn rebuild(&self, sales: Vec<Sale>) -> Result<usize, StoreError> {
        Ok(sales.len())
    }
}

/// A product service on `catalog` and `stock`, with no events and no
/// rebuild.
fn service(catalog: &SqliteCatalog, stock: Arc<dyn StockStore>) -> ProductService {
    ProductService::new(
        Arc::new(catalog.clone()),
        stock,
        Arc::new(NoRebuild),
        Arc::new(NoEvents),
        Arc::new(|_| {}),
    )
}

/// A sale whose `starts_at` has come becomes active in the catalog and the
/// stock store; one whose `ends_at` has passed becomes ended.
#[tokio::test]
async fn schedule_starts_and_ends_sales() {
    let (catalog, dir) = fresh_catalog("schedule");
    let stock = Arc::new(MemoryStock::new());
    let service = service(&catalog, stock.clone());
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

/// A stock store whose first transition is made but whose reply is lost
/// (a dropped connection, a timeout): the change landed, the caller saw an
/// error.
struct LostFirstReply {
    inner: MemoryStock,
    lost: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl StockStore for LostFirstReply {
    async fn load(&self, terms: flashsale_domain::SaleTerms) -> Result<(), StoreError> {
        self.inner.load(terms).await
    }
    async fn reserve(
        &self,
        request: flashsale_domain::ReserveRequest,
    ) -> Result<flashsale_domain::ReserveOutcome, flashsale_domain::ReserveError> {
        self.inner.reserve(request).await
    }
    async fn release(&self, r: &flashsale_domain::Reservation) -> Result<(), StoreError> {
        self.inner.release(r).await
    }
    async fn give_back(&self, r: &flashsale_domain::Order) -> Result<u64, StoreError> {
        self.inner.give_back(r).await
    }
    async fn settle(
        &self,
        sale: flashsale_domain::SaleId,
        orders: &[flashsale_domain::OrderId],
    ) -> Result<(), StoreError> {
        self.inner.settle(sale, orders).await
    }
    async fn transition(
        &self,
        sale: flashsale_domain::SaleId,
        t: flashsale_domain::Transition,
        now: chrono::DateTime<Utc>,
    ) -> Result<SaleState, flashsale_domain::StockOpError> {
        let made = self.inner.transition(sale, t, now).await?;
        if !self.lost.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::new("test", "the reply was lost").into());
        }
        Ok(made)
    }
    async fn adjust(
        &self,
        sale: flashsale_domain::SaleId,
        delta: i64,
        now: chrono::DateTime<Utc>,
    ) -> Result<flashsale_domain::StockLevel, flashsale_domain::StockOpError> {
        self.inner.adjust(sale, delta, now).await
    }
    async fn terms(
        &self,
        sale: flashsale_domain::SaleId,
    ) -> Result<Option<flashsale_domain::SaleTerms>, StoreError> {
        self.inner.terms(sale).await
    }

    async fn level(
        &self,
        sale: flashsale_domain::SaleId,
    ) -> Result<Option<flashsale_domain::StockLevel>, StoreError> {
        self.inner.level(sale).await
    }
    async fn first_answer(
        &self,
        sale: flashsale_domain::SaleId,
        user: &flashsale_domain::UserId,
        key: &flashsale_domain::IdempotencyKey,
    ) -> Result<Option<flashsale_domain::Reservation>, StoreError> {
        self.inner.first_answer(sale, user, key).await
    }
    async fn forget(
        &self,
        sale: flashsale_domain::SaleId,
    ) -> Result<Option<flashsale_domain::StockLevel>, StoreError> {
        self.inner.forget(sale).await
    }
}

/// A pause whose reply was lost: the stock store paused the sale, the
/// operator saw an error. The operator's retry must read back the state it
/// wanted and succeed, so the catalog says paused too and a later warm-up
/// (which loads the catalog's terms) does not resume the sale.
#[tokio::test]
async fn a_pause_whose_reply_was_lost_succeeds_on_retry() {
    let (catalog, dir) = fresh_catalog("lost-reply");
    let stock = Arc::new(LostFirstReply {
        inner: MemoryStock::new(),
        lost: std::sync::atomic::AtomicBool::new(true),
    });
    let service = service(&catalog, stock.clone());
    let draft = SaleDraft::parse("Lost", "Lamp", 100, 5, 1, None, None).unwrap();
    let id = service.create(draft).await.unwrap().sale.id;
    service
        .transition(id, flashsale_domain::Transition::Start)
        .await
        .unwrap();
    stock.lost.store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(
        service
            .transition(id, flashsale_domain::Transition::Pause)
            .await
            .is_err(),
        "the lost reply"
    );
    let retried = service.transition(id, flashsale_domain::Transition::Pause).await;
    assert_eq!(
        retried.map(|v| v.sale.state).ok(),
        Some(SaleState::Paused),
        "the retry reads back the pause"
    );
    assert_eq!(catalog.get(id).await.unwrap().unwrap().state, SaleState::Paused);
    service.warm().await.unwrap();
    assert_eq!(
        stock.level(id).await.unwrap().unwrap().state,
        SaleState::Paused,
        "a warm-up keeps it paused"
    );
    // A transition the catalog itself refuses is still refused.
    assert!(service
        .transition(id, flashsale_domain::Transition::Pause)
        .await
        .is_err());
    std::fs::remove_dir_all(dir).unwrap();
}
