//! This engine's stock stores (the Redis script and the embedded store),
//! through the domain's port.

use super::*;

/// This engine's stock stores (the Redis script and the embedded store),
/// through the domain's port.
pub(super) struct Engine {
    store: Arc<dyn StockStore>,
    name: &'static str,
    sale: SaleId,
}

impl Engine {
    pub(super) async fn new(
        store: Arc<dyn StockStore>,
        name: &'static str,
        stock: u64,
        limit: u32,
    ) -> Result<Self, RaceError> {
        let mut sale = SaleDraft::parse("race", "race", 1, stock as i64, i64::from(limit), None, None)
            .map_err(err)?
            .into_sale(SaleId::generate(), chrono::Utc::now());
        sale.state = SaleState::Active;
        store.load(sale.terms()).await.map_err(err)?;
        Ok(Self {
            store,
            name,
            sale: sale.id,
        })
    }
}

#[async_trait]
impl Strategy for Engine {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn attempt(&self, buyer: u64, seen: &AtomicI64) -> Result<Attempt, String> {
        let request = ReserveRequest {
            sale_id: self.sale,
            user_id: UserId::parse(&format!("racer-{buyer}")).expect("valid user id"),
            quantity: Quantity::parse(1).expect("valid quantity"),
            idempotency_key: None,
            order_id: OrderId::generate(),
            now: chrono::Utc::now(),
        };
        match self.store.reserve(request).await {
            Ok(outcome) => {
                seen_min(seen, outcome.reservation().remaining as i64);
                Ok(Attempt::Sold)
            }
            Err(ReserveError::Rejected(PurchaseRejection::SoldOut)) => Ok(Attempt::SoldOut),
            Err(ReserveError::Rejected(_)) => Ok(Attempt::Refused),
            Err(e) => Err(e.to_string()),
        }
    }

    async fn settle(&self) -> Result<(i64, u64), String> {
        let level = self
            .store
            .level(self.sale)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("sale vanished")?;
        Ok((level.remaining as i64, level.in_flight + level.persisted))
    }
}
