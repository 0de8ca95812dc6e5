//! [`Sweeper`]: every reservation a failure leaves in flight ends as an
//! order or back on sale.
//!
//! A reservation is in flight (in Redis) from the 202 until the consumer
//! settles it after the PostgreSQL commit. A failure can leave it there for
//! good: the settle after the commit failed (Redis was away), or its
//! message was dead-lettered (unreadable, or refused by the ledger). Every
//! order service runs a sweeper, which looks at reservations in flight for
//! longer than a moment:
//! - stored in PostgreSQL: settled (its units count as persisted);
//! - still in the outbox: left to the relays, which will publish it;
//! - neither: its message is in the order queue, in a consumer's hands, or
//!   gone. It is released (its units go back on sale) only after it has
//!   been in that state for [`SweeperConfig::after`] with the order queue
//!   seen empty at every sweep meanwhile, so any copy that was queued has
//!   been delivered and stored; and not while a consumer's claim on it is
//!   younger than `after` (it is being stored). Should a copy still arrive
//!   later, `claim` refuses it: the unit never sells twice.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashsale_domain::{OrderId, SaleId, StockStore, StoreError};

use crate::metrics::PipelineMetrics;
use crate::postgres::PgOrderStore;
use crate::rabbitmq::AmqpPublisher;
use crate::redis::{RedisStock, Released};

/// How long the sweeper waits.
#[derive(Debug, Clone)]
pub struct SweeperConfig {
    /// How long a reservation must be neither stored nor in the outbox,
    /// with the queue empty, before its units go back on sale. Keep it above
    /// the broker's heartbeat: a consumer that hangs keeps its prefetched
    /// messages until the broker notices.
    pub after: Duration,
    /// Where the sweeper counts what it did.
    pub metrics: Arc<PipelineMetrics>,
}

impl Default for SweeperConfig {
    fn default() -> Self {
        Self {
            after: Duration::from_secs(60),
            metrics: Arc::default(),
        }
    }
}

impl SweeperConfig {
    /// The pause between sweeps: a sixth of `after`, between 100 ms and 5 s.
    pub fn every(&self) -> Duration {
        (self.after / 6).clamp(Duration::from_millis(100), Duration::from_secs(5))
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Reservations found stored in PostgreSQL and settled.
    pub settled: usize,
    /// Reservations released, their units back on sale.
    pub released: usize,
    /// Reservations neither stored nor in the outbox, not released yet.
    pub waiting: usize,
}

/// The sweeper of one order service.
pub struct Sweeper {
    stock: RedisStock,
    orders: PgOrderStore,
    queue: Arc<AmqpPublisher>,
    config: SweeperConfig,
    /// Reservations neither stored nor in the outbox, and since when, as
    /// long as every sweep since saw the queue empty.
    unaccounted: HashMap<OrderId, Instant>,
}

impl Sweeper {
    pub fn new(
        stock: RedisStock,
        orders: PgOrderStore,
        queue: Arc<AmqpPublisher>,
        config: SweeperConfig,
    ) -> Self {
        Self {
            stock,
            orders,
            queue,
            config,
            unaccounted: HashMap::new(),
        }
    }

    /// Sweeps every [`SweeperConfig::every`] until `stop` resolves.
    pub async fn run(mut self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(self.config.every()) => {}
            }
            if let Err(error) = self.sweep().await {
                tracing::warn!(message = "In-flight sweep failed; retrying.", %error);
            }
        }
    }

    /// One pass over every sale.
    pub async fn sweep(&mut self) -> Result<SweepReport, StoreError> {
        let quiet = matches!(self.queue.queue_depths().await, Ok((0, _)));
        if !quiet {
            self.unaccounted.clear();
        }
        let mut report = SweepReport::default();
        let mut still = HashMap::new();
        let result = self.sweep_sales(quiet, &mut still, &mut report).await;
        // On a failure, start counting afresh: nothing is released on a
        // partial view.
        self.unaccounted = if result.is_ok() { still } else { HashMap::new() };
        result?;
        PipelineMetrics::add(&self.config.metrics.swept_settled, report.settled);
        PipelineMetrics::add(&self.config.metrics.swept_released, report.released);
        if report.settled > 0 || report.released > 0 {
            tracing::warn!(
                message = "Swept reservations left in flight by a failure.",
                settled = report.settled,
                released = report.released,
                waiting = report.waiting
            );
        }
        Ok(report)
    }

    async fn sweep_sales(
        &self,
        quiet: bool,
        still: &mut HashMap<OrderId, Instant>,
        report: &mut SweepReport,
    ) -> Result<(), StoreError> {
        for sale in self.stock.sales().await? {
            if self.stock.level(sale).await?.is_some_and(|l| l.in_flight > 0) {
                self.sweep_sale(sale, quiet, still, report).await?;
            }
        }
        Ok(())
    }

    async fn sweep_sale(
        &self,
        sale: SaleId,
        quiet: bool,
        still: &mut HashMap<OrderId, Instant>,
        report: &mut SweepReport,
    ) -> Result<(), StoreError> {
        // Younger ones are normally on their way: leave them to the consumer.
        let horizon = chrono::Utc::now()
            - chrono::Duration::from_std(self.config.every() * 2).unwrap_or(chrono::Duration::MAX);
        let old = self.stock.in_flight_before(sale, horizon).await?;
        if old.is_empty() {
            return Ok(());
        }
        let ids: Vec<OrderId> = old.iter().map(|r| r.order_id).collect();
        let stored = self.orders.existing(&ids).await?;
        if !stored.is_empty() {
            let stored: Vec<OrderId> = stored.iter().copied().collect();
            self.stock.settle(sale, &stored).await?;
            report.settled += stored.len();
        }
        let unstored: Vec<_> = old
            .into_iter()
            .filter(|r| !stored.contains(&r.order_id))
            .collect();
        if unstored.is_empty() || !quiet {
            return Ok(());
        }
        let outbox = self.stock.outbox_orders(sale).await?;
        let now = Instant::now();
        for r in unstored.into_iter().filter(|r| !outbox.contains(&r.order_id)) {
            let since = self.unaccounted.get(&r.order_id).copied().unwrap_or(now);
            if now.duration_since(since) < self.config.after {
                still.insert(r.order_id, since);
                report.waiting += 1;
                continue;
            }
            match self.stock.release_unclaimed(&r, self.config.after).await? {
                Released::Units(_) => report.released += 1,
                Released::NotInFlight => {}
                Released::Claimed => {
                    still.insert(r.order_id, since);
                    report.waiting += 1;
                }
            }
        }
        Ok(())
    }
}
