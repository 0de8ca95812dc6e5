//! The embedded engine: every service in one process, on memory and one
//! SQLite file, with the same HTTP contract and invariants as the stack.
//!
//! What a 202 means here: the order is committed to the SQLite file (WAL,
//! `synchronous = FULL`) before the answer is sent, by group commit, so a
//! `kill -9` of the process, or a crash of the host, loses no answered
//! order. At start-up the stock, the buyers' counts and the idempotency
//! records are rebuilt from the file.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use flashsale_domain::{
    Event, EventKind, EventSink, OrderId, OrderStore, Reservation, Sale, SaleCatalog, SaleId, Severity,
    StoreError,
};
use flashsale_gateway::events::EventLog;
use flashsale_gateway::{ComponentHealth, HealthProbe, Mode, Services};
use flashsale_inventory::{Durability, InventoryService, MemoryStock};
use flashsale_order::{EmbeddedQueue, OrderService, QueueConfig, SqliteOrderStore};
use flashsale_product::{CacheRebuild, ProductService, SqliteCatalog};

use crate::engine::{self, Engine, StartError};
use crate::settings::Settings;

/// Opens and migrates the database; returns the migrations applied.
pub fn migrate(data_dir: &std::path::Path) -> Result<Vec<&'static str>, StartError> {
    std::fs::create_dir_all(data_dir).map_err(|source| StartError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    let mut conn = flashsale_sqlite::open(&flashsale_sqlite::database_path(data_dir))?;
    Ok(flashsale_sqlite::migrate(&mut conn)?)
}

/// The lock file that makes one engine the only one on a data folder.
const LOCK_FILE: &str = "flashsale.lock";

/// Takes the data folder for this process: two engines on one folder would
/// each hold their own stock in memory and sell the same units twice. The
/// lock is the operating system's (`flock`), so it goes with the process,
/// however it dies; hold the returned file for as long as the engine runs.
pub fn lock_data_dir(data_dir: &std::path::Path) -> Result<std::fs::File, StartError> {
    let dir_error = |source| StartError::DataDir {
        path: data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(dir_error)?;
    let path = data_dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(dir_error)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(StartError::DataDirInUse(data_dir.display().to_string()))
        }
        Err(std::fs::TryLockError::Error(source)) => Err(dir_error(source)),
    }
}

/// Migrates, restores and binds the embedded engine; does not serve yet.
pub async fn start(settings: &Settings) -> Result<Engine, StartError> {
    let lock = lock_data_dir(&settings.data_dir)?;
    migrate(&settings.data_dir)?;
    let (admin_token, jwt_secret) = engine::secrets(settings)?;
    let db = flashsale_sqlite::database_path(&settings.data_dir);
    let catalog = SqliteCatalog::open(&db)?;
    let orders = SqliteOrderStore::open(&db)?;
    let stock = MemoryStock::new();
    let restored = restore(&catalog, &orders, &stock)
        .await
        .map_err(StartError::Restore)?;

    let events = Arc::new(EventLog::default());
    let settle = stock.clone();
    let queue = Arc::new(EmbeddedQueue::start(
        orders.clone(),
        QueueConfig {
            capacity: settings.queue_capacity.max(1),
            ..QueueConfig::default()
        },
        Box::new(move |stored: &[Reservation]| {
            let mut by_sale: HashMap<SaleId, Vec<OrderId>> = HashMap::new();
            for r in stored {
                by_sale.entry(r.sale_id).or_default().push(r.order_id);
            }
            for (sale, ids) in by_sale {
                settle.settle_now(sale, &ids);
            }
        }),
    ));
    let high_water = (settings.queue_capacity as u64 * 3 / 4).max(1);
    let inventory = Arc::new(InventoryService::new(
        Arc::new(stock.clone()),
        Durability::GroupCommit {
            queue: queue.clone(),
            orders: Arc::new(orders.clone()),
        },
        events.clone(),
        high_water,
    ));
    let flags = inventory.sold_out_flags().clone();
    let product = Arc::new(ProductService::new(
        Arc::new(catalog.clone()),
        Arc::new(stock.clone()),
        Arc::new(EmbeddedCache {
            stock: stock.clone(),
            orders: orders.clone(),
        }),
        events.clone(),
        Arc::new(move |sale| flags.clear(sale)),
    ));
    let probes: Vec<Arc<dyn HealthProbe>> = vec![
        Arc::new(ProductProbe(catalog.clone())),
        Arc::new(InventoryProbe(stock.clone(), catalog)),
        Arc::new(OrderProbe {
            queue: queue.clone(),
            capacity: settings.queue_capacity,
        }),
        Arc::new(SqliteProbe(orders.clone())),
        Arc::new(MemoryStockProbe),
    ];
    let services = Services {
        mode: Mode::Embedded,
        product: product.clone(),
        inventory,
        orders: Arc::new(OrderService::new(Arc::new(orders), None)),
        events: events.clone(),
        probes,
        metrics: Vec::new(),
    };
    let summary = vec![
        format!("mode: embedded (data in {})", settings.data_dir.display()),
        format!(
            "restored: {} sales, {} orders in {} ms",
            restored.sales,
            restored.orders,
            restored.elapsed.as_millis()
        ),
    ];
    events.emit(Event::new(
        EventKind::System,
        Severity::Info,
        format!(
            "Engine started (embedded): {} sales and {} orders restored in {} ms.",
            restored.sales,
            restored.orders,
            restored.elapsed.as_millis()
        ),
    ));
    let commit_queued: engine::Shutdown = Box::new(move || {
        Box::pin(async move {
            // Every answered purchase is queued by now; commit them all.
            queue.shutdown().await;
            // Only then may another engine take the folder.
            drop(lock);
        })
    });
    let shutdown = engine::then(engine::spawn_schedule(product), commit_queued);
    Engine::bind(settings, services, (admin_token, jwt_secret), summary, shutdown).await
}

/// What start-up found in the database.
#[derive(Debug, Clone, Copy, Default)]
struct RestoreReport {
    sales: usize,
    orders: usize,
    elapsed: Duration,
}

/// Rebuilds every sale's stock book from the catalog and the order ledger.
async fn restore(
    catalog: &SqliteCatalog,
    orders: &SqliteOrderStore,
    stock: &MemoryStock,
) -> Result<RestoreReport, StoreError> {
    let started = Instant::now();
    let mut report = RestoreReport::default();
    for sale in catalog.list().await? {
        let persisted = orders.reservations_of(sale.id).await?;
        report.sales += 1;
        report.orders += persisted.len();
        stock.restore(sale.terms(), persisted);
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// The embedded cache flush: each sale's book is rebuilt from the ledger,
/// keeping the reservations still in flight.
///
/// The ledger is read without the sale's lock (purchases, on the runtime's
/// threads, would wait on it for the whole read): a fence opened first
/// keeps every reservation settled meanwhile, and the book is replaced
/// under the lock from the snapshot and the fence (see
/// [`flashsale_domain::SaleBook::rebuilt`]), so nothing is lost or counted twice.
struct EmbeddedCache {
    stock: MemoryStock,
    orders: SqliteOrderStore,
}

#[async_trait]
impl CacheRebuild for EmbeddedCache {
    async fn rebuild(&self, sales: Vec<Sale>) -> Result<usize, StoreError> {
        let mut rebuilt = 0;
        for sale in sales {
            if !self.stock.open_fence(sale.id) {
                continue;
            }
            let persisted = self.orders.reservations_of(sale.id).await?;
            rebuilt += usize::from(self.stock.replace_book(sale.id, |old| old.rebuilt(persisted)));
        }
        Ok(rebuilt)
    }
}

struct ProductProbe(SqliteCatalog);

#[async_trait]
impl HealthProbe for ProductProbe {
    fn name(&self) -> &'static str {
        "product"
    }
    async fn check(&self) -> ComponentHealth {
        match self.0.list().await {
            Ok(sales) => ComponentHealth::ok(format!("{} sales in the catalog", sales.len())),
            Err(e) => ComponentHealth::down(e.to_string()),
        }
    }
}

struct InventoryProbe(MemoryStock, SqliteCatalog);

#[async_trait]
impl HealthProbe for InventoryProbe {
    fn name(&self) -> &'static str {
        "inventory"
    }
    async fn check(&self) -> ComponentHealth {
        use flashsale_domain::StockStore;
        let sales = self.1.list().await.unwrap_or_default();
        let mut in_flight = 0;
        for sale in &sales {
            if let Ok(Some(level)) = self.0.level(sale.id).await {
                in_flight += level.in_flight;
            }
        }
        ComponentHealth::ok(format!(
            "{} sales live; {in_flight} units awaiting commit",
            sales.len()
        ))
    }
}

struct OrderProbe {
    queue: Arc<EmbeddedQueue>,
    capacity: usize,
}

#[async_trait]
impl HealthProbe for OrderProbe {
    fn name(&self) -> &'static str {
        "order"
    }
    async fn check(&self) -> ComponentHealth {
        use flashsale_domain::OrderQueue;
        let depth = self.queue.depth();
        let detail = format!("group-commit writer; queue depth {depth} of {}", self.capacity);
        if depth as usize * 4 >= self.capacity * 3 {
            ComponentHealth::degraded(detail)
        } else {
            ComponentHealth::ok(detail)
        }
    }
}

struct SqliteProbe(SqliteOrderStore);

#[async_trait]
impl HealthProbe for SqliteProbe {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        match self.0.get(OrderId::generate()).await {
            Ok(_) => ComponentHealth::ok(format!(
                "WAL, synchronous=FULL (a 202 survives kill -9 and host crash); read in {:.2} ms",
                started.elapsed().as_secs_f64() * 1000.0
            )),
            Err(e) => ComponentHealth::down(e.to_string()),
        }
    }
}

struct MemoryStockProbe;

#[async_trait]
impl HealthProbe for MemoryStockProbe {
    fn name(&self) -> &'static str {
        "memory_stock"
    }
    async fn check(&self) -> ComponentHealth {
        ComponentHealth::ok("one lock per sale; rebuilt from SQLite at start-up")
    }
}
