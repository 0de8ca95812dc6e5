//! [`SaleBook`]: the stock, buyers and idempotency records of one sale, and
//! the one place where the purchase decision is made.
//!
//! It is plain data with no locking: the embedded stock store keeps one book
//! per sale behind its own lock, and the Redis script implements the same
//! decision in the same order. Every check runs before the first write, so a
//! refused purchase changes nothing.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{IdempotencyKey, OrderId, UserId};
use crate::purchase::{
    LedgerSnapshot, Order, PurchaseRejection, Reservation, ReserveOutcome, ReserveRequest,
};
use crate::sale::{status_of, SaleState, SaleStatus, SaleTerms, Transition, TransitionError};

/// Why a stock change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StockChangeError {
    #[error("the sale has ended; its stock can no longer change")]
    Ended,
    #[error("cannot withdraw {requested} units: only {remaining} remain")]
    BelowZero { requested: u64, remaining: u64 },
    #[error("stock would exceed {max} units", max = crate::SaleDraft::MAX_STOCK)]
    TooLarge,
    #[error("add must not be zero")]
    Zero,
}

/// The live counters of one sale. Between any two operations,
/// `stock == remaining + in_flight + persisted` (the ledger check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    pub stock: u64,
    pub remaining: u64,
    /// Reserved and answered, not yet committed to the order store.
    pub in_flight: u64,
    /// Committed to the order store.
    pub persisted: u64,
    pub state: SaleState,
}

impl StockLevel {
    /// `stock - (remaining + in_flight + persisted)`: zero when every unit is
    /// accounted for, positive when units went missing, negative when some
    /// were counted twice.
    pub fn ledger_difference(&self) -> i64 {
        self.stock as i64 - (self.remaining + self.in_flight + self.persisted) as i64
    }

    pub fn status(&self) -> SaleStatus {
        status_of(self.state, self.remaining)
    }
}

/// The first answer to an idempotent request, kept to be given again.
type IdempotencyIndex = HashMap<(UserId, IdempotencyKey), Reservation>;

/// One sale's stock, buyers and idempotency records.
#[derive(Debug, Clone)]
pub struct SaleBook {
    terms: SaleTerms,
    remaining: u64,
    /// Answered reservations not yet committed to the order store, by id, so
    /// that settling or releasing one twice is a no-op.
    in_flight: HashMap<OrderId, Reservation>,
    in_flight_units: u64,
    persisted: u64,
    bought: HashMap<UserId, u32>,
    replies: IdempotencyIndex,
    /// Orders whose units went back on sale after the ledger stored them
    /// (expired, cancelled): giving one back again is a no-op.
    given_back: HashSet<OrderId>,
    /// While a rebuild reads the ledger (see [`Self::open_fence`]): every
    /// reservation settled since, which its snapshot may predate.
    settled_since_fence: Option<Vec<Reservation>>,
}

impl SaleBook {
    /// A book for a sale of which nothing was sold yet.
    pub fn new(terms: SaleTerms) -> Self {
        Self {
            remaining: terms.stock,
            terms,
            in_flight: HashMap::new(),
            in_flight_units: 0,
            persisted: 0,
            bought: HashMap::new(),
            replies: HashMap::new(),
            given_back: HashSet::new(),
            settled_since_fence: None,
        }
    }

    /// Starts a rebuild from the ledger: from now on every settled
    /// reservation is also kept, so the ledger can be read without holding
    /// this book's lock (see [`Self::rebuilt`]).
    pub fn open_fence(&mut self) {
        self.settled_since_fence = Some(Vec::new());
    }

    /// This sale's book rebuilt from `ledger`, read after
    /// [`Self::open_fence`]: persisted = its orders plus whatever was
    /// settled since the fence (an order committed after the read was either
    /// still in flight here, or settled and kept); in flight = what is still
    /// in flight and not persisted; orders given back, here or in the
    /// ledger, stay given back. Exact whatever the timing.
    pub fn rebuilt(&self, ledger: LedgerSnapshot) -> SaleBook {
        let mut given_back = self.given_back.clone();
        given_back.extend(ledger.given_back);
        let mut orders: HashMap<OrderId, Reservation> =
            ledger.orders.into_iter().map(|r| (r.order_id, r)).collect();
        for r in self.settled_since_fence.iter().flatten() {
            orders.entry(r.order_id).or_insert_with(|| r.clone());
        }
        let mut book = SaleBook::new(self.terms.clone());
        for r in self
            .in_flight
            .values()
            .filter(|r| !orders.contains_key(&r.order_id) && !given_back.contains(&r.order_id))
        {
            book.restore_in_flight(r.clone());
        }
        for r in orders.into_values().filter(|r| !given_back.contains(&r.order_id)) {
            book.restore_persisted(r);
        }
        book.given_back = given_back;
        book
    }

    /// Re-enters an order whose units the ledger gave back (after a restart
    /// or a cache flush), so that giving them back again changes nothing.
    pub fn restore_given_back(&mut self, order_id: OrderId) {
        self.given_back.insert(order_id);
    }

    /// Re-enters an order found in the order store (after a restart or a
    /// cache flush): its units are persisted and count against its buyer.
    pub fn restore_persisted(&mut self, reservation: Reservation) {
        self.persisted += u64::from(reservation.quantity.get());
        self.restore(reservation);
    }

    /// Re-enters a reservation answered but not yet stored (cache flush).
    pub fn restore_in_flight(&mut self, reservation: Reservation) {
        self.in_flight_units += u64::from(reservation.quantity.get());
        self.in_flight.insert(reservation.order_id, reservation.clone());
        self.restore(reservation);
    }

    /// The reservations answered and not yet stored.
    pub fn in_flight(&self) -> impl Iterator<Item = &Reservation> {
        self.in_flight.values()
    }

    fn restore(&mut self, reservation: Reservation) {
        let q = reservation.quantity.get();
        self.remaining = self.remaining.saturating_sub(u64::from(q));
        *self.bought.entry(reservation.user_id.clone()).or_default() += q;
        if let Some(key) = reservation.idempotency_key.clone() {
            self.replies
                .insert((reservation.user_id.clone(), key), reservation);
        }
    }

    pub fn terms(&self) -> &SaleTerms {
        &self.terms
    }

    pub fn level(&self) -> StockLevel {
        StockLevel {
            stock: self.terms.stock,
            remaining: self.remaining,
            in_flight: self.in_flight_units,
            persisted: self.persisted,
            state: self.terms.state,
        }
    }

    /// The first answer kept for `user`'s idempotency `key`.
    pub fn first_answer(&self, user: &UserId, key: &IdempotencyKey) -> Option<&Reservation> {
        self.replies.get(&(user.clone(), key.clone()))
    }

    /// Units `user` holds in this sale, in flight or persisted.
    pub fn bought_by(&self, user: &UserId) -> u32 {
        self.bought.get(user).copied().unwrap_or(0)
    }

    /// Number of distinct buyers.
    pub fn buyers(&self) -> usize {
        self.bought.len()
    }

    /// The purchase decision. Checks, in order: replay of an idempotency
    /// key, quantity against the per-user limit, the sale's state at `now`,
    /// stock, the buyer's total against the limit; then, and only then,
    /// takes the units.
    pub fn reserve(&mut self, req: ReserveRequest) -> Result<ReserveOutcome, PurchaseRejection> {
        if let Some(key) = &req.idempotency_key {
            if let Some(first) = self.replies.get(&(req.user_id.clone(), key.clone())) {
                return Ok(ReserveOutcome::Replayed(first.clone()));
            }
        }
        let limit = self.terms.per_user_limit;
        let q = req.quantity.get();
        if q > limit {
            return Err(PurchaseRejection::QuantityAboveLimit { limit });
        }
        if self.terms.effective_state(req.now) != SaleState::Active {
            return Err(PurchaseRejection::SaleNotActive);
        }
        if self.remaining == 0 {
            return Err(PurchaseRejection::SoldOut);
        }
        let bought = self.bought_by(&req.user_id);
        if bought + q > limit {
            return Err(PurchaseRejection::LimitExceeded { limit });
        }
        if self.remaining < u64::from(q) {
            return Err(PurchaseRejection::NotEnoughStock {
                remaining: self.remaining,
            });
        }

        self.remaining -= u64::from(q);
        self.in_flight_units += u64::from(q);
        *self.bought.entry(req.user_id.clone()).or_default() = bought + q;
        let reservation = Reservation {
            order_id: req.order_id,
            sale_id: req.sale_id,
            user_id: req.user_id,
            quantity: req.quantity,
            idempotency_key: req.idempotency_key,
            remaining: self.remaining,
            reserved_at: req.now.trunc_subsecs(6),
        };
        if let Some(key) = &reservation.idempotency_key {
            self.replies
                .insert((reservation.user_id.clone(), key.clone()), reservation.clone());
        }
        self.in_flight.insert(reservation.order_id, reservation.clone());
        Ok(ReserveOutcome::Reserved(reservation))
    }

    /// Gives the units of a reservation that will never become an order back
    /// to the sale (the buyer was not told 202, or the order was refused by
    /// the store). Forgets its idempotency record so a retry starts afresh.
    /// Returns false, changing nothing, if the reservation is not in flight
    /// (already stored or already released).
    pub fn release(&mut self, order_id: OrderId) -> bool {
        let Some(reservation) = self.in_flight.remove(&order_id) else {
            return false;
        };
        let q = reservation.quantity.get();
        self.in_flight_units -= u64::from(q);
        self.remaining += u64::from(q);
        if let Some(count) = self.bought.get_mut(&reservation.user_id) {
            *count = count.saturating_sub(q);
            if *count == 0 {
                self.bought.remove(&reservation.user_id);
            }
        }
        if let Some(key) = &reservation.idempotency_key {
            self.replies.remove(&(reservation.user_id.clone(), key.clone()));
        }
        true
    }

    /// Moves a reservation committed to the order store from in flight to
    /// persisted. Returns false if it was not in flight.
    pub fn settle(&mut self, order_id: OrderId) -> bool {
        let Some(reservation) = self.in_flight.remove(&order_id) else {
            return false;
        };
        let q = u64::from(reservation.quantity.get());
        self.in_flight_units -= q;
        self.persisted += q;
        if let Some(fence) = &mut self.settled_since_fence {
            fence.push(reservation);
        }
        true
    }

    /// Puts the units of a stored order that expired or was cancelled back
    /// on sale, and takes them off its buyer's count (the ledger decided it
    /// first). Once per order id: returns 0, changing nothing, if this order
    /// was given back before. Its idempotency record stays: a retry of the
    /// same intent is answered with this order, not with a new purchase.
    pub fn give_back(&mut self, order: &Order) -> u64 {
        if !self.given_back.insert(order.order_id) {
            return 0;
        }
        let q = order.quantity.get();
        match self.in_flight.remove(&order.order_id) {
            Some(_) => self.in_flight_units -= u64::from(q),
            None => self.persisted = self.persisted.saturating_sub(u64::from(q)),
        }
        self.remaining += u64::from(q);
        if let Some(count) = self.bought.get_mut(&order.user_id) {
            *count = count.saturating_sub(q);
            if *count == 0 {
                self.bought.remove(&order.user_id);
            }
        }
        u64::from(q)
    }

    /// Applies an operator's command to the state.
    pub fn transition(&mut self, t: Transition, now: DateTime<Utc>) -> Result<SaleState, TransitionError> {
        let next = self.terms.effective_state(now).apply(t)?;
        self.terms.state = next;
        Ok(next)
    }

    /// Replaces the terms (state, limit, window, stock) with the catalog's.
    /// A stock that changed moves `remaining` by the same amount.
    pub fn set_terms(&mut self, terms: SaleTerms) {
        let sold = self.terms.stock - self.remaining;
        self.remaining = terms.stock.saturating_sub(sold);
        self.terms = terms;
    }

    /// Adds (`delta > 0`) or withdraws (`delta < 0`) units during the sale.
    pub fn adjust_stock(&mut self, delta: i64, now: DateTime<Utc>) -> Result<StockLevel, StockChangeError> {
        if self.terms.effective_state(now) == SaleState::Ended {
            return Err(StockChangeError::Ended);
        }
        match delta {
            0 => return Err(StockChangeError::Zero),
            d if d > 0 => {
                let d = d as u64;
                let stock = self
                    .terms
                    .stock
                    .checked_add(d)
                    .filter(|s| *s <= crate::SaleDraft::MAX_STOCK);
                self.terms.stock = stock.ok_or(StockChangeError::TooLarge)?;
                self.remaining += d;
            }
            d => {
                let d = d.unsigned_abs();
                if d > self.remaining {
                    return Err(StockChangeError::BelowZero {
                        requested: d,
                        remaining: self.remaining,
                    });
                }
                self.terms.stock -= d;
                self.remaining -= d;
            }
        }
        Ok(self.level())
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use proptest::prelude::*;

    use super::*;
    use crate::{OrderId, Quantity, SaleId};

    fn terms(stock: u64, limit: u32) -> SaleTerms {
        SaleTerms {
            id: SaleId::generate(),
            state: SaleState::Active,
            stock,
            per_user_limit: limit,
            starts_at: None,
            ends_at: None,
            prequeue_seconds: 0,
            fair_start_seconds: 0,
            stock_buckets: 1,
        }
    }

    fn request(book: &SaleBook, user: &str, q: u32, key: Option<&str>) -> ReserveRequest {
        ReserveRequest {
            sale_id: book.terms().id,
            user_id: UserId::parse(user).unwrap(),
            quantity: Quantity::parse(q as i64).unwrap(),
            idempotency_key: key.map(|k| IdempotencyKey::parse(k).unwrap()),
            order_id: OrderId::generate(),
            now: Utc::now(),
        }
    }

    #[test]
    fn refusals_change_nothing() {
        let mut book = SaleBook::new(terms(3, 2));
        let before = book.level();
        let cases = [(
            request(&book, "a", 3, None),
            PurchaseRejection::QuantityAboveLimit { limit: 2 },
        )];
        for (req, expected) in cases {
            assert_eq!(book.reserve(req), Err(expected));
        }
        book.reserve(request(&book, "a", 2, None)).unwrap();
        assert_eq!(
            book.reserve(request(&book, "a", 1, None)),
            Err(PurchaseRejection::LimitExceeded { limit: 2 })
        );
        assert_eq!(
            book.reserve(request(&book, "b", 2, None)),
            Err(PurchaseRejection::NotEnoughStock { remaining: 1 })
        );
        book.reserve(request(&book, "b", 1, None)).unwrap();
        assert_eq!(
            book.reserve(request(&book, "c", 1, None)),
            Err(PurchaseRejection::SoldOut)
        );
        assert_eq!(book.level().remaining, 0);
        assert_eq!(before.remaining, 3);
        assert_eq!(book.level().ledger_difference(), 0);
    }

    /// A rebuild reads the ledger without the book's lock: an order the
    /// snapshot missed because it was settled meanwhile is still counted,
    /// once, and what is still in flight stays in flight.
    #[test]
    fn a_rebuild_counts_what_was_settled_after_its_snapshot() {
        let mut book = SaleBook::new(terms(10, 5));
        let reserve = |book: &mut SaleBook, user| {
            book.reserve(request(book, user, 1, Some("k")))
                .unwrap()
                .reservation()
                .clone()
        };
        let stored = reserve(&mut book, "a");
        book.settle(stored.order_id);
        let (early, late, pending) = (
            reserve(&mut book, "b"),
            reserve(&mut book, "c"),
            reserve(&mut book, "d"),
        );
        book.open_fence();
        book.settle(early.order_id);
        // The snapshot: `stored` and `early` were committed before the read.
        let snapshot = LedgerSnapshot {
            orders: vec![stored.clone(), early.clone()],
            given_back: Vec::new(),
        };
        book.settle(late.order_id);
        let rebuilt = book.rebuilt(snapshot);
        let level = rebuilt.level();
        assert_eq!((level.persisted, level.in_flight, level.remaining), (3, 1, 6));
        assert_eq!(level.ledger_difference(), 0);
        assert_eq!(
            rebuilt.in_flight().map(|r| r.order_id).collect::<Vec<_>>(),
            vec![pending.order_id]
        );
        assert_eq!(
            rebuilt.bought_by(&late.user_id),
            1,
            "the late order counts against its buyer"
        );
        assert!(rebuilt
            .first_answer(&late.user_id, late.idempotency_key.as_ref().unwrap())
            .is_some());
    }

    /// Units of an expired or cancelled order go back once, wherever they
    /// are (persisted, or still in flight), free the buyer's limit, and stay
    /// given back through a rebuild that read the order before or after.
    #[test]
    fn units_given_back_return_once_and_free_the_limit() {
        let mut book = SaleBook::new(terms(2, 2));
        let reserve = |book: &mut SaleBook, user, q| {
            book.reserve(request(book, user, q, None))
                .unwrap()
                .reservation()
                .clone()
        };
        let stored = reserve(&mut book, "a", 2);
        book.settle(stored.order_id);
        assert_eq!(
            book.reserve(request(&book, "a", 1, None)),
            Err(PurchaseRejection::SoldOut)
        );
        assert_eq!(book.give_back(&Order::confirmed(&stored)), 2);
        assert_eq!(book.give_back(&Order::confirmed(&stored)), 0, "once per order");
        let level = book.level();
        assert_eq!(
            (level.remaining, level.persisted, level.ledger_difference()),
            (2, 0, 0)
        );
        // The limit is free again, and a give-back of an order still in
        // flight takes it out of flight.
        let again = reserve(&mut book, "a", 2);
        assert_eq!(book.give_back(&Order::confirmed(&again)), 2);
        assert!(!book.settle(again.order_id));
        assert_eq!(book.level().in_flight, 0);
        // A rebuild whose snapshot still held `stored` keeps it given back;
        // one whose ledger says so remembers it.
        book.open_fence();
        let rebuilt = book.rebuilt(LedgerSnapshot {
            orders: vec![stored.clone()],
            given_back: Vec::new(),
        });
        assert_eq!(rebuilt.level().remaining, 2);
        let mut fresh = SaleBook::new(terms(2, 2)).rebuilt(LedgerSnapshot {
            orders: Vec::new(),
            given_back: vec![stored.order_id],
        });
        assert_eq!(fresh.give_back(&Order::confirmed(&stored)), 0);
        assert_eq!(fresh.level().remaining, 2);
    }

    #[test]
    fn idempotency_key_replays_the_first_answer() {
        let mut book = SaleBook::new(terms(10, 5));
        let first = book.reserve(request(&book, "a", 1, Some("k1"))).unwrap();
        let again = book.reserve(request(&book, "a", 1, Some("k1"))).unwrap();
        assert!(matches!(again, ReserveOutcome::Replayed(_)));
        assert_eq!(first.reservation(), again.reservation());
        assert_eq!(book.level().remaining, 9);
        // Another buyer's identical key is another request.
        assert!(matches!(
            book.reserve(request(&book, "b", 1, Some("k1"))).unwrap(),
            ReserveOutcome::Reserved(_)
        ));
    }

    #[test]
    fn paused_scheduled_and_expired_sales_refuse() {
        let mut book = SaleBook::new(terms(10, 5));
        book.transition(Transition::Pause, Utc::now()).unwrap();
        assert_eq!(
            book.reserve(request(&book, "a", 1, None)),
            Err(PurchaseRejection::SaleNotActive)
        );
        let mut expired = terms(10, 5);
        expired.ends_at = Some(Utc::now() - Duration::seconds(1));
        let mut book = SaleBook::new(expired);
        assert_eq!(
            book.reserve(request(&book, "a", 1, None)),
            Err(PurchaseRejection::SaleNotActive)
        );
    }

    #[derive(Debug, Clone)]
    enum Op {
        Reserve { user: u8, q: u32 },
        Release { nth: usize },
        Settle { nth: usize },
        Pause,
        Resume,
        TopUp(u8),
        Withdraw(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0u8..8, 1u32..4).prop_map(|(user, q)| Op::Reserve { user, q }),
            1 => any::<usize>().prop_map(|nth| Op::Release { nth }),
            1 => any::<usize>().prop_map(|nth| Op::Settle { nth }),
            1 => Just(Op::Pause),
            1 => Just(Op::Resume),
            1 => any::<u8>().prop_map(|n| Op::TopUp(n % 5)),
            1 => any::<u8>().prop_map(|n| Op::Withdraw(n % 5)),
        ]
    }

    proptest! {
        /// For any interleaving of purchases, releases, commits, pauses,
        /// top-ups and withdrawals: sold never exceeds stock, no buyer
        /// passes the limit, every unit is accounted for, and a paused sale
        /// sells nothing.
        #[test]
        fn invariants_hold_for_any_interleaving(
            stock in 1u64..20,
            limit in 1u32..4,
            ops in proptest::collection::vec(op(), 1..200),
        ) {
            let mut book = SaleBook::new(terms(stock, limit));
            let mut held: Vec<Reservation> = Vec::new();
            for op in ops {
                let before = book.level();
                match op {
                    Op::Reserve { user, q } => {
                        let req = request(&book, &format!("u{user}"), q, None);
                        match book.reserve(req) {
                            Ok(outcome) => {
                                prop_assert_eq!(before.state, SaleState::Active);
                                held.push(outcome.reservation().clone());
                            }
                            Err(_) => prop_assert_eq!(book.level(), before),
                        }
                    }
                    Op::Release { nth } if !held.is_empty() => {
                        let r = &held[nth % held.len()];
                        // A second release of the same reservation is a no-op.
                        book.release(r.order_id);
                        prop_assert!(!book.release(r.order_id));
                        prop_assert!(!book.settle(r.order_id));
                    }
                    Op::Settle { nth } if !held.is_empty() => {
                        let r = &held[nth % held.len()];
                        book.settle(r.order_id);
                        prop_assert!(!book.release(r.order_id), "released a stored order");
                    }
                    Op::Release { .. } | Op::Settle { .. } => {}
                    Op::Pause => { let _ = book.transition(Transition::Pause, Utc::now()); }
                    Op::Resume => { let _ = book.transition(Transition::Resume, Utc::now()); }
                    Op::TopUp(n) => { let _ = book.adjust_stock(i64::from(n), Utc::now()); }
                    Op::Withdraw(n) => {
                        if book.adjust_stock(-i64::from(n), Utc::now()).is_err() {
                            prop_assert_eq!(book.level(), before);
                        }
                    }
                }
                let level = book.level();
                prop_assert_eq!(level.ledger_difference(), 0);
                prop_assert!(level.in_flight + level.persisted <= level.stock);
                for user in 0..8u8 {
                    let id = UserId::parse(&format!("u{user}")).unwrap();
                    prop_assert!(book.bought_by(&id) <= limit);
                }
            }
        }
    }
}
