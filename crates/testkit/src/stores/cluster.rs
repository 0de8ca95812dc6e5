//! A local Redis Cluster for tests: masters on free ports (each with its
//! cluster bus port, +10000, free too), in a folder of their own, joined
//! with `redis-cli --cluster create` and ready once every node reports
//! `cluster_state:ok`. The nodes are daemons recorded for the watchdog of
//! the stores they sit beside, so they stop when the test binary exits.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use super::servers::{free_port, port_open, read_pid, record_pid, run, wait_for_port};
use crate::Error;

/// How long the cluster may take to form.
const FORM_BOUND: Duration = Duration::from_secs(30);

/// The nodes of a local cluster, every one a master.
pub struct RedisCluster {
    dir: PathBuf,
    ports: Vec<u16>,
}

impl RedisCluster {
    /// Picks `masters` free ports (three at least: Redis Cluster's minimum)
    /// for a cluster in `dir`; starts nothing.
    pub fn create(dir: &Path, masters: usize) -> Result<Self, Error> {
        let mut ports = Vec::new();
        while ports.len() < masters.max(3) {
            let port = free_port()?;
            let bus = port.checked_add(10_000).filter(|bus| !port_open(*bus));
            if bus.is_some() && !ports.contains(&port) {
                ports.push(port);
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            ports,
        })
    }

    /// `redis://127.0.0.1:<port>` of every node, comma-separated: the form
    /// `FLASHSALE_REDIS_URL` takes for a cluster.
    pub fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts the nodes, recording their pids in `watchdog_dir` (see
    /// [`record_pid`]), joins them into one cluster with the slots spread
    /// evenly, and returns once every node sees the cluster up.
    pub async fn start(&self, watchdog_dir: &Path) -> Result<(), Error> {
        for port in &self.ports {
            let dir = self.dir.join(port.to_string());
            std::fs::create_dir_all(&dir).map_err(|e| Error::io("redis cluster folder", e))?;
            let mut cmd = Command::new("redis-server");
            cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
                .arg("--dir")
                .arg(&dir)
                .args(["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""])
                .args(["--daemonize", "yes", "--logfile"])
                .arg(dir.join("redis.log"))
                .arg("--pidfile")
                .arg(dir.join("redis.pid"));
            run(&mut cmd, "redis-server (cluster node)").await?;
            wait_for_port(*port, FORM_BOUND, "redis-server (cluster node)").await?;
            // The daemon may write its pid file after it opened its port.
            let deadline = tokio::time::Instant::now() + FORM_BOUND;
            loop {
                if let Some(pid) = read_pid(&dir.join("redis.pid")) {
                    record_pid(watchdog_dir, pid);
                    break;
                }
                if tokio::time::Instant::now() > deadline {
                    return Err(Error::new(format!("cluster node {port} wrote no pid file")));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]);
        for port in &self.ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        run(&mut create, "redis-cli --cluster create").await?;
        let deadline = tokio::time::Instant::now() + FORM_BOUND;
        for port in &self.ports {
            while !cluster_ok(*port).await {
                if tokio::time::Instant::now() > deadline {
                    return Err(Error::new(format!(
                        "the cluster did not form within {FORM_BOUND:?} (node {port})"
                    )));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Ok(())
    }
}

/// Whether the node on `port` reports `cluster_state:ok`.
async fn cluster_ok(port: u16) -> bool {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}")) else {
        return false;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    redis::cmd("CLUSTER")
        .arg("INFO")
        .query_async::<String>(&mut conn)
        .await
        .is_ok_and(|info| info.contains("cluster_state:ok"))
}
