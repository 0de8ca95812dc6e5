//! Everything an operator does to a sale, and the schedule.
//!
//! The catalog is the source of truth for a sale's terms; the stock store
//! holds a copy next to the live counters, because the purchase decision
//! must see the state in the same atomic step as the stock. Operator changes
//! are serialised by one lock across every product process (`ChangeLock`;
//! they are rare), applied to the stock store
//! atomically with purchases, then written to the catalog; if that write
//! fails the stock store is put back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use flashsale_domain::{
    ports::{DrawStatus, DrawStore},
    Archived, CacheRebuild, ChangeGuard, ChangeLock, Event, EventKind, EventSink, Sale, SaleCatalog,
    SaleDraft, SaleId, SaleState, SaleStatus, Severity, StockChangeError, StockLevel, StockOpError,
    StockStore, StoreError, Transition, TransitionError, UnitsBack,
};
use tokio::sync::Mutex;

/// A sale with its live counters: what the API shows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SaleView {
    pub sale: Sale,
    pub level: StockLevel,
    /// The stock store had lost this sale (its live counters are unknown,
    /// shown as nothing remaining); it is being rebuilt from the ledger.
    #[serde(default)]
    pub degraded: bool,
    /// The sale's opening draw (a fair start), once anybody entered it or
    /// it closed; from the archive once the sale left the live stores.
    #[serde(default)]
    pub draw: Option<DrawStatus>,
}

impl SaleView {
    pub fn remaining(&self) -> u64 {
        self.level.remaining
    }

    pub fn sold(&self) -> u64 {
        self.level.stock - self.level.remaining
    }

    pub fn status(&self) -> SaleStatus {
        self.level.status()
    }
}

/// What a listing asks for: see [`ProductService::page`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SaleQuery {
    pub status: Option<SaleStatus>,
    /// Archived sales instead of live ones.
    #[serde(default)]
    pub archived: bool,
    pub after: Option<SaleId>,
    pub limit: usize,
}

impl SaleQuery {
    /// The most sales one page holds.
    pub const MAX_LIMIT: usize = 1000;
    /// A page's size when the query does not say.
    pub const DEFAULT_LIMIT: usize = 100;
}

/// One page of the listing, and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SalePage {
    pub sales: Vec<SaleView>,
    pub next: Option<SaleId>,
}

/// Why an operator's request was refused. Nothing changed.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    #[error("no such sale")]
    NotFound,
    /// The sale's life ended in the archive: it changes no more.
    #[error("the sale is archived: it ended, and changes no more")]
    Archived,
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error(transparent)]
    StockChange(#[from] StockChangeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<StockOpError> for ProductError {
    fn from(e: StockOpError) -> Self {
        match e {
            StockOpError::SaleNotFound => Self::NotFound,
            StockOpError::Transition(e) => Self::Transition(e),
            StockOpError::Change(e) => Self::StockChange(e),
            StockOpError::Store(e) => Self::Store(e),
        }
    }
}

/// The lock of one process: enough where one product service runs (the
/// embedded engine, `flashsale up`).
#[derive(Default)]
pub struct LocalChangeLock(Arc<Mutex<()>>);

#[async_trait]
impl ChangeLock for LocalChangeLock {
    async fn acquire(&self) -> Result<ChangeGuard, StoreError> {
        Ok(ChangeGuard::new(self.0.clone().lock_owned().await))
    }
}

/// The product service.
pub struct ProductService {
    catalog: Arc<dyn SaleCatalog>,
    stock: Arc<dyn StockStore>,
    cache: Arc<dyn CacheRebuild>,
    events: Arc<dyn EventSink>,
    units_back: UnitsBack,
    /// Serialises operator changes, flushes and the schedule, across every
    /// product process, so catalog and stock store move together.
    lock: Arc<dyn ChangeLock>,
    /// Sales being rebuilt in the background (see `view`).
    rebuilding: Arc<std::sync::Mutex<std::collections::HashSet<SaleId>>>,
    /// How long an ended sale waits before its archive (see `archive_due`).
    archive_after: Duration,
    /// When this process first saw each live sale ended.
    ended_seen: std::sync::Mutex<HashMap<SaleId, Instant>>,
    /// The fair starts' draws, shown with their sales and kept in the
    /// archive (none: sales are shown without their draws).
    draws: Option<Arc<dyn DrawStore>>,
}

impl ProductService {
    pub fn new(
        catalog: Arc<dyn SaleCatalog>,
        stock: Arc<dyn StockStore>,
        cache: Arc<dyn CacheRebuild>,
        events: Arc<dyn EventSink>,
        units_back: UnitsBack,
    ) -> Self {
        Self {
            catalog,
            stock,
            cache,
            events,
            units_back,
            lock: Arc::new(LocalChangeLock::default()),
            rebuilding: Arc::default(),
            archive_after: Self::DEFAULT_ARCHIVE_AFTER,
            ended_seen: std::sync::Mutex::default(),
            draws: None,
        }
    }

    /// Shows each sale's draw with it, and keeps it in the archive.
    pub fn with_draws(mut self, draws: Arc<dyn DrawStore>) -> Self {
        self.draws = Some(draws);
        self
    }

    /// The draw of a live sale with a fair start (one read; none for the
    /// others, so a listing costs nothing more for sales without one).
    async fn draw_of(&self, sale: &Sale) -> Result<Option<DrawStatus>, StoreError> {
        match &self.draws {
            Some(draws) if sale.terms().draw_window().is_some() => draws.status(sale.id).await,
            _ => Ok(None),
        }
    }

    /// An ended sale's archive waits this long by default: late retries
    /// still find its live records meanwhile.
    pub const DEFAULT_ARCHIVE_AFTER: Duration = Duration::from_secs(3600);

    /// Archives ended sales `after` this long (see [`Self::archive_due`]).
    pub fn with_archive_after(mut self, after: Duration) -> Self {
        self.archive_after = after;
        self
    }

    /// Serialises this service's changes with those of other processes
    /// (by default, only within this process).
    pub fn with_change_lock(mut self, lock: Arc<dyn ChangeLock>) -> Self {
        self.lock = lock;
        self
    }

    /// Makes every sale of the catalog known to the stock store at start-up:
    /// a sale the store already holds gets the catalog's terms; one it lost
    /// (a flushed or replaced Redis) is rebuilt from the order ledger, so
    /// units already sold are never put on sale again.
    pub async fn warm(&self) -> Result<usize, StoreError> {
        let sales = self.catalog.list().await?;
        let mut lost = Vec::new();
        for sale in &sales {
            match self.stock.level(sale.id).await? {
                Some(_) => self.stock.load(sale.terms()).await?,
                None => lost.push(sale.clone()),
            }
        }
        if !lost.is_empty() {
            tracing::warn!(
                message = "Rebuilding sales missing from the stock store.",
                sales = lost.len()
            );
            self.cache.rebuild(lost).await?;
        }
        Ok(sales.len())
    }

    /// The sale with its live counters. One the stock store lost is shown
    /// degraded (nothing on sale) and rebuilt from the ledger in the
    /// background, so one lost sale never fails the listing, the stats or
    /// the dashboard.
    async fn view(&self, sale: Sale) -> Result<SaleView, ProductError> {
        if let Some(level) = sale.archived_level() {
            let draw = sale.archived.and_then(|a| a.draw);
            return Ok(SaleView {
                sale,
                level,
                degraded: false,
                draw,
            });
        }
        if let Some(level) = self.stock.level(sale.id).await? {
            let draw = self.draw_of(&sale).await?;
            return Ok(SaleView {
                sale,
                level,
                degraded: false,
                draw,
            });
        }
        self.rebuild_in_background(&sale);
        let level = StockLevel {
            stock: sale.stock,
            remaining: 0,
            in_flight: 0,
            persisted: 0,
            state: sale.state,
        };
        Ok(SaleView {
            sale,
            level,
            degraded: true,
            draw: None,
        })
    }

    /// Rebuilds a sale the stock store lost, once at a time per sale.
    fn rebuild_in_background(&self, sale: &Sale) {
        if !self
            .rebuilding
            .lock()
            .expect("rebuilding set lock poisoned")
            .insert(sale.id)
        {
            return;
        }
        tracing::warn!(message = "A sale is missing from the stock store; rebuilding it from the ledger.", sale = %sale.id);
        let (lock, cache, units_back, rebuilding) = (
            self.lock.clone(),
            self.cache.clone(),
            self.units_back.clone(),
            self.rebuilding.clone(),
        );
        let (sale, stock, catalog) = (sale.clone(), self.stock.clone(), self.catalog.clone());
        tokio::spawn(async move {
            let rebuilt = async {
                let _guard = lock.acquire().await?;
                // Under the lock, as it is now: another process may have
                // rebuilt it meanwhile, or the archive taken it (the archive
                // empties the stock store first, under the same lock).
                let Some(current) = catalog.get(sale.id).await? else {
                    return Ok(());
                };
                if current.archived.is_none() && stock.level(sale.id).await?.is_none() {
                    cache.rebuild(vec![current]).await?;
                }
                Ok::<_, StoreError>(())
            }
            .await;
            match rebuilt {
                Ok(()) => units_back(sale.id),
                Err(error) => {
                    tracing::warn!(message = "Rebuilding a lost sale failed; the next read retries.", sale = %sale.id, %error)
                }
            }
            rebuilding
                .lock()
                .expect("rebuilding set lock poisoned")
                .remove(&sale.id);
        });
    }

    pub async fn get(&self, id: SaleId) -> Result<SaleView, ProductError> {
        let sale = self.catalog.get(id).await?.ok_or(ProductError::NotFound)?;
        self.view(sale).await
    }

    pub async fn list(&self) -> Result<Vec<SaleView>, ProductError> {
        let mut views = Vec::new();
        for sale in self.catalog.list().await? {
            views.push(self.view(sale).await?);
        }
        Ok(views)
    }

    /// One page of the listing: up to `limit` sales with `status` (any when
    /// `None`) after the cursor `after`, oldest first, and the cursor of the
    /// next page when more sales may follow. The catalog is read a page at a
    /// time, so a listing costs its page, not the history.
    pub async fn page(&self, mut query: SaleQuery) -> Result<SalePage, ProductError> {
        query.limit = query.limit.clamp(1, SaleQuery::MAX_LIMIT);
        let mut sales = Vec::new();
        let mut after = query.after;
        loop {
            let batch = self.catalog.page(after, query.limit + 1, query.archived).await?;
            let exhausted = batch.len() <= query.limit;
            for sale in batch {
                after = Some(sale.id);
                let view = self.view(sale).await?;
                if query.status.is_none_or(|s| s == view.status()) {
                    if sales.len() == query.limit {
                        let next = sales.last().map(|v: &SaleView| v.sale.id);
                        return Ok(SalePage { sales, next });
                    }
                    sales.push(view);
                }
            }
            if exhausted {
                return Ok(SalePage { sales, next: None });
            }
        }
    }

    /// Creates a sale, `scheduled`.
    pub async fn create(&self, draft: SaleDraft) -> Result<SaleView, ProductError> {
        let _guard = self.lock.acquire().await?;
        let sale = draft.into_sale(SaleId::generate(), Utc::now());
        // The stock store first: should it fail, the catalog holds no sale
        // that the operator's retry would create a second time. (A catalog
        // write that fails leaves terms in the stock store under an id no
        // one was given.)
        self.stock.load(sale.terms()).await?;
        self.catalog.insert(&sale).await?;
        self.emit(
            EventKind::AdminAction,
            Severity::Info,
            format!("Sale \"{}\" created with {} units.", sale.name, sale.stock),
            sale.id,
        );
        self.view(sale).await
    }

    /// Starts, pauses, resumes or ends a sale. Once a pause or an end is
    /// answered, no further unit of the sale is sold.
    pub async fn transition(&self, id: SaleId, t: Transition) -> Result<SaleView, ProductError> {
        let _guard = self.lock.acquire().await?;
        let mut sale = self.live(id).await?;
        let before = sale.clone();
        let now = Utc::now();
        sale.state = match self.stock.transition(id, t, now).await {
            Ok(state) => state,
            Err(StockOpError::Transition(refused)) => self.made_before(&sale, t, now, refused).await?,
            Err(e) => return Err(e.into()),
        };
        if let Err(e) = self.catalog.update(&sale).await {
            self.stock.load(before.terms()).await?;
            return Err(e.into());
        }
        (self.units_back)(id);
        self.emit(
            EventKind::SaleState,
            Severity::Info,
            format!("Sale \"{}\" is now {}.", sale.name, sale.state.as_str()),
            id,
        );
        self.view(sale).await
    }

    /// The stock store refused `t`, yet the catalog allows it: an earlier
    /// attempt whose reply was lost (a dropped connection, a time-out, a
    /// retried compare-and-set) may have made this very change in the stock
    /// store and not in the catalog. If the stock store is in the state `t`
    /// leads to, that is the change: it stands, and the catalog follows.
    async fn made_before(
        &self,
        sale: &Sale,
        t: Transition,
        now: DateTime<Utc>,
        refused: TransitionError,
    ) -> Result<SaleState, ProductError> {
        let Ok(wanted) = sale.terms().effective_state(now).apply(t) else {
            return Err(ProductError::Transition(refused));
        };
        match self.stock.level(sale.id).await? {
            Some(level) if level.state == wanted => Ok(wanted),
            _ => Err(ProductError::Transition(refused)),
        }
    }

    /// Adds (`delta > 0`) or withdraws (`delta < 0`) units, on every replica
    /// at once since the stock store is shared.
    pub async fn adjust_stock(&self, id: SaleId, delta: i64) -> Result<SaleView, ProductError> {
        let _guard = self.lock.acquire().await?;
        let mut sale = self.live(id).await?;
        let level = self.stock.adjust(id, delta, Utc::now()).await?;
        sale.stock = level.stock;
        if let Err(e) = self.catalog.update(&sale).await {
            self.stock.adjust(id, -delta, Utc::now()).await?;
            return Err(e.into());
        }
        if delta > 0 {
            (self.units_back)(id);
        }
        let verb = if delta > 0 { "added to" } else { "withdrawn from" };
        self.emit(
            EventKind::StockChanged,
            Severity::Info,
            format!(
                "{} units {verb} \"{}\"; stock is now {}.",
                delta.unsigned_abs(),
                sale.name,
                sale.stock
            ),
            id,
        );
        let draw = self.draw_of(&sale).await?;
        Ok(SaleView {
            sale,
            level,
            degraded: false,
            draw,
        })
    }

    /// Rebuilds the stock store from the catalog and the order ledger.
    pub async fn flush_cache(&self) -> Result<usize, ProductError> {
        let _guard = self.lock.acquire().await?;
        let sales = self.catalog.list().await?;
        let ids: Vec<SaleId> = sales.iter().map(|s| s.id).collect();
        let rebuilt = self.cache.rebuild(sales).await?;
        for id in ids {
            (self.units_back)(id);
        }
        self.events.emit(Event::new(
            EventKind::AdminAction,
            Severity::Warning,
            format!("Cache flushed: {rebuilt} sales rebuilt from the order ledger."),
        ));
        Ok(rebuilt)
    }

    /// Applies `starts_at` and `ends_at` to the stored state of every sale
    /// whose schedule has moved it; returns the sales changed.
    pub async fn apply_schedule(&self, now: DateTime<Utc>) -> Result<Vec<SaleId>, ProductError> {
        let _guard = self.lock.acquire().await?;
        self.schedule(self.catalog.list().await?, now).await
    }

    /// [`Self::apply_schedule`] on `live`, the catalog's live sales, read
    /// under the change lock the caller holds.
    async fn schedule(&self, live: Vec<Sale>, now: DateTime<Utc>) -> Result<Vec<SaleId>, ProductError> {
        let mut changed = Vec::new();
        for mut sale in live {
            let effective = sale.terms().effective_state(now);
            if effective == sale.state {
                continue;
            }
            sale.state = effective;
            self.catalog.update(&sale).await?;
            self.stock.load(sale.terms()).await?;
            let why = if effective == SaleState::Ended {
                "its end time passed"
            } else {
                "its start time came"
            };
            self.emit(
                EventKind::SaleState,
                Severity::Info,
                format!("Sale \"{}\" is now {} ({why}).", sale.name, effective.as_str()),
                sale.id,
            );
            changed.push(sale.id);
        }
        Ok(changed)
    }

    /// Archives every sale this process has seen ended for `archive_after`
    /// (plus its payment window) once its pipeline drained: its live state leaves the stock store (in
    /// one atomic step that refuses while anything is in flight or waiting
    /// in the outbox), then the catalog marks it archived with what it
    /// sold. A crash between the two leaves a live sale the stock store
    /// lost: it is rebuilt from the ledger, and archived on a later pass.
    pub async fn archive_due(&self, now: DateTime<Utc>) -> Result<Vec<SaleId>, ProductError> {
        let _guard = self.lock.acquire().await?;
        self.archive(self.catalog.list().await?, now).await
    }

    /// [`Self::archive_due`] on `live`, the catalog's live sales, read under
    /// the change lock the caller holds (states the schedule changed since
    /// are followed: only the effective state at `now` counts).
    async fn archive(&self, live: Vec<Sale>, now: DateTime<Utc>) -> Result<Vec<SaleId>, ProductError> {
        let due: Vec<Sale> = {
            let mut seen = self.ended_seen.lock().expect("ended sales lock poisoned");
            let ended: Vec<Sale> = live
                .into_iter()
                .filter(|s| s.terms().effective_state(now) == SaleState::Ended)
                .collect();
            seen.retain(|id, _| ended.iter().any(|s| s.id == *id));
            ended
                .into_iter()
                .filter(|s| {
                    // Orders stored at the end may await payment for the
                    // sale's window: their units can still come back.
                    let wait = self.archive_after + Duration::from_secs(s.payment_window_seconds.into());
                    seen.entry(s.id).or_insert_with(Instant::now).elapsed() >= wait
                })
                .collect()
        };
        let mut archived = Vec::new();
        for sale in due {
            // Read before the stock store forgets the sale (its draw's live
            // records leave with it).
            let draw = self.draw_of(&sale).await?;
            let Some(last) = self.stock.forget(sale.id).await? else {
                continue;
            };
            let sold = last.stock.saturating_sub(last.remaining);
            self.catalog
                .archive(sale.id, Archived { at: now, sold, draw })
                .await?;
            if let Some(draws) = &self.draws {
                draws.forget_draw(sale.id).await?;
            }
            self.ended_seen
                .lock()
                .expect("ended sales lock poisoned")
                .remove(&sale.id);
            self.emit(
                EventKind::SaleState,
                Severity::Info,
                format!(
                    "Sale \"{}\" archived: {sold} units sold; its ledger stays.",
                    sale.name
                ),
                sale.id,
            );
            archived.push(sale.id);
        }
        Ok(archived)
    }

    /// One pass of the schedule and the archive, under one acquisition of
    /// the change lock and one read of the live sales.
    async fn tick(&self, now: DateTime<Utc>) {
        let pass = async {
            let _guard = self.lock.acquire().await?;
            let live = self.catalog.list().await?;
            if let Err(error) = self.schedule(live.clone(), now).await {
                tracing::warn!(message = "Failed to apply the sale schedule.", %error);
            }
            if let Err(error) = self.archive(live, now).await {
                tracing::warn!(message = "Failed to archive ended sales.", %error);
            }
            Ok::<_, StoreError>(())
        };
        if let Err(error) = pass.await {
            tracing::warn!(message = "Failed to read the sales for the schedule.", %error);
        }
    }

    /// A sale operators may still change: not archived.
    async fn live(&self, id: SaleId) -> Result<Sale, ProductError> {
        match self.catalog.get(id).await? {
            None => Err(ProductError::NotFound),
            Some(sale) if sale.archived.is_some() => Err(ProductError::Archived),
            Some(sale) => Ok(sale),
        }
    }

    /// Runs [`Self::apply_schedule`] and [`Self::archive_due`] every
    /// `period` (one pass, one lock) until `stop` resolves.
    pub async fn run_schedule(
        self: Arc<Self>,
        period: Duration,
        stop: impl std::future::Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = tick.tick() => self.tick(Utc::now()).await,
            }
        }
    }

    fn emit(&self, kind: EventKind, severity: Severity, message: String, sale: SaleId) {
        self.events
            .emit(Event::new(kind, severity, message).for_sale(sale));
    }
}
