//! The stampede's report: one table for people, the same as JSON for tools.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            p50_ms: ms(h.value_at_quantile(0.50)),
            p90_ms: ms(h.value_at_quantile(0.90)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// One invariant and whether it held.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// Everything a stampede measured and verified.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub targets: Vec<String>,
    pub sale_id: String,
    pub stock: u64,
    pub buyers: u64,
    pub attempts_per_buyer: u32,
    pub per_user_limit: u32,
    pub concurrency: usize,
    /// Requests/s of the ceiling, measured first.
    pub ceiling_per_second: Option<f64>,
    /// `bare` (a bare axum server answering the same POST) or `engine`
    /// (the engine's own 404).
    pub ceiling_kind: String,
    /// Redis's own time and commands per accepted purchase.
    pub redis: Option<crate::ceiling::RedisCost>,
    /// PostgreSQL transactions committed per 1,000 accepted orders: the
    /// database's from the stampede's start until every order was stored
    /// (the generator's own reads commit nothing meanwhile).
    pub postgres_commits_per_1000_orders: Option<f64>,
    pub attempts: u64,
    pub seconds: f64,
    pub attempts_per_second: f64,
    pub accepted: u64,
    pub accepted_per_second: f64,
    pub latency: Latency,
    /// Answers by status and code, e.g. `202`, `409 sold_out`.
    pub answers: BTreeMap<String, u64>,
    /// From the last 202 until the order store held every accepted unit.
    pub seconds_to_last_confirmed: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    /// The engine process's CPU time per attempt, every thread and task
    /// included (with `--pid`).
    pub engine_cpu_us_per_attempt: Option<f64>,
    /// The same per request of the ceiling, when it is the engine's own 404.
    pub ceiling_engine_cpu_us_per_request: Option<f64>,
    /// With a payment window: what checkout took.
    pub checkout: Option<CheckoutFigures>,
    pub checks: Vec<Check>,
}

/// What a stampede on a sale with a payment window took to sell every unit
/// paid.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckoutFigures {
    pub payment_window_seconds: u64,
    pub pay_ratio: f64,
    /// From the first attempt until every unit was paid.
    pub seconds_to_all_paid: Option<f64>,
    pub payments_sent: u64,
    pub payments_refused: u64,
    pub orders_paid: u64,
    pub orders_expired: u64,
    pub orders_awaiting: u64,
    pub units_paid: u64,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The summary table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let ratio = |rate: f64| {
            self.ceiling_per_second
                .map_or(String::new(), |c| format!("  ({:.2} of ceiling)", rate / c))
        };
        let _ = writeln!(out, "FlashSale stampede on {}", self.targets.join(", "));
        let _ = writeln!(
            out,
            "  sale {}: stock {}, limit {}/buyer; {} buyers × {} attempts over {} connections",
            self.sale_id,
            self.stock,
            self.per_user_limit,
            self.buyers,
            self.attempts_per_buyer,
            self.concurrency
        );
        if let Some(c) = self.ceiling_per_second {
            let what = if self.ceiling_kind == "bare" {
                "a bare axum server, the same POST"
            } else {
                "the engine's own 404"
            };
            let _ = writeln!(out, "  ceiling ({what})  {c:>10.0} req/s");
        }
        if let Some(us) = self.ceiling_engine_cpu_us_per_request {
            let _ = writeln!(out, "  engine CPU per ceiling request {us:>6.1} µs");
        }
        let _ = writeln!(
            out,
            "  attempts        {:>10}  in {:.2} s",
            self.attempts, self.seconds
        );
        let _ = writeln!(
            out,
            "  attempts/s      {:>10.0}{}",
            self.attempts_per_second,
            ratio(self.attempts_per_second)
        );
        let _ = writeln!(out, "  accepted        {:>10}", self.accepted);
        let _ = writeln!(out, "  accepted/s      {:>10.0}", self.accepted_per_second);
        let l = &self.latency;
        let _ = writeln!(
            out,
            "  latency ms      p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
            l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
        );
        let answers: Vec<String> = self.answers.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        let _ = writeln!(out, "  answers         {}", answers.join(", "));
        if let Some(s) = self.seconds_to_last_confirmed {
            let _ = writeln!(out, "  last 202 → every order in the store  {s:.2} s");
        }
        if let Some(c) = &self.checkout {
            let _ = writeln!(
                out,
                "  checkout        window {} s, pay ratio {:.2}: {} orders paid, {} expired and resold, {} awaiting",
                c.payment_window_seconds, c.pay_ratio, c.orders_paid, c.orders_expired, c.orders_awaiting
            );
            let _ = writeln!(
                out,
                "  every unit paid {}  ({} payments, {} refused)",
                c.seconds_to_all_paid.map_or_else(
                    || "not within the bound".to_owned(),
                    |s| format!("after {s:.1} s")
                ),
                c.payments_sent,
                c.payments_refused
            );
        }
        if let Some(r) = &self.redis {
            let top: Vec<String> = r.top.iter().map(|(c, us)| format!("{c} {us:.1}")).collect();
            let _ = writeln!(
                out,
                "  Redis           {:.1} µs of CPU per accepted purchase; scripts {:.1} µs; {:.1} commands, \
                 those in scripts included ({})",
                r.cpu_usec_per_purchase,
                r.script_usec_per_purchase,
                r.commands_per_purchase,
                top.join(", ")
            );
            if r.node_cpu_usec_per_purchase.len() > 1 {
                let nodes: Vec<String> = r
                    .node_cpu_usec_per_purchase
                    .iter()
                    .map(|us| format!("{us:.1}"))
                    .collect();
                let _ = writeln!(out, "  Redis CPU by node, µs per purchase: {}", nodes.join(", "));
            }
        }
        if let Some(c) = self.postgres_commits_per_1000_orders {
            let _ = writeln!(out, "  PostgreSQL      {c:.1} commits per 1,000 orders");
        }
        if let Some(us) = self.engine_cpu_us_per_attempt {
            let _ = writeln!(
                out,
                "  engine CPU per attempt {us:>10.1} µs (every thread of the process)"
            );
        }
        if let Some(rss) = self.peak_rss_mib {
            let _ = writeln!(out, "  engine peak RSS {rss:>10.1} MiB");
        }
        for c in &self.checks {
            let _ = writeln!(
                out,
                "  [{}] {}: {}",
                if c.ok { "ok" } else { "FAILED" },
                c.name,
                c.detail
            );
        }
        out
    }
}
