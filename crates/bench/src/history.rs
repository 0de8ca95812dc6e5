//! `flashsale bench history`: whether the engine is as fast after years of
//! sales as on its first day. It measures a burst of purchases on a fresh
//! sale (from the first request until every order reads `confirmed`) and
//! Redis's used memory; then creates, sells out and ends `--ended` sales,
//! waits until the engine has archived them, and measures again, in the
//! same run. The engine must archive at once (`FLASHSALE_ARCHIVE_AFTER=0`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hyper::body::Bytes;
use hyper::Method;
use serde_json::{json, Value};

use crate::stampede::{confirm_all, create_sale, get_json, send, token, BenchError, EngineSecrets};
use flashsale_testkit::http::{authority, Conn};

/// `flashsale bench history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// The gateway's URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Sales to create, sell out and end between the two measures.
    #[arg(long, default_value_t = 1_000)]
    pub ended: u64,
    /// Purchases in each measured burst (one per buyer, over 64 connections).
    #[arg(long, default_value_t = 200)]
    pub burst: u64,
    /// Requests in flight while the ended sales are made.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Seconds to wait for the archive of every ended sale.
    #[arg(long, default_value_t = 600.0)]
    pub archive_timeout: f64,
    /// The engine's Redis, for its used memory (real stack only).
    #[arg(long, env = "FLASHSALE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    #[command(flatten)]
    pub secrets: EngineSecrets,
}

/// One measure: the burst's time to confirmed, and Redis's used memory.
#[derive(Debug, Clone, Copy)]
pub struct Measure {
    pub confirmed_secs: f64,
    pub redis_bytes: Option<u64>,
}

/// The two measures and the sales between them.
#[derive(Debug, Clone)]
pub struct HistoryReport {
    pub ended: u64,
    pub burst: u64,
    pub fresh: Measure,
    pub after: Measure,
    pub made_secs: f64,
    pub archived_secs: f64,
}

/// Connections a burst is sent over.
const BURST_CONNECTIONS: u64 = 64;

/// The targets of the issue: time within 1.5x, memory within 10%.
const TIME_TARGET: f64 = 1.5;
const MEMORY_TARGET: f64 = 1.10;

impl HistoryReport {
    pub fn time_ratio(&self) -> f64 {
        self.after.confirmed_secs / self.fresh.confirmed_secs.max(1e-9)
    }

    pub fn memory_ratio(&self) -> Option<f64> {
        Some(self.after.redis_bytes? as f64 / self.fresh.redis_bytes?.max(1) as f64)
    }

    /// Whether the engine met both targets.
    pub fn passed(&self) -> bool {
        self.time_ratio() <= TIME_TARGET && self.memory_ratio().is_none_or(|r| r <= MEMORY_TARGET)
    }

    pub fn table(&self) -> String {
        let mib = |m: &Measure| {
            m.redis_bytes
                .map_or("n/a".to_owned(), |b| format!("{:.1} MiB", b as f64 / 1_048_576.0))
        };
        let memory = self.memory_ratio().map_or("n/a".to_owned(), |r| {
            format!("x{r:.2} (target <= x{MEMORY_TARGET:.2})")
        });
        format!(
            "| | fresh engine | after {} ended sales | ratio |\n|---|---|---|---|\n\
             | burst of {} to confirmed | {:.3} s | {:.3} s | x{:.2} (target <= x{TIME_TARGET:.2}) |\n\
             | Redis used memory | {} | {} | {memory} |\n\n\
             {} sales made in {:.1} s, archived {:.1} s later. {}\n",
            self.ended,
            self.burst,
            self.fresh.confirmed_secs,
            self.after.confirmed_secs,
            self.time_ratio(),
            mib(&self.fresh),
            mib(&self.after),
            self.ended,
            self.made_secs,
            self.archived_secs,
            if self.passed() {
                "Both targets met."
            } else {
                "A target was missed."
            }
        )
    }
}

/// Runs the whole benchmark.
pub async fn run(args: &HistoryArgs) -> Result<HistoryReport, BenchError> {
    let (admin, jwt) = args.secrets.read()?;
    let target = authority(&args.target).map_err(BenchError::Setup)?;
    let redis = match &args.redis_url {
        Some(url) => Some(redis::Client::open(url.as_str()).map_err(|e| BenchError::Setup(e.to_string()))?),
        None => None,
    };
    let fresh = measure(&target, &admin, &jwt, args.burst, redis.as_ref()).await?;
    eprintln!("fresh engine: burst confirmed in {:.3} s", fresh.confirmed_secs);

    let started = Instant::now();
    let sales = make_ended_sales(&target, &admin, &jwt, args.ended, args.concurrency).await?;
    let made_secs = started.elapsed().as_secs_f64();
    let started = Instant::now();
    wait_archived(&target, &sales, args.archive_timeout).await?;
    let archived_secs = started.elapsed().as_secs_f64();

    let after = measure(&target, &admin, &jwt, args.burst, redis.as_ref()).await?;
    Ok(HistoryReport {
        ended: args.ended,
        burst: args.burst,
        fresh,
        after,
        made_secs,
        archived_secs,
    })
}

/// A fresh sale of `burst` units, `burst` buyers at once, until every order
/// is confirmed; then Redis's used memory.
async fn measure(
    target: &str,
    admin: &str,
    jwt: &str,
    burst: u64,
    redis: Option<&redis::Client>,
) -> Result<Measure, BenchError> {
    let sale = create_sale(&mut Conn::new(target), admin, burst, 1).await?;
    let path = format!("/api/sales/{sale}/purchase");
    let body = Bytes::from(json!({"quantity": 1}).to_string());
    // Buyers no other measure of any run uses, named as `confirm_all` reads them.
    static MEASURES: AtomicU64 = AtomicU64::new(0);
    let first = (u64::from(std::process::id()) << 32) | (MEASURES.fetch_add(1, Ordering::Relaxed) << 24);
    // Connections opened (and used once) before the clock starts: a storm
    // of connects would measure the listen backlog's SYN retries, not the
    // engine.
    let workers = burst.clamp(1, BURST_CONNECTIONS) as usize;
    let ready = Arc::new(tokio::sync::Barrier::new(workers + 1));
    let next = Arc::new(AtomicU64::new(first));
    let buyers: Vec<_> = (0..workers)
        .map(|_| {
            let (target, path, body, jwt) = (target.to_owned(), path.clone(), body.clone(), jwt.to_owned());
            let (ready, next) = (ready.clone(), next.clone());
            tokio::spawn(async move {
                let mut conn = Conn::new(target);
                let _ = send(&mut conn, Method::GET, "/api/sales/x", None, None).await;
                ready.wait().await;
                let mut accepted = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= first + burst {
                        return accepted;
                    }
                    let bearer = token(&jwt, &format!("bench-{n}"));
                    let answer =
                        send(&mut conn, Method::POST, &path, Some(&bearer), Some(body.clone())).await;
                    if let Ok((202, body)) = answer {
                        if let Some(order) = serde_json::from_slice::<Value>(&body)
                            .ok()
                            .and_then(|v| v["order_id"].as_str().map(str::to_owned))
                        {
                            accepted.push((order, n));
                        }
                    }
                }
            })
        })
        .collect();
    ready.wait().await;
    let started = Instant::now();
    let mut accepted = Vec::new();
    for buyer in buyers {
        accepted.extend(buyer.await.unwrap_or_default());
    }
    if accepted.len() as u64 != burst {
        return Err(BenchError::Setup(format!(
            "{} of {burst} purchases were accepted on a sale of {burst} units",
            accepted.len()
        )));
    }
    if !confirm_all(&[target.to_owned()], jwt, &accepted, 32, 60.0).await {
        return Err(BenchError::Setup(
            "the burst's orders were not confirmed within 60 s".into(),
        ));
    }
    let confirmed_secs = started.elapsed().as_secs_f64();
    end(&mut Conn::new(target), admin, &sale).await?;
    let redis_bytes = match redis {
        Some(client) => Some(used_memory(client).await?),
        None => None,
    };
    Ok(Measure {
        confirmed_secs,
        redis_bytes,
    })
}

/// Ends `sale`.
async fn end(conn: &mut Conn, admin: &str, sale: &str) -> Result<(), BenchError> {
    let (status, body) = send(
        conn,
        Method::POST,
        &format!("/api/admin/sales/{sale}/end"),
        Some(admin),
        None,
    )
    .await?;
    if status != 200 {
        return Err(BenchError::Setup(format!(
            "ending {sale}: {status} {}",
            String::from_utf8_lossy(&body)
        )));
    }
    Ok(())
}

/// Redis's `used_memory`, in bytes.
async fn used_memory(client: &redis::Client) -> Result<u64, BenchError> {
    let fail = |e: redis::RedisError| BenchError::Setup(format!("redis: {e}"));
    let mut conn = client.get_multiplexed_async_connection().await.map_err(fail)?;
    let info: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut conn)
        .await
        .map_err(fail)?;
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| BenchError::Setup("redis: no used_memory in INFO".into()))
}

/// `count` sales of one unit, each created, started, sold to one buyer and
/// ended, `concurrency` at a time; with progress on stderr.
async fn make_ended_sales(
    target: &str,
    admin: &str,
    jwt: &str,
    count: u64,
    concurrency: usize,
) -> Result<Vec<String>, BenchError> {
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (target, admin, jwt) = (target.to_owned(), admin.to_owned(), jwt.to_owned());
            let (next, done) = (next.clone(), done.clone());
            tokio::spawn(async move {
                let mut conn = Conn::new(target);
                let mut made = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < count {
                    let sale = create_sale(&mut conn, &admin, 1, 1).await?;
                    let bearer = token(&jwt, "bench-history");
                    let body = Bytes::from(json!({"quantity": 1}).to_string());
                    let path = format!("/api/sales/{sale}/purchase");
                    let (status, answer) =
                        send(&mut conn, Method::POST, &path, Some(&bearer), Some(body)).await?;
                    if status != 202 {
                        return Err(BenchError::Setup(format!(
                            "buying the one unit of {sale}: {status} {}",
                            String::from_utf8_lossy(&answer)
                        )));
                    }
                    end(&mut conn, &admin, &sale).await?;
                    made.push(sale);
                    let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if n % (count / 10).max(1) == 0 {
                        eprintln!("{n} of {count} sales made, sold and ended");
                    }
                }
                Ok::<_, BenchError>(made)
            })
        })
        .collect();
    let mut sales = Vec::new();
    for w in workers {
        sales.extend(w.await.map_err(|e| BenchError::Setup(e.to_string()))??);
    }
    Ok(sales)
}

/// Waits until none of `sales` is live any more (the engine archived them),
/// reading the live listing page by page.
async fn wait_archived(target: &str, sales: &[String], timeout: f64) -> Result<(), BenchError> {
    let ours: std::collections::HashSet<&str> = sales.iter().map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs_f64(timeout);
    let mut conn = Conn::new(target);
    loop {
        let mut live = 0;
        let mut path = "/api/sales?limit=1000".to_owned();
        loop {
            let page = get_json(&mut conn, &path, None).await?;
            let page = page.as_array().cloned().unwrap_or_default();
            live += page
                .iter()
                .filter(|s| s["id"].as_str().is_some_and(|id| ours.contains(id)))
                .count();
            match page.last().and_then(|s| s["id"].as_str()) {
                Some(last) if page.len() == 1000 => path = format!("/api/sales?limit=1000&cursor={last}"),
                _ => break,
            }
        }
        if live == 0 {
            return Ok(());
        }
        eprintln!("{live} of {} ended sales not archived yet", sales.len());
        if Instant::now() >= deadline {
            return Err(BenchError::Setup(format!(
                "{live} ended sales still live after {timeout} s: is FLASHSALE_ARCHIVE_AFTER=0?"
            )));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
