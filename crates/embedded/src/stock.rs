//! The embedded stock store: one [`SaleBook`] per sale, each behind its own
//! lock.
//!
//! Why a `std::sync::Mutex` per sale, and not atomics or one global lock:
//! a reservation must check the state, the buyer's count, the idempotency
//! record and the stock and then change three of them as one step; a single
//! atomic cannot cover that, and a lock-free scheme over several maps would
//! be far harder to prove. The critical section is a few hash lookups (well
//! under a microsecond) and never awaits, so a std mutex is cheaper than
//! tokio's and cannot be held across a suspension. One lock per sale means
//! two sales never contend; the map of sales is behind an `RwLock` that is
//! only written when a sale is created.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use flashsale_domain::{
    IdempotencyKey, LedgerSnapshot, Order, OrderId, Reservation, ReserveError, ReserveOutcome,
    ReserveRequest, SaleBook, SaleId, SaleState, SaleTerms, StockLevel, StockOpError, StockStore, StoreError,
    Transition, UserId,
};

/// In-memory stock of every sale. Cheap to clone.
#[derive(Clone, Default)]
pub struct MemoryStock {
    sales: Arc<RwLock<HashMap<SaleId, Arc<Mutex<SaleBook>>>>>,
}

impl MemoryStock {
    pub fn new() -> Self {
        Self::default()
    }

    fn book(&self, sale: SaleId) -> Option<Arc<Mutex<SaleBook>>> {
        self.sales
            .read()
            .expect("stock map lock poisoned")
            .get(&sale)
            .cloned()
    }

    fn with_book<T>(&self, sale: SaleId, f: impl FnOnce(&mut SaleBook) -> T) -> Option<T> {
        let book = self.book(sale)?;
        let mut book = book.lock().expect("sale book lock poisoned");
        Some(f(&mut book))
    }

    /// [`StockStore::settle`] without the future: for the order writer's
    /// commit hook, which runs on a plain thread.
    pub fn settle_now(&self, sale: SaleId, orders: &[OrderId]) {
        self.with_book(sale, |book| {
            for id in orders {
                book.settle(*id);
            }
        });
    }

    /// Starts a rebuild of `sale` (see [`SaleBook::open_fence`]); false if
    /// the sale is unknown.
    pub fn open_fence(&self, sale: SaleId) -> bool {
        self.with_book(sale, SaleBook::open_fence).is_some()
    }

    /// Replaces the book of `sale` with `rebuild(old)`, under its lock, so no
    /// purchase can slip between the read and the replacement. `rebuild`
    /// must be quick: purchases of the sale wait for it.
    pub fn replace_book(&self, sale: SaleId, rebuild: impl FnOnce(&SaleBook) -> SaleBook) -> bool {
        let Some(slot) = self.book(sale) else { return false };
        let mut book = slot.lock().expect("sale book lock poisoned");
        *book = rebuild(&book);
        true
    }

    /// Loads a sale's book rebuilt from its terms and what the order store
    /// holds for it: start-up.
    pub fn restore(&self, terms: SaleTerms, ledger: LedgerSnapshot) {
        let mut book = SaleBook::new(terms);
        for r in ledger.orders {
            book.restore_persisted(r);
        }
        for id in ledger.given_back {
            book.restore_given_back(id);
        }
        let mut sales = self.sales.write().expect("stock map lock poisoned");
        sales.insert(book.terms().id, Arc::new(Mutex::new(book)));
    }
}

#[async_trait]
impl StockStore for MemoryStock {
    async fn load(&self, terms: SaleTerms) -> Result<(), StoreError> {
        if self
            .with_book(terms.id, |book| book.set_terms(terms.clone()))
            .is_none()
        {
            let mut sales = self.sales.write().expect("stock map lock poisoned");
            // Another caller may have inserted it between the two locks.
            match sales.get(&terms.id) {
                Some(book) => book.lock().expect("sale book lock poisoned").set_terms(terms),
                None => {
                    sales.insert(terms.id, Arc::new(Mutex::new(SaleBook::new(terms))));
                }
            }
        }
        Ok(())
    }

    async fn reserve(&self, request: ReserveRequest) -> Result<ReserveOutcome, ReserveError> {
        let sale = request.sale_id;
        self.with_book(sale, |book| book.reserve(request))
            .ok_or(ReserveError::SaleNotFound)?
            .map_err(ReserveError::Rejected)
    }

    async fn release(&self, reservation: &Reservation) -> Result<(), StoreError> {
        self.with_book(reservation.sale_id, |book| book.release(reservation.order_id));
        Ok(())
    }

    async fn give_back(&self, order: &Order) -> Result<u64, StoreError> {
        // A sale no longer here (archived) has no sale to give units to.
        Ok(self
            .with_book(order.sale_id, |book| book.give_back(order))
            .unwrap_or(0))
    }

    async fn settle(&self, sale: SaleId, orders: &[OrderId]) -> Result<(), StoreError> {
        self.settle_now(sale, orders);
        Ok(())
    }

    async fn transition(
        &self,
        sale: SaleId,
        t: Transition,
        now: DateTime<Utc>,
    ) -> Result<SaleState, StockOpError> {
        self.with_book(sale, |book| book.transition(t, now))
            .ok_or(StockOpError::SaleNotFound)?
            .map_err(StockOpError::Transition)
    }

    async fn adjust(&self, sale: SaleId, delta: i64, now: DateTime<Utc>) -> Result<StockLevel, StockOpError> {
        self.with_book(sale, |book| book.adjust_stock(delta, now))
            .ok_or(StockOpError::SaleNotFound)?
            .map_err(StockOpError::Change)
    }

    async fn level(&self, sale: SaleId) -> Result<Option<StockLevel>, StoreError> {
        Ok(self.with_book(sale, |book| book.level()))
    }

    async fn terms(&self, sale: SaleId) -> Result<Option<SaleTerms>, StoreError> {
        Ok(self.with_book(sale, |book| book.terms().clone()))
    }

    async fn forget(&self, sale: SaleId) -> Result<Option<StockLevel>, StoreError> {
        let mut sales = self.sales.write().expect("stock map lock poisoned");
        let Some(slot) = sales.get(&sale).cloned() else {
            return Ok(None);
        };
        let book = slot.lock().expect("sale book lock poisoned");
        let level = book.level();
        if book.terms().effective_state(Utc::now()) != SaleState::Ended || level.in_flight > 0 {
            return Ok(None);
        }
        drop(book);
        sales.remove(&sale);
        Ok(Some(level))
    }

    async fn first_answer(
        &self,
        sale: SaleId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<Reservation>, StoreError> {
        Ok(self
            .with_book(sale, |book| book.first_answer(user, key).cloned())
            .flatten())
    }
}
