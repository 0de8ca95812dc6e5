//! The PostgreSQL adapters against a private server, each test on a
//! database of its own.

use flashsale_domain::contract;
use flashsale_domain::{OrderStore, SaleId};
use flashsale_stack::postgres::{self, PgCatalog, PgOrderStore};
use sqlx::PgPool;

use crate::support;

/// A fresh, migrated database.
pub async fn database() -> PgPool {
    let pool = postgres::connect(&support::database_url().await, 8)
        .await
        .expect("connect");
    postgres::migrate(&pool).await.expect("migrate");
    pool
}

/// Migrations apply once, even when several processes race to apply them.
#[tokio::test]
async fn migrations_apply_once() {
    let url = support::database_url().await;
    let pool = postgres::connect(&url, 8).await.unwrap();
    let runs = futures_util::future::join_all((0..4).map(|_| postgres::migrate(&pool))).await;
    let mut applied: Vec<&str> = runs.into_iter().flat_map(|r| r.unwrap()).collect();
    applied.sort_unstable();
    assert_eq!(
        applied,
        postgres::migration_names(),
        "each migration applied exactly once"
    );
    assert!(postgres::migrate(&pool).await.unwrap().is_empty());
}

#[tokio::test]
async fn catalog_contract_holds() {
    contract::sale_catalog(&PgCatalog::new(database().await)).await;
}

#[tokio::test]
async fn order_store_contract_holds() {
    contract::order_store(&PgOrderStore::new(database().await)).await;
}

/// Overlapping batches inserted concurrently store every order once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_batches_store_each_order_once() {
    let store = PgOrderStore::new(database().await);
    let sale = SaleId::generate();
    let all: Vec<_> = (0..400)
        .map(|i| contract::reservation(sale, &format!("u{i}"), 1))
        .collect();
    let mut tasks = Vec::new();
    for k in 0..8 {
        let store = store.clone();
        let mut batch: Vec<_> = all.iter().skip(k * 30).take(200).cloned().collect();
        batch.reverse();
        tasks.push(tokio::spawn(async move { store.insert(&batch).await }));
    }
    let mut new = 0;
    for t in tasks {
        new += t.await.unwrap().unwrap();
    }
    let stored = store.totals().await.unwrap()[&sale].orders;
    assert_eq!(new, stored);
    assert_eq!(stored, 400, "the windows cover every reservation");
}

/// A reservation that cannot be stored is reported as permanent.
#[tokio::test]
async fn an_unstorable_batch_is_permanent() {
    let store = PgOrderStore::new(database().await);
    let mut r = contract::reservation(SaleId::generate(), "u", 1);
    r.remaining = u64::MAX;
    let err = store.insert(&[r]).await.unwrap_err();
    assert!(err.is_permanent(), "{err}");
}
