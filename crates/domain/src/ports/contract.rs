//! The tests every adapter of a port must pass. Adapter crates call these
//! from their own tests with a real instance; each function uses fresh ids,
//! so one store can run them all.
//!
//! They panic on the first broken promise, naming it.

use chrono::{Duration, SubsecRound, Utc};

use crate::ports::{OrderQueue, OrderStore, ReserveError, SaleCatalog, StockOpError, StockStore};
use crate::{
    Archived, Decision, IdempotencyKey, OrderId, OrderStatus, PurchaseRejection, Quantity, Reservation,
    ReserveOutcome, ReserveRequest, Sale, SaleDraft, SaleId, SaleState, SaleTerms, Transition, UserId,
};

/// A sale in `state` with `stock` units and a limit of `limit` per buyer.
pub fn sale(state: SaleState, stock: u64, limit: u32) -> Sale {
    let mut sale = SaleDraft::parse(
        "Contract sale",
        "Widget",
        1999,
        stock as i64,
        limit as i64,
        None,
        None,
    )
    .expect("valid draft")
    .into_sale(SaleId::generate(), Utc::now());
    sale.state = state;
    sale
}

/// A request of `quantity` units by `user`.
pub fn request(sale: SaleId, user: &str, quantity: u32, key: Option<&str>) -> ReserveRequest {
    ReserveRequest {
        sale_id: sale,
        user_id: UserId::parse(user).expect("valid user"),
        quantity: Quantity::parse(quantity.into()).expect("valid quantity"),
        idempotency_key: key.map(|k| IdempotencyKey::parse(k).expect("valid key")),
        order_id: OrderId::generate(),
        now: Utc::now(),
    }
}

/// A reservation as the stock store would have made it.
pub fn reservation(sale: SaleId, user: &str, quantity: u32) -> Reservation {
    let req = request(sale, user, quantity, Some("contract-key"));
    Reservation {
        order_id: req.order_id,
        sale_id: sale,
        user_id: req.user_id,
        quantity: req.quantity,
        idempotency_key: req.idempotency_key,
        remaining: 7,
        reserved_at: req.now,
    }
}

fn reserved(outcome: Result<ReserveOutcome, ReserveError>) -> Reservation {
    match outcome {
        Ok(ReserveOutcome::Reserved(r)) => r,
        other => panic!("expected a new reservation, got {other:?}"),
    }
}

/// The stock store's promises: atomic decisions, refusals that change
/// nothing, replays, releases, transitions and stock changes.
pub async fn stock_store<S: StockStore>(store: &S) {
    let terms = sale(SaleState::Active, 3, 2).terms();
    let id = terms.id;
    store.load(terms.clone()).await.expect("load");

    let unknown = store.reserve(request(SaleId::generate(), "a", 1, None)).await;
    assert_eq!(unknown, Err(ReserveError::SaleNotFound), "unknown sale");

    let first = reserved(store.reserve(request(id, "alice", 1, Some("k1"))).await);
    assert_eq!(first.remaining, 2, "remaining after the first unit");
    let replay = store
        .reserve(request(id, "alice", 1, Some("k1")))
        .await
        .expect("replay");
    assert_eq!(
        replay,
        ReserveOutcome::Replayed(first.clone()),
        "idempotent replay"
    );

    let too_many = store.reserve(request(id, "bob", 3, None)).await;
    assert_eq!(
        too_many,
        Err(ReserveError::Rejected(PurchaseRejection::QuantityAboveLimit {
            limit: 2
        })),
        "quantity above limit"
    );
    let second_of_alice = reserved(store.reserve(request(id, "alice", 1, None)).await);
    let over = store.reserve(request(id, "alice", 1, None)).await;
    assert_eq!(
        over,
        Err(ReserveError::Rejected(PurchaseRejection::LimitExceeded {
            limit: 2
        }))
    );
    let short = store.reserve(request(id, "bob", 2, None)).await;
    assert_eq!(
        short,
        Err(ReserveError::Rejected(PurchaseRejection::NotEnoughStock {
            remaining: 1
        }))
    );
    let last = reserved(store.reserve(request(id, "bob", 1, None)).await);
    let sold_out = store.reserve(request(id, "carol", 1, None)).await;
    assert_eq!(sold_out, Err(ReserveError::Rejected(PurchaseRejection::SoldOut)));

    let level = store.level(id).await.expect("level").expect("known sale");
    assert_eq!((level.stock, level.remaining, level.in_flight), (3, 0, 3));

    store.release(&last).await.expect("release");
    store.release(&last).await.expect("second release is a no-op");
    store
        .settle(id, &[first.order_id, second_of_alice.order_id])
        .await
        .expect("settle");
    store
        .settle(id, &[first.order_id])
        .await
        .expect("second settle is a no-op");
    store
        .release(&first)
        .await
        .expect("releasing a stored order is a no-op");
    let level = store.level(id).await.unwrap().unwrap();
    assert_eq!(
        (level.remaining, level.in_flight, level.persisted),
        (1, 0, 2),
        "after release and settle"
    );
    assert_eq!(level.ledger_difference(), 0, "ledger");

    // Pause: nothing is sold until resume.
    let now = Utc::now();
    assert_eq!(
        store.transition(id, Transition::Pause, now).await,
        Ok(SaleState::Paused)
    );
    let paused = store.reserve(request(id, "dave", 1, None)).await;
    assert_eq!(
        paused,
        Err(ReserveError::Rejected(PurchaseRejection::SaleNotActive))
    );
    let bad = store.transition(id, Transition::Start, now).await;
    assert!(
        matches!(bad, Err(StockOpError::Transition(_))),
        "start a paused sale: {bad:?}"
    );
    assert_eq!(
        store.transition(id, Transition::Resume, now).await,
        Ok(SaleState::Active)
    );

    // Stock top-up and withdrawal, bounded by what remains.
    let level = store.adjust(id, 5, now).await.expect("top-up");
    assert_eq!((level.stock, level.remaining), (8, 6));
    assert!(matches!(
        store.adjust(id, -7, now).await,
        Err(StockOpError::Change(_))
    ));
    let level = store
        .adjust(id, -6, now)
        .await
        .expect("withdraw all that remains");
    assert_eq!((level.stock, level.remaining), (2, 0));
    assert_eq!(
        store.adjust(SaleId::generate(), 1, now).await,
        Err(StockOpError::SaleNotFound)
    );

    assert_eq!(
        store.transition(id, Transition::End, now).await,
        Ok(SaleState::Ended)
    );
    assert!(
        matches!(store.adjust(id, 1, now).await, Err(StockOpError::Change(_))),
        "ended sale"
    );

    // An ended sale leaves the stock store once nothing of it is in flight;
    // an open one, or one with work left, stays.
    let idle = sale(SaleState::Active, 4, 1).terms();
    store.load(idle.clone()).await.unwrap();
    assert_eq!(store.forget(idle.id).await, Ok(None), "an open sale stays");
    store.transition(idle.id, Transition::End, now).await.unwrap();
    let last = store
        .forget(idle.id)
        .await
        .unwrap()
        .expect("an ended, idle sale goes");
    assert_eq!((last.stock, last.remaining, last.in_flight), (4, 4, 0));
    assert_eq!(store.level(idle.id).await, Ok(None), "nothing of it is left");
    assert_eq!(
        store.reserve(request(idle.id, "gone", 1, None)).await,
        Err(ReserveError::SaleNotFound)
    );
    assert_eq!(
        store.forget(idle.id).await,
        Ok(None),
        "forgetting twice changes nothing"
    );
    let busy = sale(SaleState::Active, 4, 1).terms();
    store.load(busy.clone()).await.unwrap();
    reserved(store.reserve(request(busy.id, "held", 1, None)).await);
    store.transition(busy.id, Transition::End, now).await.unwrap();
    assert_eq!(
        store.forget(busy.id).await,
        Ok(None),
        "a reservation in flight keeps it"
    );
    assert_eq!(store.level(busy.id).await.unwrap().map(|l| l.in_flight), Some(1));

    // The schedule is honoured inside the atomic step.
    let mut expired: SaleTerms = sale(SaleState::Active, 5, 1).terms();
    expired.ends_at = Some(Utc::now() - Duration::seconds(1));
    store.load(expired.clone()).await.unwrap();
    let late = store.reserve(request(expired.id, "erin", 1, None)).await;
    assert_eq!(
        late,
        Err(ReserveError::Rejected(PurchaseRejection::SaleNotActive)),
        "after ends_at"
    );
}

/// The catalog's promises: what is inserted or updated is read back.
pub async fn sale_catalog<C: SaleCatalog>(catalog: &C) {
    let mut sale = sale(SaleState::Scheduled, 10, 2);
    catalog.insert(&sale).await.expect("insert");
    assert_eq!(catalog.get(sale.id).await.unwrap().as_ref(), Some(&sale));
    sale.state = SaleState::Active;
    sale.stock = 15;
    catalog.update(&sale).await.expect("update");
    assert_eq!(catalog.get(sale.id).await.unwrap(), Some(sale.clone()));
    assert!(catalog.list().await.unwrap().contains(&sale));
    assert_eq!(catalog.get(SaleId::generate()).await.unwrap(), None);

    // Pages follow the ids, each starting after the one given.
    let later: Vec<Sale> = (0..3).map(|_| self::sale(SaleState::Scheduled, 1, 1)).collect();
    for s in &later {
        catalog.insert(s).await.expect("insert");
    }
    let ids = |sales: Vec<Sale>| sales.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let after_first = ids(catalog.page(Some(later[0].id), 2, false).await.unwrap());
    assert_eq!(
        after_first,
        [later[1].id, later[2].id],
        "a page starts right after its cursor"
    );
    let first_page = ids(catalog.page(None, 1, false).await.unwrap());
    assert_eq!(first_page.len(), 1, "a page holds at most its limit");
    assert!(
        first_page[0] <= sale.id,
        "the first page starts at the oldest sale"
    );
    assert!(catalog
        .page(Some(later[2].id), 5, false)
        .await
        .unwrap()
        .is_empty());

    // An archived sale leaves the live list and pages, not the catalog.
    let archived = Archived {
        at: Utc::now().trunc_subsecs(6),
        sold: 1,
    };
    assert!(catalog.archive(later[1].id, archived).await.unwrap());
    assert!(!catalog.archive(later[1].id, archived).await.unwrap(), "once");
    let read = catalog.get(later[1].id).await.unwrap().expect("still there");
    assert_eq!(read.archived, Some(archived));
    assert!(!catalog.list().await.unwrap().iter().any(|s| s.id == later[1].id));
    assert_eq!(
        ids(catalog.page(Some(later[0].id), 5, false).await.unwrap()),
        [later[2].id]
    );
    assert_eq!(
        ids(catalog.page(Some(later[0].id), 5, true).await.unwrap()),
        [later[1].id]
    );
}

/// The order store's promises: batches are idempotent and read back.
pub async fn order_store<S: OrderStore>(store: &S) {
    let sale = SaleId::generate();
    let mut batch: Vec<Reservation> = (0..5).map(|i| reservation(sale, &format!("u{i}"), 1)).collect();
    batch.sort_by_key(|r| r.order_id);
    assert_eq!(store.insert_batch(&batch).await.expect("insert"), 5);
    assert_eq!(
        store.insert_batch(&batch).await.expect("redelivery"),
        0,
        "redelivery is a no-op"
    );
    let order = store.get(batch[0].order_id).await.unwrap().expect("stored order");
    assert_eq!(order.status, OrderStatus::Confirmed);
    assert_eq!(order.user_id, batch[0].user_id);
    assert_eq!(store.get(OrderId::generate()).await.unwrap(), None);
    let mut back = store.reservations_of(sale).await.unwrap();
    back.sort_by_key(|r| r.order_id);
    assert_eq!(back.len(), 5);
    assert_eq!(
        back[0].idempotency_key, batch[0].idempotency_key,
        "idempotency key kept"
    );
    assert_eq!(back[0].remaining, batch[0].remaining, "first answer kept");
    let totals = store.totals(&[sale]).await.unwrap()[&sale];
    assert_eq!((totals.orders, totals.units), (5, 5));
    assert!(store.totals(&[SaleId::generate()]).await.unwrap().is_empty());
    let first = store
        .first_answer(
            sale,
            &batch[2].user_id,
            batch[2].idempotency_key.as_ref().unwrap(),
        )
        .await
        .unwrap()
        .expect("a keyed order's first answer");
    assert_eq!(
        (first.order_id, first.remaining),
        (batch[2].order_id, batch[2].remaining)
    );
    let other_key = IdempotencyKey::parse("another-key").unwrap();
    assert_eq!(
        store.first_answer(sale, &batch[2].user_id, &other_key).await,
        Ok(None)
    );

    // The ledger decides once per id: a stored order is not voided, and a
    // voided one is never stored by a later copy.
    assert_eq!(store.void(&batch[0], "test").await.unwrap(), Decision::Order);
    let late = reservation(sale, "late", 2);
    assert_eq!(
        store.void(&late, "lost in transit").await.unwrap(),
        Decision::Void
    );
    assert_eq!(
        store.void(&late, "again").await.unwrap(),
        Decision::Void,
        "void is idempotent"
    );
    assert_eq!(
        store.insert_batch(std::slice::from_ref(&late)).await.unwrap(),
        0,
        "a void id is never stored"
    );
    let void = store
        .get(late.order_id)
        .await
        .unwrap()
        .expect("void order readable");
    assert_eq!(
        (void.status, void.void_reason.as_deref()),
        (OrderStatus::Void, Some("lost in transit"))
    );
    let decided = store
        .decisions(&[batch[1].order_id, late.order_id, OrderId::generate()])
        .await
        .unwrap();
    assert_eq!(decided.len(), 2, "an undecided id is absent");
    assert_eq!(
        (decided[&batch[1].order_id], decided[&late.order_id]),
        (Decision::Order, Decision::Void)
    );
    assert_eq!(
        store.reservations_of(sale).await.unwrap().len(),
        5,
        "void is not an order"
    );
    let totals = store.totals(&[sale]).await.unwrap()[&sale];
    assert_eq!((totals.orders, totals.units), (5, 5), "void is not counted");
    let late_key = late.idempotency_key.as_ref().unwrap();
    assert_eq!(
        store.first_answer(sale, &late.user_id, late_key).await,
        Ok(None),
        "a void is no answer"
    );
}

/// The queue's promise: what `publish` accepted is stored exactly once.
/// Embedded, it is stored when `publish` returns; behind a broker it is
/// stored once a consumer ran, so the check polls, calling `pause` between
/// reads (at most 500 times).
pub async fn order_queue<Q, S, P, F>(queue: &Q, store: &S, pause: P)
where
    Q: OrderQueue,
    S: OrderStore,
    P: Fn() -> F,
    F: std::future::Future<Output = ()>,
{
    let sale = SaleId::generate();
    let batch: Vec<Reservation> = (0..3).map(|i| reservation(sale, &format!("q{i}"), 2)).collect();
    queue.publish(batch.clone()).await.expect("publish");
    let mut polls = 0;
    while store
        .totals(&[sale])
        .await
        .unwrap()
        .get(&sale)
        .map_or(0, |t| t.units)
        < 6
    {
        polls += 1;
        assert!(polls < 500, "published reservations never stored");
        pause().await;
    }
    for r in &batch {
        assert!(
            store.get(r.order_id).await.unwrap().is_some(),
            "reservation {} not stored",
            r.order_id
        );
    }
    queue.publish(batch).await.expect("republish");
    for _ in 0..5 {
        pause().await;
    }
    let totals = store.totals(&[sale]).await.unwrap()[&sale];
    assert_eq!((totals.orders, totals.units), (3, 6), "republish is a no-op");
}
