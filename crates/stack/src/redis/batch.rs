//! [`ReserveBatches`]: the reservations of one sale, sent to Redis in
//! batches, one script call for many buyers.
//!
//! A call of the reserve script costs Redis a fixed part (parsing, the
//! script's set-up, the sale's terms, the clock, the totals) and a part per
//! buyer; the fixed part was about 40% of the script's time under a
//! stampede (README, "Reservations in batches"). So requests of one sale
//! that arrive while that sale's batches are under way wait for the next
//! batch, and that batch decides each of them in arrival order, exactly as
//! separate calls would (see `lua/reserve.lua`). At most [`RUNNING`] batches
//! of a sale are under way at once, so a lone buyer never waits for a batch
//! to fill: with nothing under way its request goes at once, alone.
//!
//! A batch runs in a task of its own, not in any buyer's request: a buyer
//! who hangs up cannot take the other buyers' answers with them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flashsale_domain::{ReserveRequest, SaleId, StoreError};
use tokio::sync::oneshot;

use super::conn::RedisConn;
use super::keys::SaleKeys;
use super::scripts::Scripts;
use super::store_error;

/// Batches of one sale under way at once: one executing in Redis while the
/// next is on the wire.
const RUNNING: usize = 2;

/// The most reservations one script call decides by default: a full batch
/// holds Redis for about 1.5 ms (some 11 µs of script per reservation).
pub const DEFAULT_BATCH: usize = 128;

/// How long a reservation waits for its replicas' acknowledgement (`WAIT`)
/// before the buyers are told to retry.
pub const REPLICAS_ACK_WAIT: Duration = Duration::from_millis(500);

/// How reservations are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReserveOptions {
    /// The most requests of one sale per script call (1: each alone).
    pub max_batch: usize,
    /// Replicas that must acknowledge a batch's writes (`WAIT`) before any
    /// of its buyers is answered; 0: none. With them, a 202 survives the
    /// loss of the master's host.
    pub replicas_ack: usize,
}

impl Default for ReserveOptions {
    fn default() -> Self {
        Self {
            max_batch: DEFAULT_BATCH,
            replicas_ack: 0,
        }
    }
}

/// What the batching did since the store was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReserveBatchStats {
    /// Calls of the reserve script.
    pub calls: u64,
    /// Requests they decided.
    pub requests: u64,
}

impl ReserveBatchStats {
    /// The counters in Prometheus text format: their ratio is the mean batch.
    pub fn prometheus(&self) -> String {
        format!(
            "# HELP flashsale_reserve_script_calls_total Calls of the reserve script; each decides a batch of one sale's purchase requests.\n\
             # TYPE flashsale_reserve_script_calls_total counter\n\
             flashsale_reserve_script_calls_total {}\n\
             # HELP flashsale_reserve_requests_total Purchase requests the reserve script decided.\n\
             # TYPE flashsale_reserve_requests_total counter\n\
             flashsale_reserve_requests_total {}\n",
            self.calls, self.requests
        )
    }
}

/// One request's outcome as the script answers it: the outcome's name and
/// its detail ("" if none).
pub(super) type Answer = (String, String);

struct Waiter {
    request: ReserveRequest,
    /// The `traceparent` of the buyer's request ("" without tracing): kept
    /// beside its record in the outbox, so the relay and the consumer
    /// continue the purchase's trace.
    trace: String,
    answer: oneshot::Sender<Result<Answer, StoreError>>,
}

/// A sale's bucket, and the sale's bucket count (0 and 1 for a sale of
/// one): batches are per lane.
type LaneId = (SaleId, u32, u32);

/// The requests of one sale's bucket not yet sent, and its batches under way.
#[derive(Default)]
struct Lane {
    waiting: Vec<Waiter>,
    running: usize,
}

/// The batching of reservations, per sale, for one connection.
pub(super) struct ReserveBatches {
    conn: RedisConn,
    scripts: Arc<Scripts>,
    options: ReserveOptions,
    lanes: Mutex<HashMap<LaneId, Lane>>,
    calls: AtomicU64,
    requests: AtomicU64,
}

impl ReserveBatches {
    pub(super) fn new(conn: RedisConn, scripts: Arc<Scripts>, options: ReserveOptions) -> Self {
        Self {
            conn,
            scripts,
            options: ReserveOptions {
                max_batch: options.max_batch.max(1),
                ..options
            },
            lanes: Mutex::default(),
            calls: AtomicU64::new(0),
            requests: AtomicU64::new(0),
        }
    }

    pub(super) fn options(&self) -> ReserveOptions {
        self.options
    }

    pub(super) fn stats(&self) -> ReserveBatchStats {
        ReserveBatchStats {
            calls: self.calls.load(Relaxed),
            requests: self.requests.load(Relaxed),
        }
    }

    /// Decides `request` in the next batch of bucket `bucket` of its sale;
    /// with batches of 1, at once and alone, with no bound on the calls
    /// under way.
    pub(super) async fn reserve(
        self: &Arc<Self>,
        request: ReserveRequest,
        bucket: u32,
        buckets: u32,
    ) -> Result<Answer, StoreError> {
        let sale = (request.sale_id, bucket, buckets);
        let trace = flashsale_trace::current_traceparent().unwrap_or_default();
        if self.options.max_batch == 1 {
            let mut answers = self.call(sale, &[(&request, &trace)]).await?;
            return Ok(answers.remove(0));
        }
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let lane = lanes.entry(sale).or_default();
            lane.waiting.push(Waiter {
                request,
                trace,
                answer,
            });
            (lane.running < RUNNING).then(|| {
                lane.running += 1;
                self.next_batch(lane)
            })
        };
        if let Some(batch) = start {
            tokio::spawn(Arc::clone(self).run(sale, batch));
        }
        answered
            .await
            .map_err(|_| store_error("the reservation's batch was dropped"))?
    }

    /// Takes the oldest waiting requests, at most `max_batch`.
    fn next_batch(&self, lane: &mut Lane) -> Vec<Waiter> {
        let n = lane.waiting.len().min(self.options.max_batch);
        lane.waiting.drain(..n).collect()
    }

    /// Sends `batch`, then whatever of the sale waited meanwhile, until
    /// nothing waits. A failed call fails what waits too, at once: those
    /// requests were never sent (nothing was reserved for them), and
    /// behind a stalled Redis each batch would wait out the whole timeout
    /// in turn.
    async fn run(self: Arc<Self>, sale: LaneId, mut batch: Vec<Waiter>) {
        loop {
            let failed = self.send(sale, batch).await.err();
            let mut lanes = self.lanes.lock().unwrap_or_else(|e| e.into_inner());
            let Some(lane) = lanes.get_mut(&sale) else {
                return;
            };
            if let Some(error) = failed {
                for w in lane.waiting.drain(..) {
                    let _ = w.answer.send(Err(error.clone()));
                }
            }
            if lane.waiting.is_empty() {
                lane.running -= 1;
                if lane.running == 0 {
                    lanes.remove(&sale);
                }
                return;
            }
            batch = self.next_batch(lane);
        }
    }

    /// One script call for the whole batch; every waiter gets its answer,
    /// or the call's error (the reservations may still have been made: a
    /// timeout is no proof that the script did not run); the error is
    /// returned too.
    async fn send(&self, sale: LaneId, batch: Vec<Waiter>) -> Result<(), StoreError> {
        let requests: Vec<_> = batch.iter().map(|w| (&w.request, w.trace.as_str())).collect();
        match self.call(sale, &requests).await {
            Ok(answers) => {
                for (w, answer) in batch.into_iter().zip(answers) {
                    let _ = w.answer.send(Ok(answer));
                }
                Ok(())
            }
            Err(error) => {
                for w in batch {
                    let _ = w.answer.send(Err(error.clone()));
                }
                Err(error)
            }
        }
    }

    /// The reserve script over `requests` (each with its `traceparent`, or
    /// ""): one answer each, in order.
    async fn call(
        &self,
        (sale, bucket, buckets): LaneId,
        requests: &[(&ReserveRequest, &str)],
    ) -> Result<Vec<Answer>, StoreError> {
        self.calls.fetch_add(1, Relaxed);
        self.requests.fetch_add(requests.len() as u64, Relaxed);
        let keys = SaleKeys::bucket(sale, bucket, buckets);
        let mut call = self.scripts.reserve.prepare_invoke();
        call.key(&keys.state)
            .key(&keys.stock)
            .key(&keys.buyers)
            .key(&keys.idem)
            .key(&keys.inflight)
            .key(&keys.outbox)
            .arg(sale.to_string());
        for (r, trace) in requests {
            call.arg(r.order_id.to_string())
                .arg(r.user_id.as_str())
                .arg(r.quantity.get())
                .arg(r.idempotency_key.as_ref().map_or("", |k| k.as_str()))
                .arg(*trace);
        }
        let reply = if self.options.replicas_ack == 0 {
            call.invoke_async(&mut self.conn.clone())
                .await
                .map_err(store_error)?
        } else {
            self.invoke_acknowledged(&call).await?
        };
        if reply.len() != 2 * requests.len() {
            return Err(store_error(format!(
                "reserve: {} values for {} requests",
                reply.len(),
                requests.len()
            )));
        }
        let mut values = reply.into_iter();
        Ok(std::iter::from_fn(|| Some((values.next()?, values.next()?))).collect())
    }

    /// The script, then `WAIT` for the replicas, in one pipeline: on a
    /// cluster both go to the master of the sale's slot. `WAIT` covers every
    /// write this connection made before it, so a replayed answer is
    /// acknowledged with its first. Too few acknowledgements fail the call:
    /// its reservations stand in Redis, and the buyers' retries with their
    /// keys find them once the replicas have them.
    async fn invoke_acknowledged(
        &self,
        call: &redis::ScriptInvocation<'_>,
    ) -> Result<Vec<String>, StoreError> {
        let wanted = self.options.replicas_ack;
        let (reply, acked): (Vec<String>, usize) = invoke_then_wait(&self.conn, call, wanted)
            .await
            .map_err(store_error)?;
        if acked < wanted {
            return Err(store_error(format!(
                "{acked} of {wanted} replicas acknowledged the reservations within {REPLICAS_ACK_WAIT:?}"
            )));
        }
        Ok(reply)
    }
}

/// `call`, then `WAIT` for `replicas` replicas, in one pipeline, so on a
/// cluster both reach the master of the call's slot: the call's reply and
/// how many replicas acknowledged (within [`REPLICAS_ACK_WAIT`]).
pub(super) async fn invoke_then_wait<T: redis::FromRedisValue>(
    conn: &RedisConn,
    call: &redis::ScriptInvocation<'_>,
    replicas: usize,
) -> redis::RedisResult<(T, usize)> {
    let pipe = || {
        let mut pipe = redis::pipe();
        pipe.invoke_script(call)
            .cmd("WAIT")
            .arg(replicas)
            .arg(REPLICAS_ACK_WAIT.as_millis() as u64);
        pipe
    };
    let mut conn = conn.clone();
    match pipe().query_async(&mut conn).await {
        Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
            call.load_async(&mut conn).await?;
            pipe().query_async(&mut conn).await
        }
        other => other,
    }
}
