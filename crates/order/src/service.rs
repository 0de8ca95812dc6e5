//! Order status for buyers, and the operator's void of an answered
//! reservation, both decided by the order ledger.

use std::sync::Arc;

use flashsale_domain::{
    Decision, Order, OrderId, OrderStatus, OrderStore, PendingOrders, StoreError, UserId,
};

use crate::checkout::Checkout;

/// Why an order cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum OrderLookupError {
    /// No such order, or it belongs to another buyer: the two are not told
    /// apart, so order ids cannot be probed.
    #[error("no such order")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why an order was not voided. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum OrderVoidError {
    /// Neither in the ledger nor pending.
    #[error("no such order")]
    NotFound,
    /// The ledger stored it as an order first: it is sold, not voided.
    #[error("order {0} is stored as an order; only an undecided reservation can be voided")]
    Stored(OrderId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The reason written on an operator's void.
pub const OPERATOR_VOID: &str = "voided by an operator";

/// Reads orders for the buyers who own them, and (with [`Checkout`])
/// takes their payments and cancels and expires what is not paid.
#[derive(Clone)]
pub struct OrderService {
    store: Arc<dyn OrderStore>,
    pending: Option<Arc<dyn PendingOrders>>,
    checkout: Option<Checkout>,
}

impl OrderService {
    pub fn new(store: Arc<dyn OrderStore>, pending: Option<Arc<dyn PendingOrders>>) -> Self {
        Self {
            store,
            pending,
            checkout: None,
        }
    }

    /// This service also gives units back to `checkout.stock`: the process
    /// that runs the expiry, and answers cancels.
    pub fn with_checkout(mut self, checkout: Checkout) -> Self {
        self.checkout = Some(checkout);
        self
    }

    pub(crate) fn checkout(&self) -> Option<&Checkout> {
        self.checkout.as_ref()
    }

    /// The order, if `user` owns it: as the ledger holds it (`confirmed` or
    /// `void`), else `pending` from the reservations in flight.
    pub async fn order_for(&self, id: OrderId, user: &UserId) -> Result<Order, OrderLookupError> {
        match self.find(id).await? {
            Some(order) if &order.user_id == user => Ok(order),
            _ => Err(OrderLookupError::NotFound),
        }
    }

    /// The order, whoever owns it: for the payment provider's webhook.
    pub async fn order(&self, id: OrderId) -> Result<Order, OrderLookupError> {
        self.find(id).await?.ok_or(OrderLookupError::NotFound)
    }

    /// The ledger's order, else the pending one. The ledger is asked again
    /// after the pending lookup, since an order can move from one to the
    /// other between the two reads.
    async fn find(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        if let Some(order) = self.store.get(id).await? {
            return Ok(Some(order));
        }
        let Some(pending) = &self.pending else {
            return Ok(None);
        };
        if let Some(r) = pending.find(id).await? {
            return Ok(Some(Order::with_status(&r, OrderStatus::Pending)));
        }
        self.store.get(id).await
    }

    /// An operator's void of a reservation the ledger has not decided (the
    /// sweeper reports those unaccounted for): the ledger writes the void
    /// unless the order was stored first, then the units go back on sale.
    /// Voiding a void order again returns it unchanged.
    pub async fn void(&self, id: OrderId) -> Result<Order, OrderVoidError> {
        let decided = |order: Order| match order.status {
            OrderStatus::Void => Ok(order),
            _ => Err(OrderVoidError::Stored(id)),
        };
        if let Some(order) = self.store.get(id).await? {
            return decided(order);
        }
        let reservation = match &self.pending {
            Some(pending) => pending.find(id).await?,
            None => None,
        };
        let (Some(reservation), Some(pending)) = (reservation, &self.pending) else {
            return match self.store.get(id).await? {
                Some(order) => decided(order),
                None => Err(OrderVoidError::NotFound),
            };
        };
        match self.store.void(&reservation, OPERATOR_VOID).await? {
            Decision::Order => Err(OrderVoidError::Stored(id)),
            Decision::Void => {
                if let Err(error) = pending.release(&reservation).await {
                    // The sweeper releases what the ledger voided.
                    tracing::warn!(message = "Voided, but the units are not back yet.", order_id = %id, %error);
                }
                Ok(Order::void(&reservation, OPERATOR_VOID))
            }
        }
    }

    pub fn store(&self) -> &Arc<dyn OrderStore> {
        &self.store
    }
}
