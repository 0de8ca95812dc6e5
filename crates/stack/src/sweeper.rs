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
//!
//! Each sweep also checks that Redis is not behind the ledger: every unit
//! the ledger stored was reserved in Redis first and stays counted there
//! (in flight, then persisted), so read in that order, the ledger's units
//! of a sale can never exceed Redis's in flight + persisted. When they do,
//! Redis came back with older data (an `everysec` host crash, an RDB-only
//! restart, a replica promoted): its stock, buyers' counts and idempotency
//! records rolled back, and units already sold would sell again. With a
//! [`Recovery`], the sweeper pauses the sale in Redis at once, rebuilds it
//! from the ledger under the product service's change lock (which restores
//! the catalog's state: the sale resumes), and says so in the event log.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use flashsale_domain::{
    CacheRebuild, ChangeLock, Decision, Event, EventKind, EventSink, OrderId, OrderStore, SaleCatalog,
    SaleId, SaleState, Severity, StockStore, StoreError, Transition,
};

use crate::cache::StackCacheRebuild;
use crate::metrics::PipelineMetrics;
use crate::postgres::{PgCatalog, PgChangeLock, PgOrderStore};
use crate::redis::RedisStock;

/// What the sweeper needs to rebuild a sale Redis lost data of: the
/// catalog's terms, the rebuild, and the product service's change lock.
pub struct Recovery {
    pub catalog: PgCatalog,
    pub rebuild: StackCacheRebuild,
    pub lock: PgChangeLock,
}

/// How often the sweeper looks for a Redis rollback between sweeps.
pub const ROLLBACK_CHECK: Duration = Duration::from_millis(500);

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
    /// Sales found behind the ledger, and rebuilt.
    pub rebuilt: usize,
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
    /// How to rebuild a sale found behind the ledger; without it, such a
    /// sale is only reported.
    recovery: Option<Recovery>,
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
            recovery: None,
        }
    }

    /// Rebuilds sales found behind the ledger (see the module docs).
    pub fn recovering(mut self, recovery: Recovery) -> Self {
        self.recovery = Some(recovery);
        self
    }

    /// Sweeps every [`SweeperConfig::every`], and checks for a Redis
    /// rollback every [`ROLLBACK_CHECK`] in between (until it is found,
    /// rolled-back buyers' counts and stock can be sold again), until `stop`
    /// resolves.
    pub async fn run(mut self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        let mut last_sweep = Instant::now();
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(ROLLBACK_CHECK.min(self.config.every())) => {}
            }
            let result = if last_sweep.elapsed() >= self.config.every() {
                last_sweep = Instant::now();
                self.sweep().await.map(drop)
            } else {
                self.check_rollbacks().await.map(drop)
            };
            if let Err(error) = result {
                tracing::warn!(message = "In-flight sweep failed; retrying.", %error);
            }
        }
    }

    /// Finds the live sales Redis holds fewer units of than the ledger,
    /// and rebuilds them (see the module docs); returns how many.
    pub async fn check_rollbacks(&mut self) -> Result<usize, StoreError> {
        let sales = self.stock.sales().await?;
        // The ledger first, then Redis: see the module docs.
        let stored = self.orders.units_of(&sales).await?;
        let mut rebuilt = 0;
        for sale in sales {
            let ledger = stored.get(&sale).copied().unwrap_or(0);
            if ledger == 0 {
                continue;
            }
            let Some(level) = self.stock.level(sale).await? else {
                continue;
            };
            if ledger > level.persisted + level.in_flight {
                self.behind(sale, ledger, level.persisted + level.in_flight)
                    .await?;
                rebuilt += 1;
            }
        }
        Ok(rebuilt)
    }

    /// One pass over every sale with units in flight.
    pub async fn sweep(&mut self) -> Result<SweepReport, StoreError> {
        let mut report = SweepReport::default();
        let mut undecided = HashMap::new();
        let mut unaccounted = Vec::new();
        report.rebuilt = self.check_rollbacks().await?;
        for sale in self.stock.sales().await? {
            // Transfers between a hot sale's buckets left half-way by a
            // process that died (nothing to do for a sale of one bucket).
            self.stock.finish_transfers(sale).await?;
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

    /// Redis holds fewer units of `sale` than the ledger stored: pause it,
    /// rebuild it from the ledger (which resumes it), and tell the operator.
    async fn behind(&self, sale: SaleId, ledger: u64, redis: u64) -> Result<(), StoreError> {
        let event = Event::new(
            EventKind::System,
            Severity::Critical,
            format!(
                "Redis is behind the order ledger for sale {sale} ({redis} units known, {ledger} stored): it came back with older data. {}",
                if self.recovery.is_some() { "Paused, rebuilt from the ledger and resumed." } else { "Flush the cache to rebuild it." }
            ),
        );
        self.events.emit(event.for_sale(sale));
        tracing::error!(message = "Redis is behind the order ledger.", %sale, ledger, redis);
        let Some(recovery) = &self.recovery else {
            return Ok(());
        };
        // Stop selling what may be sold already; a sale not active is left
        // as it is.
        let _ = self
            .stock
            .transition(sale, Transition::Pause, chrono::Utc::now())
            .await;
        let _guard = recovery.lock.acquire().await?;
        let Some(terms) = recovery.catalog.get(sale).await? else {
            return Ok(());
        };
        recovery.rebuild.rebuild(vec![terms.clone()]).await?;
        if terms.archived.is_some() {
            // An archived sale Redis brought back from older data: rebuilt
            // exact (ended), then forgotten again, so no loop walks it.
            let forgotten = self.stock.forget(sale).await?.is_some();
            tracing::warn!(message = "An archived sale came back with Redis's older data.", %sale, forgotten);
            return Ok(());
        }
        if terms.state == SaleState::Active {
            tracing::info!(message = "Rebuilt a sale from the ledger; it is on sale again.", %sale);
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
