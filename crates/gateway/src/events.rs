//! The event log: every security-relevant and operator-relevant event, kept
//! in a ring of the most recent ones and broadcast to the SSE streams.
//!
//! Noisy kinds (rate-limit hits, auth failures, limit abuse) are counted,
//! not logged one by one: [`EventLog::count`] is two hash operations, and
//! once a second [`EventLog::flush_counts`] turns the counts into one event
//! per kind with the top offenders. A flood therefore costs the log one line
//! a second.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use flashsale_domain::{Event, EventKind, EventSink, SaleId, Severity};
use serde::Serialize;
use tokio::sync::broadcast;

/// Recent events kept for a newly connected dashboard.
pub const RECENT: usize = 200;
/// Distinct offenders remembered per kind and second; more are counted
/// without a name.
const OFFENDERS: usize = 1024;

/// One entry, as the SSE stream sends it.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub id: u64,
    pub at: String,
    pub kind: EventKind,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<SaleId>,
}

#[derive(Default)]
struct Tally {
    total: u64,
    by_offender: HashMap<String, u64>,
}

/// The engine's event log.
pub struct EventLog {
    next_id: AtomicU64,
    recent: Mutex<VecDeque<LogEntry>>,
    live: broadcast::Sender<LogEntry>,
    counts: Mutex<HashMap<EventKind, Tally>>,
}

impl Default for EventLog {
    fn default() -> Self {
        Self {
            next_id: AtomicU64::new(1),
            recent: Mutex::new(VecDeque::with_capacity(RECENT)),
            live: broadcast::channel(1024).0,
            counts: Mutex::default(),
        }
    }
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl EventLog {
    /// The recent entries, oldest first, and a receiver for what follows:
    /// taken under one lock so nothing falls between the two.
    pub fn subscribe(&self) -> (Vec<LogEntry>, broadcast::Receiver<LogEntry>) {
        let recent = self.recent.lock().expect("event log lock");
        (recent.iter().cloned().collect(), self.live.subscribe())
    }

    /// Counts one occurrence of a noisy kind, by offender (an IP or a user).
    pub fn count(&self, kind: EventKind, offender: impl Into<String>) {
        let mut counts = self.counts.lock().expect("event counts lock");
        let tally = counts.entry(kind).or_default();
        tally.total += 1;
        if tally.by_offender.len() < OFFENDERS {
            *tally.by_offender.entry(offender.into()).or_default() += 1;
        }
    }

    /// Turns the counts of the last period into one event per kind.
    pub fn flush_counts(&self) {
        let counts = std::mem::take(&mut *self.counts.lock().expect("event counts lock"));
        for (kind, tally) in counts {
            let mut top: Vec<(String, u64)> = tally.by_offender.into_iter().collect();
            top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let top: Vec<String> = top.iter().take(3).map(|(who, n)| format!("{who} ×{n}")).collect();
            let (what, severity) = match kind {
                EventKind::RateLimited => ("requests refused by a rate limit", Severity::Warning),
                EventKind::AuthFailure => (
                    "requests refused for a missing or bad credential",
                    Severity::Warning,
                ),
                EventKind::LimitAbuse => ("purchases refused past the per-user limit", Severity::Warning),
                _ => ("events", Severity::Info),
            };
            self.emit(Event::new(
                kind,
                severity,
                format!("{} {what} (top: {}).", tally.total, top.join(", ")),
            ));
        }
    }
}

impl EventSink for EventLog {
    fn emit(&self, event: Event) {
        let entry = LogEntry {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            at: timestamp(Utc::now()),
            kind: event.kind,
            severity: event.severity,
            message: event.message,
            sale_id: event.sale_id,
        };
        match entry.severity {
            Severity::Info => tracing::info!(message = %entry.message, kind = ?entry.kind),
            Severity::Warning | Severity::Critical => {
                tracing::warn!(message = %entry.message, kind = ?entry.kind)
            }
        }
        let mut recent = self.recent.lock().expect("event log lock");
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(entry.clone());
        let _ = self.live.send(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_becomes_one_line_per_kind() {
        let log = EventLog::default();
        let (_, mut live) = log.subscribe();
        for i in 0..10_000 {
            log.count(EventKind::RateLimited, format!("ip 10.0.0.{}", i % 2));
        }
        log.count(EventKind::AuthFailure, "ip 10.0.0.9");
        log.flush_counts();
        let (recent, _) = log.subscribe();
        assert_eq!(recent.len(), 2);
        let rate = recent.iter().find(|e| e.kind == EventKind::RateLimited).unwrap();
        assert!(
            rate.message.starts_with("10000 requests refused by a rate limit"),
            "{}",
            rate.message
        );
        assert!(live.try_recv().is_ok());
        log.flush_counts();
        assert_eq!(log.subscribe().0.len(), 2, "nothing counted, nothing logged");
    }

    #[test]
    fn the_ring_keeps_the_most_recent() {
        let log = EventLog::default();
        for i in 0..(RECENT + 5) {
            log.emit(Event::new(EventKind::System, Severity::Info, format!("e{i}")));
        }
        let (recent, _) = log.subscribe();
        assert_eq!(recent.len(), RECENT);
        assert_eq!(recent.last().unwrap().message, format!("e{}", RECENT + 4));
        assert!(recent.windows(2).all(|w| w[0].id < w[1].id));
    }
}
