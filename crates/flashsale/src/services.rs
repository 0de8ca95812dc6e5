//! One service per process, as in production: `flashsale product`,
//! `inventory` and `order`, each on the stores it needs, answering the
//! gateway's internal calls. Every process serves `/api/health` and
//! `/metrics` on its own `FLASHSALE_BIND`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use flashsale_domain::{EventSink, HealthProbe};
use flashsale_gateway::internal::{self, Service};
use flashsale_stack::probes::{PostgresProbe, RabbitProbe, RedisProbe, RelayProbe};
use flashsale_stack::redis::RedisEvents;
use flashsale_stack::{PgOrderStore, PipelineMetrics, SweeperConfig};
use tokio::net::TcpListener;

use crate::assembly::stack;
use crate::error::StartError;
use crate::lifecycle::{self, Background};
use crate::secrets;
use crate::settings::Settings;

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
    background: Background,
}

impl ServiceProcess {
    /// Connects to the stores this service needs, starts its background work
    /// and binds `FLASHSALE_BIND`.
    pub async fn start(kind: Kind, settings: &Settings) -> Result<Self, StartError> {
        let (admin, jwt) = secrets::secrets(settings)?;
        let service_token = secrets::service_token(settings, &admin, &jwt)?;
        let redis_url = need(&settings.redis_url, "FLASHSALE_REDIS_URL")?;
        let (stock, profile) = stack::redis_checked(settings, redis_url).await?;
        let events: Arc<dyn EventSink> = Arc::new(RedisEvents::new(stock.connection()));
        let metrics = Arc::new(PipelineMetrics::default());
        let mut extra_metrics = vec![stack::metrics_source(&metrics, &stock)];
        stack::warn_if_volatile(&profile, events.as_ref());
        let mut probes: Vec<Arc<dyn HealthProbe>> = vec![Arc::new(RedisProbe(stock.clone()))];
        let mut summary = vec![stack::redis_summary(settings, &profile)];
        let mut background = Background::default();
        let service = match kind {
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
                let (product, warmed) =
                    stack::product(&pool, &stock, queue.clone(), events, settings.archive_after).await?;
                probes.push(Arc::new(PostgresProbe(pool)));
                probes.extend(queue.map(|q| Arc::new(RabbitProbe(q)) as Arc<dyn HealthProbe>));
                summary.push(format!(
                    "postgres: {migrations} migrations applied; {warmed} sales warmed into Redis"
                ));
                background.schedule(product.clone());
                Service::Product(product)
            }
            Kind::Inventory => {
                let publisher = stack::rabbitmq(
                    need(&settings.amqp_url, "FLASHSALE_AMQP_URL")?,
                    &settings.amqp_queue,
                )
                .await?;
                let (inventory, tasks) = stack::inventory(&stock, events).await?;
                probes.push(Arc::new(RabbitProbe(publisher.clone())));
                probes.push(Arc::new(RelayProbe(stock.clone())));
                stack::relay(&mut background, &stock, publisher, &metrics);
                for (name, task) in tasks {
                    background.abort_on_stop(name, task);
                }
                Service::Inventory(inventory)
            }
            Kind::Order => {
                let amqp = need(&settings.amqp_url, "FLASHSALE_AMQP_URL")?;
                let (pool, migrations) =
                    stack::postgres(need(&settings.database_url, "FLASHSALE_DATABASE_URL")?).await?;
                let publisher = stack::rabbitmq(amqp, &settings.amqp_queue).await?;
                let shop = settings.shop_endpoint()?;
                let ledger = PgOrderStore::new(pool.clone()).with_shop_events(shop.is_some());
                probes.push(Arc::new(PostgresProbe(pool.clone())));
                probes.push(Arc::new(RabbitProbe(publisher.clone())));
                probes.extend(stack::consumer(
                    &mut background,
                    amqp,
                    &publisher,
                    &ledger,
                    &stock,
                    SweeperConfig {
                        after: settings.sweep_after(),
                        metrics: metrics.clone(),
                    },
                    events.clone(),
                ));
                summary.push(format!("postgres: {migrations} migrations applied"));
                let orders = stack::orders(&ledger, &stock, events.clone());
                background.checkout(orders.clone());
                if let Some((probe, source)) = background.shop_webhooks(Arc::new(ledger), shop, events) {
                    probes.push(probe);
                    extra_metrics.push(source);
                }
                Service::Order(orders)
            }
        };
        let addr = settings.bind_or(kind.default_port());
        let listener =
            flashsale_gateway::listen::listen(addr).map_err(|source| StartError::Bind { addr, source })?;
        let router = internal::router(service, service_token, probes, extra_metrics);
        Ok(Self {
            listener,
            router,
            summary,
            background,
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
    /// (the relay drains its outboxes, the consumer stores what it holds),
    /// like the engine: see [`lifecycle::serve_until`].
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (listener, router) = (self.listener, self.router);
        lifecycle::serve_until(
            move |stop| async move { axum::serve(listener, router).with_graceful_shutdown(stop).await },
            shutdown,
            self.background,
        )
        .await
    }
}
