//! One row per scenario, judged from the stores, and the table of rows.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::time::Duration;

use crate::buyers::Accepted;
use crate::stores_view::View;

/// What one scenario found.
#[derive(Debug, Clone, Default)]
pub struct Row {
    pub scenario: String,
    /// Purchase requests sent, retries included.
    pub attempts: u64,
    /// Purchases answered 202 (distinct order ids).
    pub accepted: usize,
    /// Rows of the sale in PostgreSQL.
    pub orders: usize,
    /// 202s with no row in PostgreSQL once settled.
    pub lost: usize,
    /// One purchase (buyer and key) stored twice, or answered with two
    /// order ids.
    pub duplicated: usize,
    /// Units in PostgreSQL beyond the stock.
    pub oversold: i64,
    /// Buyers holding more than the limit in PostgreSQL.
    pub over_limit: usize,
    /// From the heal until every 202 was a row and nothing was in flight.
    pub settle: Option<Duration>,
    /// After the final wave: PostgreSQL holds exactly the stock and Redis
    /// has none left.
    pub sold_out_exactly: bool,
    /// The scenario's own figure.
    pub figure: String,
    /// Every invariant that failed, with details.
    pub problems: Vec<String>,
    pub elapsed: Duration,
}

impl Row {
    /// A scenario that could not run to its end.
    pub fn aborted(scenario: &str, why: String, elapsed: Duration) -> Self {
        Self {
            scenario: scenario.to_owned(),
            problems: vec![format!("aborted: {why}")],
            elapsed,
            ..Self::default()
        }
    }

    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// Judges the stores against every 202 the buyers were given.
    pub fn judge(
        &mut self,
        stock: u64,
        limit: u32,
        answered: &[Accepted],
        view: &View,
        settle_bound: Duration,
    ) {
        let stock = stock as i64;
        let stored: HashMap<&str, _> = view.orders.iter().map(|o| (o.order_id.as_str(), o)).collect();
        if stored.len() != view.orders.len() {
            self.problems
                .push("an order id appears twice in PostgreSQL".into());
        }
        let mut by_id: HashMap<&str, &Accepted> = HashMap::new();
        let mut keys: HashMap<(&str, &str), &str> = HashMap::new();
        for a in answered {
            by_id.insert(&a.order_id, a);
            if let Some(other) = keys.insert((&a.user, &a.key), &a.order_id) {
                if other != a.order_id {
                    self.duplicated += 1;
                    self.problems.push(format!(
                        "buyer {} key {} answered with two orders {other} and {}",
                        a.user, a.key, a.order_id
                    ));
                }
            }
        }
        self.accepted = by_id.len();
        self.orders = view.orders.len();
        let lost: Vec<&str> = by_id
            .keys()
            .filter(|id| !stored.contains_key(*id))
            .copied()
            .collect();
        self.lost = lost.len();
        if !lost.is_empty() {
            self.problems.push(format!(
                "{} answered 202 but not in PostgreSQL, e.g. {:?}",
                lost.len(),
                &lost[..lost.len().min(3)]
            ));
        }
        for (id, a) in &by_id {
            if let Some(row) = stored.get(id) {
                if row.user_id != a.user || row.quantity != i64::from(a.quantity) {
                    self.problems.push(format!(
                        "order {id} stored as {} x{}, answered to {} x{}",
                        row.user_id, row.quantity, a.user, a.quantity
                    ));
                }
            }
        }
        let mut seen_keys: HashSet<(&str, &str)> = HashSet::new();
        for o in &view.orders {
            if let Some(key) = &o.idempotency_key {
                if !seen_keys.insert((&o.user_id, key)) {
                    self.duplicated += 1;
                    self.problems
                        .push(format!("buyer {} key {key} stored twice", o.user_id));
                }
            }
        }
        let sold = view.sold();
        self.oversold = (sold - stock).max(0);
        if self.oversold > 0 {
            self.problems
                .push(format!("{sold} units in PostgreSQL for a stock of {stock}"));
        }
        let mut per_user: HashMap<&str, i64> = HashMap::new();
        for o in view.orders.iter().filter(|o| o.holds_units()) {
            *per_user.entry(&o.user_id).or_default() += o.quantity;
        }
        let over: Vec<_> = per_user.iter().filter(|(_, n)| **n > i64::from(limit)).collect();
        self.over_limit = over.len();
        if !over.is_empty() {
            self.problems.push(format!(
                "buyers above the limit of {limit}: {:?}",
                &over[..over.len().min(3)]
            ));
        }
        let r = &view.redis;
        if r.stock != stock || r.remaining + r.in_flight + r.persisted != r.stock {
            self.problems.push(format!(
                "Redis ledger: stock {} != remaining {} + in flight {} + persisted {} (sale stock {stock})",
                r.stock, r.remaining, r.in_flight, r.persisted
            ));
        }
        if r.persisted != sold {
            self.problems.push(format!(
                "Redis counts {} units persisted, PostgreSQL holds {sold}",
                r.persisted
            ));
        }
        let mismatched: Vec<_> = per_user
            .iter()
            .filter(|(u, n)| r.buyers.get(**u).copied().unwrap_or(0) != **n)
            .map(|(u, n)| (u.to_string(), *n, r.buyers.get(*u).copied().unwrap_or(0)))
            .collect();
        let phantom = r
            .buyers
            .iter()
            .filter(|(u, n)| **n > 0 && !per_user.contains_key(u.as_str()))
            .count();
        if !mismatched.is_empty() || phantom > 0 {
            self.problems.push(format!(
                "Redis buyer counts differ from PostgreSQL for {} buyers (user, stored, redis) e.g. {:?}; {phantom} buyers hold units in Redis only",
                mismatched.len(),
                &mismatched[..mismatched.len().min(3)]
            ));
        }
        if !view.quiet() {
            self.problems.push(format!(
                "not settled within {settle_bound:?}: {} units in flight, {} outbox entries, {} messages in the queue",
                r.in_flight, r.outbox, view.queue_ready
            ));
        }
        self.sold_out_exactly = sold == stock && r.remaining == 0;
        if !self.sold_out_exactly {
            self.problems.push(format!(
                "after the final wave: {sold} units stored of {stock}, {} left in Redis",
                r.remaining
            ));
        }
    }
}

/// The rows as a Markdown table, then every problem found.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| scenario | attempts | 202s | orders in PostgreSQL | lost | duplicated | oversold | over limit | settled in | sold out exactly | scenario figure | verdict |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|");
    for r in rows {
        let settle = r
            .settle
            .map_or_else(|| "—".to_owned(), |d| format!("{:.1} s", d.as_secs_f64()));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            r.attempts,
            r.accepted,
            r.orders,
            r.lost,
            r.duplicated,
            r.oversold,
            r.over_limit,
            settle,
            if r.sold_out_exactly { "yes" } else { "no" },
            r.figure,
            if r.passed() { "ok" } else { "FAILED" },
        );
    }
    for r in rows.iter().filter(|r| !r.passed()) {
        let _ = writeln!(out, "\n{} failed:", r.scenario);
        for p in &r.problems {
            let _ = writeln!(out, "  - {p}");
        }
    }
    out
}
