//! Private Redis, PostgreSQL and RabbitMQ servers in one folder, that a
//! test may break: `kill -9`, `pg_ctl -m immediate`, `SIGSTOP`, and start
//! again on the same ports and data.
//!
//! The recipes: ports below the kernel's ephemeral range (no outgoing
//! connection takes one between the check and a restart), RabbitMQ with its
//! own config and env files (the machine's may pin the listener to 5672),
//! PostgreSQL run as the user `postgres` when this process is root. Each
//! user of the servers gets a fresh Redis database, a fresh PostgreSQL
//! database and queue names of its own ([`Stores::fresh`]).
//!
//! Unless they are started detached (`flashsale-stores start`), a watchdog
//! process stops the servers, kills the engine processes listed in the
//! folder's `pids` file and removes the folder once this process exits,
//! however it exits.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use tokio::process::Command;

use crate::Error;

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// How long a store may take to open its port after a (re)start.
const START_BOUND: Duration = Duration::from_secs(60);

/// Redis databases: one per user of the servers.
const REDIS_DATABASES: u32 = 1024;

/// The file in the folder that records the servers' ports and names, so a
/// later process can find them again ([`Stores::open`]).
const RECORD: &str = "stores.env";

/// How Redis writes its append-only file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    /// `appendfsync always`: every write on disk before the reply.
    Always,
    /// `appendfsync everysec`: up to a second of writes in the page cache.
    EverySec,
}

impl Fsync {
    pub fn as_str(self) -> &'static str {
        match self {
            Fsync::Always => "always",
            Fsync::EverySec => "everysec",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [Fsync::Always, Fsync::EverySec]
            .into_iter()
            .find(|f| f.as_str() == raw)
    }
}

/// How the servers are set up.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Redis's `appendfsync`.
    pub fsync: Fsync,
    /// PostgreSQL with `fsync=off`: for tests, where a crash of the host
    /// loses nothing that matters.
    pub postgres_fsync_off: bool,
    /// The servers stop when this process exits (a watchdog process).
    pub watchdog: bool,
}

/// The three servers, in one temporary folder.
pub struct Stores {
    dir: PathBuf,
    pub redis: RedisServer,
    pub postgres: PostgresServer,
    pub rabbit: RabbitServer,
    next_db: AtomicU32,
}

/// The URLs one scenario uses: its own Redis database, PostgreSQL database
/// and order queue.
#[derive(Debug, Clone)]
pub struct StoreEnv {
    pub redis: String,
    pub database: String,
    pub amqp: String,
    pub queue: String,
}

impl Stores {
    /// Starts the three servers in a fresh temporary folder, stopped when
    /// this process exits (about 5 s, RabbitMQ being the slowest).
    pub async fn start(fsync: Fsync) -> Result<Self, Error> {
        static RUN: AtomicU32 = AtomicU32::new(0);
        let run = format!("{}-{}", std::process::id(), RUN.fetch_add(1, Ordering::Relaxed));
        let stores = Self::create(
            &std::env::temp_dir().join(format!("flashsale-stores-{run}")),
            Options {
                fsync,
                postgres_fsync_off: true,
                watchdog: true,
            },
        )?;
        stores.boot().await?;
        Ok(stores)
    }

    /// Sets up the three servers in `dir` (emptied first) on free ports,
    /// records them there, and starts the watchdog if asked; starts none.
    pub fn create(dir: &Path, options: Options) -> Result<Self, Error> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| Error::io("create the stores' folder", e))?;
        set_mode(dir, 0o755)?;
        let name = dir
            .file_name()
            .map_or_else(|| "flashsale-stores".into(), |n| n.to_string_lossy().into_owned());
        let rabbit_port = free_port()?;
        let stores = Self {
            dir: dir.to_owned(),
            redis: RedisServer {
                dir: dir.join("redis"),
                port: free_port()?,
                fsync: options.fsync,
            },
            postgres: PostgresServer {
                dir: dir.join("postgres"),
                port: free_port()?,
                fsync_off: options.postgres_fsync_off,
            },
            rabbit: RabbitServer {
                dir: dir.join("rabbitmq"),
                port: rabbit_port,
                dist_port: free_port()?,
                // Unique on this host (two folders may share a name): a node
                // name already taken stops the new one from starting.
                node: format!("{name}-{rabbit_port}@localhost"),
            },
            next_db: AtomicU32::new(1),
        };
        if options.watchdog {
            watchdog(dir, &stores.redis, &stores.postgres, &stores.rabbit);
        }
        let record = format!(
            "REDIS_PORT={}\nREDIS_FSYNC={}\nPG_PORT={}\nPG_FSYNC_OFF={}\nRABBIT_PORT={}\nRABBIT_DIST_PORT={}\nRABBIT_NODE={}\n",
            stores.redis.port,
            options.fsync.as_str(),
            stores.postgres.port,
            options.postgres_fsync_off,
            stores.rabbit.port,
            stores.rabbit.dist_port,
            stores.rabbit.node,
        );
        std::fs::write(dir.join(RECORD), record).map_err(|e| Error::io("record the stores", e))?;
        Ok(stores)
    }

    /// The servers set up in `dir` by [`Stores::create`], as recorded there.
    pub fn open(dir: &Path) -> Result<Self, Error> {
        let record = std::fs::read_to_string(dir.join(RECORD))
            .map_err(|e| Error::io(&format!("{} has no stores", dir.display()), e))?;
        let field = |key: &str| {
            record
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(str::to_owned)
                .ok_or_else(|| Error::new(format!("{RECORD} lacks {key}")))
        };
        let port = |key: &str| {
            field(key)?
                .parse::<u16>()
                .map_err(|e| Error::new(format!("{key}: {e}")))
        };
        Ok(Self {
            dir: dir.to_owned(),
            redis: RedisServer {
                dir: dir.join("redis"),
                port: port("REDIS_PORT")?,
                fsync: Fsync::parse(&field("REDIS_FSYNC")?).unwrap_or(Fsync::EverySec),
            },
            postgres: PostgresServer {
                dir: dir.join("postgres"),
                port: port("PG_PORT")?,
                fsync_off: field("PG_FSYNC_OFF")? == "true",
            },
            rabbit: RabbitServer {
                dir: dir.join("rabbitmq"),
                port: port("RABBIT_PORT")?,
                dist_port: port("RABBIT_DIST_PORT")?,
                node: field("RABBIT_NODE")?,
            },
            next_db: AtomicU32::new(1),
        })
    }

    /// Initialises and starts the three servers, RabbitMQ (the slowest)
    /// booting while the others start.
    pub async fn boot(&self) -> Result<(), Error> {
        let (rabbit, others) = tokio::join!(self.rabbit.boot(), async {
            self.redis.boot().await?;
            self.postgres.boot().await
        });
        rabbit.and(others)
    }

    /// The suite's folder (logs of the stores and of the engine processes).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A Redis database, a PostgreSQL database and queue names no other
    /// scenario uses.
    pub async fn fresh(&self, name: &str) -> Result<StoreEnv, Error> {
        let n = self.next_redis_db()?;
        let db = format!(
            "s_{n}_{}",
            name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        );
        Ok(StoreEnv {
            redis: self.redis.url(n),
            database: self.postgres.create_database(&db).await?,
            amqp: self.rabbit.url(),
            queue: format!("orders-{name}-{n}"),
        })
    }

    /// A Redis database number no other user of these servers has.
    pub fn next_redis_db(&self) -> Result<u32, Error> {
        let n = self.next_db.fetch_add(1, Ordering::Relaxed);
        if n >= REDIS_DATABASES {
            return Err(Error::new("out of Redis databases"));
        }
        Ok(n)
    }

    /// Makes sure all three answer (a scenario that failed half-way may have
    /// left one stopped).
    pub async fn ensure_running(&self) -> Result<(), Error> {
        if !self.redis.is_up() {
            self.redis.resume().await;
            if !self.redis.is_up() {
                self.redis.start().await?;
            }
        }
        if !self.postgres.is_up() {
            self.postgres.start().await?;
        }
        if !self.rabbit.is_up() {
            self.rabbit.start().await?;
        }
        Ok(())
    }

    /// Stops the servers and removes the folder.
    pub async fn stop(self) {
        self.redis.kill9().await;
        let _ = self.postgres.stop_immediate().await;
        self.rabbit.kill9().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Stops the servers cleanly (Redis and PostgreSQL flush, RabbitMQ
    /// stops its node), killing what does not stop in time; keeps the folder.
    pub async fn shut_down(&self) {
        let mut redis = Command::new("redis-cli");
        redis.args(["-p", &self.redis.port.to_string(), "shutdown"]);
        let _ = run(&mut redis, "redis-cli shutdown").await;
        self.redis.kill9().await;
        let mut pg = as_user("postgres", &format!("{PG_BIN}/pg_ctl"));
        pg.arg("-D")
            .arg(self.postgres.data())
            .args(["-m", "fast", "-w", "-t", "20", "stop"]);
        if run(&mut pg, "pg_ctl stop").await.is_err() {
            let _ = self.postgres.stop_immediate().await;
        }
        let mut rabbit = Command::new("rabbitmqctl");
        rabbit.args(["-n", &self.rabbit.node, "stop"]);
        let _ = tokio::time::timeout(Duration::from_secs(30), run(&mut rabbit, "rabbitmqctl stop")).await;
        self.rabbit.kill9().await;
    }
}

/// The private Redis server.
pub struct RedisServer {
    dir: PathBuf,
    pub port: u16,
    fsync: Fsync,
}

impl RedisServer {
    pub async fn boot(&self) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io("redis folder", e))?;
        self.start().await
    }

    /// `redis://127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: u32) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    fn is_up(&self) -> bool {
        port_open(self.port)
    }

    /// Starts (or restarts) the server on its port and data; returns once
    /// it accepts connections and has loaded its append-only file.
    pub async fn start(&self) -> Result<(), Error> {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&self.dir)
            .args(["--appendonly", "yes", "--appendfsync", self.fsync.as_str()])
            .args([
                "--save",
                "",
                "--databases",
                &REDIS_DATABASES.to_string(),
                "--daemonize",
                "yes",
                "--logfile",
            ])
            .arg(self.dir.join("redis.log"))
            .arg("--pidfile")
            .arg(self.dir.join("redis.pid"));
        run(&mut cmd, "redis-server").await?;
        wait_for_port(self.port, START_BOUND, "redis-server").await?;
        // Loading the AOF answers -LOADING until done.
        let client = redis::Client::open(self.url(0)).map_err(|e| Error::new(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + START_BOUND;
        loop {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok() {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(Error::new("redis did not finish loading"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        read_pid(&self.dir.join("redis.pid"))
    }

    /// `CONFIG SET name value` (until the next restart).
    pub async fn config_set(&self, name: &str, value: &str) -> Result<(), Error> {
        let client = redis::Client::open(self.url(0)).map_err(|e| Error::new(e.to_string()))?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| Error::new(e.to_string()))?;
        redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query_async::<()>(&mut conn)
            .await
            .map_err(|e| Error::new(e.to_string()))
    }

    /// `kill -9`; returns once the port is closed.
    pub async fn kill9(&self) {
        if let Some(pid) = self.pid() {
            signal(pid, "KILL").await;
            let _ = std::fs::remove_file(self.dir.join("redis.pid"));
            wait_closed(self.port).await;
        }
    }

    pub async fn pause(&self) {
        if let Some(pid) = self.pid() {
            signal(pid, "STOP").await;
        }
    }

    pub async fn resume(&self) {
        if let Some(pid) = self.pid() {
            signal(pid, "CONT").await;
        }
    }
}

/// The private PostgreSQL server.
pub struct PostgresServer {
    dir: PathBuf,
    pub port: u16,
    fsync_off: bool,
}

impl PostgresServer {
    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub async fn boot(&self) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir).map_err(|e| Error::io("postgres folder", e))?;
        chown(&self.dir, "postgres").await?;
        let mut cmd = as_user("postgres", &format!("{PG_BIN}/initdb"));
        cmd.arg("-D")
            .arg(self.data())
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]);
        run(&mut cmd, "initdb").await?;
        self.start().await
    }

    /// Creates the empty database `name`; returns its URL.
    pub async fn create_database(&self, name: &str) -> Result<String, Error> {
        let pool = sqlx::PgPool::connect(&self.url("postgres"))
            .await
            .map_err(|e| Error::new(format!("connect to postgres: {e}")))?;
        let created = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await;
        pool.close().await;
        created.map_err(|e| Error::new(format!("create database {name}: {e}")))?;
        Ok(self.url(name))
    }

    /// `postgres://postgres@127.0.0.1:<port>/<db>`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn is_up(&self) -> bool {
        port_open(self.port)
    }

    /// `pg_ctl start` (crash recovery first after an immediate stop).
    pub async fn start(&self) -> Result<(), Error> {
        let mut cmd = as_user("postgres", &format!("{PG_BIN}/pg_ctl"));
        cmd.arg("-D")
            .arg(self.data())
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=300{}",
                self.port,
                self.dir.display(),
                if self.fsync_off { " -c fsync=off" } else { "" }
            ))
            .arg("-l")
            .arg(self.dir.join("postgres.log"))
            .args(["-w", "-t", "60", "start"]);
        run(&mut cmd, "pg_ctl start").await
    }

    /// `pg_ctl -m immediate stop`: every backend dies at once, no
    /// checkpoint, as in a crash; the next start replays the WAL.
    pub async fn stop_immediate(&self) -> Result<(), Error> {
        let mut cmd = as_user("postgres", &format!("{PG_BIN}/pg_ctl"));
        cmd.arg("-D").arg(self.data()).args(["-m", "immediate", "stop"]);
        run(&mut cmd, "pg_ctl stop").await
    }

    /// The postmaster's pid.
    pub fn pid(&self) -> Option<u32> {
        read_pid(&self.data().join("postmaster.pid"))
    }

    /// `SIGSTOP` of every PostgreSQL process (the postmaster first, so it
    /// starts no backend meanwhile): a stalled database, whose connections
    /// stay open and answer nothing.
    pub async fn pause(&self) {
        if let Some(pid) = self.pid() {
            signal(pid, "STOP").await;
            for child in children(pid) {
                signal(child, "STOP").await;
            }
        }
    }

    /// `SIGCONT` of every PostgreSQL process, the postmaster last.
    pub async fn resume(&self) {
        if let Some(pid) = self.pid() {
            for child in children(pid) {
                signal(child, "CONT").await;
            }
            signal(pid, "CONT").await;
        }
    }
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&child| {
            stat_after_comm(child).and_then(|rest| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                == Some(pid)
        })
        .collect()
}

/// The private RabbitMQ node. Its heartbeat is 5 s (the default is 60 s), so
/// a paused client is declared dead within seconds.
pub struct RabbitServer {
    dir: PathBuf,
    pub port: u16,
    dist_port: u16,
    node: String,
}

impl RabbitServer {
    pub async fn boot(&self) -> Result<(), Error> {
        self.init()?;
        self.start().await
    }

    fn init(&self) -> Result<(), Error> {
        let io = |e| Error::io("rabbitmq folder", e);
        std::fs::create_dir_all(self.dir.join("mnesia")).map_err(io)?;
        std::fs::create_dir_all(self.dir.join("log")).map_err(io)?;
        std::fs::write(self.dir.join("plugins"), "[].\n").map_err(io)?;
        // Our own config and env files: the machine's may pin the listener
        // to 5672 (a `listeners.tcp.*` line beats RABBITMQ_NODE_PORT).
        std::fs::write(
            self.dir.join("rabbitmq.conf"),
            format!(
                "listeners.tcp.default = 127.0.0.1:{}\nheartbeat = 5\nloopback_users = none\n",
                self.port
            ),
        )
        .map_err(io)?;
        std::fs::write(
            self.dir.join("rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS=127.0.0.1\nexport ERL_FLAGS=\"-kernel inet_dist_use_interface {127,0,0,1}\"\n",
        )
        .map_err(io)
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    fn is_up(&self) -> bool {
        port_open(self.port)
    }

    /// `rabbitmq-server -detached` on the same node, port and data.
    pub async fn start(&self) -> Result<(), Error> {
        if current_uid() == 0 {
            chown(&self.dir, "rabbitmq").await?;
        }
        let mut cmd = Command::new("rabbitmq-server");
        cmd.arg("-detached")
            .env("RABBITMQ_CONFIG_FILE", self.dir.join("rabbitmq.conf"))
            .env("RABBITMQ_CONF_ENV_FILE", self.dir.join("rabbitmq-env.conf"))
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", self.dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", self.dir.join("log"))
            .env("RABBITMQ_PID_FILE", self.dir.join("rabbit.pid"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", self.dir.join("plugins"))
            .stdin(Stdio::null());
        run(&mut cmd, "rabbitmq-server -detached").await?;
        wait_for_port(self.port, START_BOUND, "rabbitmq-server").await
    }

    /// The Erlang VM's pid.
    pub fn pid(&self) -> Option<u32> {
        read_pid(&self.dir.join("rabbit.pid"))
    }

    /// `kill -9` of the Erlang VM: no clean shutdown, as in a crash.
    pub async fn kill9(&self) {
        if let Some(pid) = self.pid() {
            signal(pid, "KILL").await;
            let _ = std::fs::remove_file(self.dir.join("rabbit.pid"));
            wait_closed(self.port).await;
            // The VM's port helper may linger a moment after the VM.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while process_alive(pid) && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Starts a watchdog that stops everything once this process exits.
// The watchdog outlives this process by design: it is never waited for.
#[allow(clippy::zombie_processes)]
fn watchdog(dir: &Path, redis: &RedisServer, postgres: &PostgresServer, rabbit: &RabbitServer) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
         [ -f {dir}/pids ] && kill -9 $(cat {dir}/pids) 2>/dev/null; \
         [ -f {redis_pid} ] && kill -9 $(cat {redis_pid}) 2>/dev/null; \
         runuser -u postgres -- {PG_BIN}/pg_ctl -D {pg_data} -m immediate stop >/dev/null 2>&1 || \
           {PG_BIN}/pg_ctl -D {pg_data} -m immediate stop >/dev/null 2>&1; \
         [ -f {rabbit_pid} ] && kill -9 $(cat {rabbit_pid}) 2>/dev/null; \
         sleep 1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display(),
        redis_pid = redis.dir.join("redis.pid").display(),
        pg_data = postgres.data().display(),
        rabbit_pid = rabbit.dir.join("rabbit.pid").display(),
    );
    let _ = std::process::Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// Records an engine process's pid, so the watchdog kills it if this
/// process dies without stopping it.
pub fn record_pid(dir: &Path, pid: u32) {
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("pids"))
    {
        let _ = writeln!(f, "{pid}");
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| Error::io("chmod", e))
}

fn current_uid() -> u32 {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
}

/// `program` as `user` when this process is root (PostgreSQL refuses root).
fn as_user(user: &str, program: &str) -> Command {
    if current_uid() == 0 {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", user, "--", program]);
        cmd
    } else {
        Command::new(program)
    }
}

async fn chown(path: &Path, user: &str) -> Result<(), Error> {
    if current_uid() != 0 {
        return Ok(());
    }
    let mut cmd = Command::new("chown");
    cmd.arg("-R").arg(format!("{user}:{user}")).arg(path);
    run(&mut cmd, "chown").await
}

pub(super) async fn run(cmd: &mut Command, what: &str) -> Result<(), Error> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| Error::io(what, e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "{what} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

/// Sends `SIG<name>` to `pid`.
pub async fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await;
}

fn process_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !stat_after_comm(pid).is_none_or(|rest| rest.trim_start().starts_with('Z'))
}

/// `/proc/<pid>/stat` after the command name (`pid (comm) state ppid …`;
/// the name may hold spaces and parentheses, so after its last `)`).
fn stat_after_comm(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(stat.rsplit_once(')')?.1.to_owned())
}

pub(super) fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path)
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()
}

/// A free TCP port on 127.0.0.1 below the kernel's ephemeral range, so no
/// outgoing connection takes it between this check and a (re)start.
pub fn free_port() -> Result<u16, Error> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()))
        .filter(|low| *low > 12_000)
        .unwrap_or(32_768);
    let span = low - 10_000;
    let seed = std::process::id().wrapping_mul(7919);
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 10_000 + (seed.wrapping_add(n.wrapping_mul(104_729))) % span;
        let port = port as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && !port_open(port) {
            return Ok(port);
        }
    }
    Err(Error::new("no free port"))
}

pub fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

pub(super) async fn wait_for_port(port: u16, within: Duration, what: &str) -> Result<(), Error> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        if tokio::time::Instant::now() > deadline {
            return Err(Error::new(format!(
                "{what} did not open port {port} within {within:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

async fn wait_closed(port: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok()
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
