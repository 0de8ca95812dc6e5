//! `flashsale bench race`: the race-condition lab. The same contended
//! workload (many buyers, a few units, a per-buyer limit, several attempts
//! each) against six ways of keeping stock, side by side, in one run, on
//! the real Redis and PostgreSQL; one table and one SVG bar chart. Each
//! design is a `Strategy`: `postgres`, `redis_decr`, and this
//! engine's own stores (`engine`).
//!
//! | strategy | what it does |
//! |---|---|
//! | `pg-naive` | `SELECT stock`, then `UPDATE stock = <read> - 1`: the race everybody writes first |
//! | `pg-for-update` | `SELECT … FOR UPDATE` in a transaction: correct, one buyer at a time |
//! | `pg-conditional` | `UPDATE … SET stock = stock - 1 WHERE stock >= 1`: correct, still one row lock |
//! | `redis-decr` | `DECR`, then `INCR` back when negative or over the limit: fast, but refuses buyers while units are only transiently taken |
//! | `redis-lua` | this engine's reservation script: every check, then every write, in one step |
//! | `memory` | the embedded engine's stock store |
//! | `redis-lua-cluster` | with `--redis-cluster-url`: `redis-lua` on a Redis Cluster |
//! | `redis-buckets-<B>` | one sale's stock in `B` buckets on their own slots (`docs/hot-sale-buckets.md`), `-cluster` on the cluster |
//!
//! Per strategy: attempts/s, p99, units sold, **oversold** units (orders
//! past the stock), **lost** units (stock − remaining − sold: units neither
//! sold nor on sale, or counted twice when negative), buyers wrongly
//! refused (told "sold out" before another buyer's purchase even began: the
//! units were there), buyers above the limit where the strategy can count
//! them, and the lowest stock value any buyer saw.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use clap::Args;
use flashsale_domain::{
    OrderId, PurchaseRejection, Quantity, ReserveError, ReserveRequest, SaleDraft, SaleId, SaleState,
    StockStore, UserId,
};
use flashsale_embedded::MemoryStock;
use flashsale_stack::redis::RedisConn;
use flashsale_stack::RedisStock;
use hdrhistogram::Histogram;
use serde::Serialize;
use sqlx::PgPool;

mod engine;
mod postgres;
mod redis_buckets;
mod redis_decr;

use engine::Engine;
use postgres::{Pg, PgKind};
use redis_buckets::RedisBuckets;
use redis_decr::RedisDecr;

/// `flashsale bench race`.
#[derive(Debug, Clone, Args)]
pub struct RaceArgs {
    /// Units on sale.
    #[arg(long, default_value_t = 100)]
    pub stock: u64,
    /// Distinct buyers.
    #[arg(long, default_value_t = 400)]
    pub buyers: u64,
    /// Attempts per buyer.
    #[arg(long, default_value_t = 3)]
    pub attempts_per_buyer: u32,
    /// Units a buyer may hold.
    #[arg(long, default_value_t = 1)]
    pub limit: u32,
    /// Attempts in flight at once (and PostgreSQL connections).
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    #[arg(long, env = "FLASHSALE_REDIS_URL", hide_env_values = true)]
    pub redis_url: String,
    /// A Redis Cluster's nodes, comma-separated: the engine's script runs
    /// on it too, in a row of its own (`redis-lua-cluster`).
    #[arg(long)]
    pub redis_cluster_url: Option<String>,
    #[arg(long, env = "FLASHSALE_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Write the bar chart here (SVG).
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// Write the table here (JSON).
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// One strategy's figures.
#[derive(Debug, Clone, Serialize)]
pub struct RaceRow {
    pub strategy: &'static str,
    pub attempts: u64,
    pub attempts_per_second: f64,
    pub p99_ms: f64,
    pub sold: u64,
    pub oversold: u64,
    pub lost: i64,
    pub wrongly_refused: u64,
    /// Buyers holding more than the limit; `None` where not counted.
    pub over_limit: Option<u64>,
    pub lowest_stock_seen: i64,
}

/// What one attempt got.
enum Attempt {
    Sold,
    SoldOut,
    Refused,
}

/// A way of keeping stock, over one sale.
#[async_trait]
trait Strategy: Send + Sync {
    fn name(&self) -> &'static str;
    /// One purchase of one unit; `seen` is the stock value the buyer saw.
    async fn attempt(&self, buyer: u64, seen: &AtomicI64) -> Result<Attempt, String>;
    /// Units still on sale, and units sold (orders recorded), once it is over.
    async fn settle(&self) -> Result<(i64, u64), String>;
    /// Buyers above the limit once it is over, where the strategy keeps
    /// the buyers' counts in more than one place.
    async fn over_limit(&self) -> Result<Option<u64>, String> {
        Ok(None)
    }
}

fn seen_min(seen: &AtomicI64, value: i64) {
    seen.fetch_min(value, Ordering::Relaxed);
}

/// Why the lab could not run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RaceError(String);

fn err(e: impl ToString) -> RaceError {
    RaceError(e.to_string())
}

/// The bucket counts raced, on the single Redis and on the cluster.
const BUCKETS: [(usize, &str); 3] = [
    (1, "redis-buckets-1"),
    (2, "redis-buckets-2"),
    (4, "redis-buckets-4"),
];
const CLUSTER_BUCKETS: [(usize, &str); 3] = [
    (1, "redis-buckets-1-cluster"),
    (2, "redis-buckets-2-cluster"),
    (4, "redis-buckets-4-cluster"),
];
const RESPONSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Runs every strategy with the same workload; returns one row each.
pub async fn run(args: &RaceArgs) -> Result<Vec<RaceRow>, RaceError> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(args.concurrency as u32 + 2)
        .connect(&args.database_url)
        .await
        .map_err(err)?;
    let redis = redis::Client::open(args.redis_url.as_str()).map_err(err)?;
    let conn = redis::aio::ConnectionManager::new(redis).await.map_err(err)?;
    let run_id = uuid_suffix();
    let limit = args.limit;
    let mut strategies: Vec<Box<dyn Strategy>> = vec![
        Box::new(Pg::new(pool.clone(), PgKind::Naive, &run_id, args.stock, limit).await?),
        Box::new(Pg::new(pool.clone(), PgKind::ForUpdate, &run_id, args.stock, limit).await?),
        Box::new(Pg::new(pool.clone(), PgKind::Conditional, &run_id, args.stock, limit).await?),
        Box::new(RedisDecr::new(conn.clone(), &run_id, args.stock, limit).await?),
        Box::new(
            Engine::new(
                Arc::new(RedisStock::connect(&args.redis_url).await.map_err(err)?),
                "redis-lua",
                args.stock,
                limit,
            )
            .await?,
        ),
        Box::new(Engine::new(Arc::new(MemoryStock::new()), "memory", args.stock, limit).await?),
    ];
    let single = RedisConn::connect(&args.redis_url, RESPONSE_TIMEOUT)
        .await
        .map_err(err)?;
    for (buckets, name) in BUCKETS {
        strategies.push(Box::new(
            RedisBuckets::new(single.clone(), name, buckets, &run_id, args.stock, limit).await?,
        ));
    }
    if let Some(cluster) = &args.redis_cluster_url {
        let store = RedisStock::connect(cluster).await.map_err(err)?;
        if !store.is_cluster() {
            return Err(RaceError(format!(
                "--redis-cluster-url names one Redis: {cluster}"
            )));
        }
        strategies.push(Box::new(
            Engine::new(Arc::new(store), "redis-lua-cluster", args.stock, limit).await?,
        ));
        let conn = RedisConn::connect(cluster, RESPONSE_TIMEOUT).await.map_err(err)?;
        for (buckets, name) in CLUSTER_BUCKETS {
            strategies.push(Box::new(
                RedisBuckets::new(conn.clone(), name, buckets, &run_id, args.stock, limit).await?,
            ));
        }
    }
    let mut rows = Vec::new();
    for strategy in strategies {
        eprintln!("racing {}...", strategy.name());
        rows.push(race(strategy.as_ref(), args).await?);
    }
    pool.close().await;
    if let Some(path) = &args.svg {
        std::fs::write(path, svg(&rows, args)).map_err(err)?;
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows).expect("rows serialise")).map_err(err)?;
    }
    Ok(rows)
}

async fn race(strategy: &dyn Strategy, args: &RaceArgs) -> Result<RaceRow, RaceError> {
    let total = args.buyers * u64::from(args.attempts_per_buyer);
    let next = AtomicU64::new(0);
    let seen = AtomicI64::new(args.stock as i64);
    let started = Instant::now();
    // Micros since `started`: when each "sold out" was answered, and when the
    // latest successful purchase began.
    let sold_out_at = std::sync::Mutex::new(Vec::<u64>::new());
    let last_sale_began = AtomicU64::new(0);
    let workers = (0..args.concurrency).map(|_| async {
        let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
        loop {
            let n = next.fetch_add(1, Ordering::Relaxed);
            if n >= total {
                return Ok::<_, String>(latency);
            }
            let t = Instant::now();
            let began = started.elapsed().as_micros() as u64;
            // A buyer presses "Buy" several times in a row: attempts interleave.
            let outcome = strategy
                .attempt(n / u64::from(args.attempts_per_buyer), &seen)
                .await?;
            let _ = latency.record((t.elapsed().as_micros() as u64).max(1));
            match outcome {
                Attempt::SoldOut => sold_out_at
                    .lock()
                    .expect("lock")
                    .push(started.elapsed().as_micros() as u64),
                Attempt::Sold => {
                    last_sale_began.fetch_max(began, Ordering::Relaxed);
                }
                Attempt::Refused => {}
            }
        }
    });
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    for h in futures_util::future::join_all(workers).await {
        latency.add(h.map_err(err)?).map_err(err)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (remaining, sold) = strategy.settle().await.map_err(err)?;
    let over_limit = strategy.over_limit().await.map_err(err)?;
    Ok(RaceRow {
        strategy: strategy.name(),
        attempts: total,
        attempts_per_second: total as f64 / seconds,
        p99_ms: latency.value_at_quantile(0.99) as f64 / 1000.0,
        sold,
        oversold: sold.saturating_sub(args.stock),
        lost: args.stock as i64 - remaining - sold as i64,
        wrongly_refused: {
            let last = last_sale_began.load(Ordering::Relaxed);
            sold_out_at
                .into_inner()
                .expect("lock")
                .iter()
                .filter(|at| **at < last)
                .count() as u64
        },
        over_limit,
        lowest_stock_seen: seen.load(Ordering::Relaxed),
    })
}

fn uuid_suffix() -> String {
    OrderId::generate().to_string().replace('-', "")[20..].to_owned()
}

/// The table, for people.
pub fn table(rows: &[RaceRow], args: &RaceArgs) -> String {
    let mut out = format!(
        "Race lab: {} units, {} buyers × {} attempts, limit {}, {} in flight\n",
        args.stock, args.buyers, args.attempts_per_buyer, args.limit, args.concurrency
    );
    let _ = writeln!(
        out,
        "| strategy | attempts/s | p99 ms | sold | oversold | lost | wrongly refused | over the limit | lowest stock seen |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {:.0} | {:.2} | {} | {} | {} | {} | {} | {} |",
            r.strategy,
            r.attempts_per_second,
            r.p99_ms,
            r.sold,
            r.oversold,
            r.lost,
            r.wrongly_refused,
            r.over_limit.map_or("—".to_owned(), |n| n.to_string()),
            r.lowest_stock_seen
        );
    }
    out
}

/// A bar chart of attempts/s, with the oversold units written on each bar.
fn svg(rows: &[RaceRow], args: &RaceArgs) -> String {
    let width = 760.0;
    let bar_h = 34.0;
    let left = 150.0;
    let top = 50.0;
    let height = top + rows.len() as f64 * (bar_h + 14.0) + 30.0;
    // Log scale: the designs differ by three orders of magnitude.
    let max = rows
        .iter()
        .map(|r| r.attempts_per_second.max(10.0).log10())
        .fold(1.0, f64::max);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="13">
<rect width="100%" height="100%" fill="white"/>
<text x="10" y="24" font-size="16" font-weight="bold">Race lab: attempts/s, log scale ({} units, {} buyers × {} attempts, limit {})</text>
"#,
        args.stock, args.buyers, args.attempts_per_buyer, args.limit
    );
    for (i, r) in rows.iter().enumerate() {
        let y = top + i as f64 * (bar_h + 14.0);
        let w = (width - left - 230.0) * r.attempts_per_second.max(10.0).log10() / max;
        let color = if r.oversold > 0 || r.lost != 0 || r.over_limit.unwrap_or(0) > 0 {
            "#d9480f"
        } else if r.wrongly_refused > 0 {
            "#f59f00"
        } else {
            "#2b8a3e"
        };
        let note = if r.oversold > 0 {
            format!("{} oversold", r.oversold)
        } else if r.wrongly_refused > 0 || r.sold < args.stock {
            format!(
                "{} unsold, {} wrongly refused",
                args.stock - r.sold,
                r.wrongly_refused
            )
        } else {
            "exact".to_owned()
        };
        let _ = writeln!(
            out,
            r#"<text x="10" y="{ty}">{name}</text><rect x="{left}" y="{y}" width="{w:.1}" height="{bar_h}" fill="{color}"/><text x="{tx:.1}" y="{ty}">{rate:.0}/s · {note}</text>"#,
            ty = y + bar_h / 2.0 + 5.0,
            name = r.strategy,
            tx = left + w + 8.0,
            rate = r.attempts_per_second,
        );
    }
    out.push_str("</svg>\n");
    out
}

/// Distinct counts per strategy name, for tests.
pub fn by_name(rows: &[RaceRow]) -> HashMap<&'static str, &RaceRow> {
    rows.iter().map(|r| (r.strategy, r)).collect()
}
