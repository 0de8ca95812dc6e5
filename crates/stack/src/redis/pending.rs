//! The order service's pending orders, on Redis: reservations answered and
//! in flight, not yet decided by the ledger.

use async_trait::async_trait;
use flashsale_domain::{OrderId, PendingOrders, Reservation, StoreError};

use super::RedisStock;

/// Pending orders: the reservations in flight in Redis.
pub struct RedisPending(pub RedisStock);

#[async_trait]
impl PendingOrders for RedisPending {
    async fn find(&self, id: OrderId) -> Result<Option<Reservation>, StoreError> {
        for sale in self.0.sales().await? {
            if let Some(r) = self.0.in_flight_one(sale, id).await? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    async fn release(&self, reservation: &Reservation) -> Result<(), StoreError> {
        self.0.release_in_flight(reservation).await.map(drop)
    }
}
