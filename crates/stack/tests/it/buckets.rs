//! A hot sale split into buckets (issue 17) under a stampede, on one Redis
//! and on the three-master cluster (its buckets on every master): exactly
//! the stock is sold, nobody
//! passes the limit, each buyer's units sit in the buyer's home bucket
//! only, every reservation is in flight and in an outbox once, and a
//! transfer cut after its debit is delivered by the sweeper's pass.

use std::collections::{HashMap, HashSet};

use flashsale_domain::contract;
use flashsale_domain::{PurchaseRejection, ReserveError, SaleId, SaleState, StockStore, UserId};
use flashsale_stack::redis::buckets::home;
use flashsale_stack::redis::{Amount, SaleKeys};
use flashsale_stack::RedisStock;

use crate::support;

async fn store(cluster: bool) -> RedisStock {
    let url = match cluster {
        true => support::redis_cluster_url().await,
        false => support::redis_url().await,
    };
    RedisStock::connect(&url).await.expect("connect")
}

/// The master port owning each bucket of `sale`, on the shared cluster.
async fn masters_of(sale: SaleId, buckets: u32) -> HashSet<u16> {
    let url = support::redis_cluster_url().await;
    let ports: Vec<u16> = url
        .split(',')
        .filter_map(|u| u.rsplit(':').next()?.parse().ok())
        .collect();
    let mut masters = HashSet::new();
    for keys in SaleKeys::buckets(sale, buckets) {
        let owner = flashsale_testkit::stores::cluster::slot_owner(&ports, &keys.state)
            .await
            .expect("the cluster answers");
        masters.insert(owner.0);
    }
    masters
}

/// A 4-bucket sale of 120 units, a limit of 2; on the cluster its buckets
/// sit on all three masters (their tags are spread round the slot ring),
/// so units cross masters.
async fn hot_sale(cluster: bool) -> flashsale_domain::SaleTerms {
    let mut terms = contract::sale(SaleState::Active, 120, 2).terms();
    terms.stock_buckets = 4;
    if cluster {
        assert_eq!(masters_of(terms.id, 4).await.len(), 3, "4 buckets over 3 masters");
    }
    terms
}

async fn stampede(cluster: bool) {
    let store = store(cluster).await;
    let terms = hot_sale(cluster).await;
    let sale = terms.id;
    store.load(terms).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..3000 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let user = format!("h{}", i % 150);
            let q = 1 + (i % 2) as u32;
            store.reserve(contract::request(sale, &user, q, None)).await
        }));
    }
    let support::Tally {
        sold,
        reservations,
        retries,
        per_user,
    } = support::tally(tasks, true).await;
    assert_eq!(sold, 120, "exactly the stock is sold ({retries} told to retry)");
    assert!(per_user.values().all(|&u| u <= 2), "limit: {per_user:?}");
    // Nothing is left anywhere: a late buyer hears "sold out".
    assert_eq!(
        store.reserve(contract::request(sale, "late", 1, None)).await,
        Err(ReserveError::Rejected(PurchaseRejection::SoldOut))
    );
    let level = store.level(sale).await.unwrap().unwrap();
    assert_eq!(
        (
            level.stock,
            level.remaining,
            level.in_flight,
            level.ledger_difference()
        ),
        (120, 0, 120, 0)
    );
    // Each buyer's count lives in their home bucket only.
    let mut conn = store.connection();
    for (k, keys) in SaleKeys::buckets(sale, 4).iter().enumerate() {
        let buyers: HashMap<String, u32> = redis::cmd("HGETALL")
            .arg(&keys.buyers)
            .query_async(&mut conn)
            .await
            .unwrap();
        for (user, units) in buyers {
            assert_eq!(home(&UserId::parse(&user).unwrap(), 4) as usize, k, "{user}");
            assert_eq!(per_user.get(&user), Some(&units), "{user}");
        }
    }
    assert_eq!(
        store.outbox_orders(sale).await.unwrap().len() as u64,
        reservations
    );
    assert_eq!(store.in_flight(sale).await.unwrap().len() as u64, reservations);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stampede_on_a_hot_sale_sells_exactly_its_stock() {
    stampede(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stampede_on_a_hot_sale_over_masters_sells_exactly_its_stock() {
    stampede(true).await;
}

/// A process that died between a transfer's debit and its credit left
/// units on their way: the sale's level still counts them, a buyer is not
/// told "sold out" while they move, and finishing the sale's transfers
/// (the sweeper's pass) delivers them once.
#[tokio::test]
async fn units_left_on_their_way_are_delivered_once() {
    let store = store(true).await;
    let mut terms = contract::sale(SaleState::Active, 4, 4).terms();
    terms.stock_buckets = 2;
    let sale = terms.id;
    store.load(terms).await.unwrap();
    let keys = SaleKeys::buckets(sale, 2);
    let transfers = flashsale_stack::redis::Transfers::new(store.connection());
    // Bucket 1's two units debited towards bucket 0, never credited.
    let moved = transfers
        .debit("cut", &keys[1].place, &keys[0].place, Amount::UpTo(2))
        .await
        .unwrap();
    assert_eq!(moved, 2);
    let level = store.level(sale).await.unwrap().unwrap();
    assert_eq!((level.stock, level.remaining), (4, 4), "units on their way count");
    // A buyer of bucket 1 finds nothing there and nothing to take: told
    // to retry, not "sold out".
    let buyer = (0..)
        .map(|i| format!("w{i}"))
        .find(|u| home(&UserId::parse(u).unwrap(), 2) == 1)
        .unwrap();
    // Bucket 0's own units first go to buyers of bucket 0.
    let mut sold = 0;
    for i in 0.. {
        let user = format!("z{i}");
        if home(&UserId::parse(&user).unwrap(), 2) == 0 {
            store
                .reserve(contract::request(sale, &user, 2, None))
                .await
                .unwrap();
            sold += 2;
            if sold == 2 {
                break;
            }
        }
    }
    assert!(matches!(
        store.reserve(contract::request(sale, &buyer, 1, None)).await,
        Err(ReserveError::UnitsMoving)
    ));
    assert_eq!(store.finish_transfers(sale).await.unwrap(), 2, "delivered");
    assert_eq!(store.finish_transfers(sale).await.unwrap(), 0, "once");
    assert!(store
        .reserve(contract::request(sale, &buyer, 2, None))
        .await
        .is_ok());
    let level = store.level(sale).await.unwrap().unwrap();
    assert_eq!((level.stock, level.remaining, level.in_flight), (4, 0, 4));
}

/// A forget cut after bucket 0 went (another bucket's counters left, the
/// index still naming the sale) is finished by the next call, in a
/// process that still remembers the bucket count: the leftovers go and the
/// sale leaves the index.
#[tokio::test]
async fn a_forget_cut_half_way_is_finished_by_the_next() {
    let store = store(false).await;
    let mut terms = contract::sale(SaleState::Ended, 8, 1).terms();
    terms.stock_buckets = 4;
    let sale = terms.id;
    store.load(terms).await.unwrap();
    let last = store
        .forget(sale)
        .await
        .unwrap()
        .expect("an ended, idle sale goes");
    assert_eq!(
        (last.stock, last.remaining),
        (8, 8),
        "the last level sums the buckets"
    );
    // What a call cut before its last steps leaves: bucket 2's counters
    // (kept while bucket 0 was forgotten) and the index entry.
    let keys = SaleKeys::buckets(sale, 4);
    let mut conn = store.connection();
    redis::cmd("HSET")
        .arg(&keys[2].state)
        .arg(&["state", "ended", "stock", "2", "in_flight", "0", "persisted", "0"])
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    redis::cmd("SADD")
        .arg(flashsale_stack::redis::keys::SALES_INDEX)
        .arg(sale.to_string())
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    assert_eq!(store.forget(sale).await, Ok(None), "forgotten before");
    let left: bool = redis::cmd("EXISTS")
        .arg(&keys[2].state)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!left, "bucket 2's counters are gone");
    assert!(
        !store.sales().await.unwrap().contains(&sale),
        "the sale left the index"
    );
}
