//! The embedded order store and queue against the port contracts, on a real
//! SQLite file.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flashsale_domain::{contract, OrderQueue, OrderStore, SaleId};
use flashsale_order::{EmbeddedQueue, QueueConfig, SqliteOrderStore};

fn fresh_store(name: &str) -> (SqliteOrderStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("flashsale-order-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = flashsale_sqlite::database_path(&dir);
    flashsale_sqlite::migrate(&mut flashsale_sqlite::open(&path).unwrap()).unwrap();
    (SqliteOrderStore::open(&path).unwrap(), dir)
}

/// The SQLite ledger keeps every promise of the `OrderStore` port.
#[tokio::test]
async fn sqlite_store_passes_the_order_store_contract() {
    let (store, dir) = fresh_store("contract");
    contract::order_store(&store).await;
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
    assert_eq!(store.totals().await.unwrap()[&sale].units, publishers);
    assert_eq!(queue.depth(), 0);
    queue.shutdown().await;
    std::fs::remove_dir_all(dir).unwrap();
}
