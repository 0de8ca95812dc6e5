//! `RedisStock` on a local Redis Cluster of three masters: the same
//! contract as on one Redis, and a stampede over sales that live on
//! different masters.

use std::collections::HashSet;

use flashsale_domain::contract;
use flashsale_domain::{PurchaseRejection, ReserveError, SaleState, StockStore};
use flashsale_stack::redis::SaleKeys;
use flashsale_stack::RedisStock;

use crate::support;

async fn cluster_stock() -> RedisStock {
    let store = RedisStock::connect(&support::redis_cluster_url().await)
        .await
        .expect("connect to the cluster");
    assert!(store.is_cluster());
    store
}

/// The master port that owns `key`'s slot (`CLUSTER KEYSLOT`, then the
/// slot ranges of `CLUSTER SLOTS`).
async fn owner(store: &RedisStock, key: &str) -> i64 {
    let mut conn = store.connection();
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut conn)
        .await
        .unwrap();
    let ranges: Vec<(i64, i64, Vec<redis::Value>)> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut conn)
        .await
        .unwrap();
    let (_, _, master) = ranges
        .into_iter()
        .find(|(from, to, _)| (*from..=*to).contains(&slot))
        .expect("every slot is served");
    match master.get(1) {
        Some(redis::Value::Int(port)) => *port,
        other => panic!("no master port in {other:?}"),
    }
}

/// The domain's stock-store contract holds on a cluster.
#[tokio::test]
async fn contract_holds_on_a_cluster() {
    contract::stock_store(&cluster_stock().await).await;
}

/// Concurrent reserves over sales spread across the masters: each sale
/// sells exactly its stock, nobody passes the limit, one outbox entry per
/// reservation, every unit accounted for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stampede_over_sales_on_several_masters_sells_each_exactly() {
    let store = cluster_stock().await;
    let mut sales = Vec::new();
    let mut masters = HashSet::new();
    while masters.len() < 2 || sales.len() < 6 {
        let terms = contract::sale(SaleState::Active, 40, 2).terms();
        masters.insert(owner(&store, &SaleKeys::new(terms.id).state).await);
        store.load(terms.clone()).await.unwrap();
        sales.push(terms.id);
    }
    let mut tasks = Vec::new();
    for i in 0..1800usize {
        let (store, sale) = (store.clone(), sales[i % sales.len()]);
        // 90 buyers per sale, two units each at most: more than its stock.
        let user = format!("u{}", i / sales.len() % 90);
        tasks.push(tokio::spawn(async move {
            let outcome = store.reserve(contract::request(sale, &user, 1, None)).await;
            (sale, user, outcome)
        }));
    }
    let mut sold = std::collections::HashMap::new();
    let mut per_buyer = std::collections::HashMap::new();
    for task in tasks {
        let (sale, user, outcome) = task.await.unwrap();
        match outcome {
            Ok(_) => {
                *sold.entry(sale).or_insert(0u64) += 1;
                *per_buyer.entry((sale, user)).or_insert(0u32) += 1;
            }
            Err(ReserveError::Rejected(
                PurchaseRejection::SoldOut | PurchaseRejection::LimitExceeded { .. },
            )) => {}
            Err(other) => panic!("unexpected refusal: {other:?}"),
        }
    }
    assert!(per_buyer.values().all(|&n| n <= 2), "limit: {per_buyer:?}");
    let mut conn = store.connection();
    for sale in &sales {
        assert_eq!(sold.get(sale), Some(&40), "sale {sale} sold exactly its stock");
        let level = store.level(*sale).await.unwrap().unwrap();
        assert_eq!(
            (level.remaining, level.in_flight, level.ledger_difference()),
            (0, 40, 0)
        );
        let entries: u64 = redis::cmd("XLEN")
            .arg(SaleKeys::new(*sale).outbox)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert_eq!(entries, 40, "one outbox entry per reservation");
    }
    let loaded: HashSet<_> = store.sales().await.unwrap().into_iter().collect();
    assert!(
        sales.iter().all(|s| loaded.contains(s)),
        "the index lists every sale"
    );
}
