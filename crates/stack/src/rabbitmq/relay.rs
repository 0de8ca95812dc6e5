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
//! name; it retries them first on the next pass, reading them with
//! `XPENDING` and `XRANGE`, never `XREADGROUP … 0`: a history read resets
//! an entry's idle time, so a live relay that keeps failing (a broker that
//! refuses it) would pin its entries for as long as it lives. Read this
//! way they age, and a healthy relay takes them over after `claim_after`.
//!
//! Each sale's outbox is relayed on its own: one that fails (its consumer
//! group gone with its stream, a record the broker refuses) is logged and
//! retried, and the others go on. A missing group is created again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use flashsale_domain::{OrderQueue, Reservation, SaleId};
use flashsale_trace::{Kind, Span};
use redis::aio::ConnectionManager;

use crate::redis::RedisConn;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};

use crate::metrics::PipelineMetrics;
use crate::redis::buckets::BucketCounts;
use crate::redis::keys::{SaleKeys, RELAY_GROUP, SALES_INDEX};
use crate::redis::record;

/// How a relay paces itself.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// This relay's consumer name in the group; unique per process.
    pub consumer: String,
    /// Most outbox entries read at once, and most reservations per message.
    pub batch: usize,
    /// How long an entry stays pending under another relay before this
    /// one takes it over.
    pub claim_after: Duration,
    /// When there is nothing to relay, the longest the relay waits for a
    /// new outbox entry before it looks again (for sales loaded meanwhile,
    /// and for entries to claim). With a connection to wait on (see
    /// [`Relay::waiting_on`]) it blocks on the outboxes and wakes as soon as
    /// an entry is added; without, it sleeps this long.
    pub idle_wait: Duration,
    /// Where the relay counts what it did.
    pub metrics: Arc<PipelineMetrics>,
    /// Replicas that must hold the entries read (`WAIT`) before they are
    /// published; 0: none. With `FLASHSALE_REDIS_REPLICAS_ACK`, an order
    /// reaches the ledger only once a replica that could be promoted holds
    /// its reservation: a promoted replica then never lacks a stored order,
    /// and never sells its units again.
    pub replicas_ack: usize,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            consumer: format!("relay-{}", uuid::Uuid::now_v7()),
            batch: 256,
            claim_after: Duration::from_secs(30),
            idle_wait: Duration::from_millis(100),
            metrics: Arc::default(),
            replicas_ack: 0,
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
    #[error("{acked} of {wanted} replicas hold the outbox entries; not published yet")]
    Unreplicated { acked: usize, wanted: usize },
}

/// The outbox relay.
pub struct Relay {
    conn: RedisConn,
    /// A connection of its own for the blocking waits (a blocking command
    /// would hold up every other call on a shared connection).
    waiter: Option<ConnectionManager>,
    queue: Arc<dyn OrderQueue>,
    config: RelayConfig,
    /// Each sale's bucket count: a sale split into buckets has an outbox
    /// per bucket.
    buckets: BucketCounts,
}

/// Entries read from one outbox: their ids and the reservations they carry.
struct Batch {
    ids: Vec<String>,
    reservations: Vec<Reservation>,
    /// Each reservation's `traceparent`, "" for none.
    traces: Vec<String>,
}

impl Relay {
    /// A relay reading with `conn` (its reads never block, so it may share
    /// the stock store's connection) and publishing to `queue`.
    pub fn new(conn: RedisConn, queue: Arc<dyn OrderQueue>, config: RelayConfig) -> Self {
        Self {
            conn,
            waiter: None,
            queue,
            config,
            buckets: BucketCounts::default(),
        }
    }

    /// Waits for new outbox entries on `conn` (a connection of its own)
    /// instead of sleeping: an idle relay then costs two calls per
    /// `idle_wait` however many sales are live, and relays a new entry at
    /// once.
    pub fn waiting_on(mut self, conn: ConnectionManager) -> Self {
        self.waiter = Some(conn);
        self
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
                Ok(0) => {
                    self.config
                        .metrics
                        .relay_lag_ms
                        .store(0, std::sync::atomic::Ordering::Relaxed);
                    self.wait_for_entries().await
                }
                Ok(_) => {}
                Err(error) => {
                    PipelineMetrics::add(&self.config.metrics.relay_failures, 1);
                    tracing::warn!(message = "Outbox relay pass failed; retrying.", %error);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Blocks until an entry is added to any live sale's outbox, or for at
    /// most `idle_wait`. `XREAD … $` only sees entries added after the call:
    /// one added between the empty pass and the call waits for the next
    /// pass, at most `idle_wait` later; none is missed (the pass reads the
    /// group, not this wait).
    async fn wait_for_entries(&self) {
        let idle = self.config.idle_wait;
        let Some(waiter) = &self.waiter else {
            tokio::time::sleep(idle).await;
            return;
        };
        let sales: redis::RedisResult<Vec<String>> = redis::cmd("SMEMBERS")
            .arg(SALES_INDEX)
            .query_async(&mut self.conn.clone())
            .await;
        let mut outboxes = Vec::new();
        for sale in sales.iter().flatten().filter_map(|s| SaleId::parse(s).ok()) {
            outboxes.extend(self.outboxes(sale).await.unwrap_or_default());
        }
        if outboxes.is_empty() {
            tokio::time::sleep(idle).await;
            return;
        }
        let mut wait = redis::cmd("XREAD");
        wait.arg("COUNT")
            .arg(1)
            .arg("BLOCK")
            .arg(idle.as_millis() as u64)
            .arg("STREAMS");
        wait.arg(&outboxes);
        for _ in &outboxes {
            wait.arg("$");
        }
        if let Err(error) = wait.query_async::<redis::Value>(&mut waiter.clone()).await {
            tracing::debug!(message = "Waiting on the outboxes failed; sleeping instead.", %error);
            tokio::time::sleep(idle).await;
        }
    }

    /// Relays what is left in the outboxes, for at most `within`; what is
    /// left then stays in the outbox for the next start. Run at shutdown
    /// under the stopped relay's name, so the entries it read and never
    /// acknowledged (it was stopped mid-pass) are its own to publish now,
    /// not another relay's in 30 s.
    pub async fn drain(&self, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            match self.pass(true).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(message = "Failed to drain the outbox at shutdown.", %error);
                    break;
                }
            }
        }
    }

    /// One pass over every sale's outbox. Returns how many reservations it
    /// published; fails only if every outbox with work failed (each failure
    /// is logged).
    pub async fn pass(&self, claim: bool) -> Result<usize, RelayError> {
        let sales: Vec<String> = redis::cmd("SMEMBERS")
            .arg(SALES_INDEX)
            .query_async(&mut self.conn.clone())
            .await?;
        let (mut relayed, mut failed, mut last_error) = (0, 0, None);
        let live: HashSet<SaleId> = sales.iter().filter_map(|s| SaleId::parse(s).ok()).collect();
        self.buckets.keep_only(&live);
        for &sale in &live {
            let outboxes = match self.outboxes(sale).await {
                Ok(outboxes) => outboxes,
                Err(error) => {
                    tracing::warn!(message = "Reading a sale's buckets failed; the others go on.", %sale, %error);
                    failed += 1;
                    last_error = Some(RelayError::Redis(error));
                    continue;
                }
            };
            for outbox in outboxes {
                match self.relay_sale(sale, &outbox, claim).await {
                    Ok(n) => relayed += n,
                    Err(error) => {
                        tracing::warn!(message = "Relaying one outbox failed; the others go on.", %sale, %error);
                        failed += 1;
                        last_error = Some(error);
                    }
                }
            }
        }
        match last_error {
            Some(error) if relayed == 0 && failed > 0 => Err(error),
            _ => Ok(relayed),
        }
    }

    /// The outbox of every bucket of `sale`.
    async fn outboxes(&self, sale: SaleId) -> redis::RedisResult<Vec<String>> {
        let buckets = self.buckets.of(&self.conn, sale).await?;
        Ok(SaleKeys::buckets(sale, buckets)
            .into_iter()
            .map(|keys| keys.outbox)
            .collect())
    }

    /// One outbox of a sale: this relay's own pending entries, then (if
    /// `claim`) entries abandoned by silent relays, then new ones.
    async fn relay_sale(&self, sale: SaleId, outbox: &str, claim: bool) -> Result<usize, RelayError> {
        let outbox = outbox.to_owned();
        let mut batch = self.own_pending(sale, &outbox).await?;
        if batch.ids.is_empty() && claim {
            batch = self.claim(sale, &outbox).await?;
        }
        if batch.ids.is_empty() {
            batch = match self.read_new(sale, &outbox).await {
                Err(RelayError::Redis(e)) if e.code() == Some("NOGROUP") => {
                    if !self.recreate_group(sale, &outbox).await? {
                        return Ok(0);
                    }
                    self.read_new(sale, &outbox).await?
                }
                other => other?,
            };
        }
        self.forward(&outbox, batch).await
    }

    /// The group went with its stream (deleted by hand, lost by Redis, or
    /// forgotten with an archived sale): created again, from the stream's
    /// start so nothing in it is skipped, once the stream is back. False,
    /// creating nothing, while there is no stream: nothing to relay, and a
    /// relay never creates one, or a sale being forgotten (its keys gone,
    /// the index not yet told) would keep an empty outbox for ever. A live
    /// sale's next reservation creates its stream (`XADD`).
    async fn recreate_group(&self, sale: SaleId, outbox: &str) -> Result<bool, RelayError> {
        let exists: bool = redis::cmd("EXISTS")
            .arg(outbox)
            .query_async(&mut self.conn.clone())
            .await?;
        if !exists {
            return Ok(false);
        }
        tracing::warn!(message = "An outbox had lost its consumer group; creating it again.", %sale);
        let created: redis::RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(outbox)
            .arg(RELAY_GROUP)
            .arg("0")
            .query_async(&mut self.conn.clone())
            .await;
        match created {
            // Another relay created it first.
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(true),
            other => other.map(|()| true).map_err(Into::into),
        }
    }

    /// This relay's pending entries, read without touching their idle time
    /// (see the module docs).
    async fn own_pending(&self, sale: SaleId, outbox: &str) -> Result<Batch, RelayError> {
        let pending: redis::RedisResult<redis::streams::StreamPendingCountReply> = redis::cmd("XPENDING")
            .arg(outbox)
            .arg(RELAY_GROUP)
            .arg("-")
            .arg("+")
            .arg(self.config.batch)
            .arg(&self.config.consumer)
            .query_async(&mut self.conn.clone())
            .await;
        let ids = match pending {
            Ok(reply) => reply.ids,
            // No group, so nothing pending: `read_new` recreates it.
            Err(e) if e.code() == Some("NOGROUP") => return Ok(decode(sale, Vec::new())),
            Err(e) => return Err(e.into()),
        };
        if ids.is_empty() {
            return Ok(decode(sale, Vec::new()));
        }
        let mut ranges = redis::pipe();
        for id in &ids {
            ranges.cmd("XRANGE").arg(outbox).arg(&id.id).arg(&id.id);
        }
        let found: Vec<redis::streams::StreamRangeReply> = ranges.query_async(&mut self.conn.clone()).await?;
        let mut entries: Vec<StreamId> = found.into_iter().flat_map(|r| r.ids).collect();
        // Pending, but gone from the stream (deleted by hand): acknowledge
        // it with the rest, or it stays pending for ever.
        for id in &ids {
            if !entries.iter().any(|e| e.id == id.id) {
                entries.push(StreamId {
                    id: id.id.clone(),
                    ..StreamId::default()
                });
            }
        }
        Ok(decode(sale, entries))
    }

    async fn read_new(&self, sale: SaleId, outbox: &str) -> Result<Batch, RelayError> {
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(RELAY_GROUP)
            .arg(&self.config.consumer)
            .arg("COUNT")
            .arg(self.config.batch)
            .arg("STREAMS")
            .arg(outbox)
            .arg(">")
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
        self.wait_for_replicas(outbox).await?;
        // An entry id is `<milliseconds of its XADD>-<sequence>`.
        let oldest = batch
            .ids
            .iter()
            .filter_map(|id| id.split('-').next()?.parse::<u64>().ok())
            .min();
        // An entry holds a batch of reservations: messages stay within
        // `batch` reservations each, published together. Entries are
        // acknowledged once all are confirmed; a crash before that
        // publishes them again, and the order store absorbs the copies.
        let mut messages = Vec::new();
        let (mut left, mut traces) = (batch.reservations, batch.traces);
        while !left.is_empty() {
            let rest = left.split_off(left.len().min(self.config.batch));
            let traces_rest = traces.split_off(left.len());
            messages.push((left, traces));
            (left, traces) = (rest, traces_rest);
        }
        futures_util::future::try_join_all(messages.into_iter().map(|(reservations, traces)| {
            let spans = publish_spans(&reservations, &traces);
            let traces = spans
                .iter()
                .zip(traces)
                .map(|(span, trace)| span.traceparent().unwrap_or(trace))
                .collect();
            async move {
                let published = self.queue.publish_traced(reservations, traces).await;
                if let Err(e) = &published {
                    spans.iter().for_each(|s| s.fail(e.to_string()));
                }
                published
            }
        }))
        .await?;
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
        if let Some(oldest) = oldest {
            let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
            self.config
                .metrics
                .relay_lag_ms
                .store(now.saturating_sub(oldest), std::sync::atomic::Ordering::Relaxed);
        }
        Ok(count)
    }

    /// `WAIT` for [`RelayConfig::replicas_ack`] replicas, in a pipeline with
    /// a read of `outbox` so that on a cluster it goes to the master that
    /// served the read. The read of the entries changed their consumer
    /// group on this connection after they were added, so the replicas
    /// that acknowledge it hold the entries too. Too few: the entries stay
    /// pending under this relay, published on a later pass.
    async fn wait_for_replicas(&self, outbox: &str) -> Result<(), RelayError> {
        let wanted = self.config.replicas_ack;
        if wanted == 0 {
            return Ok(());
        }
        let (acked,): (usize,) = redis::pipe()
            .cmd("XLEN")
            .arg(outbox)
            .ignore()
            .cmd("WAIT")
            .arg(wanted)
            .arg(crate::redis::REPLICAS_ACK_WAIT.as_millis() as u64)
            .query_async(&mut self.conn.clone())
            .await?;
        if acked < wanted {
            return Err(RelayError::Unreplicated { acked, wanted });
        }
        Ok(())
    }
}

/// One span per traced reservation, children of the purchases' spans, for
/// the time its message takes to be confirmed (none without tracing).
fn publish_spans(reservations: &[Reservation], traces: &[String]) -> Vec<Span> {
    reservations
        .iter()
        .zip(traces)
        .map(
            |(r, trace)| match trace.is_empty() || !flashsale_trace::enabled() {
                true => Span::none(),
                false => {
                    let span = Span::start("relay publish", Kind::Producer, Some(trace));
                    span.set("flashsale.order_id", r.order_id.to_string());
                    span
                }
            },
        )
        .collect()
}

/// The reservations of the entries. An entry no script could have written
/// is logged and acknowledged with the rest, so it cannot block the outbox.
fn decode(sale: SaleId, entries: Vec<StreamId>) -> Batch {
    let mut batch = Batch {
        ids: Vec::with_capacity(entries.len()),
        reservations: Vec::with_capacity(entries.len()),
        traces: Vec::with_capacity(entries.len()),
    };
    for entry in entries {
        let records = record::outbox_records(&entry);
        if records.is_empty() {
            tracing::error!(message = "Dropped an outbox entry with no record.", %sale, id = %entry.id);
        }
        let traces = record::outbox_traces(&entry, records.len());
        for (rec, trace) in records.into_iter().zip(traces) {
            match record::decode(sale, &rec) {
                Ok(r) => {
                    batch.reservations.push(r);
                    batch.traces.push(trace);
                }
                Err(error) => {
                    tracing::error!(message = "Dropped a malformed outbox record.", %sale, id = %entry.id, %error)
                }
            }
        }
        batch.ids.push(entry.id);
    }
    batch
}
