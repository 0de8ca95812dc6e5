//! The tests every adapter of a port must pass. Adapter crates call these
//! from their own tests with a real instance; each function uses fresh ids,
//! so one store can run them all.
//!
//! They panic on the first broken promise, naming it.

use chrono::{Duration, SubsecRound, Utc};

use crate::ports::{
    DrawAnswer, DrawEntry, DrawPhase, DrawStatus, DrawStore, Entered, OrderQueue, OrderStore, ReserveError,
    SaleCatalog, StockOpError, StockStore,
};
use crate::{
    draw_order, Archived, Decision, DrawSeed, IdempotencyKey, Order, OrderChange, OrderId, OrderStatus,
    PurchaseRejection, Quantity, Reservation, ReserveOutcome, ReserveRequest, Sale, SaleDraft, SaleId,
    SaleState, SaleTerms, Transition, UserId,
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
    // The terms read back as loaded, a fair start's window included.
    let start = Utc::now().trunc_subsecs(6) + Duration::hours(1);
    let fair = SaleDraft::parse(
        "Fair",
        "Widget",
        100,
        5,
        1,
        Some(start),
        Some(start + Duration::hours(1)),
    )
    .and_then(|d| d.with_fair_start(20, 10))
    .expect("valid draft")
    .into_sale(SaleId::generate(), Utc::now())
    .terms();
    assert_eq!(
        store.terms(fair.id).await.unwrap(),
        None,
        "terms of an unknown sale"
    );
    store.load(fair.clone()).await.unwrap();
    assert_eq!(store.terms(fair.id).await.unwrap(), Some(fair));

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

    give_back(store).await;
}

/// Units of an expired or cancelled order go back once, from persisted or
/// from in flight, and free the buyer's limit.
async fn give_back<S: StockStore>(store: &S) {
    let terms = sale(SaleState::Active, 2, 2).terms();
    let id = terms.id;
    store.load(terms).await.unwrap();
    let stored = reserved(store.reserve(request(id, "payer", 2, Some("intent"))).await);
    store.settle(id, &[stored.order_id]).await.unwrap();
    assert_eq!(
        store.reserve(request(id, "payer", 1, None)).await,
        Err(ReserveError::Rejected(PurchaseRejection::SoldOut))
    );
    assert_eq!(
        store.give_back(&Order::confirmed(&stored)).await,
        Ok(2),
        "units back"
    );
    assert_eq!(
        store.give_back(&Order::confirmed(&stored)).await,
        Ok(0),
        "once per order"
    );
    let level = store.level(id).await.unwrap().unwrap();
    assert_eq!(
        (
            level.remaining,
            level.in_flight,
            level.persisted,
            level.ledger_difference()
        ),
        (2, 0, 0, 0)
    );
    assert_eq!(
        store.reserve(request(id, "payer", 1, Some("intent"))).await,
        Ok(ReserveOutcome::Replayed(stored.clone())),
        "the same intent is still answered with its order"
    );
    let again = reserved(store.reserve(request(id, "payer", 2, None)).await);
    assert_eq!(
        store.give_back(&Order::confirmed(&again)).await,
        Ok(2),
        "from in flight"
    );
    store.settle(id, &[again.order_id]).await.unwrap();
    let level = store.level(id).await.unwrap().unwrap();
    assert_eq!(
        (level.remaining, level.in_flight, level.persisted),
        (2, 0, 0),
        "a late settle of an order given back changes nothing"
    );
    assert_eq!(
        store
            .give_back(&Order::confirmed(&reservation(SaleId::generate(), "x", 1)))
            .await,
        Ok(0),
        "a sale the store does not hold"
    );
}

/// A hot sale split into `stock_buckets` (issue 17) keeps every promise of
/// a sale of one: it sells exactly its stock, a buyer's limit is exact, a
/// unit released, given back or added reaches whoever buys next wherever
/// it lies, "sold out" means nothing is left, and the whole sale pauses,
/// ends and leaves the store. A 202's `remaining` may be its bucket's, so
/// only the sale's level is checked here. A store that ignores the setting
/// (the embedded one) keeps these promises too.
pub async fn hot_sale<S: StockStore>(store: &S) {
    let bucketed = |stock: u64, limit: u32, buckets: u32| {
        let mut terms = sale(SaleState::Active, stock, limit).terms();
        terms.stock_buckets = buckets;
        terms
    };
    let terms = bucketed(12, 3, 4);
    let id = terms.id;
    store.load(terms.clone()).await.unwrap();
    assert_eq!(store.terms(id).await.unwrap(), Some(terms), "terms read back");

    // The limit is exact, and a keyed retry gets its first answer.
    let first = reserved(store.reserve(request(id, "alice", 1, Some("k"))).await);
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(reserved(store.reserve(request(id, "alice", 1, None)).await));
    }
    assert_eq!(
        store.reserve(request(id, "alice", 1, None)).await,
        Err(ReserveError::Rejected(PurchaseRejection::LimitExceeded {
            limit: 3
        }))
    );
    assert_eq!(
        store.reserve(request(id, "alice", 1, Some("k"))).await,
        Ok(ReserveOutcome::Replayed(first.clone()))
    );
    let alice = UserId::parse("alice").unwrap();
    let key = IdempotencyKey::parse("k").unwrap();
    assert_eq!(
        store.first_answer(id, &alice, &key).await,
        Ok(Some(first.clone()))
    );

    // Every unit reaches a buyer, whichever bucket it started in.
    let mut sold = Vec::new();
    for i in 0..9 {
        sold.push(reserved(
            store.reserve(request(id, &format!("b{i}"), 1, None)).await,
        ));
    }
    assert_eq!(
        store.reserve(request(id, "late", 1, None)).await,
        Err(ReserveError::Rejected(PurchaseRejection::SoldOut))
    );
    let level = store.level(id).await.unwrap().unwrap();
    assert_eq!((level.stock, level.remaining, level.in_flight), (12, 0, 12));

    // A released unit is bought by the next buyer, wherever it lies.
    store.release(&sold[4]).await.unwrap();
    let resold = reserved(store.reserve(request(id, "later", 1, None)).await);
    assert_eq!(
        store.reserve(request(id, "last", 1, None)).await,
        Err(ReserveError::Rejected(PurchaseRejection::SoldOut))
    );
    let mut stored: Vec<OrderId> = sold.iter().map(|r| r.order_id).collect();
    stored.remove(4);
    stored.extend([first.order_id, resold.order_id]);
    store.settle(id, &stored).await.unwrap();
    let level = store.level(id).await.unwrap().unwrap();
    assert_eq!(
        (
            level.remaining,
            level.in_flight,
            level.persisted,
            level.ledger_difference()
        ),
        (0, 2, 10, 0),
        "alice's two unkeyed units are still in flight"
    );

    // The whole sale pauses and resumes.
    let now = Utc::now();
    store.transition(id, Transition::Pause, now).await.unwrap();
    store.adjust(id, 8, now).await.expect("top-up");
    for i in 0..8 {
        assert_eq!(
            store.reserve(request(id, &format!("p{i}"), 1, None)).await,
            Err(ReserveError::Rejected(PurchaseRejection::SaleNotActive)),
            "paused"
        );
    }
    store.transition(id, Transition::Resume, now).await.unwrap();
    // Units added go where buyers are; a withdrawal takes them back from
    // wherever they went, and is refused only when the sale is short.
    for i in 0..2 {
        held.push(reserved(
            store.reserve(request(id, &format!("p{i}"), 1, None)).await,
        ));
    }
    assert!(matches!(
        store.adjust(id, -7, now).await,
        Err(StockOpError::Change(_))
    ));
    let level = store.adjust(id, -6, now).await.expect("withdraw what is left");
    assert_eq!((level.stock, level.remaining, level.in_flight), (14, 0, 4));

    // Ended, with work left, it stays; settled, its level sums every bucket.
    store.transition(id, Transition::End, now).await.unwrap();
    assert_eq!(
        store.reserve(request(id, "after", 1, None)).await,
        Err(ReserveError::Rejected(PurchaseRejection::SaleNotActive))
    );
    assert_eq!(store.forget(id).await, Ok(None), "units in flight keep it");
    store
        .settle(id, &held.iter().map(|r| r.order_id).collect::<Vec<_>>())
        .await
        .unwrap();
    let level = store.level(id).await.unwrap().unwrap();
    assert_eq!(
        (level.stock, level.remaining, level.in_flight, level.persisted),
        (14, 0, 0, 14)
    );

    // An ended, idle sale leaves the store whole, its last level the sum
    // of its buckets.
    let idle = bucketed(10, 1, 4);
    store.load(idle.clone()).await.unwrap();
    store.transition(idle.id, Transition::End, now).await.unwrap();
    let last = store
        .forget(idle.id)
        .await
        .unwrap()
        .expect("an ended, idle sale goes");
    assert_eq!((last.stock, last.remaining, last.in_flight), (10, 10, 0));
    assert_eq!(store.level(idle.id).await, Ok(None));
    assert_eq!(store.terms(idle.id).await, Ok(None));
    assert_eq!(
        store.forget(idle.id).await,
        Ok(None),
        "forgetting twice changes nothing"
    );

    // A buyer wanting more than their bucket holds gets units from the
    // others; more than the sale holds is refused.
    let terms = bucketed(4, 4, 4);
    let id = terms.id;
    store.load(terms).await.unwrap();
    reserved(store.reserve(request(id, "q", 2, None)).await);
    assert!(matches!(
        store.reserve(request(id, "r", 3, None)).await,
        Err(ReserveError::Rejected(PurchaseRejection::NotEnoughStock { remaining })) if remaining < 3
    ));
    let given = reserved(store.reserve(request(id, "s", 2, None)).await);
    let level = store.level(id).await.unwrap().unwrap();
    assert_eq!((level.remaining, level.in_flight), (0, 4));
    // Units given back free the buyer's limit in their bucket.
    assert_eq!(store.give_back(&Order::confirmed(&given)).await, Ok(2));
    reserved(store.reserve(request(id, "s", 2, None)).await);
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
    let start = Utc::now().trunc_subsecs(6) + Duration::hours(1);
    let fair = SaleDraft::parse("Fair", "Widget", 100, 5, 1, Some(start), None)
        .and_then(|d| d.with_fair_start(15, 10))
        .expect("valid draft")
        .into_sale(SaleId::generate(), Utc::now());
    catalog.insert(&fair).await.expect("insert");
    assert_eq!(
        catalog.get(fair.id).await.unwrap(),
        Some(fair),
        "a fair start's window is kept"
    );

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
        draw: Some(DrawStatus {
            phase: DrawPhase::Served,
            seed: Some(crate::draw::DrawSeed::from_bytes([7; crate::draw::SEED_LEN])),
            entrants: 12,
            served: 12,
        }),
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
    let mut back = store.reservations_of(sale).await.unwrap().orders;
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
        store.reservations_of(sale).await.unwrap().orders.len(),
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

/// Checkout's promises, on a ledger that shares its database with
/// `catalog` (the payment window is the sale's): a payment or a cancel
/// changes only an order awaiting payment; an expiry only one overdue;
/// each decides once; expired and cancelled orders wait to give their units
/// back, and leave the sale's orders. `pause` waits the given time (the
/// ledger's clock decides overdue).
pub async fn checkout<C, S, P, F>(catalog: &C, store: &S, pause: P)
where
    C: SaleCatalog,
    S: OrderStore,
    P: Fn(std::time::Duration) -> F,
    F: std::future::Future<Output = ()>,
{
    let mut windowed = sale(SaleState::Active, 10, 5);
    windowed.payment_window_seconds = 1;
    let final_sale = sale(SaleState::Active, 10, 5);
    catalog.insert(&windowed).await.unwrap();
    catalog.insert(&final_sale).await.unwrap();
    let orders: Vec<Reservation> = (0..4)
        .map(|i| reservation(windowed.id, &format!("c{i}"), 2))
        .collect();
    let fin = reservation(final_sale.id, "final", 1);
    let mut batch = orders.clone();
    batch.push(fin.clone());
    let before = Utc::now();
    assert_eq!(store.insert_batch(&batch).await.unwrap(), 5);
    let first = store.get(orders[0].order_id).await.unwrap().unwrap();
    let due = first.payment_due_at.expect("a windowed order is due");
    assert!(first.awaits_payment());
    assert!(
        due > before && due <= Utc::now() + Duration::seconds(2),
        "due a window after it was stored: {due}"
    );
    let last = store.get(fin.order_id).await.unwrap().unwrap();
    assert_eq!((last.status, last.payment_due_at), (OrderStatus::Confirmed, None));
    let unchanged = |change: Option<OrderChange>, status| {
        let change = change.expect("known order");
        assert!(!change.changed, "{:?} changed", change.order.status);
        assert_eq!(change.order.status, status);
    };
    unchanged(store.pay(fin.order_id).await.unwrap(), OrderStatus::Confirmed);
    unchanged(store.cancel(fin.order_id).await.unwrap(), OrderStatus::Confirmed);
    assert_eq!(store.pay(OrderId::generate()).await, Ok(None));

    let paid = store.pay(orders[0].order_id).await.unwrap().unwrap();
    assert!(paid.changed);
    assert_eq!(paid.order.status, OrderStatus::Paid);
    assert!(paid.order.paid_at.is_some());
    unchanged(store.pay(orders[0].order_id).await.unwrap(), OrderStatus::Paid);
    unchanged(store.cancel(orders[0].order_id).await.unwrap(), OrderStatus::Paid);
    let cancelled = store.cancel(orders[1].order_id).await.unwrap().unwrap();
    assert!(cancelled.changed);
    assert_eq!(cancelled.order.status, OrderStatus::Cancelled);
    unchanged(
        store.pay(orders[1].order_id).await.unwrap(),
        OrderStatus::Cancelled,
    );
    // The ids of this sale's orders among `orders`, sorted.
    let mine = |orders: Vec<Order>| -> Vec<OrderId> {
        let mut ids: Vec<OrderId> = orders
            .into_iter()
            .filter(|o| o.sale_id == windowed.id)
            .map(|o| o.order_id)
            .collect();
        ids.sort();
        ids
    };
    assert!(
        mine(store.expire_due(10_000).await.unwrap()).is_empty(),
        "nothing due yet"
    );

    let wait = (due - Utc::now()).to_std().unwrap_or_default();
    pause(wait + std::time::Duration::from_millis(50)).await;
    let mut overdue = vec![orders[2].order_id, orders[3].order_id];
    overdue.sort();
    assert_eq!(mine(store.expire_due(10_000).await.unwrap()), overdue);
    assert!(
        mine(store.expire_due(10_000).await.unwrap()).is_empty(),
        "expired once"
    );
    unchanged(store.pay(orders[2].order_id).await.unwrap(), OrderStatus::Expired);
    unchanged(
        store.cancel(orders[3].order_id).await.unwrap(),
        OrderStatus::Expired,
    );

    let totals = store.totals(&[windowed.id]).await.unwrap()[&windowed.id];
    assert_eq!(
        (totals.orders, totals.units, totals.paid_orders, totals.paid_units),
        (1, 2, 1, 2),
        "only the paid order holds units"
    );
    assert_eq!((totals.expired_orders, totals.cancelled_orders), (2, 1));
    let ledger = store.reservations_of(windowed.id).await.unwrap();
    assert_eq!(
        ledger.orders.iter().map(|r| r.order_id).collect::<Vec<_>>(),
        [orders[0].order_id]
    );
    let mut given_back = ledger.given_back.clone();
    given_back.sort();
    let mut expected: Vec<OrderId> = orders[1..].iter().map(|r| r.order_id).collect();
    expected.sort();
    assert_eq!(given_back, expected, "expired and cancelled give units back");

    assert_eq!(mine(store.units_to_give_back(10_000).await.unwrap()), expected);
    store.mark_given_back(&expected).await.unwrap();
    assert!(mine(store.units_to_give_back(10_000).await.unwrap()).is_empty());
    let key = orders[2].idempotency_key.as_ref().unwrap();
    assert_eq!(
        store
            .first_answer(windowed.id, &orders[2].user_id, key)
            .await
            .unwrap()
            .map(|r| r.order_id),
        Some(orders[2].order_id),
        "an expired order is still its intent's answer"
    );
}

/// For the race of payments and expiries: `n` orders of one buyer each,
/// stored on a sale with a one-second payment window; returns the sale,
/// their ids and when they fall due.
pub async fn orders_awaiting_payment<C: SaleCatalog, S: OrderStore>(
    catalog: &C,
    store: &S,
    n: usize,
) -> (SaleId, Vec<OrderId>, chrono::DateTime<Utc>) {
    let mut windowed = sale(SaleState::Active, n as u64, 1);
    windowed.payment_window_seconds = 1;
    catalog.insert(&windowed).await.unwrap();
    let batch: Vec<Reservation> = (0..n)
        .map(|i| reservation(windowed.id, &format!("racer{i}"), 1))
        .collect();
    assert_eq!(store.insert_batch(&batch).await.unwrap(), n as u64);
    let due = store
        .get(batch[0].order_id)
        .await
        .unwrap()
        .and_then(|o| o.payment_due_at)
        .expect("due");
    (windowed.id, batch.into_iter().map(|r| r.order_id).collect(), due)
}

/// Pays each order in turn; returns those this call paid.
pub async fn pay_each<S: OrderStore>(store: &S, ids: &[OrderId]) -> Vec<OrderId> {
    let mut paid = Vec::new();
    for id in ids {
        let change = store.pay(*id).await.unwrap().expect("known order");
        if change.changed {
            assert_eq!(change.order.status, OrderStatus::Paid);
            paid.push(*id);
        }
    }
    paid
}

/// Expires `sale`'s orders until each of its `n` orders is paid or
/// expired; returns those expired here.
pub async fn expire_all<S: OrderStore>(store: &S, sale: SaleId, n: usize) -> Vec<OrderId> {
    let mut expired = Vec::new();
    for _ in 0..100_000 {
        expired.extend(
            store
                .expire_due(50)
                .await
                .unwrap()
                .into_iter()
                .filter(|o| o.sale_id == sale)
                .map(|o| o.order_id),
        );
        let totals = store
            .totals(&[sale])
            .await
            .unwrap()
            .get(&sale)
            .copied()
            .unwrap_or_default();
        if (totals.paid_orders + totals.expired_orders) as usize >= n {
            return expired;
        }
    }
    panic!("orders neither paid nor expired");
}

/// After the race: every order ended paid xor expired, as the call that
/// changed it was told, and the totals agree.
pub async fn paid_xor_expired<S: OrderStore>(
    store: &S,
    sale: SaleId,
    ids: &[OrderId],
    paid: &[OrderId],
    expired: &[OrderId],
) {
    use std::collections::HashSet;
    let (paid, expired): (HashSet<_>, HashSet<_>) = (paid.iter().collect(), expired.iter().collect());
    assert!(paid.is_disjoint(&expired), "an order both paid and expired");
    for id in ids {
        let order = store.get(*id).await.unwrap().unwrap();
        match order.status {
            OrderStatus::Paid => assert!(paid.contains(id), "{id} paid, not by the payer"),
            OrderStatus::Expired => assert!(expired.contains(id), "{id} expired, not by the expiry"),
            other => panic!("{id} ended {other:?}"),
        }
    }
    let totals = store.totals(&[sale]).await.unwrap()[&sale];
    assert_eq!(
        (
            totals.paid_orders as usize,
            totals.expired_orders as usize,
            totals.orders as usize
        ),
        (paid.len(), expired.len(), paid.len())
    );
    assert_eq!(paid.len() + expired.len(), ids.len());
    eprintln!("race: {} paid, {} expired", paid.len(), expired.len());
}

/// The shop outbox's promises, on a ledger writing shop events and alone
/// in its database: each order change writes one event with the order in
/// its new status; a claimed event is not claimed again during its lease;
/// a failed one comes back when due, a delivered one never, one given up
/// on is counted.
pub async fn shop_outbox<C, S>(catalog: &C, store: &S)
where
    C: SaleCatalog,
    S: OrderStore + crate::ShopOutbox,
{
    use crate::ShopEventBody;
    use std::time::Duration as Lease;
    let mut windowed = sale(SaleState::Active, 10, 5);
    windowed.payment_window_seconds = 600;
    catalog.insert(&windowed).await.unwrap();
    let order = reservation(windowed.id, "shopper", 2);
    store.insert_batch(std::slice::from_ref(&order)).await.unwrap();
    store.insert_batch(std::slice::from_ref(&order)).await.unwrap();
    let claimed = store.claim(100, Lease::from_secs(60)).await.unwrap();
    assert_eq!(claimed.len(), 1, "one event per change, none for a redelivery");
    let body: ShopEventBody = serde_json::from_str(&claimed[0].payload).expect("a ShopEventBody");
    assert_eq!(
        (body.kind.as_str(), body.id.as_str()),
        ("order.confirmed", claimed[0].id.as_str())
    );
    assert_eq!(
        (body.data.order_id, body.data.status),
        (order.order_id, OrderStatus::Confirmed)
    );
    assert!(body.data.payment_due_at.is_some(), "the deadline is in the event");
    assert!(
        store.claim(100, Lease::from_secs(60)).await.unwrap().is_empty(),
        "leased"
    );
    store
        .failed(
            &claimed[0].id,
            "HTTP 500",
            Some(Utc::now() - Duration::seconds(1)),
        )
        .await
        .unwrap();
    let again = store.claim(100, Lease::from_secs(60)).await.unwrap();
    assert_eq!(again.len(), 1, "a failed delivery comes back when due");
    assert_eq!(again[0].attempts, 1);
    let backlog = store.backlog().await.unwrap();
    assert_eq!((backlog.pending, backlog.failing, backlog.gave_up), (1, 1, 0));
    store.delivered(&again[0].id).await.unwrap();

    store.pay(order.order_id).await.unwrap();
    let voided = reservation(windowed.id, "lost", 1);
    store.void(&voided, "lost").await.unwrap();
    let mut kinds: Vec<(String, OrderId)> = store
        .claim(100, Lease::from_secs(60))
        .await
        .unwrap()
        .iter()
        .map(|e| {
            let body: ShopEventBody = serde_json::from_str(&e.payload).expect("a ShopEventBody");
            (body.kind, body.data.order_id)
        })
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            ("order.paid".to_owned(), order.order_id),
            ("order.void".to_owned(), voided.order_id)
        ]
    );
    let backlog = store.backlog().await.unwrap();
    assert_eq!((backlog.pending, backlog.gave_up), (2, 0));

    // Given up on: counted, never claimed again.
    let late = reservation(windowed.id, "late", 1);
    store.void(&late, "lost").await.unwrap();
    let last = store.claim(100, Lease::from_secs(60)).await.unwrap();
    assert_eq!(last.len(), 1);
    store.failed(&last[0].id, "gone for a day", None).await.unwrap();
    let backlog = store.backlog().await.unwrap();
    assert_eq!((backlog.pending, backlog.gave_up), (2, 1));
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

/// A draw entry of `quantity` units for `user`, with `key`.
fn entry(user: &str, quantity: u32, key: &str) -> DrawEntry {
    DrawEntry {
        user_id: UserId::parse(user).expect("valid user"),
        order_id: OrderId::generate(),
        quantity: Quantity::parse(quantity.into()).expect("valid quantity"),
        idempotency_key: IdempotencyKey::parse(key).expect("valid key"),
    }
}

/// The promises of [`DrawStore`]: one entry per buyer, closed once with
/// one seed, answers recorded once per position.
pub async fn draw_store<D: DrawStore>(store: &D) {
    let sale = SaleId::generate();
    let seed = DrawSeed::from_bytes([7; 32]);
    assert_eq!(store.status(sale).await.unwrap(), None, "a draw before any entry");
    let empty = DrawStatus {
        phase: DrawPhase::Served,
        seed: Some(seed),
        entrants: 0,
        served: 0,
    };
    assert_eq!(
        store.close(sale, seed).await.unwrap(),
        empty,
        "a draw nobody entered"
    );
    assert_eq!(store.status(sale).await.unwrap(), Some(empty));
    assert_eq!(
        store.enter(sale, entry("late", 1, "k")).await.unwrap(),
        Entered::Closed,
        "a draw closed before anyone entered takes no entry"
    );

    let sale = SaleId::generate();
    let ann = entry("ann", 1, "ann-key");
    assert_eq!(
        store.enter(sale, ann.clone()).await.unwrap(),
        Entered::Entry(ann.clone())
    );
    assert_eq!(
        store.enter(sale, entry("ann", 1, "another-key")).await.unwrap(),
        Entered::Entry(ann.clone()),
        "a buyer's second attempt is the first entry"
    );
    assert_eq!(
        store.enter(sale, entry("ann", 2, "ann-key")).await.unwrap(),
        Entered::KeyReused,
        "the entry's key with another quantity"
    );
    let others: Vec<DrawEntry> = (0..30)
        .map(|i| entry(&format!("buyer-{i}"), 1, &format!("k{i}")))
        .collect();
    for e in &others {
        assert_eq!(
            store.enter(sale, e.clone()).await.unwrap(),
            Entered::Entry(e.clone())
        );
    }
    let open = DrawStatus {
        phase: DrawPhase::Open,
        seed: None,
        entrants: 31,
        served: 0,
    };
    assert_eq!(store.status(sale).await.unwrap(), Some(open));

    let closed = DrawStatus {
        phase: DrawPhase::Serving,
        seed: Some(seed),
        entrants: 31,
        served: 0,
    };
    assert_eq!(store.close(sale, seed).await.unwrap(), closed);
    assert_eq!(
        store.close(sale, DrawSeed::from_bytes([9; 32])).await.unwrap(),
        closed,
        "a second close reads the first seed"
    );
    assert_eq!(
        store.enter(sale, entry("late", 1, "k")).await.unwrap(),
        Entered::Closed
    );
    let mut entries = store.entries(sale).await.unwrap();
    entries.sort_by(|a, b| a.user_id.as_str().cmp(b.user_id.as_str()));
    let mut expected: Vec<DrawEntry> = others.iter().cloned().chain([ann.clone()]).collect();
    expected.sort_by(|a, b| a.user_id.as_str().cmp(b.user_id.as_str()));
    assert_eq!(entries, expected, "the entries, as entered");

    let order = draw_order(&seed, entries.iter().map(|e| e.user_id.clone()).collect());
    let answer = |i: usize| match i {
        0..10 => DrawAnswer::Accepted {
            order_id: OrderId::generate(),
            remaining: 9 - i as u64,
        },
        _ => DrawAnswer::Refused(PurchaseRejection::SoldOut),
    };
    let answers: Vec<(UserId, DrawAnswer)> = order
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, u)| (u, answer(i)))
        .collect();
    assert_eq!(store.record(sale, 0, &answers[..20]).await.unwrap(), 20);
    let stale: Vec<(UserId, DrawAnswer)> = answers[..20]
        .iter()
        .map(|(u, _)| (u.clone(), DrawAnswer::Refused(PurchaseRejection::SaleNotActive)))
        .collect();
    assert_eq!(
        store.record(sale, 0, &stale).await.unwrap(),
        20,
        "a server behind the served position records nothing"
    );
    let asked = [
        order[0].clone(),
        order[25].clone(),
        UserId::parse("nobody").unwrap(),
    ];
    assert_eq!(
        store.answers(sale, &asked).await.unwrap(),
        vec![Some(answers[0].1.clone()), None, None],
        "answers of a served entry, one not served yet and a buyer who did not enter"
    );
    assert_eq!(store.record(sale, 20, &answers[20..]).await.unwrap(), 31);
    let served = DrawStatus {
        phase: DrawPhase::Served,
        served: 31,
        ..closed
    };
    assert_eq!(store.status(sale).await.unwrap(), Some(served));
    let all = store.answers(sale, &order).await.unwrap();
    assert_eq!(
        all,
        answers.iter().map(|(_, a)| Some(a.clone())).collect::<Vec<_>>(),
        "every entry's answer, as recorded"
    );
    store.forget_draw(sale).await.unwrap();
    assert_eq!(store.status(sale).await.unwrap(), None, "a forgotten draw");
    assert!(
        store.entries(sale).await.unwrap().is_empty(),
        "a forgotten draw's entries"
    );
    assert_eq!(store.answers(sale, &order[..1]).await.unwrap(), vec![None]);
}
