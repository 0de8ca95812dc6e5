//! The purchase path of one buyer, start to finish:
//!
//! 1. The local sold-out flag: a buyer of a sale known to be sold out is
//!    refused from memory (the stampede after the last unit costs nothing).
//! 2. The stock store's atomic `reserve`: state, quantity, limit, stock and
//!    idempotency key in one step.
//! 3. Durability: the reservation must be durable before the 202. Embedded,
//!    it is published to the order queue and the answer waits for the
//!    batch's commit; on the real stack, `reserve` itself appended it to the
//!    outbox in the same atomic step.
//!
//! A reservation whose publication fails is released, so its units go back
//! on sale and the buyer gets 503, never a 202 for an order that may vanish.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use flashsale_domain::ports::DrawStore;
use flashsale_domain::{
    Event, EventKind, EventSink, IdempotencyKey, OrderId, OrderQueue, OrderStore, PurchaseRejection,
    Quantity, QueueError, Reservation, ReserveError, ReserveOutcome, ReserveRequest, SaleId, Severity,
    StockStore, UserId,
};

use crate::fair::{DrawWait, DrawWaits, FairStarts, Gated};
use crate::sold_out::SoldOutFlags;

/// How long an idempotent retry waits for the first request's commit before
/// it is told to come back later.
const REPLAY_WAIT: Duration = Duration::from_secs(5);
const REPLAY_POLL: Duration = Duration::from_millis(5);

/// What makes a reservation durable before the buyer is answered.
pub enum Durability {
    /// Embedded mode: publish to the queue, answer after its commit.
    GroupCommit {
        queue: Arc<dyn OrderQueue>,
        orders: Arc<dyn OrderStore>,
    },
    /// Real stack: the stock store's `reserve` already wrote the outbox.
    Outbox,
}

/// A successful purchase: the 202's body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PurchaseReceipt {
    pub order_id: OrderId,
    pub remaining: u64,
    /// The idempotency key was seen before; this is the first answer again.
    pub replayed: bool,
}

impl From<&Reservation> for PurchaseReceipt {
    fn from(r: &Reservation) -> Self {
        Self {
            order_id: r.order_id,
            remaining: r.remaining,
            replayed: false,
        }
    }
}

/// Why a purchase failed. Nothing was sold in any case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurchaseError {
    #[error(transparent)]
    Rejected(#[from] PurchaseRejection),
    #[error("no such sale")]
    SaleNotFound,
    /// The engine is at its bound; the buyer should retry shortly.
    #[error("the engine is overloaded")]
    Overloaded,
    #[error("a store is unavailable: {0}")]
    Unavailable(String),
    /// The attempt is in the sale's opening draw: its answer comes once the
    /// draw is served ([`InventoryService::draw_wait`]).
    #[error("the purchase waits in the sale's opening draw")]
    InDraw,
}

/// The inventory service. Cheap to share behind an `Arc`.
pub struct InventoryService {
    stock: Arc<dyn StockStore>,
    durability: Durability,
    sold_out: SoldOutFlags,
    events: Arc<dyn EventSink>,
    /// Queue depth (reservations) above which purchases are shed.
    queue_high_water: u64,
    /// The draws of fair starts, when this process takes entries.
    fair: Option<FairStarts>,
}

impl InventoryService {
    pub fn new(
        stock: Arc<dyn StockStore>,
        durability: Durability,
        events: Arc<dyn EventSink>,
        queue_high_water: u64,
    ) -> Self {
        Self {
            stock,
            durability,
            sold_out: SoldOutFlags::default(),
            events,
            queue_high_water,
            fair: None,
        }
    }

    /// The same service taking the entries of fair starts into `draws`
    /// (see [`crate::fair`]).
    pub fn with_draws(mut self, draws: Arc<dyn DrawStore>) -> Self {
        self.fair = Some(FairStarts::new(draws));
        self
    }

    /// The fair starts' draws, when this service takes entries.
    pub fn fair_starts(&self) -> Option<&FairStarts> {
        self.fair.as_ref()
    }

    /// Where these buyers' attempts on `sale` stand in its opening draw
    /// (after [`PurchaseError::InDraw`]), in their order.
    pub async fn draw_wait(&self, sale: SaleId, users: &[UserId]) -> Result<DrawWaits, PurchaseError> {
        match &self.fair {
            Some(fair) => fair
                .wait(sale, users)
                .await
                .map_err(|e| PurchaseError::Unavailable(e.to_string())),
            None => Ok(DrawWaits {
                phase: None,
                served: 0,
                waits: vec![DrawWait::NotEntered; users.len()],
            }),
        }
    }

    pub fn stock(&self) -> &Arc<dyn StockStore> {
        &self.stock
    }

    /// The flags to clear whenever units of a sale come back.
    pub fn sold_out_flags(&self) -> &SoldOutFlags {
        &self.sold_out
    }

    /// Reservations waiting for the order store.
    pub fn queue_depth(&self) -> u64 {
        match &self.durability {
            Durability::GroupCommit { queue, .. } => queue.depth(),
            Durability::Outbox => 0,
        }
    }

    /// Buys `quantity` units of `sale` for `user`; see the module docs.
    pub async fn purchase(
        &self,
        sale: SaleId,
        user: UserId,
        quantity: Quantity,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<PurchaseReceipt, PurchaseError> {
        if let Some(fair) = &self.fair {
            let gated = fair
                .gate(
                    &*self.stock,
                    sale,
                    &user,
                    quantity,
                    idempotency_key.as_ref(),
                    Utc::now(),
                )
                .await
                .map_err(|e| PurchaseError::Unavailable(e.to_string()))?;
            match gated {
                Gated::Decide => {}
                Gated::InDraw => return Err(PurchaseError::InDraw),
                Gated::Refused(refusal) => return Err(refusal.into()),
            }
        }
        self.purchase_as(OrderId::generate(), sale, user, quantity, idempotency_key)
            .await
    }

    /// [`Self::purchase`], the order to be `order_id` if it succeeds: a
    /// fair start's entry, whose order id was made when it entered.
    pub async fn purchase_as(
        &self,
        order_id: OrderId,
        sale: SaleId,
        user: UserId,
        quantity: Quantity,
        idempotency_key: Option<IdempotencyKey>,
    ) -> Result<PurchaseReceipt, PurchaseError> {
        let sold_out = self.sold_out.is_sold_out(sale);
        // The stampede after the sell-out is refused from memory, before
        // any other work.
        if sold_out && idempotency_key.is_none() {
            return Err(PurchaseRejection::SoldOut.into());
        }
        let request = ReserveRequest {
            sale_id: sale,
            user_id: user,
            quantity,
            idempotency_key,
            order_id,
            now: Utc::now(),
        };
        if let (true, Some(key)) = (sold_out, &request.idempotency_key) {
            // A retry with a key may be owed its first answer: one look-up
            // of the key, never the whole reserve.
            return match self.stock.first_answer(sale, &request.user_id, key).await {
                Ok(Some(first)) => self.replay(request, first).await,
                Ok(None) => Err(PurchaseRejection::SoldOut.into()),
                Err(e) => Err(PurchaseError::Unavailable(e.to_string())),
            };
        }
        if self.queue_depth() >= self.queue_high_water {
            return Err(PurchaseError::Overloaded);
        }
        let epoch = self.sold_out.epoch(sale);
        match self.stock.reserve(request.clone()).await {
            Ok(ReserveOutcome::Reserved(r)) => self.make_durable(r).await,
            Ok(ReserveOutcome::Replayed(r)) => self.replay(request, r).await,
            Err(ReserveError::Rejected(PurchaseRejection::SoldOut)) => {
                self.sold_out.mark(sale, epoch);
                Err(PurchaseRejection::SoldOut.into())
            }
            Err(ReserveError::Rejected(rejection)) => Err(rejection.into()),
            Err(ReserveError::SaleNotFound) => Err(PurchaseError::SaleNotFound),
            Err(ReserveError::Store(e)) => Err(PurchaseError::Unavailable(e.to_string())),
            Err(ReserveError::UnitsMoving) => Err(PurchaseError::Overloaded),
        }
    }

    async fn make_durable(&self, reservation: Reservation) -> Result<PurchaseReceipt, PurchaseError> {
        if let Durability::GroupCommit { queue, .. } = &self.durability {
            if let Err(error) = queue.publish(vec![reservation.clone()]).await {
                if let Err(e) = self.stock.release(&reservation).await {
                    tracing::error!(message = "Failed to release a reservation.", error = %e, order_id = %reservation.order_id);
                }
                self.sold_out.clear(reservation.sale_id);
                return Err(match error {
                    QueueError::Full => PurchaseError::Overloaded,
                    QueueError::Unavailable(reason) => PurchaseError::Unavailable(reason),
                });
            }
        }
        if reservation.remaining == 0 {
            self.events.emit(
                Event::new(
                    EventKind::SoldOut,
                    Severity::Info,
                    "Sold out: the last unit was reserved.",
                )
                .for_sale(reservation.sale_id),
            );
        }
        Ok(PurchaseReceipt::from(&reservation))
    }

    /// An idempotent retry: refused if the key was first used with another
    /// body. Embedded, the first request's order may still be committing:
    /// the retry is answered only once it is stored, or starts afresh if the
    /// first attempt failed and released its units.
    async fn replay(
        &self,
        request: ReserveRequest,
        mut first: Reservation,
    ) -> Result<PurchaseReceipt, PurchaseError> {
        first.answers(&request)?;
        let Durability::GroupCommit { orders, .. } = &self.durability else {
            return Ok(PurchaseReceipt {
                replayed: true,
                ..PurchaseReceipt::from(&first)
            });
        };
        let deadline = tokio::time::Instant::now() + REPLAY_WAIT;
        loop {
            match orders.get(first.order_id).await {
                Ok(Some(_)) => {
                    return Ok(PurchaseReceipt {
                        replayed: true,
                        ..PurchaseReceipt::from(&first)
                    })
                }
                Ok(None) => {}
                Err(e) => return Err(PurchaseError::Unavailable(e.to_string())),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PurchaseError::Overloaded);
            }
            tokio::time::sleep(REPLAY_POLL).await;
            match self.stock.reserve(request.clone()).await {
                // Another retry may have re-reserved after the first failed.
                Ok(ReserveOutcome::Replayed(r)) => {
                    r.answers(&request)?;
                    first = r;
                }
                Ok(ReserveOutcome::Reserved(r)) => return self.make_durable(r).await,
                Err(ReserveError::Rejected(rejection)) => return Err(rejection.into()),
                Err(ReserveError::SaleNotFound) => return Err(PurchaseError::SaleNotFound),
                Err(ReserveError::Store(e)) => return Err(PurchaseError::Unavailable(e.to_string())),
                Err(ReserveError::UnitsMoving) => return Err(PurchaseError::Overloaded),
            }
        }
    }
}
