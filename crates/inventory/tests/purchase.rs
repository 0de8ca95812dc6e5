//! The purchase path under real concurrency, on the embedded stock store.

use std::collections::HashMap;
use std::sync::Arc;

use flashsale_domain::{contract, NoEvents, PurchaseRejection, Quantity, SaleState, StockStore, UserId};
use flashsale_embedded::MemoryStock;
use flashsale_inventory::{Durability, InventoryService, PurchaseError};

/// 2,000 concurrent purchases of 1 unit from 400 buyers (limit 3) on a sale
/// of 500 units, over 2 threads: exactly 500 sold, nobody above 3, every
/// order id distinct, and refusals are only `sold_out` or `limit_exceeded`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_buyers_never_oversell() {
    let stock = Arc::new(MemoryStock::new());
    let terms = contract::sale(SaleState::Active, 500, 3).terms();
    let sale = terms.id;
    stock.load(terms).await.unwrap();
    let service = Arc::new(InventoryService::new(
        stock.clone(),
        Durability::Outbox,
        Arc::new(NoEvents),
        u64::MAX,
    ));
    let tasks: Vec<_> = (0..2_000)
        .map(|i| {
            let service = service.clone();
            tokio::spawn(async move {
                let user = UserId::parse(&format!("buyer{}", i % 400)).unwrap();
                let answer = service
                    .purchase(sale, user.clone(), Quantity::parse(1).unwrap(), None)
                    .await;
                (user, answer)
            })
        })
        .collect();
    let mut per_user: HashMap<UserId, u32> = HashMap::new();
    let mut orders = std::collections::HashSet::new();
    for t in tasks {
        let (user, answer) = t.await.unwrap();
        match answer {
            Ok(receipt) => {
                *per_user.entry(user).or_default() += 1;
                assert!(orders.insert(receipt.order_id), "duplicate order id");
            }
            Err(PurchaseError::Rejected(
                PurchaseRejection::SoldOut | PurchaseRejection::LimitExceeded { .. },
            )) => {}
            Err(other) => panic!("unexpected refusal {other:?}"),
        }
    }
    assert_eq!(orders.len(), 500, "units sold");
    assert!(per_user.values().all(|n| *n <= 3), "a buyer passed the limit");
    let level = stock.level(sale).await.unwrap().unwrap();
    assert_eq!((level.remaining, level.in_flight), (0, 500));
    assert!(
        service.sold_out_flags().is_sold_out(sale),
        "sold-out flag not set"
    );
}
