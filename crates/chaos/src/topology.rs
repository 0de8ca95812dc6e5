//! The production topology as processes: product, order, N inventories and
//! M gateways, every one on the scenario's stores (or on a proxy in front
//! of one), every gateway over every replica.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flashsale_testkit::http::Conn;
use flashsale_testkit::stores::StoreEnv;
use hyper::Method;
use serde_json::json;

use crate::process::{AdminCalls, Service};
use crate::Error;

/// What to start, and which links go through a proxy.
#[derive(Debug, Clone)]
pub struct Shape {
    pub inventories: usize,
    pub gateways: usize,
    /// The inventories' Redis URL, when not the store's own (a proxy).
    pub inventory_redis: Option<String>,
    /// The order service's PostgreSQL URL, when not the store's own.
    pub order_database: Option<String>,
    /// The inventories' and the order service's RabbitMQ URL, when not the
    /// store's own.
    pub amqp: Option<String>,
    /// The second inventory's RabbitMQ URL alone, when not the store's own.
    pub second_inventory_amqp: Option<String>,
    /// Product processes (every gateway uses them all, round-robin).
    pub products: usize,
    /// Order processes (every gateway uses them all; each consumes the
    /// queue and runs the expiry).
    pub orders: usize,
    /// `FLASHSALE_REDIS_REPLICAS_ACK` of every process (0: unset).
    pub redis_replicas_ack: usize,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            inventories: 2,
            gateways: 2,
            inventory_redis: None,
            order_database: None,
            amqp: None,
            second_inventory_amqp: None,
            products: 1,
            orders: 1,
            redis_replicas_ack: 0,
        }
    }
}

/// The running processes.
pub struct Topology {
    pub product: Service,
    /// Product processes beside `product` (see [`Shape::products`]).
    pub extra_products: Vec<Service>,
    pub order: Service,
    /// Order processes beside `order` (see [`Shape::orders`]).
    pub extra_orders: Vec<Service>,
    pub inventories: Vec<Service>,
    pub gateways: Vec<Service>,
    pub dir: PathBuf,
}

/// `count` processes (at least one) of the service `command`: the first
/// named after it, the others `<command>-2`, `<command>-3`, ….
async fn start_replicas(
    command: &'static str,
    count: usize,
    bin: &Path,
    dir: &Path,
    env: impl Fn() -> Vec<(String, String)>,
) -> Result<(Service, Vec<Service>), Error> {
    let first = Service::start(command.into(), command, bin, dir, env()).await?;
    let mut others = Vec::new();
    for i in 2..=count {
        others.push(Service::start(format!("{command}-{i}"), command, bin, dir, env()).await?);
    }
    Ok((first, others))
}

/// Which process, for the nemesis and the scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// 0: `product`, then the extra product processes.
    Product(usize),
    /// 0: `order`, then the extra order processes.
    Order(usize),
    Inventory(usize),
    Gateway(usize),
}

impl Topology {
    /// Starts every process (product first: it applies the migrations).
    pub async fn start(bin: &Path, dir: &Path, stores: &StoreEnv, shape: &Shape) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io("scenario folder", e))?;
        let base = |redis: &str, amqp: &str, db: &str| {
            let ack = (shape.redis_replicas_ack > 0).then(|| {
                (
                    "FLASHSALE_REDIS_REPLICAS_ACK".to_owned(),
                    shape.redis_replicas_ack.to_string(),
                )
            });
            ack.into_iter()
                .chain([
                    ("FLASHSALE_REDIS_URL".to_owned(), redis.to_owned()),
                    ("FLASHSALE_AMQP_URL".to_owned(), amqp.to_owned()),
                    ("FLASHSALE_DATABASE_URL".to_owned(), db.to_owned()),
                    ("FLASHSALE_AMQP_QUEUE".to_owned(), stores.queue.clone()),
                    // Above the suite's 5 s broker heartbeat (see `SweeperConfig::after`).
                    ("FLASHSALE_SWEEP_AFTER_MS".to_owned(), "10000".to_owned()),
                    (
                        "FLASHSALE_PAYMENT_WEBHOOK_SECRET".to_owned(),
                        crate::payer::WEBHOOK_SECRET.to_owned(),
                    ),
                ])
                .collect::<Vec<_>>()
        };
        let amqp = shape.amqp.as_deref().unwrap_or(&stores.amqp);
        let (product, extra_products) = start_replicas("product", shape.products, bin, dir, || {
            base(&stores.redis, &stores.amqp, &stores.database)
        })
        .await?;
        let (order, extra_orders) = start_replicas("order", shape.orders, bin, dir, || {
            base(
                &stores.redis,
                amqp,
                shape.order_database.as_deref().unwrap_or(&stores.database),
            )
        })
        .await?;
        let mut inventories = Vec::new();
        for i in 1..=shape.inventories {
            inventories.push(
                Service::start(
                    format!("inventory-{i}"),
                    "inventory",
                    bin,
                    dir,
                    base(
                        shape.inventory_redis.as_deref().unwrap_or(&stores.redis),
                        match &shape.second_inventory_amqp {
                            Some(url) if i == 2 => url,
                            _ => amqp,
                        },
                        &stores.database,
                    ),
                )
                .await?,
            );
        }
        fn urls<'a>(services: impl Iterator<Item = &'a Service>) -> String {
            services
                .map(|s| format!("http://{}", s.addr))
                .collect::<Vec<_>>()
                .join(",")
        }
        let mut gateways = Vec::new();
        for i in 1..=shape.gateways {
            let mut env = base(&stores.redis, &stores.amqp, &stores.database);
            env.extend([
                (
                    "FLASHSALE_PRODUCT_URL".to_owned(),
                    urls(std::iter::once(&product).chain(&extra_products)),
                ),
                ("FLASHSALE_INVENTORY_URL".to_owned(), urls(inventories.iter())),
                (
                    "FLASHSALE_ORDER_URL".to_owned(),
                    urls(std::iter::once(&order).chain(&extra_orders)),
                ),
            ]);
            gateways.push(Service::start(format!("gateway-{i}"), "gateway", bin, dir, env).await?);
        }
        Ok(Self {
            product,
            extra_products,
            order,
            extra_orders,
            inventories,
            gateways,
            dir: dir.to_owned(),
        })
    }

    pub fn gateway_addrs(&self) -> Vec<SocketAddr> {
        self.gateways.iter().map(|g| g.addr).collect()
    }

    /// Every role of this topology.
    pub fn roles(&self) -> Vec<Role> {
        let mut roles: Vec<Role> = (0..=self.extra_products.len()).map(Role::Product).collect();
        roles.extend((0..=self.extra_orders.len()).map(Role::Order));
        roles.extend((0..self.inventories.len()).map(Role::Inventory));
        roles.extend((0..self.gateways.len()).map(Role::Gateway));
        roles
    }

    pub fn get(&mut self, role: Role) -> &mut Service {
        match role {
            Role::Product(0) => &mut self.product,
            Role::Product(i) => &mut self.extra_products[i - 1],
            Role::Order(0) => &mut self.order,
            Role::Order(i) => &mut self.extra_orders[i - 1],
            Role::Inventory(i) => &mut self.inventories[i],
            Role::Gateway(i) => &mut self.gateways[i],
        }
    }

    /// The price of every sale the suite opens, in cents.
    pub const PRICE_CENTS: i64 = 999;

    /// Creates a sale of `stock` units, `limit` per buyer, with a payment
    /// window of `window` seconds (0: none), and starts it; returns its id.
    /// Retries through each gateway for a while (a service may still be
    /// connecting).
    /// Creates the sale and starts it; one with a fair start (`(prequeue,
    /// draw)` seconds) starts `prequeue` seconds from now, on its schedule,
    /// its draw window open from now. `buckets` > 1 splits its stock.
    pub async fn open_sale(
        &self,
        stock: u64,
        limit: u32,
        window: u64,
        fair_start: Option<(u32, u32)>,
        buckets: u32,
    ) -> Result<String, Error> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut last = String::new();
        let mut sale: Option<String> = None;
        for attempt in 0.. {
            if tokio::time::Instant::now() > deadline {
                return Err(Error::new(format!("cannot open the sale: {last}")));
            }
            let gateway = self.gateways[attempt % self.gateways.len()].addr;
            let mut conn = Conn::new(gateway);
            if sale.is_none() {
                let mut body = json!({"name": "Chaos sale", "product": "Widget", "price_cents": Self::PRICE_CENTS,
                                  "stock": stock, "per_user_limit": limit, "payment_window_seconds": window});
                if buckets > 1 {
                    body["stock_buckets"] = json!(buckets);
                }
                if let Some((prequeue, draw)) = fair_start {
                    let starts_at = chrono::Utc::now() + chrono::Duration::seconds(prequeue.into());
                    body["starts_at"] = json!(starts_at);
                    body["prequeue_seconds"] = json!(prequeue);
                    body["fair_start_seconds"] = json!(draw);
                }
                match conn.admin(Method::POST, "/api/admin/sales", Some(body)).await {
                    Ok(a) if a.status == 201 => {
                        sale = a.json()["id"].as_str().map(str::to_owned);
                        if fair_start.is_some() {
                            return sale.ok_or_else(|| Error::new("created without an id"));
                        }
                    }
                    Ok(a) => last = format!("create: {} {}", a.status, String::from_utf8_lossy(&a.body)),
                    Err(e) => last = format!("create: {e}"),
                }
            }
            if let Some(id) = &sale {
                match conn
                    .admin(Method::POST, &format!("/api/admin/sales/{id}/start"), None)
                    .await
                {
                    Ok(a) if a.status == 200 => return Ok(id.clone()),
                    Ok(a) => last = format!("start: {} {}", a.status, String::from_utf8_lossy(&a.body)),
                    Err(e) => last = format!("start: {e}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        unreachable!("the loop returns")
    }

    /// Stops every process: gateways first, the order service last (it
    /// stores what is left).
    pub async fn stop(mut self) {
        for g in &mut self.gateways {
            g.stop().await;
        }
        for i in &mut self.inventories {
            i.stop().await;
        }
        self.product.stop().await;
        for p in &mut self.extra_products {
            p.stop().await;
        }
        for o in &mut self.extra_orders {
            o.stop().await;
        }
        self.order.stop().await;
    }
}
