//! [`OrderConsumer`]: from the order queue to the ledger.
//!
//! Manual acks with a prefetch window: the broker keeps at most `prefetch`
//! messages in flight to this consumer and redelivers any it did not ack if
//! the consumer dies. Deliveries are gathered into a batch (up to `batch`
//! messages, waiting at most `linger` after the first), stored in one
//! PostgreSQL statement, acked only after that commit, and then settled in
//! the stock store (moved from in flight to persisted).
//!
//! Before each insert the batch is claimed in Redis (`RedisStock::claim`):
//! the claim keeps the [`Sweeper`](crate::Sweeper) from releasing what is
//! being stored, and names reservations the sweeper already released, which
//! are not stored (their units may have sold again).
//!
//! A message that cannot be read, or whose reservations can never be stored,
//! is rejected without requeue: the broker moves it to the dead-letter
//! queue and the consumer goes on with the next. Its reservations stay in
//! flight: a corrupted copy says nothing about the genuine message, which
//! may still be queued. The sweeper settles them if a copy gets stored, or
//! releases them once no copy can still arrive. A database that is down is
//! not a poison: the batch is retried, unacked, until it is stored.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flashsale_domain::{OrderId, Reservation, SaleId, StockStore, StoreError};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

use super::message::OrderMessage;
use super::topology::Topology;
use crate::metrics::PipelineMetrics;
use crate::postgres::{InsertError, PgOrderStore};
use crate::redis::RedisStock;

/// How the consumer batches.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Most unacked messages the broker sends this consumer.
    pub prefetch: u16,
    /// Most messages per database batch.
    pub batch: usize,
    /// How long a batch waits for more messages after its first.
    pub linger: Duration,
    /// The pause before retrying a database that is unavailable.
    pub retry_pause: Duration,
    /// Where the consumer counts what it did.
    pub metrics: Arc<PipelineMetrics>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        Self {
            prefetch: 64,
            batch: 64,
            linger: Duration::from_millis(5),
            retry_pause: Duration::from_millis(250),
            metrics: Arc::default(),
        }
    }
}

/// Why the consumer lost its connection (it reconnects).
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("rabbitmq: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("the broker cancelled the consumer")]
    Cancelled,
    #[error("the broker did not answer the consumer's set-up in time")]
    SetUpTimedOut,
    #[error("the connection to the broker is lost")]
    LinkLost,
}

/// How often an idle consumer checks that its connection is still up:
/// the delivery stream alone is not relied on to end when it drops.
const LIVENESS_CHECK: Duration = Duration::from_secs(1);

/// The longest wait for the channel, the topology and the subscription: a
/// queue that lost its leader never answers, and the consumer would wait
/// silently instead of reconnecting.
const SET_UP_TIMEOUT: Duration = Duration::from_secs(20);

/// The order consumer.
pub struct OrderConsumer {
    /// Whether it is subscribed to the queue now, for health.
    subscribed: Arc<AtomicBool>,
    url: String,
    topology: Topology,
    orders: PgOrderStore,
    stock: RedisStock,
    config: ConsumerConfig,
}

/// A delivery and what it carries, once read.
struct Parsed {
    delivery: Delivery,
    reservations: Vec<Reservation>,
}

impl OrderConsumer {
    pub fn new(
        url: &str,
        topology: Topology,
        orders: PgOrderStore,
        stock: RedisStock,
        config: ConsumerConfig,
    ) -> Self {
        Self {
            subscribed: Arc::default(),
            url: url.to_owned(),
            topology,
            orders,
            stock,
            config,
        }
    }

    /// A flag that is true while the consumer is subscribed to the queue:
    /// messages waiting while it is false are not being stored.
    pub fn subscribed(&self) -> Arc<AtomicBool> {
        self.subscribed.clone()
    }

    /// Consumes until `stop` resolves, reconnecting after any failure; on
    /// stop, the connection is closed so unacked messages go back to the
    /// queue at once.
    pub async fn run(self, stop: impl Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            let conn = match Connection::connect(&self.url, ConnectionProperties::default()).await {
                Ok(conn) => conn,
                Err(error) => {
                    tracing::warn!(message = "Order consumer cannot reach the broker.", %error);
                    tokio::select! {
                        _ = &mut stop => return,
                        _ = tokio::time::sleep(Duration::from_millis(500)) => continue,
                    }
                }
            };
            let outcome = tokio::select! {
                _ = &mut stop => None,
                result = self.consume(&conn) => Some(result),
            };
            self.subscribed.store(false, Ordering::Relaxed);
            // A connection the broker dropped may never answer a close.
            let _ = tokio::time::timeout(
                Duration::from_secs(2),
                conn.close(200, "consumer stopping".into()),
            )
            .await;
            match outcome {
                None => return,
                Some(Err(error)) => {
                    tracing::warn!(message = "Order consumer lost the broker; reconnecting.", %error);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Some(Ok(())) => {}
            }
        }
    }

    async fn consume(&self, conn: &Connection) -> Result<(), ConsumeError> {
        let set_up = tokio::time::timeout(SET_UP_TIMEOUT, async {
            let channel = conn.create_channel().await?;
            self.topology.declare(&channel).await?;
            channel
                .basic_qos(self.config.prefetch, BasicQosOptions::default())
                .await?;
            let deliveries = channel
                .basic_consume(
                    self.topology.queue.as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, lapin::Error>((channel, deliveries))
        });
        let (channel, mut deliveries) = set_up.await.map_err(|_| ConsumeError::SetUpTimedOut)??;
        self.subscribed.store(true, Ordering::Relaxed);
        loop {
            let first = match tokio::time::timeout(LIVENESS_CHECK, deliveries.next()).await {
                Ok(Some(delivery)) => delivery,
                Ok(None) => return Err(ConsumeError::Cancelled),
                Err(_) if conn.status().connected() && channel.status().connected() => continue,
                Err(_) => return Err(ConsumeError::LinkLost),
            };
            let mut batch = vec![first?];
            let deadline = tokio::time::Instant::now() + self.config.linger;
            while batch.len() < self.config.batch {
                match tokio::time::timeout_at(deadline, deliveries.next()).await {
                    Ok(Some(delivery)) => batch.push(delivery?),
                    Ok(None) => return Err(ConsumeError::Cancelled),
                    Err(_) => break,
                }
            }
            self.handle(batch).await?;
        }
    }

    /// Stores, acks and settles one batch; dead-letters what cannot be stored.
    async fn handle(&self, batch: Vec<Delivery>) -> Result<(), ConsumeError> {
        let metrics = &self.config.metrics;
        let again = batch.iter().filter(|d| d.redelivered).count();
        PipelineMetrics::add(&metrics.redelivered, again);
        let mut readable = Vec::with_capacity(batch.len());
        for delivery in batch {
            match OrderMessage::parse(&delivery.data) {
                Ok(message) => readable.push(Parsed {
                    delivery,
                    reservations: message.reservations,
                }),
                Err(error) => {
                    tracing::error!(message = "Dead-lettered an unreadable order message.", %error);
                    dead_letter(&delivery).await?;
                    PipelineMetrics::add(&metrics.dead_lettered, 1);
                }
            }
        }
        let all: Vec<Reservation> = readable
            .iter()
            .flat_map(|p| p.reservations.iter().cloned())
            .collect();
        match self.store(&all).await {
            Ok(()) => {
                for parsed in &readable {
                    parsed.delivery.ack(BasicAckOptions::default()).await?;
                }
                self.settle(&all).await;
            }
            // Find the culprit: store each message on its own.
            Err(_) => {
                for parsed in readable {
                    match self.store(&parsed.reservations).await {
                        Ok(()) => {
                            parsed.delivery.ack(BasicAckOptions::default()).await?;
                            self.settle(&parsed.reservations).await;
                        }
                        Err(error) => {
                            tracing::error!(message = "Dead-lettered an order message that cannot be stored.", %error);
                            dead_letter(&parsed.delivery).await?;
                            PipelineMetrics::add(&metrics.dead_lettered, 1);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Claims and stores the reservations, retrying while Redis or the
    /// database is unavailable (claiming again each time, so the claim stays
    /// fresh); returns only a permanent failure.
    async fn store(&self, reservations: &[Reservation]) -> Result<(), InsertError> {
        loop {
            let claimed = match self.claim(reservations).await {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::warn!(message = "Stock store unavailable; retrying the claim.", %error);
                    tokio::time::sleep(self.config.retry_pause).await;
                    continue;
                }
            };
            match self.orders.insert(&claimed).await {
                Ok(new) => {
                    let new = new as usize;
                    PipelineMetrics::add(&self.config.metrics.stored, new);
                    PipelineMetrics::add(&self.config.metrics.duplicates, claimed.len().saturating_sub(new));
                    return Ok(());
                }
                Err(e) if e.is_permanent() => return Err(e),
                Err(error) => {
                    PipelineMetrics::add(&self.config.metrics.batch_retries, 1);
                    tracing::warn!(message = "Order store unavailable; retrying the batch.", %error);
                    tokio::time::sleep(self.config.retry_pause).await;
                }
            }
        }
    }

    /// The reservations that may be stored: all but those the sweeper
    /// released (logged: their buyers were answered 202 and get no order).
    async fn claim(&self, reservations: &[Reservation]) -> Result<Vec<Reservation>, StoreError> {
        let mut refused = Vec::new();
        for (sale, ids) in by_sale(reservations) {
            refused.extend(self.stock.claim(sale, &ids).await?);
        }
        if refused.is_empty() {
            return Ok(reservations.to_vec());
        }
        PipelineMetrics::add(&self.config.metrics.refused, refused.len());
        for order_id in &refused {
            tracing::error!(message = "Not storing a reservation released while its message was held up; its buyer has no order.", %order_id);
        }
        Ok(reservations
            .iter()
            .filter(|r| !refused.contains(&r.order_id))
            .cloned()
            .collect())
    }

    async fn settle(&self, reservations: &[Reservation]) {
        for (sale, ids) in by_sale(reservations) {
            if let Err(error) = self.stock.settle(sale, &ids).await {
                // The sweeper settles what stays in flight.
                tracing::warn!(message = "Failed to settle stored orders.", %error, %sale);
            }
        }
    }
}

/// Rejects the delivery to the dead-letter queue; its reservations stay in
/// flight for the sweeper (see the module docs).
async fn dead_letter(delivery: &Delivery) -> Result<(), ConsumeError> {
    delivery
        .nack(BasicNackOptions {
            requeue: false,
            ..BasicNackOptions::default()
        })
        .await?;
    Ok(())
}

/// The order ids of `reservations`, per sale.
fn by_sale(reservations: &[Reservation]) -> HashMap<SaleId, Vec<OrderId>> {
    let mut by_sale: HashMap<SaleId, Vec<OrderId>> = HashMap::new();
    for r in reservations {
        by_sale.entry(r.sale_id).or_default().push(r.order_id);
    }
    by_sale
}
