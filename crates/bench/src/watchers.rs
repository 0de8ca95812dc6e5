//! `flashsale bench watchers`: what buyers' pages watching a sale cost the
//! engine. Opens N connections to the public live feed of one sale
//! (`GET /api/sales/{id}/live`), holds them while a buyer buys one unit a
//! second (so the figures change and every watcher gets an update), and
//! prints the engine's memory and CPU with the watchers against the same
//! engine idle, measured in the same run, and how fast updates reached
//! the watchers.
//!
//! Every watcher is one TCP connection on each side: raise the open-file
//! limit of both processes first (`ulimit -n 65536`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use hyper::body::Bytes;
use hyper::Method;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::stampede::{create_sale, send, token, BenchError, EngineSecrets};
use flashsale_testkit::http::{authority, Conn};

/// `flashsale bench watchers`.
#[derive(Debug, Clone, Args)]
pub struct WatchersArgs {
    /// The gateway.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub target: String,
    /// Live-feed connections to hold.
    #[arg(long, default_value_t = 10_000)]
    pub watchers: usize,
    /// Seconds to hold them (and to measure the engine idle before).
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    /// The engine's process id: its memory and CPU are read from /proc.
    #[arg(long)]
    pub pid: u32,
    #[command(flatten)]
    pub secrets: EngineSecrets,
}

/// What the watchers cost.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WatchersReport {
    pub watchers: usize,
    pub connected: usize,
    pub seconds: f64,
    pub rss_idle_mib: f64,
    pub rss_watched_mib: f64,
    /// CPU of the engine, in % of one core.
    pub cpu_idle_percent: f64,
    pub cpu_watched_percent: f64,
    /// Updates (after the first event) received per watcher, on average.
    pub updates_per_watcher: f64,
    pub purchases: u64,
    /// From a purchase's 202 until each watcher saw the new figures, ms.
    pub update_p50_ms: f64,
    pub update_p99_ms: f64,
}

impl WatchersReport {
    pub fn table(&self) -> String {
        let per = |a: f64, b: f64| (b - a) * 1024.0 / self.connected.max(1) as f64;
        format!(
            "FlashSale live feed: {} watchers ({} connected) of one sale for {:.0} s, one purchase a second\n\
             \x20 engine RSS      idle {:>7.1} MiB   watched {:>7.1} MiB   ({:.1} KiB per watcher)\n\
             \x20 engine CPU      idle {:>6.1} %     watched {:>6.1} %    (of one core)\n\
             \x20 updates         {:.1} per watcher ({} purchases); purchase → every watcher p50 {:.0} ms, p99 {:.0} ms\n",
            self.watchers,
            self.connected,
            self.seconds,
            self.rss_idle_mib,
            self.rss_watched_mib,
            per(self.rss_idle_mib, self.rss_watched_mib),
            self.cpu_idle_percent,
            self.cpu_watched_percent,
            self.updates_per_watcher,
            self.purchases,
            self.update_p50_ms,
            self.update_p99_ms
        )
    }
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> Option<f64> {
    crate::stampede::proc_memory_mib(pid, "VmRSS:")
}

/// CPU seconds a process used so far (user + system; Linux's 100 ticks/s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// CPU % of one core used by `pid` over `span`.
async fn cpu_over(pid: u32, span: Duration) -> f64 {
    let (before, at) = (cpu_seconds(pid).unwrap_or(0.0), Instant::now());
    tokio::time::sleep(span).await;
    (cpu_seconds(pid).unwrap_or(0.0) - before) / at.elapsed().as_secs_f64() * 100.0
}

/// One watcher: reads the stream, noting when each `sale` event arrives.
async fn watch(authority: String, path: String, seen: Arc<Seen>, stop: Arc<tokio::sync::Notify>) -> bool {
    let Ok(mut stream) = TcpStream::connect(&authority).await else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: {authority}\r\nAccept: text/event-stream\r\n\r\n");
    if stream.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut buf = vec![0u8; 4096];
    let mut first = true;
    loop {
        tokio::select! {
            _ = stop.notified() => return true,
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return !first,
                Ok(n) => {
                    let events = buf[..n].windows(11).filter(|w| w == b"event: sale").count();
                    if events > 0 {
                        if first {
                            seen.connected.fetch_add(1, Ordering::Relaxed);
                        }
                        let updates = if first { events - 1 } else { events };
                        first = false;
                        if updates > 0 {
                            seen.record(updates);
                        }
                    }
                }
            }
        }
    }
}

/// Updates seen by the watchers, and when.
#[derive(Default)]
struct Seen {
    connected: AtomicU64,
    updates: AtomicU64,
    /// Microseconds since the bench started, of each update received.
    arrivals: std::sync::Mutex<Vec<u64>>,
    started: std::sync::OnceLock<Instant>,
}

impl Seen {
    fn record(&self, updates: usize) {
        self.updates.fetch_add(updates as u64, Ordering::Relaxed);
        let at = self.started.get().map_or(0, |s| s.elapsed().as_micros() as u64);
        self.arrivals.lock().expect("arrivals lock").push(at);
    }
}

/// Runs the bench; see the module docs.
pub async fn run(args: &WatchersArgs) -> Result<WatchersReport, BenchError> {
    let authority = authority(&args.target).map_err(BenchError::Setup)?;
    let (admin, jwt) = args.secrets.read()?;
    let mut conn = Conn::new(authority.clone());
    let purchases = (args.seconds as u64 + 5).max(10);
    let sale = create_sale(&mut conn, &admin, purchases * 2, 1).await?;
    let span = Duration::from_secs_f64(args.seconds);
    let mut report = WatchersReport {
        watchers: args.watchers,
        seconds: args.seconds,
        ..WatchersReport::default()
    };

    eprintln!("measuring the engine idle for {:.0} s...", args.seconds);
    report.rss_idle_mib = rss_mib(args.pid).unwrap_or(0.0);
    report.cpu_idle_percent = cpu_over(args.pid, span).await;

    eprintln!("opening {} watchers...", args.watchers);
    let seen = Arc::new(Seen::default());
    let _ = seen.started.set(Instant::now());
    let stop = Arc::new(tokio::sync::Notify::new());
    let path = format!("/api/sales/{sale}/live");
    let gate = Arc::new(tokio::sync::Semaphore::new(256));
    let mut tasks = Vec::with_capacity(args.watchers);
    for _ in 0..args.watchers {
        let (authority, path, seen, stop, gate) = (
            authority.clone(),
            path.clone(),
            seen.clone(),
            stop.clone(),
            gate.clone(),
        );
        let permit = gate.acquire_owned().await.expect("the gate stays open");
        tasks.push(tokio::spawn(async move {
            // Connects under the gate (no SYN flood), then holds.
            let watching = watch(authority, path, seen, stop);
            tokio::pin!(watching);
            tokio::select! {
                done = &mut watching => { drop(permit); done }
                _ = tokio::time::sleep(Duration::from_millis(50)) => { drop(permit); watching.await }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (seen.connected.load(Ordering::Relaxed) as usize) < args.watchers && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    report.connected = seen.connected.load(Ordering::Relaxed) as usize;
    if report.connected < args.watchers {
        eprintln!(
            "only {} of {} watchers connected: raise the open-file limit (ulimit -n) of both processes",
            report.connected, args.watchers
        );
    }

    eprintln!("holding them for {:.0} s, one purchase a second...", args.seconds);
    let buyer = {
        let (authority, jwt, sale) = (authority.clone(), jwt.clone(), sale.clone());
        tokio::spawn(async move {
            let mut conn = Conn::new(authority);
            let mut at = Vec::new();
            let started = Instant::now();
            let mut n = 0;
            while started.elapsed() < span {
                let bearer = token(&jwt, &format!("watch-buyer-{n}"));
                n += 1;
                let sent = Instant::now();
                let ok = send(
                    &mut conn,
                    Method::POST,
                    &format!("/api/sales/{sale}/purchase"),
                    Some(&bearer),
                    Some(Bytes::from_static(br#"{"quantity":1}"#)),
                )
                .await
                .is_ok_and(|(s, _)| s == 202);
                if ok {
                    at.push(sent);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            at
        })
    };
    report.cpu_watched_percent = cpu_over(args.pid, span).await;
    report.rss_watched_mib = rss_mib(args.pid).unwrap_or(0.0);
    let bought = buyer.await.map_err(|e| BenchError::Setup(e.to_string()))?;
    stop.notify_waiters();
    for t in tasks {
        t.abort();
    }
    report.purchases = bought.len() as u64;
    report.updates_per_watcher = seen.updates.load(Ordering::Relaxed) as f64 / report.connected.max(1) as f64;
    // Each arrival's delay after the latest purchase before it.
    let started = *seen.started.get().expect("set above");
    let sent: Vec<u64> = bought
        .iter()
        .map(|t| t.saturating_duration_since(started).as_micros() as u64)
        .collect();
    let mut delays: Vec<f64> = seen
        .arrivals
        .lock()
        .expect("arrivals lock")
        .iter()
        .filter_map(|at| {
            sent.iter()
                .rev()
                .find(|s| *s <= at)
                .map(|s| (at - s) as f64 / 1000.0)
        })
        .collect();
    delays.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        delays
            .get(((delays.len() as f64 * p) as usize).min(delays.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    report.update_p50_ms = pct(0.50);
    report.update_p99_ms = pct(0.99);
    Ok(report)
}
