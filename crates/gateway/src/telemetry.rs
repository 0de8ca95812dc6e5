//! Counters for `/metrics` and the live stats: lock-free on the request
//! path (atomics only, except one read lock for the per-route counter).
//!
//! Rates and the p99 come from a ring of one-second slots, so the stats
//! show the last seconds, not the average since start-up.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;

use crate::error::ErrorCode;

/// The W3C `traceparent` a request came with, if any: the parent of the
/// span it is served in.
pub fn traceparent(headers: &HeaderMap) -> Option<&str> {
    headers.get("traceparent").and_then(|v| v.to_str().ok())
}

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 25] = [
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02,
    0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SLOTS: usize = 16;
/// Seconds the p99 of the stats looks back over.
const P99_WINDOW: u64 = 10;

/// The label of a purchase attempt's outcome on `flashsale_purchases_total`:
/// `accepted`, or the error code it was refused with.
fn outcome_label(i: usize) -> &'static str {
    i.checked_sub(1)
        .map_or("accepted", |c| ErrorCode::ALL[c].as_str())
}

/// Where an outcome is counted: 0 for accepted, then one per error code.
fn outcome_index(refusal: Option<ErrorCode>) -> usize {
    refusal.map_or(0, |c| c as usize + 1)
}

fn bucket_index(seconds: f64) -> usize {
    BUCKETS
        .iter()
        .position(|b| seconds <= *b)
        .unwrap_or(BUCKETS.len())
}

#[derive(Default)]
struct Histogram {
    counts: [AtomicU64; BUCKETS.len() + 1],
    sum_micros: AtomicU64,
}

impl Histogram {
    fn record(&self, elapsed: Duration) {
        self.counts[bucket_index(elapsed.as_secs_f64())].fetch_add(1, Relaxed);
        self.sum_micros.fetch_add(elapsed.as_micros() as u64, Relaxed);
    }
}

/// One second of activity.
#[derive(Default)]
struct Slot {
    second: AtomicU64,
    requests: AtomicU64,
    attempts: AtomicU64,
    accepted: AtomicU64,
    latency: [AtomicU64; BUCKETS.len() + 1],
}

/// More Prometheus text for a process's `/metrics`: on the real stack, the
/// order pipeline's counters of the relay, consumer and sweeper it runs.
pub type MetricsSource = Arc<dyn Fn() -> String + Send + Sync>;

/// All counters of one gateway.
pub struct Telemetry {
    started: Instant,
    /// Answers by route template, then status: looked up by the route's
    /// `&str`, so counting an answer allocates nothing.
    requests: RwLock<HashMap<String, HashMap<u16, AtomicU64>>>,
    /// Purchase attempts by outcome (see [`outcome_index`]).
    purchases: [AtomicU64; ErrorCode::ALL.len() + 1],
    /// Every error answer by code, on any route.
    errors: [AtomicU64; ErrorCode::ALL.len()],
    purchase_latency: Histogram,
    slots: [Slot; SLOTS],
}

/// The figures the stats show.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rates {
    pub requests_per_second: f64,
    pub purchase_attempts_per_second: f64,
    pub accepted_per_second: f64,
    pub p99_latency_ms: f64,
}

impl Default for Telemetry {
    fn default() -> Self {
        Self {
            started: Instant::now(),
            requests: RwLock::default(),
            purchases: Default::default(),
            errors: Default::default(),
            purchase_latency: Histogram::default(),
            slots: Default::default(),
        }
    }
}

impl Telemetry {
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    fn second(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    fn slot(&self, second: u64) -> &Slot {
        let slot = &self.slots[second as usize % SLOTS];
        let seen = slot.second.load(Relaxed);
        if seen != second
            && slot
                .second
                .compare_exchange(seen, second, Relaxed, Relaxed)
                .is_ok()
        {
            slot.requests.store(0, Relaxed);
            slot.attempts.store(0, Relaxed);
            slot.accepted.store(0, Relaxed);
            slot.latency.iter().for_each(|c| c.store(0, Relaxed));
        }
        slot
    }

    /// Counts one answered request. `route` is the matched route template,
    /// never the raw path, so the label set stays small.
    pub fn record_request(&self, route: &str, status: u16, error_code: Option<ErrorCode>) {
        self.slot(self.second()).requests.fetch_add(1, Relaxed);
        let counted = self
            .requests
            .read()
            .expect("telemetry lock")
            .get(route)
            .and_then(|statuses| statuses.get(&status))
            .map(|c| c.fetch_add(1, Relaxed));
        if counted.is_none() {
            self.requests
                .write()
                .expect("telemetry lock")
                .entry(route.to_owned())
                .or_default()
                .entry(status)
                .or_default()
                .fetch_add(1, Relaxed);
        }
        if let Some(code) = error_code {
            self.errors[code as usize].fetch_add(1, Relaxed);
        }
    }

    /// Counts one purchase attempt: accepted, or refused with `refusal`.
    pub fn record_purchase(&self, refusal: Option<ErrorCode>, elapsed: Duration) {
        self.purchases[outcome_index(refusal)].fetch_add(1, Relaxed);
        self.purchase_latency.record(elapsed);
        let slot = self.slot(self.second());
        slot.attempts.fetch_add(1, Relaxed);
        if refusal.is_none() {
            slot.accepted.fetch_add(1, Relaxed);
        }
        slot.latency[bucket_index(elapsed.as_secs_f64())].fetch_add(1, Relaxed);
    }

    /// Refusals by code since start-up: every purchase not accepted, and
    /// the error answers counted by [`Self::record_request`].
    pub fn rejections(&self) -> HashMap<&'static str, u64> {
        let purchases = self.purchases.iter().skip(1);
        ErrorCode::ALL
            .into_iter()
            .zip(self.errors.iter().zip(purchases))
            .map(|(code, (errors, refused))| (code.as_str(), errors.load(Relaxed) + refused.load(Relaxed)))
            .filter(|(_, count)| *count > 0)
            .collect()
    }

    /// Rates over the last complete second; p99 over the last ten.
    pub fn rates(&self) -> Rates {
        let now = self.second();
        let Some(last) = now.checked_sub(1) else {
            return Rates::default();
        };
        let slot = &self.slots[last as usize % SLOTS];
        let fresh = |s: &Slot, second: u64| s.second.load(Relaxed) == second;
        let mut rates = Rates::default();
        if fresh(slot, last) {
            rates.requests_per_second = slot.requests.load(Relaxed) as f64;
            rates.purchase_attempts_per_second = slot.attempts.load(Relaxed) as f64;
            rates.accepted_per_second = slot.accepted.load(Relaxed) as f64;
        }
        let mut counts = [0u64; BUCKETS.len() + 1];
        for second in now.saturating_sub(P99_WINDOW)..=now {
            let slot = &self.slots[second as usize % SLOTS];
            if fresh(slot, second) {
                for (total, c) in counts.iter_mut().zip(&slot.latency) {
                    *total += c.load(Relaxed);
                }
            }
        }
        let total: u64 = counts.iter().sum();
        if total > 0 {
            let rank = (total as f64 * 0.99).ceil() as u64;
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    rates.p99_latency_ms = BUCKETS.get(i).map_or(f64::INFINITY, |b| b * 1000.0);
                    break;
                }
            }
        }
        rates
    }

    /// The Prometheus text exposition of every counter, plus `extra` lines
    /// (gauges the caller reads from the services).
    pub fn prometheus(&self, extra: &str) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP flashsale_http_requests_total HTTP requests answered, by route template and status.\n",
        );
        out.push_str("# TYPE flashsale_http_requests_total counter\n");
        let requests = self.requests.read().expect("telemetry lock");
        let mut rows: Vec<_> = requests
            .iter()
            .flat_map(|(route, statuses)| statuses.iter().map(move |(status, count)| (route, status, count)))
            .collect();
        rows.sort_by_key(|&(route, status, _)| (route, *status));
        for (route, status, count) in rows {
            let route = route.replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(
                out,
                "flashsale_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {}",
                count.load(Relaxed)
            );
        }
        out.push_str("# HELP flashsale_purchases_total Purchase attempts, by outcome.\n");
        out.push_str("# TYPE flashsale_purchases_total counter\n");
        for (i, count) in self.purchases.iter().enumerate() {
            let _ = writeln!(
                out,
                "flashsale_purchases_total{{outcome=\"{}\"}} {}",
                outcome_label(i),
                count.load(Relaxed)
            );
        }
        out.push_str("# HELP flashsale_purchase_duration_seconds Time to answer a purchase attempt.\n");
        out.push_str("# TYPE flashsale_purchase_duration_seconds histogram\n");
        let mut cumulative = 0;
        for (i, count) in self.purchase_latency.counts.iter().enumerate() {
            cumulative += count.load(Relaxed);
            let le = BUCKETS.get(i).map_or("+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(
                out,
                "flashsale_purchase_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = self.purchase_latency.sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "flashsale_purchase_duration_seconds_sum {sum}");
        let _ = writeln!(out, "flashsale_purchase_duration_seconds_count {cumulative}");
        out.push_str("# HELP flashsale_uptime_seconds Seconds since this process started.\n");
        out.push_str("# TYPE flashsale_uptime_seconds gauge\n");
        let _ = writeln!(out, "flashsale_uptime_seconds {}", self.uptime().as_secs_f64());
        out.push_str(extra);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_and_counters_follow_what_was_recorded() {
        let t = Telemetry::default();
        for _ in 0..99 {
            t.record_purchase(None, Duration::from_micros(400));
        }
        t.record_purchase(Some(ErrorCode::SoldOut), Duration::from_millis(40));
        t.record_request("/api/sales/{id}/purchase", 202, None);
        t.record_request("/api/sales/{id}/purchase", 409, None);
        t.record_request("/api/orders/{order_id}", 401, Some(ErrorCode::Unauthorized));
        assert_eq!(t.rejections()["sold_out"], 1);
        assert_eq!(t.rejections()["unauthorized"], 1);
        assert!(!t.rejections().contains_key("accepted"));
        let text = t.prometheus("");
        assert!(text.contains("flashsale_purchases_total{outcome=\"accepted\"} 99"));
        assert!(text.contains("flashsale_purchases_total{outcome=\"sold_out\"} 1"));
        assert!(text.contains("flashsale_purchase_duration_seconds_count 100"));
        assert!(text.contains("route=\"/api/sales/{id}/purchase\",status=\"409\"} 1"));
        // The p99 is read from the current and past seconds.
        let mut counts = 0;
        for slot in &t.slots {
            counts += slot.latency.iter().map(|c| c.load(Relaxed)).sum::<u64>();
        }
        assert_eq!(counts, 100);
    }
}
