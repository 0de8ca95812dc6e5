//! The stampede: buyers who behave as a careful client should. Each
//! purchase has its own `Idempotency-Key`; after a transport error, a time-out,
//! a 503 or a 429 the buyer sends the same request again, with the same key,
//! on the next gateway, until a definitive answer (202, or a 4xx refusal) or
//! the retry budget runs out. So every unit a buyer was told is theirs is
//! known by order id, and can be matched against the stores afterwards.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use flashsale_testkit::http::Conn;
use hyper::Method;
use serde_json::json;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// What to fire.
#[derive(Debug, Clone)]
pub struct Spec {
    pub sale: String,
    pub gateways: Vec<SocketAddr>,
    /// Purchases (each one request, plus its retries).
    pub purchases: usize,
    /// Buyers: purchase `i` is made by buyer `i % users`, so most buyers
    /// try more than their limit allows.
    pub users: usize,
    /// Buyer ids are `<prefix><n>`, keys `<prefix>k<i>`.
    pub prefix: String,
    /// Purchases started per second (0: as fast as the workers go).
    pub rate: f64,
    /// Concurrent connections (per gateway, one each).
    pub workers: usize,
    /// Every fifth purchase asks for this many units (1 otherwise).
    pub big_quantity: u32,
    /// How long one attempt may take before the buyer gives up on it and
    /// retries (the gateway's own upstream time-out is 5 s).
    pub request_timeout: Duration,
    /// How long a purchase keeps retrying before the buyer gives up.
    pub retry_budget: Duration,
    /// Stop starting purchases once one is refused `sold_out` (the final
    /// wave: buy what is left, then stop).
    pub stop_when_sold_out: bool,
}

/// A 202.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub order_id: String,
    pub user: String,
    pub key: String,
    pub quantity: u32,
}

/// One attempt, for rates and latency over time.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Since the stampede began.
    pub at: Duration,
    pub latency: Duration,
    /// 0 for a transport error or a time-out.
    pub status: u16,
}

/// Counters the scenario watches while the stampede runs.
#[derive(Debug, Default)]
pub struct Live {
    /// Units answered 202.
    pub units: AtomicU64,
    /// Purchases finished (any outcome).
    pub done: AtomicU64,
    /// Set by the scenario to end the stampede early.
    pub stop: AtomicBool,
    /// 202s marked replayed: a retry found the reservation of an attempt
    /// whose answer was lost.
    pub replayed: AtomicU64,
}

/// What the stampede saw.
#[derive(Debug, Default)]
pub struct Outcome {
    pub accepted: Vec<Accepted>,
    /// Definitive refusals by code.
    pub refused: BTreeMap<String, u64>,
    /// HTTP requests sent, retries included.
    pub requests: u64,
    pub retries: u64,
    pub transport_errors: u64,
    pub unavailable: u64,
    pub rate_limited: u64,
    /// 202s that carried `Idempotent-Replayed: true`: the first answer,
    /// lost on its way, given again.
    pub replayed: u64,
    /// Answers the contract does not allow (a 5xx other than 503, an error
    /// without the error body, a 400 to a well-formed purchase).
    pub undocumented: Vec<String>,
    /// Purchases abandoned after the retry budget.
    pub gave_up: u64,
    pub samples: Vec<Sample>,
    pub elapsed: Duration,
}

impl Outcome {
    pub fn units(&self) -> u64 {
        self.accepted.iter().map(|a| u64::from(a.quantity)).sum()
    }
}

/// Runs the stampede to its end (every purchase answered or abandoned).
pub async fn run(spec: Spec, live: Arc<Live>) -> Outcome {
    let spec = Arc::new(spec);
    let next = Arc::new(AtomicUsize::new(0));
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let started = Instant::now();
    let workers: Vec<_> = (0..spec.workers)
        .map(|_| {
            let (spec, next, outcome, live) = (spec.clone(), next.clone(), outcome.clone(), live.clone());
            tokio::spawn(async move { worker(&spec, &next, &outcome, &live, started).await })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let mut outcome = Arc::try_unwrap(outcome)
        .map(Mutex::into_inner)
        .unwrap_or_default();
    outcome.elapsed = started.elapsed();
    outcome.samples.sort_by_key(|s| s.at);
    outcome
}

async fn worker(spec: &Spec, next: &AtomicUsize, outcome: &Mutex<Outcome>, live: &Live, started: Instant) {
    let mut conns: Vec<Conn> = spec.gateways.iter().map(|a| Conn::new(*a)).collect();
    let mut samples = Vec::new();
    let mut local = Outcome::default();
    loop {
        if live.stop.load(Ordering::Relaxed) {
            break;
        }
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= spec.purchases {
            break;
        }
        if spec.rate > 0.0 {
            tokio::time::sleep_until(started + Duration::from_secs_f64(i as f64 / spec.rate)).await;
        }
        let user = format!("{}{}", spec.prefix, i % spec.users);
        let key = format!("{}k{i}", spec.prefix);
        let quantity = if i % 5 == 4 { spec.big_quantity } else { 1 };
        let token = format!("Bearer {}", crate::process::buyer(&user));
        let body = hyper::body::Bytes::from(json!({ "quantity": quantity }).to_string());
        let path = format!("/api/sales/{}/purchase", spec.sale);
        let began = Instant::now();
        let mut gateway = i % conns.len();
        let mut attempt: u32 = 0;
        loop {
            if began.elapsed() > spec.retry_budget {
                local.gave_up += 1;
                break;
            }
            attempt += 1;
            if attempt > 1 {
                local.retries += 1;
            }
            local.requests += 1;
            let sent = Instant::now();
            let answer = conns[gateway]
                .request(
                    Method::POST,
                    &path,
                    &[("authorization", &token), ("idempotency-key", &key)],
                    Some(body.clone()),
                    Some(spec.request_timeout),
                )
                .await;
            samples.push(Sample {
                at: sent - started,
                latency: sent.elapsed(),
                status: answer.as_ref().map_or(0, |a| a.status),
            });
            let pause = match answer {
                Ok(a) if a.status == 202 => {
                    let id = a.json()["order_id"].as_str().map(str::to_owned);
                    match id {
                        Some(order_id) => {
                            if a.replayed {
                                local.replayed += 1;
                                live.replayed.fetch_add(1, Ordering::Relaxed);
                            }
                            live.units.fetch_add(u64::from(quantity), Ordering::Relaxed);
                            local.accepted.push(Accepted {
                                order_id,
                                user: user.clone(),
                                key: key.clone(),
                                quantity,
                            });
                        }
                        None => local.undocumented.push(format!(
                            "202 without an order id: {}",
                            String::from_utf8_lossy(&a.body)
                        )),
                    }
                    break;
                }
                Ok(a) if a.status == 409 => {
                    let code = a.code().unwrap_or_else(|| "<no error body>".into());
                    if code == "sold_out" && spec.stop_when_sold_out {
                        live.stop.store(true, Ordering::Relaxed);
                    }
                    *local.refused.entry(code).or_default() += 1;
                    break;
                }
                Ok(a) if a.status == 503 || a.status == 429 => {
                    if a.status == 503 {
                        local.unavailable += 1;
                    } else {
                        local.rate_limited += 1;
                    }
                    if a.code().is_none() {
                        local
                            .undocumented
                            .push(format!("{} without an error body", a.status));
                    }
                    gateway = (gateway + 1) % conns.len();
                    backoff(attempt, a.retry_after)
                }
                Ok(a) => {
                    // Not a refusal the contract allows for this request:
                    // note it, and retry (the unit may be owed).
                    local.undocumented.push(format!(
                        "{} {}",
                        a.status,
                        String::from_utf8_lossy(&a.body[..a.body.len().min(200)])
                    ));
                    gateway = (gateway + 1) % conns.len();
                    backoff(attempt, None)
                }
                Err(_) => {
                    local.transport_errors += 1;
                    gateway = (gateway + 1) % conns.len();
                    backoff(attempt, None)
                }
            };
            tokio::time::sleep(pause).await;
        }
        live.done.fetch_add(1, Ordering::Relaxed);
    }
    let mut o = outcome.lock().await;
    o.accepted.append(&mut local.accepted);
    for (code, n) in local.refused {
        *o.refused.entry(code).or_default() += n;
    }
    o.requests += local.requests;
    o.retries += local.retries;
    o.transport_errors += local.transport_errors;
    o.unavailable += local.unavailable;
    o.rate_limited += local.rate_limited;
    o.replayed += local.replayed;
    o.undocumented.append(&mut local.undocumented);
    o.gave_up += local.gave_up;
    o.samples.append(&mut samples);
}

/// The pause before a retry: `Retry-After` when given (at most a second),
/// else 50 ms more per attempt, at most 500 ms.
fn backoff(attempt: u32, retry_after: Option<u64>) -> Duration {
    match retry_after {
        Some(s) => Duration::from_secs(s.min(1)),
        None => Duration::from_millis(u64::from(attempt.min(10)) * 50),
    }
}

/// p99 latency and the share of 503s and transport errors among the
/// attempts sent between `from` and `to` (since the stampede began).
pub fn window(samples: &[Sample], from: Duration, to: Duration) -> (Duration, f64, usize) {
    let mut latencies: Vec<Duration> = Vec::new();
    let mut failed = 0usize;
    for s in samples.iter().filter(|s| s.at >= from && s.at <= to) {
        latencies.push(s.latency);
        if s.status == 0 || s.status == 503 {
            failed += 1;
        }
    }
    if latencies.is_empty() {
        return (Duration::ZERO, 0.0, 0);
    }
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99 / 100).min(latencies.len() - 1)];
    (p99, failed as f64 / latencies.len() as f64, latencies.len())
}
