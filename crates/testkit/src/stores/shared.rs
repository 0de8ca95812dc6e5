//! The servers one test binary shares: started on first use, on ports of
//! their own, unless `FLASHSALE_TEST_REDIS_URL`, `FLASHSALE_TEST_DATABASE_URL`
//! or `FLASHSALE_TEST_AMQP_URL` names one. The servers already running on
//! the standard ports are never used. They stop, and their folder goes,
//! once the test binary exits, however it exits (see [`super::servers`]).
//!
//! Isolation: each test gets its own Redis database, its own PostgreSQL
//! database and its own queue names.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::OnceCell;

use super::cluster::RedisCluster;
use super::servers::{Fsync, Options, Stores};

/// This binary's servers, set up (not started) on first use.
fn stores() -> &'static Stores {
    static STORES: OnceLock<Stores> = OnceLock::new();
    STORES.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("flashsale-test-{}", std::process::id()));
        Stores::create(
            &dir,
            Options {
                fsync: Fsync::EverySec,
                postgres_fsync_off: true,
                watchdog: true,
            },
        )
        .unwrap_or_else(|e| panic!("set up the test stores: {e}"))
    })
}

/// Runs `boot` once per binary; a failure is remembered, so the other tests
/// fail at once with the same message instead of each trying again.
async fn booted<F>(cell: &'static OnceCell<Result<(), String>>, what: &str, boot: impl FnOnce() -> F)
where
    F: std::future::Future<Output = Result<(), super::super::Error>>,
{
    let result = cell
        .get_or_init(|| async {
            let started = std::time::Instant::now();
            let result = boot().await.map_err(|e| e.to_string());
            eprintln!("private {what} started in {:?}", started.elapsed());
            result
        })
        .await;
    if let Err(why) = result {
        panic!("{what}: {why}");
    }
}

/// A Redis URL with a database of its own.
pub async fn redis_url() -> String {
    if let Ok(url) = std::env::var("FLASHSALE_TEST_REDIS_URL") {
        let db = stores().next_redis_db().expect("a free Redis database");
        return format!("{}/{db}", url.trim_end_matches('/'));
    }
    static UP: OnceCell<Result<(), String>> = OnceCell::const_new();
    booted(&UP, "redis", || stores().redis.boot()).await;
    stores()
        .redis
        .url(stores().next_redis_db().expect("a free Redis database"))
}

/// The nodes of a local Redis Cluster of three masters, comma-separated
/// (the form `FLASHSALE_REDIS_URL` takes for a cluster), shared by the
/// binary's tests, unless `FLASHSALE_TEST_REDIS_CLUSTER_URL` names one. A
/// cluster has one database only: tests share it, each on sales of its own.
pub async fn redis_cluster_url() -> String {
    if let Ok(url) = std::env::var("FLASHSALE_TEST_REDIS_CLUSTER_URL") {
        return url;
    }
    static CLUSTER: OnceLock<RedisCluster> = OnceLock::new();
    let cluster = CLUSTER.get_or_init(|| {
        RedisCluster::create(&stores().dir().join("redis-cluster"), stores().dir(), 3, 0)
            .unwrap_or_else(|e| panic!("set up the test cluster: {e}"))
    });
    static UP: OnceCell<Result<(), String>> = OnceCell::const_new();
    booted(&UP, "redis cluster", || cluster.start()).await;
    cluster.url()
}

/// A Redis Cluster of the calling test's own (`masters` masters, each with
/// `replicas` replicas), started; its nodes stop when the test binary
/// exits, or at [`RedisCluster::stop`]. For tests that kill nodes.
pub async fn private_redis_cluster(masters: usize, replicas: usize) -> RedisCluster {
    let dir = stores()
        .dir()
        .join(format!("redis-cluster-{}", uuid::Uuid::now_v7().simple()));
    let cluster = RedisCluster::create(&dir, stores().dir(), masters, replicas)
        .unwrap_or_else(|e| panic!("set up a private cluster: {e}"));
    cluster
        .start()
        .await
        .unwrap_or_else(|e| panic!("start a private cluster: {e}"));
    cluster
}

/// A Redis of the calling test's own (no AOF), started with the extra
/// `args`, on a port of its own; stops when the returned child is dropped.
/// Returns once it answers. For tests that stop, slow or kill their Redis.
pub async fn private_redis(args: &[&str]) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = tokio::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("redis-server");
    let url = format!("redis://127.0.0.1:{port}");
    let client = redis::Client::open(url.as_str()).expect("a Redis URL");
    for _ in 0..200 {
        if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
            if redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok() {
                return (child, url);
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the private Redis on {port} did not answer");
}

/// A fresh, empty PostgreSQL database of its own, not yet migrated.
pub async fn database_url() -> String {
    let name = format!("t_{}", uuid::Uuid::now_v7().simple());
    if let Ok(base) = std::env::var("FLASHSALE_TEST_DATABASE_URL") {
        let pool = sqlx::PgPool::connect(&base).await.expect("connect to postgres");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .expect("create database");
        pool.close().await;
        let (server, _) = base.rsplit_once('/').expect("a database URL ends in /<database>");
        return format!("{server}/{name}");
    }
    static UP: OnceCell<Result<(), String>> = OnceCell::const_new();
    booted(&UP, "postgres", || stores().postgres.boot()).await;
    stores()
        .postgres
        .create_database(&name)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The private RabbitMQ's URL (started on first use).
pub async fn amqp_url() -> String {
    if let Ok(url) = std::env::var("FLASHSALE_TEST_AMQP_URL") {
        return url;
    }
    static UP: OnceCell<Result<(), String>> = OnceCell::const_new();
    booted(&UP, "rabbitmq", || stores().rabbit.boot()).await;
    stores().rabbit.url()
}

async fn rabbitmqctl(args: &[&str]) {
    assert!(
        std::env::var("FLASHSALE_TEST_AMQP_URL").is_err(),
        "this fault needs the private RabbitMQ node, not FLASHSALE_TEST_AMQP_URL"
    );
    amqp_url().await;
    let status = tokio::process::Command::new("rabbitmqctl")
        .args(["-n", stores().rabbit.node()])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
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
