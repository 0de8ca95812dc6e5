//! Private Redis, PostgreSQL and RabbitMQ servers for tests (feature
//! `testing`): this crate's, the engine's and the chaos suite's.
//!
//! Each server is started once per test binary, on free ports of its own, in
//! a temporary folder, unless `FLASHSALE_TEST_REDIS_URL`,
//! `FLASHSALE_TEST_DATABASE_URL` or `FLASHSALE_TEST_AMQP_URL` names one.
//! The servers already running on the standard ports are never used. A
//! watchdog process stops the servers and removes the folder once the test
//! binary exits, however it exits (statics are never dropped).
//!
//! Isolation: each test gets its own Redis database, its own PostgreSQL
//! database and its own queue names.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// The base folder of this binary's servers, and the watchdog that removes it.
fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("flashsale-stack-it-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test folder");
        set_mode(&dir, 0o755);
        dir
    })
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Starts a watchdog that runs `cleanup` after this process exits.
// The watchdog outlives this process by design: it is never waited for.
#[allow(clippy::zombie_processes)]
fn on_exit(cleanup: String) {
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {cleanup}; rmdir {base} 2>/dev/null",
        pid = std::process::id(),
        base = base().display()
    );
    Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the cleanup watchdog");
}

/// Starts a server once; a failure is remembered, so the other tests fail
/// at once with the same message instead of each trying again.
fn started(
    cell: &'static OnceLock<Result<String, String>>,
    start: impl FnOnce() -> String + std::panic::UnwindSafe,
) -> &'static str {
    let result = cell.get_or_init(|| {
        std::panic::catch_unwind(start).map_err(|panic| {
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "server start panicked".into())
        })
    });
    match result {
        Ok(url) => url,
        Err(why) => panic!("{why}"),
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("local addr")
        .port()
}

fn wait_for_port(port: u16, within: Duration, what: &str) {
    let deadline = Instant::now() + within;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not open port {port} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn chown(path: &Path, user: &str) {
    run(
        Command::new("chown")
            .arg("-R")
            .arg(format!("{user}:{user}"))
            .arg(path),
        "chown",
    );
}

/// The base URL of the private Redis (no database number).
fn redis_base() -> &'static str {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    started(&URL, || {
        if let Ok(url) = std::env::var("FLASHSALE_TEST_REDIS_URL") {
            return url.trim_end_matches('/').to_owned();
        }
        let dir = base().join("redis");
        std::fs::create_dir_all(&dir).expect("redis folder");
        let port = free_port();
        let started = Instant::now();
        run(
            Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .arg("--dir")
                .arg(&dir)
                .args(["--appendonly", "yes", "--save", "", "--databases", "1024"])
                .args(["--daemonize", "yes", "--logfile"])
                .arg(dir.join("redis.log"))
                .arg("--pidfile")
                .arg(dir.join("redis.pid")),
            "redis-server",
        );
        wait_for_port(port, Duration::from_secs(10), "redis-server");
        eprintln!("private redis on {port} in {:?}", started.elapsed());
        on_exit(format!(
            "redis-cli -p {port} shutdown nosave; rm -rf {}",
            dir.display()
        ));
        format!("redis://127.0.0.1:{port}")
    })
}

/// A Redis URL with a database of its own.
pub fn redis_url() -> String {
    static NEXT_DB: AtomicU32 = AtomicU32::new(1);
    let db = NEXT_DB.fetch_add(1, Ordering::Relaxed);
    assert!(db < 1024, "out of Redis databases");
    format!("{}/{db}", redis_base())
}

/// The URL of the private PostgreSQL server's `postgres` database.
fn postgres_base() -> &'static str {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    started(&URL, || {
        if let Ok(url) = std::env::var("FLASHSALE_TEST_DATABASE_URL") {
            return url;
        }
        let dir = base().join("postgres");
        std::fs::create_dir_all(&dir).expect("postgres folder");
        chown(&dir, "postgres");
        let data = dir.join("data");
        let port = free_port();
        let started = Instant::now();
        run(
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(format!("{PG_BIN}/initdb"))
                .arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"]),
            "initdb",
        );
        run(
            Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(format!("{PG_BIN}/pg_ctl"))
                .arg("-D")
                .arg(&data)
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
                    dir.display()
                ))
                .arg("-l")
                .arg(dir.join("postgres.log"))
                .args(["-w", "start"]),
            "pg_ctl start",
        );
        eprintln!("private postgres on {port} in {:?}", started.elapsed());
        on_exit(format!(
            "runuser -u postgres -- {PG_BIN}/pg_ctl -D {} -m immediate stop; rm -rf {}",
            data.display(),
            dir.display()
        ));
        format!("postgres://postgres@127.0.0.1:{port}/postgres")
    })
}

/// A fresh, empty PostgreSQL database of its own, not yet migrated.
pub async fn database_url() -> String {
    let base = tokio::task::spawn_blocking(|| postgres_base().to_owned())
        .await
        .expect("start postgres");
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    let pool = sqlx::PgPool::connect(&base).await.expect("connect to postgres");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .expect("create database");
    pool.close().await;
    match base.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("malformed database URL {base}"),
    }
}

/// The URL of the private RabbitMQ node.
fn amqp_base() -> &'static str {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    started(&URL, || {
        if let Ok(url) = std::env::var("FLASHSALE_TEST_AMQP_URL") {
            return url;
        }
        let dir = base().join("rabbitmq");
        std::fs::create_dir_all(dir.join("mnesia")).expect("rabbitmq folder");
        std::fs::create_dir_all(dir.join("log")).expect("rabbitmq folder");
        std::fs::write(dir.join("plugins"), "[].\n").expect("plugins file");
        let port = free_port();
        let dist = free_port();
        // Our own config and env files: the machine's may pin the listener
        // to 5672 (a `listeners.tcp.*` line beats RABBITMQ_NODE_PORT).
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\n"),
        )
        .expect("rabbitmq.conf");
        std::fs::write(
            dir.join("rabbitmq-env.conf"),
            "ERL_EPMD_ADDRESS=127.0.0.1\nexport ERL_FLAGS=\"-kernel inet_dist_use_interface {127,0,0,1}\"\n",
        )
        .expect("rabbitmq-env.conf");
        chown(&dir, "rabbitmq");
        let node = format!("flashsale-it-{}@localhost", std::process::id());
        let started = Instant::now();
        run(
            Command::new("rabbitmq-server")
                .arg("-detached")
                .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq.conf"))
                .env("RABBITMQ_CONF_ENV_FILE", dir.join("rabbitmq-env.conf"))
                .env("RABBITMQ_NODENAME", &node)
                .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
                .env("RABBITMQ_NODE_PORT", port.to_string())
                .env("RABBITMQ_DIST_PORT", dist.to_string())
                .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
                .env("RABBITMQ_LOG_BASE", dir.join("log"))
                .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("plugins"))
                .stdin(Stdio::null()),
            "rabbitmq-server -detached",
        );
        on_exit(format!(
            "rabbitmqctl -n {node} stop >/dev/null 2>&1; rm -rf {}",
            dir.display()
        ));
        wait_for_port(port, Duration::from_secs(30), "rabbitmq-server");
        eprintln!("private rabbitmq on {port} in {:?}", started.elapsed());
        format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
    })
}

/// The private RabbitMQ node's name (`None` when the tests use a server of
/// `FLASHSALE_TEST_AMQP_URL`).
fn private_node() -> Option<String> {
    std::env::var("FLASHSALE_TEST_AMQP_URL")
        .is_err()
        .then(|| format!("flashsale-it-{}@localhost", std::process::id()))
}

async fn rabbitmqctl(args: &[&str]) {
    let node =
        private_node().expect("this fault needs the private RabbitMQ node, not FLASHSALE_TEST_AMQP_URL");
    let status = tokio::process::Command::new("rabbitmqctl")
        .args(["-n", &node])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .expect("run rabbitmqctl");
    assert!(status.success(), "rabbitmqctl {args:?} failed");
}

/// A URL of the private RabbitMQ node in a virtual host of its own, so a
/// test can cut its own connections without touching other tests'.
pub async fn amqp_url_in_own_vhost() -> (String, String) {
    let base = amqp_url().await;
    let vhost = unique("vhost");
    rabbitmqctl(&["add_vhost", &vhost]).await;
    rabbitmqctl(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]).await;
    let url = format!("{}/{vhost}", base.trim_end_matches("/%2f"));
    (url, vhost)
}

/// Closes every client connection in `vhost` of the private RabbitMQ node,
/// as a network cut or a broker-side kill would.
pub async fn close_amqp_connections(vhost: &str) {
    rabbitmqctl(&[
        "close_all_connections",
        "--vhost",
        vhost,
        "fault injected by a test",
    ])
    .await;
}

/// The private RabbitMQ's URL (started on first use).
pub async fn amqp_url() -> String {
    tokio::task::spawn_blocking(|| amqp_base().to_owned())
        .await
        .expect("start rabbitmq")
}

/// A prefix for names (queues) no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::now_v7().simple())
}

/// Polls `check` every 20 ms until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
