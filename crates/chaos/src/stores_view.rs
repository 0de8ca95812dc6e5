//! What the stores themselves hold about one sale, read directly (not
//! through the services): PostgreSQL's orders, Redis's counters, buyers,
//! in-flight reservations and outbox, RabbitMQ's queues.

use std::collections::HashMap;
use std::time::Duration;

use flashsale_domain::SaleId;
use flashsale_stack::redis::{RedisConn, SaleKeys};
use flashsale_testkit::stores::StoreEnv;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

use crate::Error;

/// One row of the `orders` table.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub order_id: String,
    pub user_id: String,
    pub quantity: i64,
    pub idempotency_key: Option<String>,
    /// `confirmed`, `paid`, `expired` or `cancelled`.
    pub status: String,
}

impl OrderRow {
    /// Whether the order holds its units (stored, not expired nor cancelled).
    pub fn holds_units(&self) -> bool {
        matches!(self.status.as_str(), "confirmed" | "paid")
    }
}

/// The engine's own key names of `sale` in Redis (`fs:{sale:<id>}:*`).
pub fn sale_keys(sale: &str) -> Result<SaleKeys, Error> {
    SaleId::parse(sale)
        .map(SaleKeys::new)
        .map_err(|e| Error::new(format!("sale id {sale}: {e}")))
}

/// The sale in Redis (`fs:{sale:<id>}:*`).
#[derive(Debug, Clone, Default)]
pub struct RedisView {
    pub state: String,
    /// Units ever put on sale.
    pub stock: i64,
    /// Units left to sell.
    pub remaining: i64,
    /// Units answered and not yet stored.
    pub in_flight: i64,
    /// Units stored.
    pub persisted: i64,
    /// Reservations in the in-flight hash.
    pub inflight_entries: u64,
    /// Entries in the outbox stream (deleted once relayed and confirmed).
    pub outbox: u64,
    /// Buyer → units held.
    pub buyers: HashMap<String, i64>,
}

/// Everything, read at one moment (not atomically across stores).
#[derive(Debug, Clone, Default)]
pub struct View {
    pub orders: Vec<OrderRow>,
    pub redis: RedisView,
    /// Messages ready in the order queue and in its dead-letter queue.
    pub queue_ready: u32,
    pub dead_letters: u32,
    /// Orders awaiting payment (checkout).
    pub awaiting_payment: i64,
    /// Expired or cancelled orders whose units are not back on sale yet.
    pub units_back_pending: i64,
}

impl View {
    /// Units the orders in PostgreSQL hold: stored, not expired nor
    /// cancelled.
    pub fn sold(&self) -> i64 {
        self.orders
            .iter()
            .filter(|o| o.holds_units())
            .map(|o| o.quantity)
            .sum()
    }

    /// Nothing in flight anywhere (no reservation waiting in Redis, in the
    /// outbox or in the queue), no order awaiting payment nor the return
    /// of its units.
    pub fn quiet(&self) -> bool {
        self.redis.in_flight == 0
            && self.redis.inflight_entries == 0
            && self.redis.outbox == 0
            && self.queue_ready == 0
            && self.awaiting_payment == 0
            && self.units_back_pending == 0
    }
}

/// Reads the stores of one scenario; reconnects after a store restart.
pub struct Inspector {
    env: StoreEnv,
    pool: sqlx::PgPool,
    amqp: Option<Connection>,
}

impl Inspector {
    pub async fn new(env: &StoreEnv) -> Result<Self, Error> {
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy(&env.database)
            .map_err(|e| Error::new(format!("postgres: {e}")))?;
        Ok(Self {
            env: env.clone(),
            pool,
            amqp: None,
        })
    }

    pub fn env(&self) -> &StoreEnv {
        &self.env
    }

    /// The orders of `sale` in PostgreSQL.
    pub async fn orders(&self, sale: &str) -> Result<Vec<OrderRow>, Error> {
        let rows: Vec<(String, String, i64, Option<String>, String)> = sqlx::query_as(
            "SELECT order_id::text, user_id, quantity::int8, idempotency_key, status FROM orders WHERE sale_id = $1::uuid AND status <> 'void'",
        )
        .bind(sale)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::new(format!("read orders: {e}")))?;
        Ok(rows
            .into_iter()
            .map(
                |(order_id, user_id, quantity, idempotency_key, status)| OrderRow {
                    order_id,
                    user_id,
                    quantity,
                    idempotency_key,
                    status,
                },
            )
            .collect())
    }

    /// The sale's keys in Redis, summed over its buckets when its stock is
    /// split (issue 17): units moving between buckets count as remaining.
    pub async fn redis(&self, sale: &str) -> Result<RedisView, Error> {
        let own = sale_keys(sale)?;
        let fail = |e: redis::RedisError| Error::new(format!("redis: {e}"));
        // A connection per look (one Redis, or a cluster's nodes): after a
        // restart or a failover it finds the store as it is now.
        let mut conn = tokio::time::timeout(
            Duration::from_secs(3),
            RedisConn::connect(&self.env.redis, Duration::from_secs(3)),
        )
        .await
        .map_err(|_| Error::new("redis: no connection within 3 s"))?
        .map_err(fail)?;
        let buckets: Option<u32> = redis::cmd("HGET")
            .arg(&own.state)
            .arg("buckets")
            .query_async(&mut conn)
            .await
            .map_err(fail)?;
        let id = SaleId::parse(sale).map_err(|e| Error::new(format!("sale id {sale}: {e}")))?;
        let mut view = RedisView::default();
        for keys in SaleKeys::buckets(id, buckets.unwrap_or(1)) {
            type Reply = (
                HashMap<String, String>,
                Option<i64>,
                u64,
                u64,
                HashMap<String, i64>,
                Vec<String>,
            );
            let (state, remaining, inflight_entries, outbox, buyers, moving): Reply = redis::pipe()
                .cmd("HGETALL")
                .arg(&keys.state)
                .cmd("GET")
                .arg(&keys.stock)
                .cmd("HLEN")
                .arg(&keys.inflight)
                .cmd("XLEN")
                .arg(&keys.outbox)
                .cmd("HGETALL")
                .arg(&keys.buyers)
                .cmd("HVALS")
                .arg(&keys.place.moving)
                .query_async(&mut conn)
                .await
                .map_err(fail)?;
            let number = |k: &str| state.get(k).and_then(|v| v.parse().ok()).unwrap_or(0_i64);
            if view.state.is_empty() {
                view.state = state.get("state").cloned().unwrap_or_default();
            }
            let moving: i64 = moving
                .iter()
                .filter_map(|entry| entry.split(' ').next()?.parse::<i64>().ok())
                .sum();
            view.stock += number("stock");
            view.remaining += remaining.unwrap_or(0) + moving;
            view.in_flight += number("in_flight");
            view.persisted += number("persisted");
            view.inflight_entries += inflight_entries;
            view.outbox += outbox;
            for (buyer, units) in buyers {
                *view.buyers.entry(buyer).or_default() += units;
            }
        }
        Ok(view)
    }

    /// Messages ready in the order queue and in the dead-letter queue.
    pub async fn queues(&mut self) -> Result<(u32, u32), Error> {
        let result = self.try_queues().await;
        if result.is_err() {
            self.amqp = None;
        }
        result
    }

    async fn try_queues(&mut self) -> Result<(u32, u32), Error> {
        let fail = |e: lapin::Error| Error::new(format!("rabbitmq: {e}"));
        if self.amqp.as_ref().is_none_or(|c| !c.status().connected()) {
            let conn = tokio::time::timeout(
                Duration::from_secs(5),
                Connection::connect(&self.env.amqp, ConnectionProperties::default()),
            )
            .await
            .map_err(|_| Error::new("rabbitmq: no connection within 5 s"))?
            .map_err(fail)?;
            self.amqp = Some(conn);
        }
        let conn = self.amqp.as_ref().expect("just connected");
        let channel = conn.create_channel().await.map_err(fail)?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let mut depths = [0u32; 2];
        for (i, name) in [self.env.queue.clone(), format!("{}.dlq", self.env.queue)]
            .iter()
            .enumerate()
        {
            depths[i] = channel
                .queue_declare(name.as_str().into(), passive, FieldTable::default())
                .await
                .map_err(fail)?
                .message_count();
        }
        let _ = channel.close(200, "done".into()).await;
        Ok((depths[0], depths[1]))
    }

    /// Orders of `sale` awaiting payment, and expired or cancelled ones
    /// whose units are not back yet.
    async fn checkout_backlog(&self, sale: &str) -> Result<(i64, i64), Error> {
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM orders WHERE sale_id = $1::uuid AND status = 'confirmed'
                         AND payment_due_at IS NOT NULL),
                    (SELECT count(*) FROM units_back b JOIN orders o USING (order_id) WHERE o.sale_id = $1::uuid)",
        )
        .bind(sale)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| Error::new(format!("read checkout: {e}")))
    }

    /// The orders (order id, status, quantity) a payer may pay: stored and
    /// awaiting payment, with their deadline.
    pub async fn awaiting_payment(
        &self,
        sale: &str,
    ) -> Result<Vec<(String, i64, chrono::DateTime<chrono::Utc>)>, Error> {
        sqlx::query_as(
            "SELECT order_id::text, quantity::int8, payment_due_at FROM orders
             WHERE sale_id = $1::uuid AND status = 'confirmed' AND payment_due_at IS NOT NULL",
        )
        .bind(sale)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| Error::new(format!("read orders awaiting payment: {e}")))
    }

    /// All three stores. Redis is read before the ledger: an expiry
    /// between the reads then shows as units the ledger holds and Redis
    /// gave back, never the reverse (which a lost give-back would be).
    pub async fn view(&mut self, sale: &str) -> Result<View, Error> {
        let redis = self.redis(sale).await?;
        let orders = self.orders(sale).await?;
        let (awaiting_payment, units_back_pending) = self.checkout_backlog(sale).await?;
        let (queue_ready, dead_letters) = self.queues().await?;
        Ok(View {
            orders,
            redis,
            queue_ready,
            dead_letters,
            awaiting_payment,
            units_back_pending,
        })
    }
}
