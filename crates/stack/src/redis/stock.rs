//! [`RedisStock`]: the [`StockStore`] on Redis, for any number of inventory
//! replicas at once.
//!
//! Every decision is one Lua script over the sale's keys (see `lua/`), so
//! Redis's single-threaded execution is the lock: two concurrent reserves
//! never both see the last unit, and `reserve` writes the outbox entry in
//! the same atomic step, which is what makes the 202 durable (as durable as
//! Redis's AOF, see [`super::Persistence`]). All calls share one
//! multiplexed connection, so concurrent reserves are pipelined on one
//! socket instead of queueing for a pool.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use flashsale_domain::{
    effective_state, IdempotencyKey, Order, OrderId, PurchaseRejection, Reservation, ReserveError,
    ReserveOutcome, ReserveRequest, SaleDraft, SaleId, SaleState, SaleTerms, StockChangeError, StockLevel,
    StockOpError, StockStore, StoreError, Transition, UserId,
};
use redis::{RedisError, RedisResult};

use super::batch::{ReserveBatchStats, ReserveBatches, ReserveOptions};
use super::buckets::{home, BucketCounts, StealLocks};
use super::conn::{RedisConn, RedisNodes};
use super::keys::{SaleKeys, RELAY_GROUP, SALES_INDEX};
use super::persistence::RedisProfile;
use super::record::{self, micros};
use super::scripts::{scripts, Scripts};
use super::store_error;
use super::transfers::Transfers;
use super::units_back::publish_units_back;

/// How many times a transition retries when the state moved under it.
const TRANSITION_ATTEMPTS: usize = 64;
/// The most order ids or records one `settle.lua` call takes.
const SETTLE_CHUNK: usize = 1000;

/// How long a call waits for Redis's answer by default. Long enough for a
/// slow link (hundreds of ms) to go on selling, shorter than the gateway's
/// 5 s wait for the inventory service.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The live stock of every sale, in Redis. Cheap to clone: clones share the
/// connection.
#[derive(Clone)]
pub struct RedisStock {
    /// Every node named, for connections of their own: pub/sub on any that
    /// answers, the relay's blocking reads on the first (one Redis only).
    nodes: RedisNodes,
    conn: RedisConn,
    pub(super) scripts: Arc<Scripts>,
    batches: Arc<ReserveBatches>,
    /// Each sale's bucket count (see the `buckets` module).
    buckets: Arc<BucketCounts>,
    steal_locks: Arc<StealLocks>,
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    #[error("invalid Redis URL: {0}")]
    Url(#[source] redis::RedisError),
    #[error("cannot reach Redis: {0}")]
    Connect(#[source] redis::RedisError),
}

impl RedisStock {
    /// Connects to `url` (`redis://host:port/db`, or a cluster's nodes,
    /// comma-separated: see [`super::conn`]) with the
    /// [`DEFAULT_RESPONSE_TIMEOUT`].
    pub async fn connect(url: &str) -> Result<Self, RedisSetupError> {
        Self::connect_with(url, DEFAULT_RESPONSE_TIMEOUT).await
    }

    /// Connects to `url`; a call with no answer within `response_timeout`
    /// fails with [`StoreError`] (a reservation may still have been made:
    /// the buyer's retry with the same Idempotency-Key finds it). The
    /// connection reconnects by itself; calls made while Redis is away fail.
    pub async fn connect_with(url: &str, response_timeout: Duration) -> Result<Self, RedisSetupError> {
        let nodes = RedisNodes::open(url).map_err(RedisSetupError::Url)?;
        let conn = RedisConn::connect(url, response_timeout)
            .await
            .map_err(|e| match e.kind() {
                redis::ErrorKind::InvalidClientConfig => RedisSetupError::Url(e),
                _ => RedisSetupError::Connect(e),
            })?;
        Ok(Self::new(nodes, conn, ReserveOptions::default()))
    }

    fn new(nodes: RedisNodes, conn: RedisConn, options: ReserveOptions) -> Self {
        let scripts = scripts();
        let batches = Arc::new(ReserveBatches::new(conn.clone(), scripts.clone(), options));
        Self {
            nodes,
            conn,
            scripts,
            batches,
            buckets: Arc::default(),
            steal_locks: Arc::default(),
        }
    }

    /// How many buckets `sale`'s live stock is split into (1 for most).
    pub async fn buckets_of(&self, sale: SaleId) -> Result<u32, StoreError> {
        self.buckets.of(&self.conn, sale).await.map_err(store_error)
    }

    /// The keys of every bucket of `sale`, bucket 0 first.
    pub async fn bucket_keys(&self, sale: SaleId) -> Result<Vec<SaleKeys>, StoreError> {
        Ok(SaleKeys::buckets(sale, self.buckets_of(sale).await?))
    }

    /// The keys of `user`'s home bucket in `sale`.
    async fn home_keys(&self, sale: SaleId, user: &UserId) -> Result<SaleKeys, StoreError> {
        let buckets = self.buckets_of(sale).await?;
        Ok(SaleKeys::bucket(sale, home(user, buckets), buckets))
    }

    /// Transfers between this store's buckets, waiting for the replicas
    /// its reservations wait for.
    pub fn transfers(&self) -> Transfers {
        Transfers::new(self.conn.clone()).with_replicas_ack(self.replicas_ack())
    }

    pub(super) fn steal_locks(&self) -> &StealLocks {
        &self.steal_locks
    }

    /// The client of the first node named: the relay's blocking reads on
    /// one Redis.
    pub fn client(&self) -> &redis::Client {
        self.nodes.first()
    }

    /// Every node named, for subscriptions (see [`RedisNodes`]).
    pub fn nodes(&self) -> &RedisNodes {
        &self.nodes
    }

    /// A handle on the shared multiplexed connection.
    pub fn connection(&self) -> RedisConn {
        self.conn.clone()
    }

    /// Whether the store is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.conn.is_cluster()
    }

    /// Redis's version, eviction policy and persistence, for the start-up
    /// checks and health; on a cluster, the first node's.
    pub async fn profile(&self) -> Result<RedisProfile, StoreError> {
        match &self.conn {
            RedisConn::Single(conn) => RedisProfile::read(&mut conn.clone()).await,
            RedisConn::Cluster(_) => {
                let mut node = self.nodes.connection().await.map_err(store_error)?;
                RedisProfile::read(&mut node).await
            }
        }
        .map_err(store_error)
    }

    /// How many script calls decided how many reservations so far.
    pub fn reserve_batch_stats(&self) -> ReserveBatchStats {
        self.batches.stats()
    }

    /// The same store deciding at most `max_batch` reservations of a sale
    /// per script call (1: each alone). See the `batch` module.
    pub fn with_reserve_batch(self, max_batch: usize) -> Self {
        let options = ReserveOptions {
            max_batch,
            ..self.batches.options()
        };
        Self::new(self.nodes, self.conn, options)
    }

    /// The same store answering a reservation only once `replicas` replicas
    /// acknowledged it (`WAIT`; 0: at once). See [`ReserveOptions`].
    /// Replicas that must acknowledge a write before it is answered (or,
    /// for the relay, published): see [`ReserveOptions::replicas_ack`].
    pub fn replicas_ack(&self) -> usize {
        self.batches.options().replicas_ack
    }

    pub fn with_replicas_ack(self, replicas: usize) -> Self {
        let options = ReserveOptions {
            replicas_ack: replicas,
            ..self.batches.options()
        };
        Self::new(self.nodes, self.conn, options)
    }

    /// Every sale loaded into Redis.
    pub async fn sales(&self) -> Result<Vec<SaleId>, StoreError> {
        let raw: Vec<String> = self
            .retrying(dropped, |mut conn| async move {
                redis::cmd("SMEMBERS")
                    .arg(SALES_INDEX)
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        Ok(raw.iter().filter_map(|s| SaleId::parse(s).ok()).collect())
    }

    /// Keys in this Redis database (on a cluster, summed over its masters),
    /// and sales loaded: what the engine costs Redis, for `/api/health`. Two
    /// O(1) calls, apart: on a cluster they go to different nodes.
    pub async fn footprint(&self) -> Result<(u64, u64), StoreError> {
        let mut conn = self.conn.clone();
        let keys: u64 = redis::cmd("DBSIZE")
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        let sales: u64 = redis::cmd("SCARD")
            .arg(SALES_INDEX)
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        Ok((keys, sales))
    }

    /// Units answered and not yet stored, over every sale: what shutdown
    /// waits for before it stops the consumer.
    pub async fn units_in_flight(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        for sale in self.sales().await? {
            total += self.level(sale).await?.map_or(0, |l| l.in_flight);
        }
        Ok(total)
    }

    /// The reservations of `sale` answered and not yet stored.
    pub async fn in_flight(&self, sale: SaleId) -> Result<Vec<Reservation>, StoreError> {
        self.in_flight_before(sale, DateTime::<Utc>::MAX_UTC).await
    }

    /// The reservations of `sale` answered before `before` and not yet
    /// stored. Read in pages (HSCAN), keeping only those: during a stampede
    /// tens of thousands are in flight for a moment, and the sweeper wants
    /// the few old ones.
    pub async fn in_flight_before(
        &self,
        sale: SaleId,
        before: DateTime<Utc>,
    ) -> Result<Vec<Reservation>, StoreError> {
        let mut old = Vec::new();
        for keys in self.bucket_keys(sale).await? {
            self.in_flight_of(&keys.inflight, sale, before, &mut old).await?;
        }
        Ok(old)
    }

    /// [`Self::in_flight_before`] on one bucket's in-flight hash.
    async fn in_flight_of(
        &self,
        inflight: &str,
        sale: SaleId,
        before: DateTime<Utc>,
        old: &mut Vec<Reservation>,
    ) -> Result<(), StoreError> {
        let mut cursor = 0_u64;
        loop {
            let (next, page): (u64, Vec<(String, String)>) = self
                .retrying(dropped, |mut conn| {
                    let cmd = redis::cmd("HSCAN")
                        .arg(inflight)
                        .arg(cursor)
                        .arg("COUNT")
                        .arg(1000)
                        .to_owned();
                    async move { cmd.query_async(&mut conn).await }
                })
                .await?;
            for (_, rec) in &page {
                let r = record::decode(sale, rec).map_err(store_error)?;
                if r.reserved_at < before {
                    old.push(r);
                }
            }
            if next == 0 {
                return Ok(());
            }
            cursor = next;
        }
    }

    /// Runs `call`, and once more if the first attempt found the connection
    /// dropped: the first call after Redis restarted meets the dead socket,
    /// and the connection manager has reconnected by the second. Only for
    /// calls that are safe to repeat; reservations and stock changes are left to the caller's retry.
    pub(super) async fn retrying<T, Fut>(
        &self,
        repeatable: fn(&RedisError) -> bool,
        call: impl Fn(RedisConn) -> Fut,
    ) -> Result<T, StoreError>
    where
        Fut: Future<Output = RedisResult<T>>,
    {
        match call(self.conn.clone()).await {
            Err(e) if repeatable(&e) => {
                tracing::debug!(message = "Redis connection dropped; retrying once.", error = %e);
                call(self.conn.clone()).await.map_err(store_error)
            }
            other => other.map_err(store_error),
        }
    }

    /// The reservation `order` of `sale` as it was answered, if it is in
    /// flight.
    pub async fn in_flight_one(
        &self,
        sale: SaleId,
        order: OrderId,
    ) -> Result<Option<Reservation>, StoreError> {
        for keys in self.bucket_keys(sale).await? {
            let rec: Option<String> = self
                .retrying(dropped, |mut conn| {
                    let cmd = redis::cmd("HGET")
                        .arg(&keys.inflight)
                        .arg(order.to_string())
                        .to_owned();
                    async move { cmd.query_async(&mut conn).await }
                })
                .await?;
            if let Some(rec) = rec {
                return record::decode(sale, &rec).map(Some).map_err(store_error);
            }
        }
        Ok(None)
    }

    /// Gives back the units of a reservation still in flight; returns how
    /// many (0 if it is not in flight). Only for a reservation the ledger
    /// decided void, or one never answered: see [`crate::Sweeper`].
    pub async fn release_in_flight(&self, reservation: &Reservation) -> Result<u64, StoreError> {
        let keys = self.home_keys(reservation.sale_id, &reservation.user_id).await?;
        let units: i64 = self
            .retrying(dropped, |mut conn| {
                let mut invocation = self.scripts.release.prepare_invoke();
                invocation
                    .key(&keys.state)
                    .key(&keys.stock)
                    .key(&keys.buyers)
                    .key(&keys.idem)
                    .key(&keys.inflight)
                    .arg(reservation.order_id.to_string());
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await?;
        // Announced even when nothing was in flight: a first attempt whose
        // reply was lost may have released the units, and replicas must
        // stop refusing buyers either way (a spurious announce costs one
        // reserve that sets the flag again).
        self.announce_units_back(reservation.sale_id).await;
        Ok(units.max(0) as u64)
    }

    /// Runs `give_back.lua`; see [`StockStore::give_back`].
    async fn give_back_units(&self, order: &Order) -> Result<u64, StoreError> {
        let keys = self.home_keys(order.sale_id, &order.user_id).await?;
        let units: i64 = self
            .retrying(dropped, |mut conn| {
                let mut invocation = self.scripts.give_back.prepare_invoke();
                invocation
                    .key(&keys.state)
                    .key(&keys.stock)
                    .key(&keys.buyers)
                    .key(&keys.inflight)
                    .key(&keys.settled)
                    .key(&keys.given_back)
                    .arg(order.order_id.to_string())
                    .arg(order.user_id.as_str())
                    .arg(order.quantity.get());
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await?;
        Ok(units.max(0) as u64)
    }

    /// Settles reservations the consumer stored. One Redis forgot (it lost
    /// data while the consumer held it) is counted too, from its record,
    /// sent only when the script asks for it (see `lua/settle.lua`).
    /// Each reservation is settled in its buyer's home bucket.
    pub async fn settle_stored(&self, sale: SaleId, stored: &[Reservation]) -> Result<(), StoreError> {
        let buckets = self.buckets_of(sale).await?;
        for (k, keys) in SaleKeys::buckets(sale, buckets).iter().enumerate() {
            let here: Vec<&Reservation> = stored
                .iter()
                .filter(|r| home(&r.user_id, buckets) as usize == k)
                .collect();
            if here.is_empty() {
                continue;
            }
            let ids: Vec<String> = here.iter().map(|r| r.order_id.to_string()).collect();
            let wanted = self.settle_args(keys, &ids).await?;
            if wanted.is_empty() {
                continue;
            }
            let records: Vec<String> = here
                .iter()
                .filter(|r| wanted.contains(&r.order_id.to_string()))
                .map(|r| record::encode(r))
                .collect();
            self.settle_args(keys, &records).await?;
        }
        Ok(())
    }

    /// Runs `settle.lua`; returns the ids whose record it wants. At most
    /// [`SETTLE_CHUNK`] arguments per call: the script unpacks them into
    /// one HMGET, and Lua unpacks at most some 8,000 values.
    async fn settle_args(&self, keys: &SaleKeys, args: &[String]) -> Result<Vec<String>, StoreError> {
        let mut wanted = Vec::new();
        for chunk in args.chunks(SETTLE_CHUNK) {
            let more = self
                .retrying(dropped, |mut conn| {
                    let mut invocation = self.scripts.settle.prepare_invoke();
                    invocation
                        .key(&keys.state)
                        .key(&keys.inflight)
                        .key(&keys.rebuild)
                        .key(&keys.settled)
                        .key(&keys.counted)
                        .key(&keys.stock)
                        .key(&keys.buyers)
                        .key(&keys.idem)
                        .key(&keys.given_back);
                    for arg in chunk {
                        invocation.arg(arg);
                    }
                    async move { invocation.invoke_async::<Vec<String>>(&mut conn).await }
                })
                .await?;
            wanted.extend(more);
        }
        Ok(wanted)
    }

    /// The order ids still in `sale`'s outbox: answered, not yet published
    /// (or published by a relay that died before acknowledging them).
    pub async fn outbox_orders(&self, sale: SaleId) -> Result<HashSet<OrderId>, StoreError> {
        let mut orders = HashSet::new();
        for keys in self.bucket_keys(sale).await? {
            let reply: redis::streams::StreamRangeReply = self
                .retrying(dropped, |mut conn| {
                    let cmd = redis::cmd("XRANGE")
                        .arg(&keys.outbox)
                        .arg("-")
                        .arg("+")
                        .to_owned();
                    async move { cmd.query_async(&mut conn).await }
                })
                .await?;
            orders.extend(
                reply
                    .ids
                    .iter()
                    .flat_map(record::outbox_records)
                    .filter_map(|rec| rec.split('\n').next().and_then(|id| OrderId::parse(id).ok())),
            );
        }
        Ok(orders)
    }

    /// Tells every replica that units of `sale` came back. A failure is
    /// logged, not returned: the units are back either way, and subscribers
    /// clear every flag when they reconnect.
    pub async fn announce_units_back(&self, sale: SaleId) {
        // On a cluster a keyless `PUBLISH` goes to any node, maybe one just
        // lost: another try goes elsewhere.
        let mut tries = 0;
        while let Err(error) = publish_units_back(&mut self.conn.clone(), sale).await {
            tries += 1;
            if tries == 3 {
                tracing::warn!(message = "Failed to announce units back.", %error, %sale);
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn terms_of(&self, sale: SaleId) -> Result<Option<(String, String, String)>, StoreError> {
        let keys = SaleKeys::new(sale);
        let t: Vec<Option<String>> = self
            .retrying(dropped, |mut conn| {
                let cmd = redis::cmd("HMGET")
                    .arg(&keys.state)
                    .arg("state")
                    .arg("starts_at")
                    .arg("ends_at")
                    .to_owned();
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        match &t[..] {
            [Some(state), starts, ends] => Ok(Some((
                state.clone(),
                starts.clone().unwrap_or_default(),
                ends.clone().unwrap_or_default(),
            ))),
            _ => Ok(None),
        }
    }
}

/// A dropped or refused connection: such a call may be repeated if it is
/// idempotent. Reservations and stock changes are not repeated: the
/// buyer's retry with an Idempotency-Key (or the operator's) is safe.
pub(super) fn dropped(e: &RedisError) -> bool {
    e.is_connection_dropped() || e.is_connection_refusal()
}

fn parse_time(raw: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_micros)
        .map(Some)
        .ok_or_else(|| store_error(format!("malformed time {raw:?}")))
}

fn parse_state(raw: &str) -> Result<SaleState, StoreError> {
    SaleState::parse(raw).ok_or_else(|| store_error(format!("malformed state {raw:?}")))
}

fn number<T: std::str::FromStr>(raw: Option<&String>) -> Result<T, StoreError> {
    raw.and_then(|s| s.parse().ok())
        .ok_or_else(|| store_error(format!("malformed number {raw:?}")))
}

/// `[state, stock, in_flight, persisted, remaining]` as the scripts return it.
pub(crate) fn parse_level(raw: &[String]) -> Result<StockLevel, StoreError> {
    let [state, stock, in_flight, persisted, remaining] = raw else {
        return Err(store_error("malformed level"));
    };
    let signed = |s: &String| -> Result<u64, StoreError> {
        let n: i64 = number(Some(s))?;
        Ok(n.max(0) as u64)
    };
    Ok(StockLevel {
        state: parse_state(state)?,
        stock: signed(stock)?,
        remaining: signed(remaining)?,
        in_flight: signed(in_flight)?,
        persisted: signed(persisted)?,
    })
}

/// The share of `stock` bucket `k` of `buckets` starts with.
fn share(stock: u64, buckets: u32, k: u32) -> u64 {
    let b = u64::from(buckets.max(1));
    stock / b + u64::from(u64::from(k) < stock % b)
}

/// The calls of the store on one bucket of a sale.
impl RedisStock {
    /// The bucket count `sale` has in Redis, without the cache: `None`
    /// when Redis does not hold the sale.
    async fn stored_buckets(&self, sale: SaleId) -> Result<Option<u32>, StoreError> {
        let state = SaleKeys::new(sale).state;
        let (known, buckets): (Option<String>, Option<u32>) = self
            .retrying(dropped, |mut conn| {
                let cmd = redis::cmd("HMGET")
                    .arg(&state)
                    .arg("state")
                    .arg("buckets")
                    .to_owned();
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        Ok(known.map(|_| buckets.unwrap_or(1).max(1)))
    }

    /// `load.lua` on one bucket: `share` puts `stock` in only if the
    /// bucket is new.
    async fn load_bucket(
        &self,
        keys: &SaleKeys,
        terms: &SaleTerms,
        stock: u64,
        buckets: u32,
        share: bool,
    ) -> Result<(), StoreError> {
        self.retrying(dropped, |mut conn| {
            let mut invocation = self.scripts.load.prepare_invoke();
            invocation
                .key(&keys.state)
                .key(&keys.stock)
                .key(&keys.outbox)
                .arg(terms.state.as_str())
                .arg(stock)
                .arg(terms.per_user_limit)
                .arg(micros(terms.starts_at))
                .arg(micros(terms.ends_at))
                .arg(RELAY_GROUP)
                .arg(terms.prequeue_seconds)
                .arg(terms.fair_start_seconds)
                .arg(buckets)
                .arg(if share { "share" } else { "" });
            async move { invocation.invoke_async::<i64>(&mut conn).await }
        })
        .await
        .map(drop)
    }

    /// A purchase decided in bucket `k` of its sale.
    pub(super) async fn reserve_in(
        &self,
        request: ReserveRequest,
        k: u32,
        buckets: u32,
    ) -> Result<ReserveOutcome, ReserveError> {
        let sale = request.sale_id;
        let (outcome, detail) = self.batches.reserve(request, k, buckets).await?;
        let detail = Some(&detail);
        let decode = |rec: Option<&String>| {
            let rec = rec.ok_or_else(|| store_error("reserve: missing record"))?;
            record::decode(sale, rec).map_err(store_error)
        };
        let rejected = |r: PurchaseRejection| Err(ReserveError::Rejected(r));
        match outcome.as_str() {
            "reserved" => Ok(ReserveOutcome::Reserved(decode(detail)?)),
            "replayed" => Ok(ReserveOutcome::Replayed(decode(detail)?)),
            "not_found" => Err(ReserveError::SaleNotFound),
            "quantity_above_limit" => rejected(PurchaseRejection::QuantityAboveLimit {
                limit: number(detail)?,
            }),
            "not_active" => rejected(PurchaseRejection::SaleNotActive),
            "sold_out" => rejected(PurchaseRejection::SoldOut),
            "limit_exceeded" => rejected(PurchaseRejection::LimitExceeded {
                limit: number(detail)?,
            }),
            "not_enough_stock" => rejected(PurchaseRejection::NotEnoughStock {
                remaining: number(detail)?,
            }),
            other => Err(store_error(format!("reserve: unexpected outcome {other:?}")).into()),
        }
    }

    /// The compare-and-set of the state on bucket 0 (the sale's own).
    async fn transition_own(
        &self,
        sale: SaleId,
        t: Transition,
        now: DateTime<Utc>,
    ) -> Result<SaleState, StockOpError> {
        let keys = SaleKeys::new(sale);
        for _ in 0..TRANSITION_ATTEMPTS {
            let (state, starts, ends) = self.terms_of(sale).await?.ok_or(StockOpError::SaleNotFound)?;
            let current = effective_state(
                parse_state(&state)?,
                parse_time(&starts)?,
                parse_time(&ends)?,
                now,
            );
            let next = current.apply(t)?;
            let outcome: String = self
                .retrying(dropped, |mut conn| {
                    let mut invocation = self.scripts.transition.prepare_invoke();
                    invocation
                        .key(&keys.state)
                        .arg(&state)
                        .arg(&starts)
                        .arg(&ends)
                        .arg(next.as_str());
                    async move { invocation.invoke_async(&mut conn).await }
                })
                .await?;
            match outcome.as_str() {
                "ok" => return Ok(next),
                "not_found" => return Err(StockOpError::SaleNotFound),
                _ => continue,
            }
        }
        Err(store_error("transition: the state kept changing").into())
    }

    /// `adjust.lua` on bucket 0: the reply, as the script gives it.
    async fn adjust_own(
        &self,
        sale: SaleId,
        delta: i64,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, StoreError> {
        let keys = SaleKeys::new(sale);
        self.scripts
            .adjust
            .key(&keys.state)
            .key(&keys.stock)
            .arg(delta)
            .arg(now.timestamp_micros())
            .arg(SaleDraft::MAX_STOCK)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(store_error)
    }

    /// `forget.lua` on one bucket; `keep_level` keeps its state and stock
    /// (a bucket forgotten before bucket 0, whose level the sale's last
    /// level still sums).
    async fn forget_bucket(
        &self,
        keys: &SaleKeys,
        keep_level: bool,
    ) -> Result<Option<StockLevel>, StoreError> {
        let reply: Vec<String> = self
            .retrying(dropped, |mut conn| {
                let mut invocation = self.scripts.forget.prepare_invoke();
                for key in keys.all() {
                    invocation.key(key);
                }
                invocation.arg(if keep_level { "keep_level" } else { "" });
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await?;
        if reply.is_empty() {
            Ok(None)
        } else {
            parse_level(&reply).map(Some)
        }
    }

    /// Whether `key` exists.
    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        self.retrying(dropped, |mut conn| {
            let cmd = redis::cmd("EXISTS").arg(key).to_owned();
            async move { cmd.query_async(&mut conn).await }
        })
        .await
    }

    /// `level.lua` on one bucket, the units moving out of it counted as
    /// remaining.
    async fn level_of(&self, keys: &SaleKeys) -> Result<Option<StockLevel>, StoreError> {
        let reply: Vec<String> = self
            .retrying(dropped, |mut conn| {
                let mut invocation = self.scripts.level.prepare_invoke();
                invocation
                    .key(&keys.state)
                    .key(&keys.stock)
                    .key(&keys.place.moving);
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await?;
        if reply.is_empty() {
            return Ok(None);
        }
        parse_level(&reply).map(Some)
    }
}

/// The sum of the buckets' levels, in bucket 0's state.
fn summed(levels: impl IntoIterator<Item = StockLevel>) -> Option<StockLevel> {
    levels.into_iter().reduce(|sum, l| StockLevel {
        state: sum.state,
        stock: sum.stock + l.stock,
        remaining: sum.remaining + l.remaining,
        in_flight: sum.in_flight + l.in_flight,
        persisted: sum.persisted + l.persisted,
    })
}

#[async_trait]
impl StockStore for RedisStock {
    /// A new sale of several buckets gets its stock shared among them; a
    /// known one keeps its units where they are, a change of its total
    /// going to bucket 0. Bucket 0 is written last: once it holds the
    /// sale, every bucket does.
    async fn load(&self, terms: SaleTerms) -> Result<(), StoreError> {
        let buckets = match self.stored_buckets(terms.id).await? {
            Some(n) => n,
            None => terms.stock_buckets.clamp(1, SaleDraft::MAX_STOCK_BUCKETS),
        };
        let keys = SaleKeys::buckets(terms.id, buckets);
        let mut others = 0;
        for (k, bucket) in keys.iter().enumerate().skip(1) {
            self.load_bucket(
                bucket,
                &terms,
                share(terms.stock, buckets, k as u32),
                buckets,
                true,
            )
            .await?;
            let stock: Option<u64> = self
                .retrying(dropped, |mut conn| {
                    let cmd = redis::cmd("HGET").arg(&bucket.state).arg("stock").to_owned();
                    async move { cmd.query_async(&mut conn).await }
                })
                .await?;
            others += stock.unwrap_or(0);
        }
        self.load_bucket(
            &keys[0],
            &terms,
            terms.stock.saturating_sub(others),
            buckets,
            false,
        )
        .await?;
        self.retrying(dropped, |mut conn| {
            let index = redis::cmd("SADD")
                .arg(SALES_INDEX)
                .arg(terms.id.to_string())
                .to_owned();
            async move { index.query_async::<i64>(&mut conn).await }
        })
        .await?;
        Ok(())
    }

    async fn reserve(&self, request: ReserveRequest) -> Result<ReserveOutcome, ReserveError> {
        match self.buckets_of(request.sale_id).await? {
            1 => self.reserve_in(request, 0, 1).await,
            buckets => self.reserve_bucketed(request, buckets).await,
        }
    }

    async fn release(&self, reservation: &Reservation) -> Result<(), StoreError> {
        self.release_in_flight(reservation).await.map(drop)
    }

    async fn give_back(&self, order: &Order) -> Result<u64, StoreError> {
        let units = self.give_back_units(order).await?;
        // Even for 0: a first attempt whose reply was lost may have given
        // the units back (see `release_in_flight`).
        self.announce_units_back(order.sale_id).await;
        Ok(units)
    }

    /// Without the buyers, each bucket is asked: a bucket settles only the
    /// ids it holds in flight.
    async fn settle(&self, sale: SaleId, orders: &[OrderId]) -> Result<(), StoreError> {
        let ids: Vec<String> = orders.iter().map(OrderId::to_string).collect();
        for keys in self.bucket_keys(sale).await? {
            self.settle_args(&keys, &ids).await?;
        }
        Ok(())
    }

    /// On bucket 0, then copied to the other buckets (also after a refused
    /// transition, which mends a copy a crash left behind).
    async fn transition(
        &self,
        sale: SaleId,
        t: Transition,
        now: DateTime<Utc>,
    ) -> Result<SaleState, StockOpError> {
        let result = self.transition_own(sale, t, now).await;
        let buckets = self.buckets_of(sale).await?;
        if buckets > 1 && !matches!(result, Err(StockOpError::SaleNotFound)) {
            self.spread_terms(sale, buckets).await?;
        }
        result
    }

    /// Decided on bucket 0; a withdrawal first gathers every bucket's
    /// units there, so it is refused only when the whole sale is short.
    async fn adjust(&self, sale: SaleId, delta: i64, now: DateTime<Utc>) -> Result<StockLevel, StockOpError> {
        let buckets = self.buckets_of(sale).await?;
        if buckets > 1 && delta < 0 {
            self.gather(sale, buckets).await?;
        }
        let reply = self.adjust_own(sale, delta, now).await?;
        let change = |e: StockChangeError| Err(StockOpError::Change(e));
        match reply.first().map(String::as_str) {
            Some("ok") => {
                if delta > 0 {
                    self.announce_units_back(sale).await;
                }
                if buckets > 1 {
                    return self.level(sale).await?.ok_or(StockOpError::SaleNotFound);
                }
                Ok(parse_level(&reply[1..])?)
            }
            Some("not_found") => Err(StockOpError::SaleNotFound),
            Some("ended") => change(StockChangeError::Ended),
            Some("zero") => change(StockChangeError::Zero),
            Some("too_large") => change(StockChangeError::TooLarge),
            Some("below_zero") => change(StockChangeError::BelowZero {
                requested: delta.unsigned_abs(),
                remaining: number(reply.get(1))?,
            }),
            other => Err(store_error(format!("adjust: unexpected reply {other:?}")).into()),
        }
    }

    async fn first_answer(
        &self,
        sale: SaleId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<Reservation>, StoreError> {
        let idem = self.home_keys(sale, user).await?.idem;
        let field = format!("{user}\n{}", key.as_str());
        let rec: Option<String> = self
            .retrying(dropped, |mut conn| {
                let cmd = redis::cmd("HGET").arg(&idem).arg(&field).to_owned();
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        rec.map(|rec| record::decode(sale, &rec).map_err(store_error))
            .transpose()
    }

    /// Buckets 1.. first, keeping their counters, then bucket 0 (the
    /// sale's own keys, which say how many buckets there are), then the
    /// counters of the others: a call cut anywhere is finished by the next,
    /// and the last level sums every bucket.
    async fn forget(&self, sale: SaleId) -> Result<Option<StockLevel>, StoreError> {
        let keys = self.bucket_keys(sale).await?;
        for bucket in &keys[1..] {
            // A bucket already gone was forgotten by an earlier call.
            if self.forget_bucket(bucket, true).await?.is_none() && self.exists(&bucket.state).await? {
                return Ok(None);
            }
        }
        let mut levels = Vec::with_capacity(keys.len());
        for bucket in &keys[1..] {
            levels.extend(self.level_of(bucket).await?);
        }
        let forgotten = match self.forget_bucket(&keys[0], false).await? {
            Some(own) => summed(std::iter::once(own).chain(levels)),
            None => None,
        };
        let own_gone = !self.exists(&keys[0].state).await?;
        if own_gone {
            for bucket in &keys[1..] {
                // One bucket's keys per call: on a cluster they share a slot.
                self.retrying(dropped, |mut conn| {
                    let cmd = redis::cmd("DEL").arg(&bucket.state).arg(&bucket.stock).to_owned();
                    async move { cmd.query_async::<i64>(&mut conn).await }
                })
                .await?;
            }
            // Apart from the script: on a cluster the index lives in
            // another slot. A sale whose keys are gone (forgotten now, or
            // by an earlier call whose answer was lost) leaves the index.
            self.retrying(dropped, |mut conn| {
                let cmd = redis::cmd("SREM")
                    .arg(SALES_INDEX)
                    .arg(sale.to_string())
                    .to_owned();
                async move { cmd.query_async::<i64>(&mut conn).await }
            })
            .await?;
        }
        Ok(forgotten)
    }

    async fn terms(&self, sale: SaleId) -> Result<Option<SaleTerms>, StoreError> {
        let keys = SaleKeys::new(sale);
        let fields: Vec<Option<String>> = self
            .retrying(dropped, |mut conn| {
                let cmd = redis::cmd("HMGET")
                    .arg(&keys.state)
                    .arg(&[
                        "state",
                        "stock",
                        "limit",
                        "starts_at",
                        "ends_at",
                        "prequeue",
                        "fair_start",
                        "buckets",
                    ])
                    .to_owned();
                async move { cmd.query_async(&mut conn).await }
            })
            .await?;
        let [Some(state), stock, limit, starts, ends, prequeue, fair_start, buckets] = fields.as_slice()
        else {
            return Ok(None);
        };
        let text = |f: &Option<String>| f.clone().unwrap_or_default();
        // Sales loaded before fair starts (or buckets) existed have no such
        // fields.
        let seconds = |f: &Option<String>| f.as_ref().map_or(Ok(0), |raw| number(Some(raw)));
        let stock_buckets: u32 = buckets.as_ref().map_or(Ok(1), |raw| number(Some(raw)))?;
        let stock = match self.level(sale).await? {
            Some(level) if stock_buckets > 1 => level.stock,
            _ => number(stock.as_ref())?,
        };
        Ok(Some(SaleTerms {
            id: sale,
            state: parse_state(state)?,
            stock,
            per_user_limit: number(limit.as_ref())?,
            starts_at: parse_time(&text(starts))?,
            ends_at: parse_time(&text(ends))?,
            prequeue_seconds: seconds(prequeue)?,
            fair_start_seconds: seconds(fair_start)?,
            stock_buckets,
        }))
    }

    /// Summed over the buckets, units moving between them counted as
    /// remaining; the state is bucket 0's.
    async fn level(&self, sale: SaleId) -> Result<Option<StockLevel>, StoreError> {
        let keys = self.bucket_keys(sale).await?;
        let Some(own) = self.level_of(&keys[0]).await? else {
            return Ok(None);
        };
        let mut levels = vec![own];
        for bucket in &keys[1..] {
            levels.extend(self.level_of(bucket).await?);
        }
        Ok(summed(levels))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_to_the_stock() {
        for (stock, buckets) in [(10, 4), (3, 3), (1_000_001, 16), (7, 1)] {
            let shares: Vec<u64> = (0..buckets).map(|k| share(stock, buckets, k)).collect();
            assert_eq!(shares.iter().sum::<u64>(), stock);
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
        }
    }
}
