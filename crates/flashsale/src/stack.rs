//! The real-stack assembly: every service in one process on Redis,
//! RabbitMQ and PostgreSQL (`flashsale up` with the three store URLs).
//!
//! What a 202 means here: the reservation is in Redis, written by the same
//! script that took the units (the sale's outbox stream), so it survives
//! what Redis's persistence survives (`appendfsync always`: any crash;
//! `everysec`: a killed Redis, but up to a second of a host crash). From the
//! outbox a relay publishes it to RabbitMQ (confirmed, persistent, quorum
//! queue) and deletes it only after the confirm; the order consumer stores
//! it in PostgreSQL and acks after the commit. Every hop is at least once and
//! idempotent on the order id.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use flashsale_domain::{
    Event, EventKind, EventSink, Order, OrderId, OrderStatus, Severity, StockStore, StoreError,
};
use flashsale_gateway::events::EventLog;
use flashsale_gateway::{ComponentHealth, HealthProbe, Mode, Services};
use flashsale_inventory::{Durability, InventoryService};
use flashsale_order::{OrderService, PendingOrders};
use flashsale_product::ProductService;
use flashsale_stack::rabbitmq::{ConsumerConfig, RelayConfig};
use flashsale_stack::redis::{record, subscribe_units_back, SaleKeys};
use flashsale_stack::{
    postgres, AmqpPublisher, OrderConsumer, PgCatalog, PgOrderStore, RedisStock, Relay, StackCacheRebuild,
    Topology,
};
use tokio::sync::oneshot;

use crate::engine::{self, Engine, StartError};
use crate::settings::Settings;

/// How long shutdown spends relaying what is left in the outboxes, and then
/// waiting for the consumer to store it.
const DRAIN: Duration = Duration::from_secs(10);

fn unreachable_store(store: &'static str) -> impl Fn(String) -> StartError {
    move |reason| StartError::Store { store, reason }
}

/// The three URLs, all required.
struct Urls<'a> {
    redis: &'a str,
    amqp: &'a str,
    database: &'a str,
}

impl<'a> Urls<'a> {
    fn of(settings: &'a Settings) -> Result<Self, StartError> {
        match (
            settings.redis_url.as_deref(),
            settings.amqp_url.as_deref(),
            settings.database_url.as_deref(),
        ) {
            (Some(redis), Some(amqp), Some(database)) => Ok(Self {
                redis,
                amqp,
                database,
            }),
            (redis, amqp, database) => {
                let missing: Vec<&str> = [
                    ("FLASHSALE_REDIS_URL", redis),
                    ("FLASHSALE_AMQP_URL", amqp),
                    ("FLASHSALE_DATABASE_URL", database),
                ]
                .into_iter()
                .filter(|(_, v)| v.is_none())
                .map(|(name, _)| name)
                .collect();
                Err(StartError::StackIncomplete(missing.join(", ")))
            }
        }
    }
}

/// Connects to the three stores, migrates, warms Redis, starts the relay
/// and the consumer, and binds the gateway; does not serve yet.
pub async fn start(settings: &Settings) -> Result<Engine, StartError> {
    let urls = Urls::of(settings)?;
    let secrets = engine::secrets(settings)?;
    let pg = unreachable_store("postgres");
    let pool = postgres::connect(urls.database, 16)
        .await
        .map_err(|e| pg(e.to_string()))?;
    let migrations = postgres::migrate(&pool).await.map_err(|e| pg(e.to_string()))?;
    let stock = RedisStock::connect(urls.redis)
        .await
        .map_err(|e| unreachable_store("redis")(e.to_string()))?;
    let publisher = Arc::new(
        AmqpPublisher::connect(urls.amqp, Topology::named(&settings.amqp_queue))
            .await
            .map_err(|e| unreachable_store("rabbitmq")(e.to_string()))?,
    );
    let catalog = PgCatalog::new(pool.clone());
    let orders = PgOrderStore::new(pool.clone());
    let events = Arc::new(EventLog::default());

    let inventory = Arc::new(InventoryService::new(
        Arc::new(stock.clone()),
        Durability::Outbox,
        events.clone(),
        u64::MAX,
    ));
    let flags = inventory.sold_out_flags().clone();
    let units_back = subscribe_units_back(stock.client().clone(), move |sale| match sale {
        Some(sale) => flags.clear(sale),
        None => flags.clear_all(),
    })
    .await
    .map_err(|e| unreachable_store("redis")(e.to_string()))?;
    let announcer = stock.clone();
    let product = Arc::new(ProductService::new(
        Arc::new(catalog),
        Arc::new(stock.clone()),
        Arc::new(StackCacheRebuild::new(stock.clone(), orders.clone())),
        events.clone(),
        Arc::new(move |sale| {
            let announcer = announcer.clone();
            tokio::spawn(async move { announcer.announce_units_back(sale).await });
        }),
    ));
    let warmed = product.warm().await.map_err(StartError::Restore)?;

    let relay = tokio::spawn(Relay::new(stock.connection(), publisher.clone(), RelayConfig::default()).run());
    let (stop_consumer, consumer_stopped) = oneshot::channel::<()>();
    let consumer = tokio::spawn(
        OrderConsumer::new(
            urls.amqp,
            publisher.topology().clone(),
            orders.clone(),
            Arc::new(stock.clone()),
            ConsumerConfig::default(),
        )
        .run(async move {
            let _ = consumer_stopped.await;
        }),
    );

    let persistence = stock
        .persistence()
        .await
        .map_err(|e| unreachable_store("redis")(e.to_string()))?;
    let probes: Vec<Arc<dyn HealthProbe>> = vec![
        Arc::new(RedisProbe(stock.clone())),
        Arc::new(RabbitProbe(publisher.clone())),
        Arc::new(PostgresProbe(pool.clone())),
        Arc::new(RelayProbe(stock.clone())),
        Arc::new(ConsumerProbe(publisher.clone())),
        Arc::new(NamedOk("product", "sales in PostgreSQL, live terms in Redis")),
        Arc::new(NamedOk(
            "inventory",
            "Lua reserve on Redis; local sold-out flags cleared by pub/sub",
        )),
        Arc::new(NamedOk(
            "order",
            "RabbitMQ consumer, batches into PostgreSQL, acks after commit",
        )),
    ];
    let services = Services {
        mode: Mode::Stack,
        product: product.clone(),
        inventory,
        orders: OrderService::new(Arc::new(orders), Some(Arc::new(RedisPending(stock.clone())))),
        events: events.clone(),
        probes,
    };
    let summary = vec![
        "mode: stack (Redis, RabbitMQ, PostgreSQL)".to_owned(),
        format!("redis persistence: {}", persistence.describe()),
        format!(
            "postgres: {} migrations applied; {warmed} sales warmed into Redis",
            migrations.len()
        ),
    ];
    events.emit(Event::new(
        EventKind::System,
        Severity::Info,
        format!("Engine started (stack): {warmed} sales warmed."),
    ));
    if !persistence.survives_process_crash() {
        events.emit(Event::new(
            EventKind::System,
            Severity::Critical,
            format!(
                "Redis persistence is {}: an answered order can be lost if Redis dies.",
                persistence.describe()
            ),
        ));
    }
    let shutdown: engine::Shutdown = Box::new(move || {
        Box::pin(async move {
            relay.abort();
            drain(&stock, publisher).await;
            let _ = stop_consumer.send(());
            let _ = consumer.await;
            units_back.abort();
        })
    });
    Engine::bind(settings, services, product, secrets, summary, shutdown).await
}

/// Relays what is left in the outboxes, then waits for the consumer to store
/// it, for at most [`DRAIN`] each; what is left stays in the outbox or the
/// queue for the next start.
async fn drain(stock: &RedisStock, publisher: Arc<AmqpPublisher>) {
    let relay = Relay::new(stock.connection(), publisher, RelayConfig::default());
    let deadline = Instant::now() + DRAIN;
    while Instant::now() < deadline {
        match relay.pass(true).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(message = "Failed to drain the outbox at shutdown.", %error);
                break;
            }
        }
    }
    let deadline = Instant::now() + DRAIN;
    while Instant::now() < deadline && in_flight(stock).await.unwrap_or(0) > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Units answered and not yet stored, over every sale.
async fn in_flight(stock: &RedisStock) -> Result<u64, StoreError> {
    let mut total = 0;
    for sale in stock.sales().await? {
        total += stock.level(sale).await?.map_or(0, |l| l.in_flight);
    }
    Ok(total)
}

/// Pending orders: the reservations in flight in Redis.
struct RedisPending(RedisStock);

#[async_trait]
impl PendingOrders for RedisPending {
    async fn find(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let mut conn = self.0.connection();
        for sale in self.0.sales().await? {
            let found: Option<String> = redis::cmd("HGET")
                .arg(SaleKeys::new(sale).inflight)
                .arg(id.to_string())
                .query_async(&mut conn)
                .await
                .map_err(|e| StoreError::new("redis", e))?;
            if let Some(raw) = found {
                let r = record::decode(sale, &raw).map_err(|e| StoreError::new("redis", e))?;
                return Ok(Some(Order {
                    status: OrderStatus::Pending,
                    ..Order::confirmed(&r)
                }));
            }
        }
        Ok(None)
    }
}

fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

struct RedisProbe(RedisStock);

#[async_trait]
impl HealthProbe for RedisProbe {
    fn name(&self) -> &'static str {
        "redis"
    }
    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        match self.0.persistence().await {
            // A persistence mode is a choice, not a fault: reported, not degraded.
            Ok(p) => ComponentHealth::ok(format!("{}; answered in {:.2} ms", p.describe(), millis(started))),
            Err(e) => ComponentHealth::down(e.to_string()),
        }
    }
}

struct RabbitProbe(Arc<AmqpPublisher>);

#[async_trait]
impl HealthProbe for RabbitProbe {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }
    async fn check(&self) -> ComponentHealth {
        let started = Instant::now();
        match self.0.queue_depths().await {
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

struct PostgresProbe(sqlx::PgPool);

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
struct RelayProbe(RedisStock);

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
            match redis::cmd("XLEN")
                .arg(SaleKeys::new(sale).outbox)
                .query_async::<u64>(&mut conn)
                .await
            {
                Ok(n) => backlog += n,
                Err(e) => return ComponentHealth::down(e.to_string()),
            }
        }
        ComponentHealth::ok(format!("{backlog} reservations waiting in the outboxes"))
    }
}

/// Consumer lag: messages ready in the order queue.
struct ConsumerProbe(Arc<AmqpPublisher>);

#[async_trait]
impl HealthProbe for ConsumerProbe {
    fn name(&self) -> &'static str {
        "consumer"
    }
    async fn check(&self) -> ComponentHealth {
        match self.0.queue_depths().await {
            Ok((ready, _)) => ComponentHealth::ok(format!("{ready} messages waiting to be stored")),
            Err(e) => ComponentHealth::down(e.to_string()),
        }
    }
}

/// A service that runs inside this process: up when the process is.
struct NamedOk(&'static str, &'static str);

#[async_trait]
impl HealthProbe for NamedOk {
    fn name(&self) -> &'static str {
        self.0
    }
    async fn check(&self) -> ComponentHealth {
        ComponentHealth::ok(self.1)
    }
}
