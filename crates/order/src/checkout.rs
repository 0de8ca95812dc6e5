//! Checkout: payments and cancels decided by the ledger, and the expiry
//! that puts unpaid units back on sale.
//!
//! Every change is the ledger's first (one conditional write of the order's
//! row, so a payment racing an expiry or a cancel has exactly one winner);
//! the stock store follows. An expired or cancelled order waits in the
//! ledger until its units are back (`units_to_give_back`), and the stock
//! store's give-back is once per order, so a process killed between the two
//! steps, or two order services doing the same order, return the units
//! exactly once.

use std::collections::BTreeMap;
use std::sync::Arc;

use flashsale_domain::{
    Event, EventKind, EventSink, Order, OrderChange, OrderId, OrderStatus, SaleId, Severity, StockStore,
    StoreError, UnitsBack, UserId,
};

use crate::service::{OrderLookupError, OrderService};

/// Orders expired, or given back, per pass at most: a pass stays short
/// however many come due at once; the next pass takes the rest.
pub const BATCH: usize = 500;

/// What checkout needs beyond the ledger: the stock store the units go
/// back to, who to tell that they did, and the event log.
#[derive(Clone)]
pub struct Checkout {
    pub stock: Arc<dyn StockStore>,
    /// Clears the sold-out flags of this process (the stack's stock store
    /// also tells every other replica).
    pub units_back: UnitsBack,
    pub events: Arc<dyn EventSink>,
}

/// What one pass of [`OrderService::expire_and_give_back`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckoutPass {
    pub expired: usize,
    /// Orders whose units went back on sale in this pass.
    pub given_back: usize,
    pub units: u64,
}

impl CheckoutPass {
    /// Whether a full batch was seen: more may be waiting.
    pub fn full(&self) -> bool {
        self.expired >= BATCH || self.given_back >= BATCH
    }
}

impl OrderService {
    /// Pays `user`'s order (any buyer's when `user` is `None`: the payment
    /// provider's webhook). The change says what holds afterwards.
    pub async fn pay(&self, id: OrderId, user: Option<&UserId>) -> Result<OrderChange, OrderLookupError> {
        if let Some(pending) = self.unstored(id, user).await? {
            return Ok(pending);
        }
        self.store().pay(id).await?.ok_or(OrderLookupError::NotFound)
    }

    /// Cancels `user`'s order awaiting payment; its units go back on sale
    /// (now, or by the next pass if the stock store does not answer).
    pub async fn cancel(&self, id: OrderId, user: &UserId) -> Result<OrderChange, OrderLookupError> {
        if let Some(pending) = self.unstored(id, Some(user)).await? {
            return Ok(pending);
        }
        let change = self.store().cancel(id).await?.ok_or(OrderLookupError::NotFound)?;
        if change.changed {
            if let Err(error) = self.give_back(std::slice::from_ref(&change.order)).await {
                tracing::warn!(message = "Cancelled; the units go back on the next pass.", order_id = %id, %error);
            }
        }
        Ok(change)
    }

    /// `NotFound` unless the ledger holds the order (and it is `user`'s,
    /// when given); an order of `user`'s still pending is returned
    /// unchanged: it cannot be paid or cancelled before it is stored.
    async fn unstored(
        &self,
        id: OrderId,
        user: Option<&UserId>,
    ) -> Result<Option<OrderChange>, OrderLookupError> {
        match (self.store().get(id).await?, user) {
            (Some(order), Some(user)) if &order.user_id != user => Err(OrderLookupError::NotFound),
            (Some(_), _) => Ok(None),
            (None, Some(user)) => Ok(Some(OrderChange {
                order: self.order_for(id, user).await?,
                changed: false,
            })),
            (None, None) => Err(OrderLookupError::NotFound),
        }
    }

    /// One pass of the expiry: expires what is overdue, then gives back the
    /// units of every expired or cancelled order not given back yet.
    pub async fn expire_and_give_back(&self) -> Result<CheckoutPass, StoreError> {
        let expired = self.store().expire_due(BATCH).await?;
        let mut pass = CheckoutPass {
            expired: expired.len(),
            ..CheckoutPass::default()
        };
        if let Some(checkout) = self.checkout() {
            let mut per_sale: BTreeMap<SaleId, usize> = BTreeMap::new();
            for order in &expired {
                *per_sale.entry(order.sale_id).or_default() += 1;
            }
            for (sale, n) in per_sale {
                checkout.events.emit(
                    Event::new(
                        EventKind::Checkout,
                        Severity::Info,
                        format!("{n} unpaid orders expired; their units go back on sale."),
                    )
                    .for_sale(sale),
                );
            }
        }
        let (given_back, units) = self.give_back_due().await?;
        pass.given_back = given_back;
        pass.units = units;
        Ok(pass)
    }

    /// Gives back the units of expired and cancelled orders not given back
    /// yet; returns how many orders and units.
    async fn give_back_due(&self) -> Result<(usize, u64), StoreError> {
        if self.checkout().is_none() {
            return Ok((0, 0));
        }
        let due = self.store().units_to_give_back(BATCH).await?;
        self.give_back(&due).await
    }

    /// Gives back the units of `orders` (expired or cancelled by the
    /// ledger), then records it; returns how many orders and units.
    async fn give_back(&self, orders: &[Order]) -> Result<(usize, u64), StoreError> {
        let Some(checkout) = self.checkout() else {
            return Ok((0, 0));
        };
        let mut done = Vec::with_capacity(orders.len());
        let mut sales = Vec::new();
        let mut units = 0;
        for order in orders {
            units += checkout.stock.give_back(order).await?;
            done.push(order.order_id);
            if !sales.contains(&order.sale_id) {
                sales.push(order.sale_id);
            }
        }
        self.store().mark_given_back(&done).await?;
        for sale in sales {
            (checkout.units_back)(sale);
        }
        Ok((done.len(), units))
    }
}

/// What a payment decided, as a provider is told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// Paid by this payment, or by an earlier delivery of it.
    Paid,
    /// The order expired (or was cancelled) first, or is overdue and about
    /// to expire: its units are (or will be) back on sale; the shop must
    /// refund the payment.
    OrderExpired,
    /// The order needs no payment (a sale without a payment window), or is
    /// not stored yet.
    NotPayable,
}

impl PaymentOutcome {
    pub fn of(change: &OrderChange) -> Self {
        let order = &change.order;
        match order.status {
            OrderStatus::Paid => Self::Paid,
            OrderStatus::Expired | OrderStatus::Cancelled | OrderStatus::Void => Self::OrderExpired,
            // Still awaiting payment after a payment: it was overdue.
            OrderStatus::Confirmed if order.payment_due_at.is_some() => Self::OrderExpired,
            OrderStatus::Confirmed | OrderStatus::Pending => Self::NotPayable,
        }
    }
}
