//! The real-stack assembly: every service in one process on Redis,
//! RabbitMQ and PostgreSQL (`flashsale up` with the three store URLs), and
//! the parts each service process takes from it.
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

use flashsale_domain::{Event, EventKind, EventSink, HealthProbe, Severity};
use flashsale_gateway::events::EventLog;
use flashsale_gateway::{MetricsSource, Mode, Services};
use flashsale_inventory::{run_draws, Durability, InventoryService};
use flashsale_order::{Checkout, OrderService};
use flashsale_product::ProductService;
use flashsale_stack::probes::{
    ConsumerProbe, PostgresProbe, RabbitProbe, RedisProbe, RelayProbe, ServiceProbe, SweeperProbe,
};
use flashsale_stack::rabbitmq::{ConsumerConfig, RelayConfig};
use flashsale_stack::redis::{subscribe_units_back, RedisProfile};
use flashsale_stack::{
    postgres, AmqpPublisher, OrderConsumer, PgCatalog, PgChangeLock, PgOrderStore, PipelineMetrics, Recovery,
    RedisPending, RedisStock, Relay, StackCacheRebuild, Sweeper, SweeperConfig, Topology,
};
use sqlx::PgPool;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Assembled;
use crate::error::StartError;
use crate::lifecycle::Background;
use crate::settings::Settings;

/// How long a stop spends relaying what is left in the outboxes, and then
/// waiting for the consumer to store it.
const DRAIN: Duration = Duration::from_secs(10);

/// How long a cache rebuild waits for the order queue to drain (see
/// `StackCacheRebuild`).
const QUEUE_DRAIN: Duration = Duration::from_secs(30);

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

/// Connects to Redis.
pub(crate) async fn redis(url: &str, timeout: Duration) -> Result<RedisStock, StartError> {
    RedisStock::connect_with(url, timeout)
        .await
        .map_err(|e| unreachable_store("redis")(e.to_string()))
}

/// Connects to the Redis that holds the stock, and refuses one the engine
/// must not run on (too old, or evicting keys; see [`RedisProfile`]).
pub(crate) async fn redis_checked(
    settings: &Settings,
    url: &str,
) -> Result<(RedisStock, RedisProfile), StartError> {
    let stock = redis(url, settings.redis_timeout())
        .await?
        .with_reserve_batch(settings.redis_reserve_batch as usize)
        .with_replicas_ack(settings.redis_replicas_ack as usize);
    let profile = stock
        .profile()
        .await
        .map_err(|e| unreachable_store("redis")(e.to_string()))?;
    match profile.refusal(settings.redis_allow_eviction) {
        Some(reason) => Err(StartError::UnsafeRedis(reason)),
        None => Ok((stock, profile)),
    }
}

/// The banner's Redis line: what a 202 survives.
pub(crate) fn redis_summary(settings: &Settings, profile: &RedisProfile) -> String {
    let ack = settings.redis_replicas_ack as usize;
    if let Some(risk) = profile.failover_risk(ack) {
        tracing::warn!(
            message = "Answered purchases are at risk in a Redis failover.",
            risk
        );
        return format!("redis: {}; WARNING: {risk}", profile.describe());
    }
    match ack {
        0 => format!("redis: {}", profile.describe()),
        n => format!(
            "redis: {}; every reservation acknowledged by {n} replica(s) before its 202 (WAIT)",
            profile.describe()
        ),
    }
}

/// Connects to PostgreSQL and applies pending migrations; returns how many.
pub(crate) async fn postgres(url: &str) -> Result<(PgPool, usize), StartError> {
    let pg = unreachable_store("postgres");
    let pool = postgres::connect(url, 16).await.map_err(|e| pg(e.to_string()))?;
    let applied = postgres::migrate(&pool).await.map_err(|e| pg(e.to_string()))?;
    Ok((pool, applied.len()))
}

/// `flashsale migrate` on PostgreSQL: the names of the migrations applied.
pub async fn postgres_migrations(url: &str) -> Result<Vec<&'static str>, StartError> {
    let pg = unreachable_store("postgres");
    let pool = postgres::connect(url, 1).await.map_err(|e| pg(e.to_string()))?;
    let applied = postgres::migrate(&pool).await.map_err(|e| pg(e.to_string()))?;
    pool.close().await;
    Ok(applied)
}

/// Connects to RabbitMQ and declares the order queue.
pub(crate) async fn rabbitmq(url: &str, queue: &str) -> Result<Arc<AmqpPublisher>, StartError> {
    AmqpPublisher::connect(url, Topology::named(queue))
        .await
        .map(Arc::new)
        .map_err(|e| unreachable_store("rabbitmq")(e.to_string()))
}

/// The inventory service on Redis, its sold-out flags cleared by the
/// units-back channel, the draws of fair starts in Redis too and served as
/// their windows close: its tasks are returned, to stop with the process
/// (each step of either is safe to cut anywhere).
pub(crate) async fn inventory(
    stock: &RedisStock,
    events: Arc<dyn EventSink>,
) -> Result<(Arc<InventoryService>, [(&'static str, JoinHandle<()>); 2]), StartError> {
    let inventory = Arc::new(
        InventoryService::new(
            Arc::new(stock.clone()),
            Durability::Outbox,
            events.clone(),
            u64::MAX,
        )
        .with_draws(Arc::new(stock.clone())),
    );
    let draws = tokio::spawn(run_draws(inventory.clone(), events, std::future::pending()));
    let flags = inventory.sold_out_flags().clone();
    let units_back = subscribe_units_back(stock.nodes().clone(), move |sale| match sale {
        Some(sale) => flags.clear(sale),
        None => flags.clear_all(),
    })
    .await
    .map_err(|e| unreachable_store("redis")(e.to_string()))?;
    Ok((
        inventory,
        [("units-back subscription", units_back), ("draws", draws)],
    ))
}

/// The product service on PostgreSQL and Redis, every sale warmed into
/// Redis; returns it and how many sales were warmed.
pub(crate) async fn product(
    pool: &PgPool,
    stock: &RedisStock,
    queue: Option<Arc<AmqpPublisher>>,
    events: Arc<dyn EventSink>,
    archive_after: Duration,
) -> Result<(Arc<ProductService>, usize), StartError> {
    let announcer = stock.clone();
    let mut rebuild = StackCacheRebuild::new(stock.clone(), PgOrderStore::new(pool.clone()));
    if let Some(queue) = queue {
        rebuild = rebuild.waiting_for(queue, QUEUE_DRAIN);
    }
    let product = Arc::new(
        ProductService::new(
            Arc::new(PgCatalog::new(pool.clone())),
            Arc::new(stock.clone()),
            Arc::new(rebuild),
            events,
            Arc::new(move |sale| {
                let announcer = announcer.clone();
                tokio::spawn(async move { announcer.announce_units_back(sale).await });
            }),
        )
        .with_change_lock(Arc::new(PgChangeLock::new(pool.clone())))
        .with_draws(Arc::new(stock.clone()))
        .with_archive_after(archive_after),
    );
    let warmed = product.warm().await.map_err(StartError::Restore)?;
    Ok((product, warmed))
}

/// The order service: PostgreSQL, with pending orders read from Redis;
/// units of expired and cancelled orders go back to Redis, which tells
/// every inventory replica (so this process has no flags of its own to
/// clear).
pub(crate) fn orders(
    ledger: &PgOrderStore,
    stock: &RedisStock,
    events: Arc<dyn EventSink>,
) -> Arc<OrderService> {
    Arc::new(
        OrderService::new(
            Arc::new(ledger.clone()),
            Some(Arc::new(RedisPending(stock.clone()))),
        )
        .with_checkout(Checkout {
            stock: Arc::new(stock.clone()),
            units_back: Arc::new(|_| {}),
            events,
        }),
    )
}

/// The pipeline's counters and the reservation batches as `/metrics` lines.
pub(crate) fn metrics_source(metrics: &Arc<PipelineMetrics>, stock: &RedisStock) -> MetricsSource {
    let (metrics, stock) = (metrics.clone(), stock.clone());
    Arc::new(move || metrics.prometheus() + &stock.reserve_batch_stats().prometheus())
}

/// The outbox relay, until stopped; its stop then drains the outboxes.
pub(crate) fn relay(
    background: &mut Background,
    stock: &RedisStock,
    publisher: Arc<AmqpPublisher>,
    metrics: &Arc<PipelineMetrics>,
) {
    let config = RelayConfig {
        metrics: metrics.clone(),
        replicas_ack: stock.replicas_ack(),
        ..RelayConfig::default()
    };
    let relay = Relay::new(stock.connection(), publisher.clone(), config.clone());
    let client = stock.client().clone();
    let cluster = stock.is_cluster();
    let task = tokio::spawn(async move {
        // On a cluster the outboxes of the live sales sit in different
        // slots, and one blocking read cannot wait on them all: it polls.
        if cluster {
            return relay.run().await;
        }
        // Its waits block: on a connection of their own.
        match redis::aio::ConnectionManager::new(client).await {
            Ok(waiter) => relay.waiting_on(waiter).run().await,
            Err(error) => {
                tracing::warn!(message = "No connection of its own for the relay's waits; it polls.", %error);
                relay.run().await
            }
        }
    });
    let stock = stock.clone();
    background.add("relay", DRAIN + Duration::from_secs(1), move || async move {
        task.abort();
        Relay::new(stock.connection(), publisher, config)
            .drain(DRAIN)
            .await;
    });
}

/// The order consumer and the in-flight sweeper (sharing its counters),
/// until stopped; the stop first waits (a bounded while) for what is in
/// flight to be stored. Returns the health probes of the consumer and of
/// the sweeper.
pub(crate) fn consumer(
    background: &mut Background,
    amqp: &str,
    publisher: &Arc<AmqpPublisher>,
    ledger: &PgOrderStore,
    stock: &RedisStock,
    sweeper: SweeperConfig,
    events: Arc<dyn EventSink>,
) -> [Arc<dyn HealthProbe>; 2] {
    let (stop, stopped) = oneshot::channel::<()>();
    let orders = ledger.clone();
    let pool = orders.pool().clone();
    let (metrics, sweep_after) = (sweeper.metrics.clone(), sweeper.after);
    let recovery = Recovery {
        catalog: PgCatalog::new(pool.clone()),
        rebuild: StackCacheRebuild::new(stock.clone(), orders.clone())
            .waiting_for(publisher.clone(), QUEUE_DRAIN),
        lock: PgChangeLock::new(pool.clone()),
    };
    let sweeper = tokio::spawn(
        Sweeper::new(stock.clone(), orders.clone(), events.clone(), sweeper)
            .recovering(recovery)
            .run(std::future::pending()),
    );
    let consumer = OrderConsumer::new(
        amqp,
        publisher.topology().clone(),
        orders,
        stock.clone(),
        events,
        ConsumerConfig {
            metrics: metrics.clone(),
            ..ConsumerConfig::default()
        },
    );
    let probes: [Arc<dyn HealthProbe>; 2] = [
        Arc::new(ConsumerProbe(publisher.clone(), consumer.subscribed())),
        Arc::new(SweeperProbe(metrics.clone(), sweep_after)),
    ];
    let task = tokio::spawn(consumer.run(async move {
        let _ = stopped.await;
    }));
    let stock = stock.clone();
    background.add("consumer", DRAIN + Duration::from_secs(5), move || async move {
        let deadline = Instant::now() + DRAIN;
        while Instant::now() < deadline && stock.units_in_flight().await.unwrap_or(0) > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        sweeper.abort();
        let _ = stop.send(());
        let _ = task.await;
    });
    probes
}

/// Every service in one process on the three stores: connects, migrates,
/// warms Redis, starts the relay and the consumer.
pub async fn assemble(settings: &Settings) -> Result<Assembled, StartError> {
    let urls = Urls::of(settings)?;
    let (pool, migrations) = postgres(urls.database).await?;
    let (stock, profile) = redis_checked(settings, urls.redis).await?;
    let publisher = rabbitmq(urls.amqp, &settings.amqp_queue).await?;
    let events = Arc::new(EventLog::default());
    let (inventory, inventory_tasks) = inventory(&stock, events.clone()).await?;
    let (product, warmed) = product(
        &pool,
        &stock,
        Some(publisher.clone()),
        events.clone(),
        settings.archive_after,
    )
    .await?;
    let metrics = Arc::new(PipelineMetrics::default());
    // Stop order: the schedule, then relay what is left, then let the
    // consumer store it, then the subscription.
    let mut background = Background::default();
    background.schedule(product.clone());
    let shop = settings.shop_endpoint()?;
    let ledger = PgOrderStore::new(pool.clone()).with_shop_events(shop.is_some());
    let orders = orders(&ledger, &stock, events.clone());
    background.checkout(orders.clone());
    relay(&mut background, &stock, publisher.clone(), &metrics);
    let [consumer_probe, sweeper_probe] = consumer(
        &mut background,
        urls.amqp,
        &publisher,
        &ledger,
        &stock,
        SweeperConfig {
            after: settings.sweep_after(),
            metrics: metrics.clone(),
        },
        events.clone(),
    );
    for (name, task) in inventory_tasks {
        background.abort_on_stop(name, task);
    }
    let mut probes: Vec<Arc<dyn HealthProbe>> = vec![
        Arc::new(RedisProbe(stock.clone())),
        Arc::new(RabbitProbe(publisher.clone())),
        Arc::new(PostgresProbe(pool.clone())),
        Arc::new(RelayProbe(stock.clone())),
        consumer_probe,
        sweeper_probe,
        Arc::new(ServiceProbe::Product(PgCatalog::new(pool.clone()))),
        Arc::new(ServiceProbe::Inventory(stock.clone())),
        Arc::new(ServiceProbe::Order(PgOrderStore::new(pool.clone()))),
    ];
    let mut metrics = vec![metrics_source(&metrics, &stock)];
    if let Some((probe, source)) = background.shop_webhooks(Arc::new(ledger), shop, events.clone()) {
        probes.push(probe);
        metrics.push(source);
    }
    let services = Services {
        mode: Mode::Stack,
        product,
        inventory,
        orders,
        events: events.clone(),
        probes,
        metrics,
    };
    let summary = vec![
        "mode: stack (Redis, RabbitMQ, PostgreSQL), every service in this process".to_owned(),
        redis_summary(settings, &profile),
        format!("postgres: {migrations} migrations applied; {warmed} sales warmed into Redis"),
    ];
    events.emit(Event::new(
        EventKind::System,
        Severity::Info,
        format!("Engine started (stack): {warmed} sales warmed."),
    ));
    warn_if_volatile(&profile, events.as_ref());
    Ok(Assembled {
        services,
        summary,
        background,
    })
}

/// An answered order is only as durable as Redis: say so, loudly, when
/// Redis would lose it (or may evict it, where the operator allowed that).
pub(crate) fn warn_if_volatile(profile: &RedisProfile, events: &dyn EventSink) {
    let persistence = &profile.persistence;
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
    if profile.evicts() {
        events.emit(Event::new(
            EventKind::System,
            Severity::Critical,
            format!(
                "Redis evicts keys (maxmemory-policy {}): under memory pressure buyers' counts and answered reservations can vanish.",
                profile.maxmemory_policy
            ),
        ));
    }
}
