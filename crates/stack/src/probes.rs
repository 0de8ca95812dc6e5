//! What the real stack's `/api/health` reports: each store, the relay's and
//! the consumer's lag, the sweeper's undecided reservations, and each
//! service through the store it depends on most.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use flashsale_domain::{ComponentHealth, HealthProbe, SaleCatalog};
use sqlx::PgPool;

use crate::{AmqpPublisher, PgCatalog, PgOrderStore, PipelineMetrics, RedisStock};

fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

pub struct RedisProbe(pub RedisStock);

#[async_trait]
impl HealthProbe for RedisProbe {
    fn name(&self) -> &'static str {
        "redis"
    }
    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        match self.0.profile().await {
            // An evicting policy was accepted by the operator, but it can
            // drop answered reservations: degraded, so it stays visible.
            Ok(p) if p.evicts() => ComponentHealth::degraded(format!(
                "{}; {}; evicting keys can lose answered reservations",
                p.describe(),
                p.memory()
            )),
            // A persistence mode is a choice, not a fault: reported, not degraded.
            Ok(p) => {
                let keys = match self.0.footprint().await {
                    Ok((keys, sales)) => format!(
                        "{keys} keys for {sales} sales ({:.0} per sale)",
                        keys as f64 / sales.max(1) as f64
                    ),
                    Err(e) => format!("key count unknown: {e}"),
                };
                ComponentHealth::ok(format!(
                    "{}; {}; {keys}; answered in {:.2} ms",
                    p.describe(),
                    p.memory(),
                    millis(started)
                ))
            }
            Err(e) => ComponentHealth::down(e.to_string()),
        }
    }
}

pub struct RabbitProbe(pub Arc<AmqpPublisher>);

#[async_trait]
impl HealthProbe for RabbitProbe {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }
    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        let failure = self.0.recent_failure(Duration::from_secs(30));
        match self.0.queue_depths().await {
            Ok((ready, _)) if failure.is_some() => ComponentHealth::degraded(format!(
                "queue depth {ready}; a call failed in the last 30 s: {}",
                failure.unwrap_or_default()
            )),
            Ok((ready, 0)) => ComponentHealth::ok(format!(
                "queue depth {ready}; answered in {:.2} ms",
                millis(started)
            )),
            Ok((ready, dead)) => {
                ComponentHealth::degraded(format!("queue depth {ready}; {dead} messages dead-lettered"))
            }
            Err(e) => ComponentHealth::down(e.to_string()),
        }
    }
}

pub struct PostgresProbe(pub PgPool);

#[async_trait]
impl HealthProbe for PostgresProbe {
    fn name(&self) -> &'static str {
        "postgres"
    }
    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        match sqlx::query("SELECT 1").execute(&self.0).await {
            Ok(_) => ComponentHealth::ok(format!(
                "answered in {:.2} ms; pool of {}",
                millis(started),
                self.0.size()
            )),
            Err(e) => ComponentHealth::down(e.to_string()),
        }
    }
}

/// Relay lag: reservations still in the outboxes (deleted once confirmed).
pub struct RelayProbe(pub RedisStock);

#[async_trait]
impl HealthProbe for RelayProbe {
    fn name(&self) -> &'static str {
        "relay"
    }
    async fn check(&self) -> ComponentHealth {
        let mut backlog: u64 = 0;
        let mut conn = self.0.connection();
        let sales = match self.0.sales().await {
            Ok(sales) => sales,
            Err(e) => return ComponentHealth::down(e.to_string()),
        };
        for sale in sales {
            let buckets = match self.0.bucket_keys(sale).await {
                Ok(buckets) => buckets,
                Err(e) => return ComponentHealth::down(e.to_string()),
            };
            for keys in buckets {
                match ::redis::cmd("XLEN")
                    .arg(keys.outbox)
                    .query_async::<u64>(&mut conn)
                    .await
                {
                    Ok(n) => backlog += n,
                    Err(e) => return ComponentHealth::down(e.to_string()),
                }
            }
        }
        ComponentHealth::ok(format!("{backlog} reservations waiting in the outboxes"))
    }
}

/// Answered reservations the ledger has not decided past the sweep wait:
/// degraded while there are any (they are never released on silence).
pub struct SweeperProbe(pub Arc<PipelineMetrics>, pub Duration);

#[async_trait]
impl HealthProbe for SweeperProbe {
    fn name(&self) -> &'static str {
        "sweeper"
    }
    async fn check(&self) -> ComponentHealth {
        match self.0.unaccounted.load(Ordering::Relaxed) {
            0 => ComponentHealth::ok(format!(
                "no answered reservation undecided after {} s",
                self.1.as_secs()
            )),
            n => ComponentHealth::degraded(format!(
                "{n} answered reservations neither stored nor void after {} s; not released: \
                 void each one known lost with POST /api/admin/orders/{{id}}/void",
                self.1.as_secs()
            )),
        }
    }
}

/// Consumer lag: messages ready in the order queue; down while the
/// consumer is not subscribed (they are then not being stored).
pub struct ConsumerProbe(pub Arc<AmqpPublisher>, pub Arc<AtomicBool>);

#[async_trait]
impl HealthProbe for ConsumerProbe {
    fn name(&self) -> &'static str {
        "consumer"
    }
    async fn check(&self) -> ComponentHealth {
        if !self.1.load(Ordering::Relaxed) {
            return ComponentHealth::down("the order consumer is not subscribed to the queue (reconnecting)");
        }
        match self.0.queue_depths().await {
            Ok((ready, _)) => ComponentHealth::ok(format!("{ready} messages waiting to be stored")),
            Err(e) => ComponentHealth::down(e.to_string()),
        }
    }
}

/// A service running inside this process, checked through the store it
/// depends on most: what it holds, or why it cannot reach it.
pub enum ServiceProbe {
    Product(PgCatalog),
    Inventory(RedisStock),
    Order(PgOrderStore),
}

#[async_trait]
impl HealthProbe for ServiceProbe {
    fn name(&self) -> &'static str {
        match self {
            ServiceProbe::Product(_) => "product",
            ServiceProbe::Inventory(_) => "inventory",
            ServiceProbe::Order(_) => "order",
        }
    }
    async fn check(&self) -> ComponentHealth {
        let found = match self {
            ServiceProbe::Product(catalog) => catalog
                .list()
                .await
                .map(|s| format!("{} live sales in PostgreSQL, their terms in Redis", s.len())),
            ServiceProbe::Inventory(stock) => stock
                .sales()
                .await
                .map(|s| format!("{} sales live in Redis; Lua reserve, sold-out flags", s.len())),
            ServiceProbe::Order(orders) => orders
                .orders_stored()
                .await
                .map(|stored| format!("{stored} orders stored in PostgreSQL; consumer acks after commit")),
        };
        match found {
            Ok(detail) => ComponentHealth::ok(detail),
            Err(e) => ComponentHealth::down(e.to_string()),
        }
    }
}
