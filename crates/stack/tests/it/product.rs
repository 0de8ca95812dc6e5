//! Several product processes on the same stores: their changes are
//! serialised across processes, so the schedule fires once and the catalog
//! and Redis move together.

use std::sync::Arc;

use chrono::{Duration, Utc};
use flashsale_domain::{NoEvents, SaleDraft, SaleState, StockStore};
use flashsale_product::ProductService;
use flashsale_stack::{PgCatalog, PgChangeLock, PgOrderStore, RedisStock, StackCacheRebuild};
use sqlx::PgPool;

use crate::{postgres, redis_stock};

/// A product service as one process runs it, on shared stores.
fn product(pool: &PgPool, stock: &RedisStock) -> ProductService {
    ProductService::new(
        Arc::new(PgCatalog::new(pool.clone())),
        Arc::new(stock.clone()),
        Arc::new(StackCacheRebuild::new(
            stock.clone(),
            PgOrderStore::new(pool.clone()),
        )),
        Arc::new(NoEvents),
        Arc::new(|_| {}),
    )
    .with_change_lock(Arc::new(PgChangeLock::new(pool.clone())))
}

/// Two product processes apply the schedule at the same instant: each
/// sale's start is applied once (one catalog change, one audit row), not
/// once per process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_apply_the_schedule_once() {
    let (pool, stock) = tokio::join!(postgres::database(), redis_stock::stock());
    let (one, two) = (product(&pool, &stock), product(&pool, &stock));
    let now = Utc::now();
    let mut ids = Vec::new();
    for i in 0..5 {
        let draft = SaleDraft::parse(
            &format!("Timed {i}"),
            "Lamp",
            100,
            5,
            1,
            Some(now + Duration::seconds(60)),
            None,
        )
        .unwrap();
        ids.push(one.create(draft).await.unwrap().sale.id);
    }
    let later = now + Duration::seconds(61);
    let (a, b) = tokio::join!(one.apply_schedule(later), two.apply_schedule(later));
    assert_eq!(a.unwrap().len() + b.unwrap().len(), 5, "each sale started once");
    for id in ids {
        let updates: i64 =
            sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE sale_id = $1 AND action = 'updated'")
                .bind(id.as_uuid())
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!(updates, 1, "sale {id} changed {updates} times");
        assert_eq!(stock.level(id).await.unwrap().unwrap().state, SaleState::Active);
    }
}
