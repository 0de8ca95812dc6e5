//! One service per process, as in production: `flashsale product`,
//! `inventory`, `order` (each on the stores it needs, answering the
//! gateway's internal calls) and `flashsale gateway` (the public API over
//! HTTP clients of the others). Every process serves `/api/health` and
//! `/metrics` on its own `FLASHSALE_BIND`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use flashsale_domain::EventSink;
use flashsale_gateway::events::EventLog;
use flashsale_gateway::internal::{self, Service};
use flashsale_gateway::upstream::remote::{RemoteInventory, RemoteOrders, RemoteProduct, Upstream};
use flashsale_gateway::{ComponentHealth, HealthProbe, HealthStatus, Mode, Services};
use flashsale_stack::redis::{subscribe_events, RedisEvents};
use flashsale_stack::PipelineMetrics;
use tokio::net::TcpListener;

use crate::engine::{self, Engine, Shutdown, StartError};
use crate::settings::Settings;
use crate::stack::{self, PostgresProbe, RabbitProbe, RedisProbe, RelayProbe};

/// The service a process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Product,
    Inventory,
    Order,
}

impl Kind {
    fn default_port(self) -> u16 {
        match self {
            Kind::Product => 8081,
            Kind::Inventory => 8082,
            Kind::Order => 8083,
        }
    }
}

/// How long the gateway waits for a service before answering 503.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(5);

fn need<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, StartError> {
    value
        .as_deref()
        .ok_or_else(|| StartError::StackIncomplete(name.to_owned()))
}

/// A started service process, not serving yet.
pub struct ServiceProcess {
    listener: TcpListener,
    router: axum::Router,
    summary: Vec<String>,
    shutdown: Shutdown,
}

impl ServiceProcess {
    /// Connects to the stores this service needs, starts its background work
    /// and binds `FLASHSALE_BIND`.
    pub async fn start(kind: Kind, settings: &Settings) -> Result<Self, StartError> {
        let (admin, jwt) = engine::secrets(settings)?;
        let service_token = engine::service_token(settings, &admin, &jwt)?;
        let redis_url = need(&settings.redis_url, "FLASHSALE_REDIS_URL")?;
        let (stock, profile) = stack::redis_checked(settings, redis_url).await?;
        let events: Arc<dyn EventSink> = Arc::new(RedisEvents::new(stock.connection()));
        let metrics = Arc::new(PipelineMetrics::default());
        stack::warn_if_volatile(&profile, events.as_ref());
        let mut probes: Vec<Arc<dyn HealthProbe>> = vec![Arc::new(RedisProbe(stock.clone()))];
        let mut summary = vec![format!("redis: {}", profile.describe())];
        let (service, shutdown) = match kind {
            Kind::Product => {
                let (pool, migrations) =
                    stack::postgres(need(&settings.database_url, "FLASHSALE_DATABASE_URL")?).await?;
                // Optional: with it, a cache rebuild waits for the order queue
                // to drain, which is what makes it exact after Redis lost data.
                let queue = match &settings.amqp_url {
                    Some(url) => Some(stack::rabbitmq(url, &settings.amqp_queue).await?),
                    None => {
                        summary.push(
                            "no FLASHSALE_AMQP_URL: a cache flush will not wait for the order queue".into(),
                        );
                        None
                    }
                };
                let (product, warmed) = stack::product(&pool, &stock, queue.clone(), events).await?;
                probes.push(Arc::new(PostgresProbe(pool)));
                probes.extend(queue.map(|q| Arc::new(RabbitProbe(q)) as Arc<dyn HealthProbe>));
                summary.push(format!(
                    "postgres: {migrations} migrations applied; {warmed} sales warmed into Redis"
                ));
                (Service::Product(product.clone()), engine::spawn_schedule(product))
            }
            Kind::Inventory => {
                let publisher = stack::rabbitmq(
                    need(&settings.amqp_url, "FLASHSALE_AMQP_URL")?,
                    &settings.amqp_queue,
                )
                .await?;
                let (inventory, units_back) = stack::inventory(&stock, events).await?;
                probes.push(Arc::new(RabbitProbe(publisher.clone())));
                probes.push(Arc::new(RelayProbe(stock.clone())));
                let shutdown = engine::then(
                    stack::relay(&stock, publisher, &metrics),
                    stack::abort(units_back),
                );
                (Service::Inventory(inventory), shutdown)
            }
            Kind::Order => {
                let amqp = need(&settings.amqp_url, "FLASHSALE_AMQP_URL")?;
                let (pool, migrations) =
                    stack::postgres(need(&settings.database_url, "FLASHSALE_DATABASE_URL")?).await?;
                let publisher = stack::rabbitmq(amqp, &settings.amqp_queue).await?;
                probes.push(Arc::new(PostgresProbe(pool.clone())));
                probes.push(Arc::new(RabbitProbe(publisher.clone())));
                let (consume, consumer_probes) = stack::consumer(
                    amqp,
                    &publisher,
                    &pool,
                    &stock,
                    settings.sweep_after(),
                    &metrics,
                    events,
                );
                probes.extend(consumer_probes);
                summary.push(format!("postgres: {migrations} migrations applied"));
                (Service::Order(stack::orders(&pool, &stock)), consume)
            }
        };
        let addr = settings.bind_or(kind.default_port());
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        let router = internal::router(
            service,
            service_token,
            probes,
            vec![stack::metrics_source(&metrics)],
        );
        Ok(Self {
            listener,
            router,
            summary,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn summary(&self) -> &[String] {
        &self.summary
    }

    /// Serves until `shutdown` resolves, then finishes the background work
    /// (the relay drains its outboxes, the consumer stores what it holds).
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await;
        (self.shutdown)().await;
        served
    }
}

/// `flashsale gateway`: the public API over the service processes.
pub async fn gateway(settings: &Settings) -> Result<Engine, StartError> {
    let secrets = engine::secrets(settings)?;
    let token = &engine::service_token(settings, &secrets.0, &secrets.1)?;
    let upstream = |name, urls: &str| {
        Upstream::new(name, urls, token, UPSTREAM_TIMEOUT).map_err(|e| StartError::ServiceUrl(e.to_string()))
    };
    let product = upstream("product", &settings.product_url)?;
    let inventory = upstream("inventory", &settings.inventory_url)?;
    let orders = upstream("order", &settings.order_url)?;
    let events = Arc::new(EventLog::default());
    let mut shutdown: Shutdown = Box::new(|| Box::pin(async {}));
    let mut summary = vec![
        "mode: gateway of the production topology".to_owned(),
        format!("product: {}", product.bases().join(", ")),
        format!("inventory: {}", inventory.bases().join(", ")),
        format!("order: {}", orders.bases().join(", ")),
    ];
    if let Some(url) = &settings.redis_url {
        let stock = stack::redis(url, settings.redis_timeout()).await?;
        let task = subscribe_events(stock.client().clone(), events.clone())
            .await
            .map_err(|e| StartError::Store {
                store: "redis",
                reason: e.to_string(),
            })?;
        shutdown = stack::abort(task);
        summary.push("events: the services' events, from Redis".to_owned());
    }
    let product = Arc::new(product);
    let inventory = Arc::new(inventory);
    let orders = Arc::new(orders);
    let health = Arc::new(ServicesHealth {
        upstreams: vec![
            ("product", product.clone()),
            ("inventory", inventory.clone()),
            ("order", orders.clone()),
        ],
        cache: tokio::sync::Mutex::new(None),
    });
    let mut probes: Vec<Arc<dyn HealthProbe>> = Vec::new();
    for service in ["product", "inventory", "order"] {
        probes.push(Arc::new(ServiceProbe(service, health.clone())));
    }
    for store in ["redis", "rabbitmq", "postgres", "relay", "consumer", "sweeper"] {
        probes.push(Arc::new(StoreProbe(store, health.clone())));
    }
    let services = Services {
        mode: Mode::Stack,
        product: Arc::new(RemoteProduct(product)),
        inventory: Arc::new(RemoteInventory(inventory)),
        orders: Arc::new(RemoteOrders(orders)),
        events,
        probes,
        metrics: Vec::new(),
    };
    Engine::bind(settings, services, secrets, summary, shutdown).await
}

/// The services' own health pages, read at most once a second and shared
/// by the gateway's probes (one per service, one per store).
struct ServicesHealth {
    upstreams: Vec<(&'static str, Arc<Upstream>)>,
    cache: tokio::sync::Mutex<Option<(std::time::Instant, Arc<Vec<ReplicaHealth>>)>>,
}

/// What one replica of one service said.
struct ReplicaHealth {
    service: &'static str,
    base: String,
    answer: Result<(u16, serde_json::Value), String>,
}

impl ServicesHealth {
    async fn read(&self) -> Arc<Vec<ReplicaHealth>> {
        let mut cache = self.cache.lock().await;
        if let Some((at, found)) = cache.as_ref() {
            if at.elapsed() < Duration::from_secs(1) {
                return found.clone();
            }
        }
        let mut found = Vec::new();
        for (service, upstream) in &self.upstreams {
            for (base, answer) in upstream.health().await {
                found.push(ReplicaHealth {
                    service,
                    base,
                    answer,
                });
            }
        }
        let found = Arc::new(found);
        *cache = Some((std::time::Instant::now(), found.clone()));
        found
    }
}

/// A service's health as the gateway sees it: up while at least one replica
/// answers healthy (the others are named in the detail).
struct ServiceProbe(&'static str, Arc<ServicesHealth>);

#[async_trait::async_trait]
impl HealthProbe for ServiceProbe {
    fn name(&self) -> &'static str {
        self.0
    }
    async fn check(&self) -> ComponentHealth {
        let all = self.1.read().await;
        let replicas: Vec<&ReplicaHealth> = all.iter().filter(|r| r.service == self.0).collect();
        // A replica that answers its health page serves, even when a store
        // behind it is degraded (503): the store probes report that part.
        let serving = |r: &ReplicaHealth| matches!(&r.answer, Ok((_, body)) if body["status"].is_string());
        let up = replicas.iter().filter(|r| serving(r)).count();
        let down: Vec<String> = replicas
            .iter()
            .filter_map(|r| match &r.answer {
                Ok((200, _)) => None,
                Ok((status, _)) if serving(r) => Some(format!("{} answered {status} (degraded)", r.base)),
                Ok((status, _)) => Some(format!("{} answered {status}", r.base)),
                Err(e) => Some(format!("{} down: {e}", r.base)),
            })
            .collect();
        let mut detail = format!("{up} of {} replicas up", replicas.len());
        if !down.is_empty() {
            detail = format!("{detail}; {}", down.join("; "));
        }
        if up == 0 {
            ComponentHealth::down(detail)
        } else {
            ComponentHealth::ok(detail)
        }
    }
}

/// A store (or the relay, or the consumer) as the services that use it
/// report it: its worst status over every replica that reports it.
struct StoreProbe(&'static str, Arc<ServicesHealth>);

#[async_trait::async_trait]
impl HealthProbe for StoreProbe {
    fn name(&self) -> &'static str {
        self.0
    }
    async fn check(&self) -> ComponentHealth {
        let all = self.1.read().await;
        let mut worst: Option<ComponentHealth> = None;
        for replica in all.iter() {
            let Ok((_, body)) = &replica.answer else { continue };
            let Some(c) = body["components"].get(self.0) else {
                continue;
            };
            let status = match c["status"].as_str() {
                Some("ok") => HealthStatus::Ok,
                Some("degraded") => HealthStatus::Degraded,
                _ => HealthStatus::Down,
            };
            let found = ComponentHealth {
                status,
                detail: format!(
                    "{} (seen by {} {})",
                    c["detail"].as_str().unwrap_or(""),
                    replica.service,
                    replica.base
                ),
            };
            let rank = |s: HealthStatus| match s {
                HealthStatus::Ok => 0,
                HealthStatus::Degraded => 1,
                HealthStatus::Down => 2,
            };
            if worst.as_ref().is_none_or(|w| rank(found.status) > rank(w.status)) {
                worst = Some(found);
            }
        }
        worst.unwrap_or_else(|| ComponentHealth::down("no service replica reports it"))
    }
}
