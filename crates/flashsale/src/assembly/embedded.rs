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
use std::time::Duration;

use flashsale_domain::ports::DrawStore;
use flashsale_domain::{Event, EventKind, EventSink, OrderId, Reservation, SaleId, Severity, UnitsBack};
use flashsale_embedded::{
    database, probes, restore, EmbeddedCache, EmbeddedQueue, MemoryStock, QueueConfig, SqliteCatalog,
    SqliteDraws, SqliteOrderStore,
};
use flashsale_gateway::events::EventLog;
use flashsale_gateway::{Mode, Services};
use flashsale_inventory::{run_draws, Durability, InventoryService};
use flashsale_order::{Checkout, OrderService};
use flashsale_product::ProductService;

use super::Assembled;
use crate::error::StartError;
use crate::lifecycle::Background;
use crate::settings::Settings;

/// Takes the data folder, migrates, restores every sale from the file and
/// starts the group-commit writer.
pub async fn assemble(settings: &Settings) -> Result<Assembled, StartError> {
    let lock = database::lock_data_dir(&settings.data_dir)?;
    database::migrate_dir(&settings.data_dir)?;
    let db = database::database_path(&settings.data_dir);
    let catalog = SqliteCatalog::open(&db)?;
    let shop = settings.shop_endpoint()?;
    let orders = SqliteOrderStore::open(&db)?.with_shop_events(shop.is_some());
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
    let draw_store: Arc<dyn DrawStore> = Arc::new(SqliteDraws::open(&db)?);
    let inventory = Arc::new(
        InventoryService::new(
            Arc::new(stock.clone()),
            Durability::GroupCommit {
                queue: queue.clone(),
                orders: Arc::new(orders.clone()),
            },
            events.clone(),
            high_water,
        )
        .with_draws(draw_store.clone()),
    );
    let draws = tokio::spawn(run_draws(
        inventory.clone(),
        events.clone(),
        std::future::pending(),
    ));
    let flags = inventory.sold_out_flags().clone();
    let back = flags.clone();
    let units_back: UnitsBack = Arc::new(move |sale| back.clear(sale));
    let order_service = Arc::new(
        OrderService::new(Arc::new(orders.clone()), None).with_checkout(Checkout {
            stock: Arc::new(stock.clone()),
            units_back,
            events: events.clone(),
        }),
    );
    let product = Arc::new(
        ProductService::new(
            Arc::new(catalog.clone()),
            Arc::new(stock.clone()),
            Arc::new(EmbeddedCache {
                stock: stock.clone(),
                orders: orders.clone(),
            }),
            events.clone(),
            Arc::new(move |sale| flags.clear(sale)),
        )
        .with_draws(draw_store)
        .with_archive_after(settings.archive_after),
    );
    let mut background = Background::default();
    let mut probes = probes::probes(&catalog, &stock, &orders, &queue, settings.queue_capacity);
    let mut metrics = Vec::new();
    if let Some((probe, source)) = background.shop_webhooks(Arc::new(orders.clone()), shop, events.clone()) {
        probes.push(probe);
        metrics.push(source);
    }
    let services = Services {
        mode: Mode::Embedded,
        product: product.clone(),
        inventory,
        orders: order_service.clone(),
        events: events.clone(),
        probes,
        metrics,
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
    background.schedule(product);
    background.checkout(order_service);
    background.abort_on_stop("draws", draws);
    background.add("order writer", Duration::from_secs(30), move || async move {
        // Every answered purchase is queued by now; commit them all.
        queue.shutdown().await;
        // Only then may another engine take the folder.
        drop(lock);
    });
    Ok(Assembled {
        services,
        summary,
        background,
    })
}
