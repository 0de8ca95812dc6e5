//! [`Relay`]: moves reservations from the sales' Redis outbox streams to the
//! order queue.
//!
//! Each outbox has one consumer group, `relay`, shared by every relay
//! process; each process reads as a consumer of its own name, so Redis
//! hands each entry to one relay at a time. An entry is acknowledged
//! (`XACK`) and deleted (`XDEL`), in one `MULTI`, only after the broker
//! confirmed the message carrying it; nothing else ever trims the stream
//! (an `XAUTOCLAIM` of an entry that was trimmed would drop it silently).
//!
//! A relay that dies between the confirm and the `XACK` leaves its entries
//! pending under its name: any relay claims them (`XAUTOCLAIM`) once they
//! have been pending longer than [`RelayConfig::claim_after`] and publishes
//! them again. The order id makes that second copy a no-op in the ledger.
//! A publish that fails leaves the entries pending under this relay's own
//! name; it reads its own pending entries first on the next pass.

use std::sync::Arc;
use std::time::Duration;

use flashsale_domain::{OrderQueue, Reservation, SaleId};
use redis::aio::ConnectionManager;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};

use crate::metrics::PipelineMetrics;
use crate::redis::keys::{SaleKeys, RELAY_GROUP, SALES_INDEX};
use crate::redis::record;

/// How a relay paces itself.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// This relay's consumer name in the group; unique per process.
    pub consumer: String,
    /// Most reservations per message.
    pub batch: usize,
    /// How long an entry stays pending under another relay before this
    /// one takes it over.
    pub claim_after: Duration,
    /// The pause when there is nothing to relay.
    pub idle_poll: Duration,
    /// Where the relay counts what it did.
    pub metrics: Arc<PipelineMetrics>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            consumer: format!("relay-{}", uuid::Uuid::now_v7()),
            batch: 256,
            claim_after: Duration::from_secs(30),
            idle_poll: Duration::from_millis(10),
            metrics: Arc::default(),
        }
    }
}

/// Why a pass of the relay stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("publish failed: {0}")]
    Publish(#[from] flashsale_domain::QueueError),
}

/// The outbox relay.
pub struct Relay {
    conn: ConnectionManager,
    queue: Arc<dyn OrderQueue>,
    config: RelayConfig,
}

/// Entries read from one outbox: their ids and the reservations they carry.
struct Batch {
    ids: Vec<String>,
    reservations: Vec<Reservation>,
}

impl Relay {
    /// A relay reading with `conn` (its reads never block, so it may share
    /// the stock store's connection) and publishing to `queue`.
    pub fn new(conn: ConnectionManager, queue: Arc<dyn OrderQueue>, config: RelayConfig) -> Self {
        Self { conn, queue, config }
    }

    /// Relays until the task is dropped or aborted; errors are logged and
    /// retried after a pause.
    pub async fn run(self) {
        let mut last_claim = tokio::time::Instant::now();
        loop {
            let claim = last_claim.elapsed() >= self.config.claim_after / 2;
            if claim {
                last_claim = tokio::time::Instant::now();
            }
            match self.pass(claim).await {
                Ok(0) => tokio::time::sleep(self.config.idle_poll).await,
                Ok(_) => {}
                Err(error) => {
                    PipelineMetrics::add(&self.config.metrics.relay_failures, 1);
                    tracing::warn!(message = "Outbox relay pass failed; retrying.", %error);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// One pass over every sale's outbox: this relay's own pending entries,
    /// then (if `claim`) entries abandoned by dead relays, then new ones.
    /// Returns how many reservations it published.
    pub async fn pass(&self, claim: bool) -> Result<usize, RelayError> {
        let sales: Vec<String> = redis::cmd("SMEMBERS")
            .arg(SALES_INDEX)
            .query_async(&mut self.conn.clone())
            .await?;
        let mut relayed = 0;
        for sale in sales.iter().filter_map(|s| SaleId::parse(s).ok()) {
            let outbox = SaleKeys::new(sale).outbox;
            let mut batch = self.read(sale, &outbox, "0").await?;
            if batch.ids.is_empty() && claim {
                batch = self.claim(sale, &outbox).await?;
            }
            if batch.ids.is_empty() {
                batch = self.read(sale, &outbox, ">").await?;
            }
            relayed += self.forward(&outbox, batch).await?;
        }
        Ok(relayed)
    }

    async fn read(&self, sale: SaleId, outbox: &str, from: &str) -> Result<Batch, RelayError> {
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(RELAY_GROUP)
            .arg(&self.config.consumer)
            .arg("COUNT")
            .arg(self.config.batch)
            .arg("STREAMS")
            .arg(outbox)
            .arg(from)
            .query_async(&mut self.conn.clone())
            .await?;
        let entries = reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .collect();
        Ok(decode(sale, entries))
    }

    async fn claim(&self, sale: SaleId, outbox: &str) -> Result<Batch, RelayError> {
        let reply: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(outbox)
            .arg(RELAY_GROUP)
            .arg(&self.config.consumer)
            .arg(self.config.claim_after.as_millis() as u64)
            .arg("0-0")
            .arg("COUNT")
            .arg(self.config.batch)
            .query_async(&mut self.conn.clone())
            .await?;
        if !reply.claimed.is_empty() {
            PipelineMetrics::add(&self.config.metrics.reclaimed, reply.claimed.len());
            tracing::info!(
                message = "Claimed outbox entries from a silent relay.",
                %sale,
                entries = reply.claimed.len()
            );
        }
        Ok(decode(sale, reply.claimed))
    }

    /// Publishes the batch, then acknowledges and deletes its entries.
    async fn forward(&self, outbox: &str, batch: Batch) -> Result<usize, RelayError> {
        if batch.ids.is_empty() {
            return Ok(0);
        }
        let count = batch.reservations.len();
        self.queue.publish(batch.reservations).await?;
        redis::pipe()
            .atomic()
            .cmd("XACK")
            .arg(outbox)
            .arg(RELAY_GROUP)
            .arg(&batch.ids)
            .ignore()
            .cmd("XDEL")
            .arg(outbox)
            .arg(&batch.ids)
            .ignore()
            .query_async::<()>(&mut self.conn.clone())
            .await?;
        PipelineMetrics::add(&self.config.metrics.relayed, count);
        Ok(count)
    }
}

/// The reservations of the entries. An entry no script could have written
/// is logged and acknowledged with the rest, so it cannot block the outbox.
fn decode(sale: SaleId, entries: Vec<StreamId>) -> Batch {
    let mut batch = Batch {
        ids: Vec::with_capacity(entries.len()),
        reservations: Vec::with_capacity(entries.len()),
    };
    for entry in entries {
        let rec: Option<String> = entry.get("rec");
        match rec.as_deref().map(|rec| record::decode(sale, rec)) {
            Some(Ok(r)) => batch.reservations.push(r),
            Some(Err(error)) => {
                tracing::error!(message = "Dropped a malformed outbox entry.", %sale, id = %entry.id, %error)
            }
            None => {
                tracing::error!(message = "Dropped an outbox entry with no record.", %sale, id = %entry.id)
            }
        }
        batch.ids.push(entry.id);
    }
    batch
}
