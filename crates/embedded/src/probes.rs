//! What the embedded engine's `/api/health` reports, one probe per
//! component.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use flashsale_domain::{
    ComponentHealth, HealthProbe, OrderId, OrderQueue, OrderStore, SaleCatalog, StockStore,
};

use crate::{EmbeddedQueue, MemoryStock, SqliteCatalog, SqliteOrderStore};

/// The probes of every embedded component.
pub fn probes(
    catalog: &SqliteCatalog,
    stock: &MemoryStock,
    orders: &SqliteOrderStore,
    queue: &Arc<EmbeddedQueue>,
    capacity: usize,
) -> Vec<Arc<dyn HealthProbe>> {
    vec![
        Arc::new(ProductProbe(catalog.clone())),
        Arc::new(InventoryProbe(stock.clone(), catalog.clone())),
        Arc::new(OrderProbe {
            queue: queue.clone(),
            capacity,
        }),
        Arc::new(SqliteProbe(orders.clone())),
        Arc::new(MemoryStockProbe),
    ]
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
