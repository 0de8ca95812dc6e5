//! Order status for buyers.

use std::sync::Arc;

use flashsale_domain::{Order, OrderId, OrderStore, StoreError, UserId};

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

/// Reads orders for the buyers who own them.
#[derive(Clone)]
pub struct OrderService {
    store: Arc<dyn OrderStore>,
}

impl OrderService {
    pub fn new(store: Arc<dyn OrderStore>) -> Self {
        Self { store }
    }

    /// The order, if `user` owns it.
    pub async fn order_for(&self, id: OrderId, user: &UserId) -> Result<Order, OrderLookupError> {
        match self.store.get(id).await? {
            Some(order) if &order.user_id == user => Ok(order),
            _ => Err(OrderLookupError::NotFound),
        }
    }

    pub fn store(&self) -> &Arc<dyn OrderStore> {
        &self.store
    }
}
