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
//!
//! That holds for what Redis knows. A Redis that lost data (no AOF, or
//! `everysec` and a crash) may have forgotten reservations whose messages
//! are already in RabbitMQ: counted neither as persisted nor as in flight,
//! their units would sell twice. So a rebuild first waits for the order
//! queue to be seen empty, and gives the consumers a moment to store what
//! they hold: then the ledger has them all. A queue that does not drain
//! fails the rebuild (retry it) rather than guess.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use flashsale_domain::{CacheRebuild, OrderStore, Sale, StoreError};

use crate::postgres::PgOrderStore;
use crate::rabbitmq::AmqpPublisher;
use crate::redis::buckets::home;
use crate::redis::keys::{SaleKeys, RELAY_GROUP, SALES_INDEX};
use crate::redis::record::{self, micros};
use crate::redis::scripts::scripts;
use crate::redis::{store_error, RedisStock};

/// How long a fence lasts if the rebuild dies before closing it.
const FENCE: Duration = Duration::from_secs(120);

/// How long consumers get to store what they hold once the queue is empty.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

/// Rebuilds Redis from PostgreSQL. Cheap to clone.
#[derive(Clone)]
pub struct StackCacheRebuild {
    stock: RedisStock,
    orders: PgOrderStore,
    /// The order queue to wait for, and for how long at most.
    queue: Option<(Arc<AmqpPublisher>, Duration)>,
}

impl StackCacheRebuild {
    /// A rebuild that does not wait for the order queue: exact only while
    /// Redis has lost nothing.
    pub fn new(stock: RedisStock, orders: PgOrderStore) -> Self {
        Self {
            stock,
            orders,
            queue: None,
        }
    }

    /// Waits for `queue` to drain, at most `bound`, before each rebuild;
    /// see the module docs.
    pub fn waiting_for(mut self, queue: Arc<AmqpPublisher>, bound: Duration) -> Self {
        self.queue = Some((queue, bound));
        self
    }

    /// Returns once the order queue was seen empty and consumers had
    /// [`DRAIN_GRACE`] to store what they hold.
    async fn wait_for_the_queue(&self) -> Result<(), StoreError> {
        let Some((queue, bound)) = &self.queue else {
            return Ok(());
        };
        let deadline = Instant::now() + *bound;
        loop {
            let depth = queue.queue_depths().await;
            if matches!(depth, Ok((0, _))) {
                tokio::time::sleep(DRAIN_GRACE).await;
                return Ok(());
            }
            if Instant::now() >= deadline {
                let seen =
                    depth.map_or_else(|e| e.to_string(), |(ready, _)| format!("{ready} messages ready"));
                return Err(StoreError::new(
                    "rabbitmq",
                    format!("the order queue did not drain within {bound:?} ({seen}); retry the rebuild"),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Rebuilds one sale; see the module docs. A sale split into buckets
    /// is rebuilt whole: every bucket fenced (no transfer leaves a fenced
    /// bucket), the transfers under way delivered, each bucket rebuilt
    /// from its buyers' orders with nothing to sell, then bucket 0 given
    /// what the ledger says is left. A rolled-back Redis may have undone a
    /// debit whose credit another master kept, so no bucket's own count
    /// of units left is trusted.
    pub async fn rebuild_sale(&self, sale: &Sale) -> Result<(), StoreError> {
        let buckets = sale.stock_buckets.max(1);
        let keys = SaleKeys::buckets(sale.id, buckets);
        let scripts = scripts();
        let mut conn = self.stock.connection();
        for bucket in &keys {
            scripts
                .fence
                .key(&bucket.rebuild)
                .key(&bucket.settled)
                .arg(FENCE.as_secs())
                .invoke_async::<i64>(&mut conn)
                .await
                .map_err(store_error)?;
        }
        if buckets > 1 {
            let transfers = self.stock.transfers();
            for bucket in &keys {
                transfers
                    .finish_pending(&bucket.place)
                    .await
                    .map_err(store_error)?;
            }
        }
        let ledger = self.orders.reservations_of(sale.id).await?;
        let mut others = 0;
        for (k, bucket) in keys.iter().enumerate().rev() {
            let records = ledger
                .orders
                .iter()
                .filter(|r| home(&r.user_id, buckets) as usize == k);
            let stock = (k == 0).then(|| sale.stock.saturating_sub(others));
            let mut rebuild = scripts.rebuild.prepare_invoke();
            for key in &bucket.all()[..10] {
                rebuild.key(*key);
            }
            rebuild
                .arg(sale.state.as_str())
                .arg(stock.map_or_else(String::new, |s| s.to_string()))
                .arg(sale.per_user_limit)
                .arg(micros(sale.starts_at))
                .arg(micros(sale.ends_at))
                .arg(RELAY_GROUP)
                .arg(sale.prequeue_seconds)
                .arg(sale.fair_start_seconds)
                .arg(buckets)
                .arg(ledger.given_back.len());
            for id in &ledger.given_back {
                rebuild.arg(id.to_string());
            }
            for r in records {
                rebuild.arg(record::encode(r));
            }
            let reply: Vec<String> = rebuild.invoke_async(&mut conn).await.map_err(store_error)?;
            let rebuilt: u64 = reply.first().and_then(|s| s.parse().ok()).unwrap_or(0);
            others += rebuilt;
        }
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
        self.wait_for_the_queue().await?;
        for sale in &sales {
            self.rebuild_sale(sale).await?;
        }
        Ok(sales.len())
    }
}
