//! [`PipelineMetrics`]: what the order pipeline's at-least-once hops did
//! and absorbed, for `/metrics`: copies the ledger ignored, redeliveries,
//! retries, dead letters and what the sweeper repaired. One per process,
//! shared by its relay, consumer and sweeper.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The counters; each only grows.
#[derive(Debug, Default)]
pub struct PipelineMetrics {
    /// Reservations the relays published (confirmed by the broker).
    pub relayed: AtomicU64,
    /// Outbox entries a relay took over from a silent one and published again.
    pub reclaimed: AtomicU64,
    /// Relay passes that failed (Redis or the broker away) and were retried.
    pub relay_failures: AtomicU64,
    /// Orders the consumers added to the ledger.
    pub stored: AtomicU64,
    /// Reservations the ledger already held: redelivered or republished copies.
    pub duplicates: AtomicU64,
    /// Messages the broker delivered again after a consumer or link failure.
    pub redelivered: AtomicU64,
    /// Batch inserts retried because the database was unavailable.
    pub batch_retries: AtomicU64,
    /// Messages rejected to the dead-letter queue.
    pub dead_lettered: AtomicU64,
    /// Reservations not stored because the ledger had already voided them.
    pub refused: AtomicU64,
    /// Reservations a consumer voided: their own message can never be
    /// stored (see `OrderConsumer`).
    pub voided: AtomicU64,
    /// Reservations the sweeper found stored and settled.
    pub swept_settled: AtomicU64,
    /// Reservations the sweeper found void in the ledger and released.
    pub swept_released: AtomicU64,
    /// Gauge: reservations in flight past the sweeper's wait that the
    /// ledger has not decided: an operator must look (they are never
    /// released on silence alone).
    pub unaccounted: AtomicU64,
    /// Gauge, milliseconds: how long the oldest entry of the last batch a
    /// relay published had waited in the outbox (0 once nothing waits).
    pub relay_lag_ms: AtomicU64,
}

impl PipelineMetrics {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Relaxed);
    }

    /// The counters in Prometheus text format.
    pub fn prometheus(&self) -> String {
        let rows: [(&str, &AtomicU64, &str); 12] = [
            (
                "relayed",
                &self.relayed,
                "Reservations published by the outbox relays.",
            ),
            (
                "reclaimed",
                &self.reclaimed,
                "Outbox entries taken over from a silent relay and published again.",
            ),
            (
                "relay_failures",
                &self.relay_failures,
                "Relay passes that failed and were retried.",
            ),
            ("stored", &self.stored, "Orders added to the ledger."),
            (
                "duplicates",
                &self.duplicates,
                "Reservations the ledger already held (redelivered or republished copies).",
            ),
            (
                "redelivered",
                &self.redelivered,
                "Messages the broker delivered again.",
            ),
            (
                "batch_retries",
                &self.batch_retries,
                "Batch inserts retried while the database was unavailable.",
            ),
            (
                "dead_lettered",
                &self.dead_lettered,
                "Messages rejected to the dead-letter queue.",
            ),
            (
                "refused",
                &self.refused,
                "Reservations not stored because the ledger had already voided them.",
            ),
            (
                "voided",
                &self.voided,
                "Reservations voided because their message can never be stored.",
            ),
            (
                "swept_settled",
                &self.swept_settled,
                "Reservations found stored and settled by the sweeper.",
            ),
            (
                "swept_released",
                &self.swept_released,
                "Reservations found void in the ledger and released by the sweeper.",
            ),
        ];
        let mut out = String::with_capacity(2048);
        for (name, counter, help) in rows {
            let _ = writeln!(out, "# HELP flashsale_pipeline_{name}_total {help}");
            let _ = writeln!(out, "# TYPE flashsale_pipeline_{name}_total counter");
            let _ = writeln!(out, "flashsale_pipeline_{name}_total {}", counter.load(Relaxed));
        }
        let _ = writeln!(
            out,
            "# HELP flashsale_pipeline_unaccounted_reservations Reservations in flight past the sweep wait that the ledger has not decided.\n\
             # TYPE flashsale_pipeline_unaccounted_reservations gauge\n\
             flashsale_pipeline_unaccounted_reservations {}",
            self.unaccounted.load(Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP flashsale_pipeline_relay_lag_seconds How long the oldest reservation of the last relayed batch waited in the outbox (0 once nothing waits).\n\
             # TYPE flashsale_pipeline_relay_lag_seconds gauge\n\
             flashsale_pipeline_relay_lag_seconds {:.3}",
            self.relay_lag_ms.load(Relaxed) as f64 / 1000.0
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_exposed_with_its_value() {
        let metrics = PipelineMetrics::default();
        PipelineMetrics::add(&metrics.duplicates, 3);
        let text = metrics.prometheus();
        assert!(text.contains("flashsale_pipeline_duplicates_total 3\n"), "{text}");
        metrics.relay_lag_ms.store(1_250, Relaxed);
        let text = metrics.prometheus();
        assert_eq!(text.matches("# TYPE").count(), 14);
        assert!(
            text.contains("flashsale_pipeline_unaccounted_reservations 0\n"),
            "{text}"
        );
        assert!(
            text.contains("flashsale_pipeline_relay_lag_seconds 1.250\n"),
            "{text}"
        );
    }
}
