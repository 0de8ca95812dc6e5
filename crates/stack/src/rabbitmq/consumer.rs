//! [`OrderConsumer`]: from the order queue to the ledger.
//!
//! Manual acks with a prefetch window: the broker keeps at most `prefetch`
//! messages in flight to this consumer and redelivers any it did not ack if
//! the consumer dies. Deliveries are gathered into a batch (up to `batch`
//! messages, waiting at most `linger` after the first), stored in one
//! PostgreSQL statement, acked only after that commit, and then settled in
//! the stock store (moved from in flight to persisted).
//!
//! The ledger decides once per order id: an id it already voided is not
//! stored again (the insert's `ON CONFLICT` refuses it) and is not settled.
//!
//! A message that cannot be read is rejected without requeue: the broker
//! moves it to the dead-letter queue and the consumer goes on with the
//! next. A message with reservations the ledger refuses for good is taken
//! apart: its other reservations are stored, and it is dead-lettered for
//! inspection. A refused reservation identical to the one answered (its
//! in-flight record in Redis) can never be stored by any copy, so it is
//! voided through the ledger and its units go back on sale; one that
//! differs is a corrupted copy, which says nothing about the genuine
//! message, so it stays in flight for that message (or the operator). A
//! database that is down is not a poison: the batch is retried, unacked,
//! until it is stored.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flashsale_domain::{Decision, Event, EventKind, EventSink, OrderId, Reservation, SaleId, Severity};
use flashsale_trace::{Kind, Span};
use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};

use super::message::{traces_of, OrderMessage};
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

/// The reason a buyer reads on an order voided because it can never be
/// stored.
pub const UNSTORABLE: &str = "the order could not be recorded; its units went back on sale";

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
    /// Where a void is announced to the operator.
    events: Arc<dyn EventSink>,
    config: ConsumerConfig,
}

/// A delivery and what it carries, once read.
struct Parsed {
    delivery: Delivery,
    reservations: Vec<Reservation>,
    /// Each reservation's `traceparent`, "" for none.
    traces: Vec<String>,
}

impl Parsed {
    /// One span per traced reservation, children of the relay's spans, for
    /// the time its order takes to be stored, acknowledged and settled.
    fn store_spans(&self) -> Vec<Span> {
        if !flashsale_trace::enabled() {
            return Vec::new();
        }
        self.reservations
            .iter()
            .zip(&self.traces)
            .filter(|(_, trace)| !trace.is_empty())
            .map(|(r, trace)| {
                let span = Span::start("order store", Kind::Consumer, Some(trace));
                span.set("flashsale.order_id", r.order_id.to_string());
                span
            })
            .collect()
    }
}

impl OrderConsumer {
    pub fn new(
        url: &str,
        topology: Topology,
        orders: PgOrderStore,
        stock: RedisStock,
        events: Arc<dyn EventSink>,
        config: ConsumerConfig,
    ) -> Self {
        Self {
            subscribed: Arc::default(),
            url: url.to_owned(),
            topology,
            orders,
            stock,
            events,
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
                    traces: traces_of(delivery.properties.headers().as_ref(), message.reservations.len()),
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
        // Ended when this batch is done, whichever way it went.
        let _spans: Vec<Span> = readable.iter().flat_map(Parsed::store_spans).collect();
        let all: Vec<Reservation> = readable
            .iter()
            .flat_map(|p| p.reservations.iter().cloned())
            .collect();
        match self.store(&all).await {
            Ok(void) => {
                for parsed in &readable {
                    parsed.delivery.ack(BasicAckOptions::default()).await?;
                }
                self.settle(&all, &void).await;
            }
            // Find the culprit: each message on its own.
            Err(_) => {
                for parsed in readable {
                    self.handle_alone(parsed).await?;
                }
            }
        }
        Ok(())
    }

    /// One message of a batch that failed: stored whole, or taken apart.
    async fn handle_alone(&self, parsed: Parsed) -> Result<(), ConsumeError> {
        if let Ok(void) = self.store(&parsed.reservations).await {
            parsed.delivery.ack(BasicAckOptions::default()).await?;
            self.settle(&parsed.reservations, &void).await;
            return Ok(());
        }
        let mut stored = Vec::new();
        let mut void = HashSet::new();
        for r in &parsed.reservations {
            match self.store(std::slice::from_ref(r)).await {
                Ok(v) => {
                    void.extend(v);
                    stored.push(r.clone());
                }
                Err(error) => self.refused_for_good(r, &error).await,
            }
        }
        self.settle(&stored, &void).await;
        tracing::error!(
            message = "Dead-lettered an order message with reservations that cannot be stored.",
            stored = stored.len(),
            refused = parsed.reservations.len() - stored.len()
        );
        dead_letter(&parsed.delivery).await?;
        PipelineMetrics::add(&self.config.metrics.dead_lettered, 1);
        Ok(())
    }

    /// A reservation the ledger refuses for good: voided if it is the one
    /// answered (no copy can ever be stored), else left in flight for its
    /// genuine message. See the module docs.
    async fn refused_for_good(&self, copy: &Reservation, error: &InsertError) {
        let (sale, order_id) = (copy.sale_id, copy.order_id);
        let answered = match self.stock.in_flight_one(sale, order_id).await {
            Ok(answered) => answered,
            Err(store) => {
                tracing::warn!(message = "Cannot compare a refused reservation with the one answered; leaving it in flight.", %order_id, error = %store);
                return;
            }
        };
        if answered.as_ref() != Some(copy) {
            tracing::error!(message = "A refused copy differs from the reservation answered (or none is in flight); leaving it to its genuine message.", %order_id, %error);
            return;
        }
        // The buyer reads the reason: no internal detail in it (the
        // operator's event and the log carry the error).
        match self
            .orders
            .void_audited(copy, UNSTORABLE, "order_void_unstorable")
            .await
        {
            Ok(Decision::Void) => {
                PipelineMetrics::add(&self.config.metrics.voided, 1);
                if let Err(store) = self.stock.release_in_flight(copy).await {
                    // The sweeper releases what the ledger voided.
                    tracing::warn!(message = "Failed to release a voided reservation.", %order_id, error = %store);
                }
                tracing::error!(message = "Voided an answered reservation that cannot be stored; its units are back on sale.", %order_id, %error);
                let event = Event::new(
                    EventKind::System,
                    Severity::Critical,
                    format!("Order {order_id} voided: the ledger refuses it for good ({error}). Its buyer sees the status void; the units are back on sale."),
                );
                self.events.emit(event.for_sale(sale));
            }
            Ok(Decision::Order) => self.settle(std::slice::from_ref(copy), &HashSet::new()).await,
            Err(store) => {
                tracing::warn!(message = "Failed to void an unstorable reservation; leaving it in flight.", %order_id, error = %store);
            }
        }
    }

    /// Stores the reservations, retrying while the database is unavailable;
    /// returns the ids the ledger had already voided (not stored, not to be
    /// settled), or a permanent failure.
    async fn store(&self, reservations: &[Reservation]) -> Result<HashSet<OrderId>, InsertError> {
        let metrics = &self.config.metrics;
        loop {
            match self.orders.insert(reservations).await {
                Ok(stored) => {
                    let (new, void) = (stored.new as usize, stored.void.len());
                    PipelineMetrics::add(&metrics.stored, new);
                    PipelineMetrics::add(&metrics.refused, void);
                    PipelineMetrics::add(&metrics.duplicates, reservations.len().saturating_sub(new + void));
                    for order_id in &stored.void {
                        tracing::warn!(message = "Not storing a reservation the ledger voided.", %order_id);
                    }
                    return Ok(stored.void);
                }
                Err(e) if e.is_permanent() => return Err(e),
                Err(error) => {
                    PipelineMetrics::add(&metrics.batch_retries, 1);
                    tracing::warn!(message = "Order store unavailable; retrying the batch.", %error);
                    tokio::time::sleep(self.config.retry_pause).await;
                }
            }
        }
    }

    /// Moves the stored reservations (all but `void`) from in flight to
    /// persisted.
    async fn settle(&self, reservations: &[Reservation], void: &HashSet<OrderId>) {
        let stored: Vec<Reservation> = reservations
            .iter()
            .filter(|r| !void.contains(&r.order_id))
            .cloned()
            .collect();
        for (sale, records) in by_sale(&stored) {
            if let Err(error) = self.stock.settle_stored(sale, &records).await {
                // The sweeper settles what stays in flight.
                tracing::warn!(message = "Failed to settle stored orders.", %error, %sale);
            }
        }
    }
}

/// Rejects the delivery to the dead-letter queue (see the module docs).
async fn dead_letter(delivery: &Delivery) -> Result<(), ConsumeError> {
    delivery
        .nack(BasicNackOptions {
            requeue: false,
            ..BasicNackOptions::default()
        })
        .await?;
    Ok(())
}

/// `reservations`, per sale.
fn by_sale(reservations: &[Reservation]) -> HashMap<SaleId, Vec<Reservation>> {
    let mut by_sale: HashMap<SaleId, Vec<Reservation>> = HashMap::new();
    for r in reservations {
        by_sale.entry(r.sale_id).or_default().push(r.clone());
    }
    by_sale
}
