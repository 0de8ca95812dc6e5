//! Every embedded adapter against its port's contract, on a real SQLite
//! file, and the group commit under real concurrency.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flashsale_domain::{contract, OrderQueue, OrderStore, SaleCatalog, SaleId};
use flashsale_embedded::{
    database, EmbeddedQueue, MemoryStock, QueueConfig, SqliteCatalog, SqliteOrderStore,
};

/// A fresh, migrated data folder for one test.
fn fresh_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("flashsale-embedded-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    database::migrate_dir(&dir).unwrap();
    dir
}

fn fresh_store(name: &str) -> (SqliteOrderStore, std::path::PathBuf) {
    let dir = fresh_dir(name);
    (
        SqliteOrderStore::open(&database::database_path(&dir)).unwrap(),
        dir,
    )
}

/// The memory store keeps every promise of the `StockStore` port.
#[tokio::test]
async fn memory_stock_passes_the_stock_store_contract() {
    contract::stock_store(&MemoryStock::new()).await;
}

/// The embedded store sells a hot sale from one book: the buckets change
/// nothing, and every promise of a bucketed sale holds.
#[tokio::test]
async fn memory_stock_keeps_a_hot_sales_promises() {
    contract::hot_sale(&MemoryStock::new()).await;
}

/// The SQLite catalog keeps every promise of the `SaleCatalog` port, and a
/// reopened catalog reads back what was written.
#[tokio::test]
async fn sqlite_catalog_passes_the_contract_and_survives_reopening() {
    let dir = fresh_dir("catalog");
    let path = database::database_path(&dir);
    let catalog = SqliteCatalog::open(&path).unwrap();
    contract::sale_catalog(&catalog).await;
    let before = catalog.list().await.unwrap();
    let reopened = SqliteCatalog::open(&path).unwrap();
    assert_eq!(reopened.list().await.unwrap(), before);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A second engine on a data folder in use is refused; the folder is free
/// again once the first lets go.
#[test]
fn one_engine_per_data_folder() {
    let dir = fresh_dir("lock");
    let held = database::lock_data_dir(&dir).unwrap();
    assert!(matches!(
        database::lock_data_dir(&dir),
        Err(flashsale_embedded::DbError::DataDirInUse(_))
    ));
    drop(held);
    database::lock_data_dir(&dir).unwrap();
    std::fs::remove_dir_all(dir).unwrap();
}

/// The SQLite ledger keeps every promise of the `OrderStore` port.
#[tokio::test]
async fn sqlite_store_passes_the_order_store_contract() {
    let (store, dir) = fresh_store("contract");
    contract::order_store(&store).await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// The SQLite ledger keeps checkout's promises.
#[tokio::test]
async fn sqlite_ledger_passes_the_checkout_contract() {
    let dir = fresh_dir("checkout");
    let path = database::database_path(&dir);
    let (catalog, store) = (
        SqliteCatalog::open(&path).unwrap(),
        SqliteOrderStore::open(&path).unwrap(),
    );
    contract::checkout(&catalog, &store, tokio::time::sleep).await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// The SQLite ledger's shop outbox keeps its promises.
#[tokio::test]
async fn sqlite_outbox_passes_the_shop_outbox_contract() {
    let dir = fresh_dir("outbox");
    let path = database::database_path(&dir);
    let catalog = SqliteCatalog::open(&path).unwrap();
    let store = SqliteOrderStore::open(&path).unwrap().with_shop_events(true);
    contract::shop_outbox(&catalog, &store).await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// Payments and the expiry fired at the same instant on many orders: each
/// ends paid xor expired.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_racing_the_expiry_each_win_or_lose_once() {
    let dir = fresh_dir("pay-race");
    let path = database::database_path(&dir);
    let (catalog, store) = (
        SqliteCatalog::open(&path).unwrap(),
        SqliteOrderStore::open(&path).unwrap(),
    );
    let (sale, ids, due) = contract::orders_awaiting_payment(&catalog, &store, 300).await;
    let start = (due - chrono::Duration::milliseconds(20) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(start).await;
    let (paid, expired) = tokio::join!(
        contract::pay_each(&store, &ids),
        contract::expire_all(&store, sale, ids.len())
    );
    contract::paid_xor_expired(&store, sale, &ids, &paid, &expired).await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// Publishing returns only after commit, and a republish stores nothing new.
#[tokio::test]
async fn embedded_queue_passes_the_order_queue_contract() {
    let (store, dir) = fresh_store("queue");
    let queue = EmbeddedQueue::start(store.clone(), QueueConfig::default(), Box::new(|_| {}));
    contract::order_queue(&queue, &store, || async {}).await;
    queue.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// Many concurrent publishers are committed in shared batches (fewer commits
/// than publishers), each answered after its own commit, and the commit
/// hook sees every unit exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishers_share_commits() {
    let (store, dir) = fresh_store("group");
    let commits = Arc::new(AtomicU64::new(0));
    let units = Arc::new(AtomicU64::new(0));
    let (c, u) = (commits.clone(), units.clone());
    let queue = Arc::new(EmbeddedQueue::start(
        store.clone(),
        QueueConfig::default(),
        Box::new(move |stored| {
            c.fetch_add(1, Ordering::SeqCst);
            u.fetch_add(stored.len() as u64, Ordering::SeqCst);
        }),
    ));
    let sale = SaleId::generate();
    let publishers = 500;
    let tasks: Vec<_> = (0..publishers)
        .map(|i| {
            let queue = queue.clone();
            let store = store.clone();
            tokio::spawn(async move {
                let r = contract::reservation(sale, &format!("buyer{i}"), 1);
                queue.publish(vec![r.clone()]).await.unwrap();
                assert!(
                    store.get(r.order_id).await.unwrap().is_some(),
                    "answered before commit"
                );
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(units.load(Ordering::SeqCst), publishers);
    assert!(
        commits.load(Ordering::SeqCst) < publishers,
        "no batching happened"
    );
    assert_eq!(store.totals(&[sale]).await.unwrap()[&sale].units, publishers);
    assert_eq!(queue.depth(), 0);
    queue.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// A sale's totals, counted when first asked for, stay exact across the
/// commits before and after, while other publishers keep committing, and
/// read the same from a reopened file (which counts nothing at open).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_counted_on_demand_stay_exact() {
    let (store, dir) = fresh_store("totals");
    let queue = Arc::new(EmbeddedQueue::start(
        store.clone(),
        QueueConfig::default(),
        Box::new(|_| {}),
    ));
    let sale = SaleId::generate();
    let publish = |from: u32, to: u32| {
        let queue = queue.clone();
        tokio::spawn(async move {
            for i in from..to {
                let r = contract::reservation(sale, &format!("buyer{i}"), 1);
                queue.publish(vec![r]).await.unwrap();
            }
        })
    };
    let first = publish(0, 200);
    let mut asked = 0;
    while !first.is_finished() {
        let units = store
            .totals(&[sale])
            .await
            .unwrap()
            .get(&sale)
            .map_or(0, |t| t.units);
        assert!(units >= asked, "totals went back from {asked} to {units}");
        asked = units;
        tokio::task::yield_now().await;
    }
    first.await.unwrap();
    publish(200, 300).await.unwrap();
    assert_eq!(store.totals(&[sale]).await.unwrap()[&sale].units, 300);
    queue.shutdown().await;
    let reopened = SqliteOrderStore::open(&database::database_path(&dir)).unwrap();
    assert_eq!(reopened.totals(&[sale]).await.unwrap()[&sale].orders, 300);
    std::fs::remove_dir_all(dir).unwrap();
}

/// The SQLite draws keep every promise of the `DrawStore` port, and a
/// draw reopened after the engine stopped mid-window has its entries.
#[tokio::test]
async fn sqlite_draws_pass_the_contract_and_survive_reopening() {
    use flashsale_domain::ports::{DrawEntry, DrawPhase, DrawStore, Entered};
    use flashsale_domain::{IdempotencyKey, OrderId, Quantity, UserId};
    use flashsale_embedded::SqliteDraws;

    let dir = fresh_dir("draws");
    let path = database::database_path(&dir);
    let draws = SqliteDraws::open(&path).unwrap();
    contract::draw_store(&draws).await;

    let sale = SaleId::generate();
    let entry = DrawEntry {
        user_id: UserId::parse("early").unwrap(),
        order_id: OrderId::generate(),
        quantity: Quantity::parse(2).unwrap(),
        idempotency_key: IdempotencyKey::parse("early-key").unwrap(),
    };
    assert_eq!(
        draws.enter(sale, entry.clone()).await.unwrap(),
        Entered::Entry(entry.clone())
    );
    drop(draws);
    let reopened = SqliteDraws::open(&path).unwrap();
    assert_eq!(reopened.entries(sale).await.unwrap(), vec![entry]);
    assert_eq!(
        reopened.status(sale).await.unwrap().map(|s| s.phase),
        Some(DrawPhase::Open)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
