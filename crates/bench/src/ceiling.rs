//! The physical limit of this machine's HTTP stack, as the denominator of
//! every figure: a bare axum server answering a purchase-shaped JSON POST
//! (read the body, parse it, answer 202 with a small JSON), nothing else,
//! on its own multi-threaded runtime as the engine runs (one worker per
//! core), measured by the stampede's own generator with the same tokens
//! and the same work per answer.
//!
//! And what a stampede cost the stores, read from the stores themselves:
//! Redis's own time per accepted purchase (`INFO commandstats`) and
//! PostgreSQL's commits per 1,000 orders (`pg_stat_database`).

use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Deserialize)]
struct Purchase {
    quantity: u32,
}

/// The bare server, on a thread and a runtime of its own; stops when
/// dropped.
pub struct BareServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl BareServer {
    pub fn start() -> std::io::Result<Self> {
        let (ready, addr) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return drop(ready.send(Err(e))),
            };
            runtime.block_on(async move {
                // The engine's own accept queue, so both pay the same.
                let listener = match flashsale_gateway::listen::listen(([127, 0, 0, 1], 0).into()) {
                    Ok(l) => l,
                    Err(e) => return drop(ready.send(Err(e))),
                };
                let _ = ready.send(listener.local_addr());
                let next = Arc::new(AtomicU64::new(0));
                let app = Router::new().route(
                    "/purchase",
                    post(move |Json(p): Json<Purchase>| {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        async move {
                            (
                                axum::http::StatusCode::ACCEPTED,
                                Json(json!({"order_id": format!("{n:032x}"), "status": "pending",
                                            "remaining": p.quantity})),
                            )
                        }
                    }),
                );
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        let addr = addr
            .recv()
            .map_err(|_| std::io::Error::other("the bare server's thread died"))??;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What Redis has done since it started: its main thread's CPU time and
/// its per-command counters; on a cluster, summed over its nodes.
#[derive(Debug, Clone, Default)]
pub struct RedisStats {
    /// `used_cpu_sys_main_thread + used_cpu_user_main_thread`, µs: the core
    /// that saturates first, network and event loop included.
    cpu_usec: f64,
    /// The same for each node, in the order the URL names them.
    node_cpu_usec: Vec<f64>,
    /// command → (calls, µs). Commands a script runs are counted here too,
    /// and their time is also inside the script's own.
    commands: HashMap<String, (u64, u64)>,
}

/// `INFO cpu commandstats` of the Redis at `url`, or of every node of a
/// cluster (several URLs, comma-separated), summed.
pub async fn redis_stats(url: &str) -> Result<RedisStats, String> {
    let mut total = RedisStats::default();
    for node in url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let client = redis::Client::open(node).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        let info: String = redis::cmd("INFO")
            .arg("cpu")
            .arg("commandstats")
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let stats = parse_redis_stats(&info);
        total.cpu_usec += stats.cpu_usec;
        total.node_cpu_usec.push(stats.cpu_usec);
        for (name, (calls, usec)) in stats.commands {
            let row = total.commands.entry(name).or_default();
            row.0 += calls;
            row.1 += usec;
        }
    }
    Ok(total)
}

fn parse_redis_stats(info: &str) -> RedisStats {
    let seconds = |key: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.trim().parse::<f64>().ok())
    };
    // Redis before 6.2 reports the whole process only.
    let cpu = match (
        seconds("used_cpu_sys_main_thread"),
        seconds("used_cpu_user_main_thread"),
    ) {
        (Some(sys), Some(user)) => sys + user,
        _ => seconds("used_cpu_sys").unwrap_or(0.0) + seconds("used_cpu_user").unwrap_or(0.0),
    };
    // cmdstat_evalsha:calls=12,usec=345,usec_per_call=28.75,...
    let commands = info
        .lines()
        .filter_map(|line| {
            let (name, fields) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let field = |key: &str| {
                fields
                    .split(',')
                    .find_map(|f| f.strip_prefix(key))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            Some((name.to_owned(), (field("calls=")?, field("usec=")?)))
        })
        .collect();
    RedisStats {
        cpu_usec: cpu * 1e6,
        node_cpu_usec: vec![cpu * 1e6],
        commands,
    }
}

/// What Redis did between two snapshots, per accepted purchase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RedisCost {
    /// Redis's main-thread CPU: everything the pipeline cost Redis.
    pub cpu_usec_per_purchase: f64,
    /// Time inside scripts (`EVAL`/`EVALSHA`), their commands included.
    pub script_usec_per_purchase: f64,
    /// Commands, those run inside scripts included.
    pub commands_per_purchase: f64,
    /// The commands that took most of the time: (command, µs per purchase);
    /// a command scripts run shows its time inside them as well.
    pub top: Vec<(String, f64)>,
    /// On a cluster: each node's CPU per accepted purchase (of the whole
    /// stampede), the figure a machine per master would run in parallel.
    pub node_cpu_usec_per_purchase: Vec<f64>,
}

pub fn redis_cost(before: &RedisStats, after: &RedisStats, purchases: u64) -> RedisCost {
    let per = purchases.max(1) as f64;
    let mut rows: Vec<(String, u64, u64)> = after
        .commands
        .iter()
        .map(|(name, (calls, usec))| {
            let (c0, u0) = before.commands.get(name).copied().unwrap_or((0, 0));
            (name.clone(), calls.saturating_sub(c0), usec.saturating_sub(u0))
        })
        .filter(|(name, calls, _)| *calls > 0 && name != "info")
        .collect();
    rows.sort_by_key(|(_, _, usec)| std::cmp::Reverse(*usec));
    let scripts: u64 = rows
        .iter()
        .filter(|(name, _, _)| name == "eval" || name == "evalsha")
        .map(|r| r.2)
        .sum();
    RedisCost {
        cpu_usec_per_purchase: (after.cpu_usec - before.cpu_usec).max(0.0) / per,
        script_usec_per_purchase: scripts as f64 / per,
        commands_per_purchase: rows.iter().map(|r| r.1).sum::<u64>() as f64 / per,
        top: rows
            .iter()
            .take(5)
            .map(|(name, _, usec)| (name.clone(), *usec as f64 / per))
            .collect(),
        node_cpu_usec_per_purchase: after
            .node_cpu_usec
            .iter()
            .zip(before.node_cpu_usec.iter().chain(std::iter::repeat(&0.0)))
            .map(|(a, b)| (a - b).max(0.0) / per)
            .collect(),
    }
}

/// Transactions committed so far in the database at `url`.
pub async fn postgres_commits(url: &str) -> Result<i64, String> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .map_err(|e| e.to_string())?;
    // Statistics are flushed by each backend at most every second.
    let commits: i64 =
        sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
    let _ = conn.close().await;
    Ok(commits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_commands_are_not_counted_twice() {
        let before = parse_redis_stats(
            "# CPU\r\nused_cpu_sys_main_thread:1.000000\r\nused_cpu_user_main_thread:2.000000\r\n\
             # Commandstats\r\ncmdstat_evalsha:calls=10,usec=100,usec_per_call=10.00\r\n",
        );
        let after = parse_redis_stats(
            "used_cpu_sys_main_thread:1.000500\nused_cpu_user_main_thread:2.001500\n\
             cmdstat_evalsha:calls=20,usec=300,usec_per_call=15.00\n\
             cmdstat_hset:calls=30,usec=60,usec_per_call=2.00\n",
        );
        let cost = redis_cost(&before, &after, 10);
        assert!((cost.cpu_usec_per_purchase - 200.0).abs() < 1e-6, "{cost:?}");
        assert!((cost.script_usec_per_purchase - 20.0).abs() < 1e-9, "{cost:?}");
        assert!((cost.commands_per_purchase - 4.0).abs() < 1e-9, "{cost:?}");
        assert_eq!(cost.top[0].0, "evalsha");
    }
}
