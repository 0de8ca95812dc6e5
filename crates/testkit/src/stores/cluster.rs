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

/// How long a silent master takes to be failed over: short, for tests
/// (Redis's default is 15 s).
const NODE_TIMEOUT_MS: u32 = 1_000;

/// The nodes of a local cluster: masters, and replicas of theirs.
pub struct RedisCluster {
    dir: PathBuf,
    /// Where the nodes' pids are recorded for a watchdog (see [`record_pid`]).
    watchdog_dir: PathBuf,
    ports: Vec<u16>,
    replicas: usize,
}

impl RedisCluster {
    /// Picks free ports for `masters` masters (three at least: Redis
    /// Cluster's minimum), each with `replicas` replicas, for a cluster in
    /// `dir` whose nodes the watchdog of `watchdog_dir` stops; starts nothing.
    pub fn create(dir: &Path, watchdog_dir: &Path, masters: usize, replicas: usize) -> Result<Self, Error> {
        let mut ports = Vec::new();
        // A node also listens on its port + 10000 (the cluster bus), which
        // must stay below the ephemeral range: an outgoing connection could
        // take it there, and the node would fail to start.
        let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()))
            .unwrap_or(32_768);
        while ports.len() < masters.max(3) * (1 + replicas) {
            let port = free_port()?;
            let bus = u32::from(port) + 10_000;
            if bus < ephemeral && !port_open(bus as u16) && !ports.contains(&port) {
                ports.push(port);
            }
        }
        Ok(Self {
            dir: dir.to_owned(),
            watchdog_dir: watchdog_dir.to_owned(),
            ports,
            replicas,
        })
    }

    /// Every node's port.
    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// `kill -9` of the node on `port`.
    pub async fn kill9(&self, port: u16) {
        self.signal(port, "KILL").await;
    }

    /// `SIGSTOP` of the node on `port`: it holds its connections and
    /// answers nothing, nor replicates, until [`Self::resume`].
    pub async fn pause(&self, port: u16) {
        self.signal(port, "STOP").await;
    }

    pub async fn resume(&self, port: u16) {
        self.signal(port, "CONT").await;
    }

    async fn signal(&self, port: u16, name: &str) {
        if let Some(pid) = read_pid(&self.dir.join(port.to_string()).join("redis.pid")) {
            super::servers::signal(pid, name).await;
        }
    }

    /// `kill -9` of every node.
    pub async fn stop(&self) {
        for port in &self.ports {
            self.kill9(*port).await;
        }
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

    /// Starts the nodes, joins them into one cluster with the slots spread
    /// evenly (and the replicas assigned), and returns once every node sees
    /// the cluster up and every replica is in sync.
    pub async fn start(&self) -> Result<(), Error> {
        for port in &self.ports {
            self.start_node(*port).await?;
        }
        let mut create = Command::new("redis-cli");
        create.args(["--cluster", "create"]);
        for port in &self.ports {
            create.arg(format!("127.0.0.1:{port}"));
        }
        create.args(["--cluster-replicas", &self.replicas.to_string(), "--cluster-yes"]);
        run(&mut create, "redis-cli --cluster create").await?;
        let deadline = tokio::time::Instant::now() + FORM_BOUND;
        for port in &self.ports {
            while !cluster_ok(*port).await || !replica_in_sync(*port).await {
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

    /// Starts (or starts again, with its cluster configuration and data)
    /// the node on `port`; a master that was failed over comes back as a
    /// replica of its successor.
    pub async fn start_node(&self, port: u16) -> Result<(), Error> {
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("redis cluster folder", e))?;
        let _ = std::fs::remove_file(dir.join("redis.pid"));
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"])
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            // A replica takes over however long ago it last heard its
            // master: with a 1 s node timeout, the default factor (10)
            // refuses failovers the tests need.
            .args(["--cluster-replica-validity-factor", "0"])
            .arg("--dir")
            .arg(&dir)
            .args(["--appendonly", "yes", "--appendfsync", "everysec", "--save", ""])
            .args(["--daemonize", "yes", "--logfile"])
            .arg(dir.join("redis.log"))
            .arg("--pidfile")
            .arg(dir.join("redis.pid"));
        run(&mut cmd, "redis-server (cluster node)").await?;
        wait_for_port(port, FORM_BOUND, "redis-server (cluster node)").await?;
        // The daemon may write its pid file after it opened its port.
        let deadline = tokio::time::Instant::now() + FORM_BOUND;
        loop {
            if let Some(pid) = read_pid(&dir.join("redis.pid")) {
                record_pid(&self.watchdog_dir, pid);
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::new(format!(
                    "cluster node {port} wrote no pid file (see {})",
                    dir.join("redis.log").display()
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl RedisCluster {
    /// Cuts the master on `port` off from its replicas, as a partition
    /// would, while its clients keep their connections: it starts requiring
    /// a password its replicas do not have and drops their links, so they
    /// cannot resynchronise. What it takes from then on exists only on it
    /// (a restart clears the password: it is not in the node's
    /// configuration file). Pausing the replica instead is no partition on
    /// loopback: the master's last writes wait in the socket buffers and
    /// reach it when it resumes.
    pub async fn cut_off_replicas(&self, port: u16) -> Result<(), Error> {
        let fail = |e: redis::RedisError| Error::new(format!("cut off the replicas of :{port}: {e}"));
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).map_err(fail)?;
        let mut conn = client.get_multiplexed_async_connection().await.map_err(fail)?;
        let password = format!("partition-{}", std::process::id());
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("requirepass")
            .arg(&password)
            .query_async::<()>(&mut conn)
            .await
            .map_err(fail)?;
        redis::cmd("CLIENT")
            .arg("KILL")
            .arg("TYPE")
            .arg("replica")
            .query_async::<i64>(&mut conn)
            .await
            .map_err(fail)?;
        Ok(())
    }

    /// The port of the master serving `key`'s slot, and its replicas'
    /// ports, as the first node that answers sees them.
    pub async fn slot_owner(&self, key: &str) -> Result<(u16, Vec<u16>), Error> {
        slot_owner(&self.ports, key).await
    }
}

/// [`RedisCluster::slot_owner`] for a cluster known by its nodes' ports
/// (a shared cluster: `127.0.0.1:<port>` each).
pub async fn slot_owner(ports: &[u16], key: &str) -> Result<(u16, Vec<u16>), Error> {
    for port in ports {
        if let Some(owner) = slot_owner_seen_by(*port, key).await {
            return Ok(owner);
        }
    }
    Err(Error::new(format!("no cluster node says who serves {key}")))
}

/// [`RedisCluster::slot_owner`] as the node on `port` answers it.
async fn slot_owner_seen_by(port: u16, key: &str) -> Option<(u16, Vec<u16>)> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let mut conn = tokio::time::timeout(Duration::from_secs(1), client.get_multiplexed_async_connection())
        .await
        .ok()?
        .ok()?;
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(&mut conn)
        .await
        .ok()?;
    // Each range: from, to, its master (host, port, id), then its replicas.
    let ranges: Vec<Vec<redis::Value>> = redis::cmd("CLUSTER")
        .arg("SLOTS")
        .query_async(&mut conn)
        .await
        .ok()?;
    let int = |v: Option<&redis::Value>| match v {
        Some(redis::Value::Int(n)) => Some(*n),
        _ => None,
    };
    let port_of = |node: &redis::Value| match node {
        redis::Value::Array(node) => int(node.get(1)).and_then(|p| u16::try_from(p).ok()),
        _ => None,
    };
    let range = ranges.iter().find(
        |r| matches!((int(r.first()), int(r.get(1))), (Some(from), Some(to)) if (from..=to).contains(&slot)),
    )?;
    let master = port_of(range.get(2)?)?;
    Some((master, range[3..].iter().filter_map(port_of).collect()))
}

/// Whether the node on `port` is a master, or a replica whose link to its
/// master is up.
async fn replica_in_sync(port: u16) -> bool {
    node_says(port, &["INFO", "replication"])
        .await
        .is_some_and(|info| info.contains("role:master") || info.contains("master_link_status:up"))
}

/// Whether the node on `port` reports `cluster_state:ok`.
async fn cluster_ok(port: u16) -> bool {
    node_says(port, &["CLUSTER", "INFO"])
        .await
        .is_some_and(|info| info.contains("cluster_state:ok"))
}

/// What the node on `port` answers to `command`, if it answers.
async fn node_says(port: u16, command: &[&str]) -> Option<String> {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
    let mut conn = client.get_multiplexed_async_connection().await.ok()?;
    let (name, args) = command.split_first()?;
    redis::cmd(name).arg(args).query_async(&mut conn).await.ok()
}
