//! What the gateway needs from the services, as traits.
//!
//! In `flashsale up` the services run in the gateway's process and these
//! are their own methods; in the production topology each service is a
//! process of its own and these are HTTP clients of it ([`remote`]),
//! spread over its replicas. Errors are already the API's: the gateway
//! answers them as they are.

pub mod health;
pub mod remote;

use std::collections::HashMap;

use async_trait::async_trait;
use flashsale_domain::{
    IdempotencyKey, Order, OrderChange, OrderId, OrderTotals, Quantity, Reservation, SaleDraft, SaleId,
    Transition, UserId,
};
use flashsale_inventory::{DrawWaits, InventoryService, PurchaseReceipt};
use flashsale_order::OrderService;
use flashsale_product::{ProductService, SalePage, SaleQuery, SaleView};

use crate::error::ApiError;

/// Sales and the operator's changes to them.
#[async_trait]
pub trait ProductApi: Send + Sync + 'static {
    async fn list(&self) -> Result<Vec<SaleView>, ApiError>;
    /// One page of the buyers' listing.
    async fn page(&self, query: SaleQuery) -> Result<SalePage, ApiError>;
    async fn get(&self, id: SaleId) -> Result<SaleView, ApiError>;
    async fn create(&self, draft: SaleDraft) -> Result<SaleView, ApiError>;
    async fn transition(&self, id: SaleId, t: Transition) -> Result<SaleView, ApiError>;
    async fn adjust_stock(&self, id: SaleId, delta: i64) -> Result<SaleView, ApiError>;
    /// Returns how many sales were rebuilt.
    async fn flush_cache(&self) -> Result<usize, ApiError>;
}

/// The purchase path.
#[async_trait]
pub trait InventoryApi: Send + Sync + 'static {
    async fn purchase(
        &self,
        sale: SaleId,
        user: UserId,
        quantity: Quantity,
        key: Option<IdempotencyKey>,
    ) -> Result<PurchaseReceipt, ApiError>;
    /// Where these buyers' attempts on `sale` stand in its opening draw,
    /// after `purchase` answered [`ApiError::InDraw`], in their order (one
    /// question for every buyer a gateway holds: see `DrawWaiters`).
    async fn draw_wait(&self, sale: SaleId, users: &[UserId]) -> Result<DrawWaits, ApiError>;
    /// Reservations waiting for the order store, where this process can see
    /// them (the embedded queue); 0 otherwise.
    fn queue_depth(&self) -> u64;
}

/// Orders for buyers, totals for operators.
#[async_trait]
pub trait OrderApi: Send + Sync + 'static {
    async fn order_for(&self, id: OrderId, user: &UserId) -> Result<Order, ApiError>;
    /// Orders and units stored for each of `sales`.
    async fn totals(&self, sales: &[SaleId]) -> Result<HashMap<SaleId, OrderTotals>, ApiError>;
    /// The ledger's order for `user`'s `key` on `sale`: a keyed retry's
    /// first answer once the sale is archived.
    async fn first_answer(
        &self,
        sale: SaleId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<Reservation>, ApiError>;
    /// An operator's void of a reservation the ledger has not decided.
    async fn void(&self, id: OrderId) -> Result<Order, ApiError>;
    /// The order, whoever owns it (the payment webhook).
    async fn order(&self, id: OrderId) -> Result<Order, ApiError>;
    /// Pays `user`'s order (any buyer's when `None`); says what holds after.
    async fn pay(&self, id: OrderId, user: Option<&UserId>) -> Result<OrderChange, ApiError>;
    /// Cancels `user`'s order awaiting payment; says what holds after.
    async fn cancel(&self, id: OrderId, user: &UserId) -> Result<OrderChange, ApiError>;
}

#[async_trait]
impl ProductApi for ProductService {
    async fn list(&self) -> Result<Vec<SaleView>, ApiError> {
        Ok(ProductService::list(self).await?)
    }
    async fn page(&self, query: SaleQuery) -> Result<SalePage, ApiError> {
        Ok(ProductService::page(self, query).await?)
    }
    async fn get(&self, id: SaleId) -> Result<SaleView, ApiError> {
        Ok(ProductService::get(self, id).await?)
    }
    async fn create(&self, draft: SaleDraft) -> Result<SaleView, ApiError> {
        Ok(ProductService::create(self, draft).await?)
    }
    async fn transition(&self, id: SaleId, t: Transition) -> Result<SaleView, ApiError> {
        Ok(ProductService::transition(self, id, t).await?)
    }
    async fn adjust_stock(&self, id: SaleId, delta: i64) -> Result<SaleView, ApiError> {
        Ok(ProductService::adjust_stock(self, id, delta).await?)
    }
    async fn flush_cache(&self) -> Result<usize, ApiError> {
        Ok(ProductService::flush_cache(self).await?)
    }
}

#[async_trait]
impl InventoryApi for InventoryService {
    async fn purchase(
        &self,
        sale: SaleId,
        user: UserId,
        quantity: Quantity,
        key: Option<IdempotencyKey>,
    ) -> Result<PurchaseReceipt, ApiError> {
        Ok(InventoryService::purchase(self, sale, user, quantity, key).await?)
    }
    async fn draw_wait(&self, sale: SaleId, users: &[UserId]) -> Result<DrawWaits, ApiError> {
        Ok(InventoryService::draw_wait(self, sale, users).await?)
    }
    fn queue_depth(&self) -> u64 {
        InventoryService::queue_depth(self)
    }
}

#[async_trait]
impl OrderApi for OrderService {
    async fn order_for(&self, id: OrderId, user: &UserId) -> Result<Order, ApiError> {
        Ok(OrderService::order_for(self, id, user).await?)
    }
    async fn totals(&self, sales: &[SaleId]) -> Result<HashMap<SaleId, OrderTotals>, ApiError> {
        self.store()
            .totals(sales)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))
    }
    async fn first_answer(
        &self,
        sale: SaleId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<Reservation>, ApiError> {
        self.store()
            .first_answer(sale, user, key)
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))
    }
    async fn void(&self, id: OrderId) -> Result<Order, ApiError> {
        Ok(OrderService::void(self, id).await?)
    }
    async fn order(&self, id: OrderId) -> Result<Order, ApiError> {
        Ok(OrderService::order(self, id).await?)
    }
    async fn pay(&self, id: OrderId, user: Option<&UserId>) -> Result<OrderChange, ApiError> {
        Ok(OrderService::pay(self, id, user).await?)
    }
    async fn cancel(&self, id: OrderId, user: &UserId) -> Result<OrderChange, ApiError> {
        Ok(OrderService::cancel(self, id, user).await?)
    }
}
