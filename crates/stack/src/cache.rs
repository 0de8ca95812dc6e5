//! [`StackCacheRebuild`]: the admin cache flush on the real stack. Rebuilds
//! each sale's Redis copy from the catalog's terms and the PostgreSQL order
//! ledger, keeping the reservations still in flight, while buyers buy.
//!
//! The ledger is read outside Redis, so the read and the rewrite cannot be
//! one atomic step; what makes it exact is a fence:
//! 1. open the fence (`fence.lua`): from now on `settle` also keeps a copy
//!    of every reservation it moves from in flight to persisted;
//! 2. read the ledger: every order committed before this read is in it;
//! 3. rebuild atomically (`rebuild.lua`): persisted = ledger ∪ settled since
//!    the fence; in flight = what is still in flight and not persisted;
//!    buyers, idempotency records and remaining stock recomputed from both.
//!
//! An order committed after the read is either still in flight at step 3 or
//! was settled after step 1: counted once either way. Reservations and
//! releases are atomic with step 3, so none is lost or counted twice.

use std::time::Duration;

use async_trait::async_trait;
use flashsale_domain::{OrderStore, Sale, StoreError};
use flashsale_product::CacheRebuild;

use crate::postgres::PgOrderStore;
use crate::redis::keys::{SaleKeys, RELAY_GROUP, SALES_INDEX};
use crate::redis::record::{self, micros};
use crate::redis::scripts::scripts;
use crate::redis::{store_error, RedisStock};

/// How long a fence lasts if the rebuild dies before closing it.
const FENCE: Duration = Duration::from_secs(120);

/// Rebuilds Redis from PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct StackCacheRebuild {
    stock: RedisStock,
    orders: PgOrderStore,
}

impl StackCacheRebuild {
    pub fn new(stock: RedisStock, orders: PgOrderStore) -> Self {
        Self { stock, orders }
    }

    /// Rebuilds one sale; see the module docs.
    pub async fn rebuild_sale(&self, sale: &Sale) -> Result<(), StoreError> {
        let keys = SaleKeys::new(sale.id);
        let scripts = scripts();
        let mut conn = self.stock.connection();
        scripts
            .fence
            .key(&keys.rebuild)
            .key(&keys.settled)
            .arg(FENCE.as_secs())
            .invoke_async::<i64>(&mut conn)
            .await
            .map_err(store_error)?;
        let persisted = self.orders.reservations_of(sale.id).await?;
        let mut rebuild = scripts.rebuild.prepare_invoke();
        rebuild
            .key(&keys.state)
            .key(&keys.stock)
            .key(&keys.buyers)
            .key(&keys.idem)
            .key(&keys.inflight)
            .key(&keys.outbox)
            .key(&keys.rebuild)
            .key(&keys.settled)
            .arg(sale.state.as_str())
            .arg(sale.stock)
            .arg(sale.per_user_limit)
            .arg(micros(sale.starts_at))
            .arg(micros(sale.ends_at))
            .arg(RELAY_GROUP);
        for r in &persisted {
            rebuild.arg(record::encode(r));
        }
        rebuild
            .invoke_async::<Vec<String>>(&mut conn)
            .await
            .map_err(store_error)?;
        redis::cmd("SADD")
            .arg(SALES_INDEX)
            .arg(sale.id.to_string())
            .query_async::<i64>(&mut conn)
            .await
            .map_err(store_error)?;
        self.stock.announce_units_back(sale.id).await;
        Ok(())
    }
}

#[async_trait]
impl CacheRebuild for StackCacheRebuild {
    async fn rebuild(&self, sales: Vec<Sale>) -> Result<usize, StoreError> {
        for sale in &sales {
            self.rebuild_sale(sale).await?;
        }
        Ok(sales.len())
    }
}
