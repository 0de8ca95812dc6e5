//! Order status for buyers.

use std::sync::Arc;

use async_trait::async_trait;
use flashsale_domain::{Order, OrderId, OrderStore, StoreError, UserId};

/// Orders answered but not yet in the order store (status `pending`). The
/// embedded engine has none: it answers after the commit.
#[async_trait]
pub trait PendingOrders: Send + Sync + 'static {
    async fn find(&self, id: OrderId) -> Result<Option<Order>, StoreError>;
}

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
    pending: Option<Arc<dyn PendingOrders>>,
}

impl OrderService {
    pub fn new(store: Arc<dyn OrderStore>, pending: Option<Arc<dyn PendingOrders>>) -> Self {
        Self { store, pending }
    }

    /// The order, if `user` owns it: `confirmed` from the store, else
    /// `pending` from the reservations in flight. The store is asked again
    /// after the pending lookup, since an order can move from one to the
    /// other between the two reads.
    pub async fn order_for(&self, id: OrderId, user: &UserId) -> Result<Order, OrderLookupError> {
        let mut found = self.store.get(id).await?;
        if found.is_none() {
            if let Some(pending) = &self.pending {
                found = pending.find(id).await?;
                if found.is_none() {
                    found = self.store.get(id).await?;
                }
            }
        }
        match found {
            Some(order) if &order.user_id == user => Ok(order),
            _ => Err(OrderLookupError::NotFound),
        }
    }

    pub fn store(&self) -> &Arc<dyn OrderStore> {
        &self.store
    }
}
