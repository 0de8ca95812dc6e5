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

/// A fair start's draw served on the embedded stores; see [`served_once_in_order`].
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draw_is_served_once_in_its_order() {
    use flashsale_embedded::{database, SqliteDraws};

    let dir = std::env::temp_dir().join(format!("flashsale-inventory-draw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    database::migrate_dir(&dir).unwrap();
    let draws = Arc::new(SqliteDraws::open(&database::database_path(&dir)).unwrap());
    served_once_in_order(Arc::new(MemoryStock::new()), draws, 40, 10).await;
    std::fs::remove_dir_all(dir).unwrap();
}

/// The same on a private Redis, the stock and the draw in it, over several
/// reservation batches and several runs of recorded positions: the order
/// holds through the batching of the real stack's purchase path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draw_on_redis_is_served_once_in_its_order() {
    let url = flashsale_testkit::stores::shared::redis_url().await;
    let redis = Arc::new(flashsale_stack::RedisStock::connect(&url).await.unwrap());
    served_once_in_order(redis.clone(), redis, 2_500, 1_000).await;
}

/// A fair start's draw, served: `entrants` buyers for `stock` units (limit
/// 1). The winners are the first `stock` of the drawn order, with their
/// entries' order ids, and the others are told sold out; serving again
/// changes nothing; and a server that died after reserving the first
/// entries, before recording them, is taken over with every entry decided
/// once.
async fn served_once_in_order(
    stock: Arc<dyn StockStore>,
    draws: Arc<dyn flashsale_domain::ports::DrawStore>,
    entrants: usize,
    units: u64,
) {
    use flashsale_domain::ports::{DrawAnswer, DrawEntry, DrawPhase};
    use flashsale_domain::{draw_order, DrawSeed, IdempotencyKey, OrderId, SaleId};
    use flashsale_inventory::DrawServer;

    let service = Arc::new(InventoryService::new(
        stock.clone(),
        Durability::Outbox,
        Arc::new(NoEvents),
        u64::MAX,
    ));
    let server = DrawServer::new(service.clone(), draws.clone());
    let open_sale_with_entrants = || {
        let (stock, draws) = (stock.clone(), draws.clone());
        async move {
            let terms = contract::sale(SaleState::Active, units, 1).terms();
            let sale = terms.id;
            stock.load(terms).await.unwrap();
            let mut entries = Vec::new();
            for i in 0..entrants {
                let entry = DrawEntry {
                    user_id: UserId::parse(&format!("entrant-{i}")).unwrap(),
                    order_id: OrderId::generate(),
                    quantity: Quantity::parse(1).unwrap(),
                    idempotency_key: IdempotencyKey::parse(&format!("draw-{i}")).unwrap(),
                };
                draws.enter(sale, entry.clone()).await.unwrap();
                entries.push(entry);
            }
            (sale, entries)
        }
    };
    // The winners, in the drawn order.
    let winners = |sale: SaleId, entries: Vec<DrawEntry>, order: Vec<UserId>| {
        let draws = draws.clone();
        async move {
            let answers = draws.answers(sale, &order).await.unwrap();
            let mut winners = Vec::new();
            for (user, answer) in order.iter().zip(answers) {
                let entry = entries.iter().find(|e| &e.user_id == user).unwrap();
                match answer.expect("every entry answered") {
                    DrawAnswer::Accepted { order_id, .. } => {
                        assert_eq!(order_id, entry.order_id, "a winner's order is its entry's");
                        winners.push(user.clone());
                    }
                    DrawAnswer::Refused(PurchaseRejection::SoldOut) => {}
                    other => panic!("unexpected answer {other:?}"),
                }
            }
            winners
        }
    };
    let units_left = |sale: SaleId| {
        let stock = stock.clone();
        async move {
            let level = stock.level(sale).await.unwrap().unwrap();
            (level.remaining, level.in_flight)
        }
    };

    let (sale, entries) = open_sale_with_entrants().await;
    let served = server.close_and_serve(sale).await.unwrap();
    assert_eq!(
        (served.phase, served.entrants, served.served),
        (DrawPhase::Served, entrants as u64, entrants as u64)
    );
    let order = draw_order(
        &served.seed.unwrap(),
        entries.iter().map(|e| e.user_id.clone()).collect(),
    );
    assert_eq!(
        winners(sale, entries, order.clone()).await,
        order[..units as usize].to_vec(),
        "the first of the drawn order win"
    );
    assert_eq!(
        server.close_and_serve(sale).await.unwrap(),
        served,
        "served again: nothing changes"
    );
    assert_eq!(units_left(sale).await, (0, units));

    // A server reserved the first five of the drawn order, then died
    // before recording them.
    let (sale, entries) = open_sale_with_entrants().await;
    let closed = draws.close(sale, DrawSeed::from_bytes([3; 32])).await.unwrap();
    let order = draw_order(
        &closed.seed.unwrap(),
        entries.iter().map(|e| e.user_id.clone()).collect(),
    );
    for user in &order[..5] {
        let entry = entries.iter().find(|e| &e.user_id == user).unwrap();
        service
            .purchase_as(
                entry.order_id,
                sale,
                user.clone(),
                entry.quantity,
                Some(entry.idempotency_key.clone()),
            )
            .await
            .unwrap();
    }
    let served = server.close_and_serve(sale).await.unwrap();
    assert_eq!(served.seed, closed.seed, "the seed of the first close");
    assert_eq!(
        (served.phase, served.served),
        (DrawPhase::Served, entrants as u64)
    );
    assert_eq!(
        winners(sale, entries, order.clone()).await,
        order[..units as usize].to_vec(),
        "the first of the drawn order win"
    );
    assert_eq!(units_left(sale).await, (0, units), "each entry decided once");
}

/// A hot sale (two buckets on a private Redis) whose only units left are
/// on their way between buckets (a transfer debited, its credit not yet
/// made): the buyer is told the engine is busy (503 `overloaded`, retry),
/// not "sold out" and not that a store failed; the sale is not flagged
/// sold out, and once the units arrive the same buyer gets them.
#[tokio::test]
async fn units_on_their_way_between_buckets_answer_busy_not_sold_out() {
    use flashsale_stack::redis::buckets::home;
    use flashsale_stack::redis::{Amount, SaleKeys, Transfers};
    let url = flashsale_testkit::stores::shared::redis_url().await;
    let stock = Arc::new(flashsale_stack::RedisStock::connect(&url).await.unwrap());
    let mut terms = contract::sale(SaleState::Active, 2, 2).terms();
    terms.stock_buckets = 2;
    let sale = terms.id;
    stock.load(terms).await.unwrap();
    let keys = SaleKeys::buckets(sale, 2);
    let moved = Transfers::new(stock.connection())
        .debit("cut", &keys[1].place, &keys[0].place, Amount::UpTo(1))
        .await
        .unwrap();
    assert_eq!(moved, 1, "bucket 1's unit is on its way");
    let service = InventoryService::new(stock.clone(), Durability::Outbox, Arc::new(NoEvents), u64::MAX);
    let buyer_of = |k: u32| {
        (0..)
            .map(|i| UserId::parse(&format!("b{k}-{i}")).unwrap())
            .find(|u| home(u, 2) == k)
            .unwrap()
    };
    let one = Quantity::parse(1).unwrap();
    service
        .purchase(sale, buyer_of(0), one, None)
        .await
        .expect("bucket 0's own unit");
    let answer = service.purchase(sale, buyer_of(1), one, None).await;
    assert!(matches!(answer, Err(PurchaseError::Overloaded)), "{answer:?}");
    assert!(!service.sold_out_flags().is_sold_out(sale), "flagged sold out");
    assert_eq!(stock.finish_transfers(sale).await.unwrap(), 1, "delivered");
    service
        .purchase(sale, buyer_of(1), one, None)
        .await
        .expect("the unit that arrived");
}
