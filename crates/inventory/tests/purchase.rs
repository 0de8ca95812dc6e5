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

/// A fair start's draw, served: 40 entrants for 10 units (limit 1). The
/// winners are the first 10 of the drawn order and the others are told
/// sold out; serving again changes nothing; and a server that died after
/// reserving the first entries, before recording them, is taken over with
/// every entry decided once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draw_is_served_once_in_its_order() {
    use flashsale_domain::ports::{DrawAnswer, DrawEntry, DrawPhase, DrawStore};
    use flashsale_domain::{draw_order, IdempotencyKey, OrderId, SaleId};
    use flashsale_embedded::{database, SqliteDraws};
    use flashsale_inventory::DrawServer;

    let dir = std::env::temp_dir().join(format!("flashsale-inventory-draw-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    database::migrate_dir(&dir).unwrap();
    let draws = Arc::new(SqliteDraws::open(&database::database_path(&dir)).unwrap());
    let stock = Arc::new(MemoryStock::new());
    let service = Arc::new(InventoryService::new(
        stock.clone(),
        Durability::Outbox,
        Arc::new(NoEvents),
        u64::MAX,
    ));
    let server = DrawServer::new(service.clone(), draws.clone());
    let open_sale_with_entrants = |n: usize| {
        let (stock, draws) = (stock.clone(), draws.clone());
        async move {
            let terms = contract::sale(SaleState::Active, 10, 1).terms();
            let sale = terms.id;
            stock.load(terms).await.unwrap();
            let mut entries = Vec::new();
            for i in 0..n {
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
    let winners_and_refusals = |sale: SaleId, entries: Vec<DrawEntry>| {
        let draws = draws.clone();
        async move {
            let users: Vec<UserId> = entries.iter().map(|e| e.user_id.clone()).collect();
            let answers = draws.answers(sale, &users).await.unwrap();
            let mut winners = Vec::new();
            for (entry, answer) in entries.iter().zip(answers) {
                match answer.expect("every entry answered") {
                    DrawAnswer::Accepted { order_id, .. } => {
                        assert_eq!(order_id, entry.order_id, "a winner's order is its entry's");
                        winners.push(entry.user_id.clone());
                    }
                    DrawAnswer::Refused(PurchaseRejection::SoldOut) => {}
                    other => panic!("unexpected answer {other:?}"),
                }
            }
            winners
        }
    };

    let (sale, entries) = open_sale_with_entrants(40).await;
    let served = server.close_and_serve(sale).await.unwrap();
    assert_eq!(
        (served.phase, served.entrants, served.served),
        (DrawPhase::Served, 40, 40)
    );
    let seed = served.seed.unwrap();
    let order = draw_order(&seed, entries.iter().map(|e| e.user_id.clone()).collect());
    let mut winners = winners_and_refusals(sale, entries.clone()).await;
    winners.sort_by(|a, b| {
        order
            .iter()
            .position(|u| u == a)
            .cmp(&order.iter().position(|u| u == b))
    });
    assert_eq!(
        winners,
        order[..10].to_vec(),
        "the first ten of the drawn order win"
    );
    assert_eq!(
        server.close_and_serve(sale).await.unwrap(),
        served,
        "served again: nothing changes"
    );
    let level = stock.level(sale).await.unwrap().unwrap();
    assert_eq!((level.remaining, level.in_flight), (0, 10));

    // A server reserved the first five of the drawn order, then died
    // before recording them.
    let (sale, entries) = open_sale_with_entrants(30).await;
    let closed = draws
        .close(sale, flashsale_domain::DrawSeed::from_bytes([3; 32]))
        .await
        .unwrap();
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
    assert_eq!((served.phase, served.served), (DrawPhase::Served, 30));
    let winners = winners_and_refusals(sale, entries).await;
    assert_eq!(winners.len(), 10);
    assert!(
        order[..10].iter().all(|u| winners.contains(u)),
        "the first ten of the drawn order win"
    );
    let level = stock.level(sale).await.unwrap().unwrap();
    assert_eq!(
        (level.remaining, level.in_flight),
        (0, 10),
        "each entry decided once"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
