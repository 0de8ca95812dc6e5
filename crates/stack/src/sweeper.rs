//! [`Sweeper`]: every reservation a failure leaves in flight ends as the
//! ledger decided, and one the ledger has not decided raises an alert.
//!
//! A reservation is in flight (in Redis) from the 202 until the consumer
//! settles it after the PostgreSQL commit. A failure can leave it there:
//! the settle after the commit failed (Redis was away), or a release after
//! a void did. Every order service runs a sweeper, which asks the ledger
//! about reservations in flight for longer than a moment:
//! - stored as an order: settled (its units count as persisted);
//! - void: released (its units go back on sale);
//! - undecided: left alone. Its message may be in the outbox, the queue, a
//!   consumer's hands, or an insert waiting on a lock: silence proves
//!   nothing, so no timer ever gives the unit away. Past
//!   [`SweeperConfig::after`] it is counted as unaccounted for: a metric,
//!   health `degraded` with the count, and an event in the operator's log.
//!   It is released only through the ledger: a consumer that holds a copy
//!   that can never be stored, or an operator's
//!   `POST /api/admin/orders/{id}/void`, writes the void first.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashsale_domain::{
    Decision, Event, EventKind, EventSink, OrderId, OrderStore, SaleId, Severity, StockStore, StoreError,
};

use crate::metrics::PipelineMetrics;
use crate::postgres::PgOrderStore;
use crate::redis::RedisStock;

/// How long the sweeper waits.
#[derive(Debug, Clone)]
pub struct SweeperConfig {
    /// How long a reservation may stay in flight, undecided by the ledger,
    /// before it is reported as unaccounted for. Nothing is released when
    /// it passes: it only raises the alert.
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
    /// Reservations found stored in the ledger and settled.
    pub settled: usize,
    /// Reservations found void in the ledger and released.
    pub released: usize,
    /// Reservations undecided past [`SweeperConfig::after`].
    pub unaccounted: usize,
}

/// The sweeper of one order service.
pub struct Sweeper {
    stock: RedisStock,
    orders: PgOrderStore,
    events: Arc<dyn EventSink>,
    config: SweeperConfig,
    /// Undecided reservations, and since when this sweeper has seen them so.
    undecided: HashMap<OrderId, Instant>,
    /// The unaccounted ones already announced, so each is announced once.
    announced: HashSet<OrderId>,
}

impl Sweeper {
    pub fn new(
        stock: RedisStock,
        orders: PgOrderStore,
        events: Arc<dyn EventSink>,
        config: SweeperConfig,
    ) -> Self {
        Self {
            stock,
            orders,
            events,
            config,
            undecided: HashMap::new(),
            announced: HashSet::new(),
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

    /// One pass over every sale with units in flight.
    pub async fn sweep(&mut self) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let mut undecided = HashMap::new();
        let mut unaccounted = Vec::new();
        for sale in self.stock.sales().await? {
            if self.stock.level(sale).await?.is_some_and(|l| l.in_flight > 0) {
                self.sweep_sale(sale, &mut undecided, &mut unaccounted, &mut report)
                    .await?;
            }
        }
        self.undecided = undecided;
        self.announce(&unaccounted);
        let metrics = &self.config.metrics;
        PipelineMetrics::add(&metrics.swept_settled, report.settled);
        PipelineMetrics::add(&metrics.swept_released, report.released);
        metrics.unaccounted.store(report.unaccounted as u64, Relaxed);
        if report.settled > 0 || report.released > 0 {
            tracing::warn!(
                message = "Swept reservations left in flight by a failure.",
                settled = report.settled,
                released = report.released,
            );
        }
        Ok(report)
    }

    async fn sweep_sale(
        &self,
        sale: SaleId,
        undecided: &mut HashMap<OrderId, Instant>,
        unaccounted: &mut Vec<OrderId>,
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
        let decided = self.orders.decisions(&ids).await?;
        let stored: Vec<OrderId> = ids
            .iter()
            .copied()
            .filter(|id| decided.get(id) == Some(&Decision::Order))
            .collect();
        if !stored.is_empty() {
            self.stock.settle(sale, &stored).await?;
            report.settled += stored.len();
        }
        let now = Instant::now();
        for r in &old {
            match decided.get(&r.order_id) {
                Some(Decision::Order) => {}
                Some(Decision::Void) => {
                    if self.stock.release_in_flight(r).await? > 0 {
                        report.released += 1;
                    }
                }
                None => {
                    let since = self.undecided.get(&r.order_id).copied().unwrap_or(now);
                    undecided.insert(r.order_id, since);
                    if now.duration_since(since) >= self.config.after {
                        unaccounted.push(r.order_id);
                        report.unaccounted += 1;
                    }
                }
            }
        }
        Ok(())
    }

    /// Tells the operator about reservations newly unaccounted for.
    fn announce(&mut self, unaccounted: &[OrderId]) {
        let fresh: Vec<OrderId> = unaccounted
            .iter()
            .copied()
            .filter(|id| !self.announced.contains(id))
            .collect();
        self.announced = unaccounted.iter().copied().collect();
        let Some(first) = fresh.first() else {
            return;
        };
        let message = format!(
            "{} answered reservations neither stored nor void after {} s (first: {first}); not released: \
             check the order queue and consumers, or void each one known lost with POST /api/admin/orders/{{id}}/void.",
            fresh.len(),
            self.config.after.as_secs()
        );
        tracing::error!(message = "Answered reservations unaccounted for.", count = fresh.len(), %first);
        self.events
            .emit(Event::new(EventKind::System, Severity::Critical, message));
    }
}
