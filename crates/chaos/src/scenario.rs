//! The scenarios and their runner.
//!
//! Every scenario runs the same way:
//!
//! 1. fresh stores for it (a Redis database, a PostgreSQL database, queue
//!    names of its own) and the production topology as processes: product,
//!    order, two inventories, two gateways;
//! 2. a sale, and a stampede of buyers retrying with their keys
//!    ([`crate::buyers`]) at a steady rate;
//! 3. once a fifth of the stock is answered, the fault, held for a while,
//!    then healed (restart, resume, reconnect);
//! 4. the stampede runs to its end; then the suite waits, at most
//!    [`Config::settle_bound`], until every 202 is a row in PostgreSQL and
//!    nothing is in flight in Redis, the outbox or the queue;
//! 5. a final wave of new buyers buys whatever is left, until `sold_out`;
//! 6. a sample of the answered buyers retries with the same key: each must
//!    get the same order back;
//! 7. the stores are judged ([`Row::judge`]).

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use flashsale_stack::redis::keys::RELAY_GROUP;
use flashsale_testkit::http::Conn;
use flashsale_testkit::stores::{StoreEnv, Stores};
use hyper::Method;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::json;
use tokio::time::Instant;

use crate::buyers::{self, Accepted, Live, Spec};
use crate::process::AdminCalls;
use crate::proxy::{Mode, Proxy};
use crate::report::Row;
use crate::stores_view::{sale_keys, Inspector, View};
use crate::topology::{Role, Shape, Topology};
use crate::Error;

/// Every fault the suite knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// `kill -9` of one inventory, restarted; then of the other.
    KillInventory,
    /// `kill -9` of the order service, restarted.
    KillOrder,
    /// `kill -9` of a gateway; buyers go on through the other.
    KillGateway,
    /// `kill -9` of RabbitMQ, started again.
    KillRabbit,
    /// `pg_ctl -m immediate stop`, then start.
    StopPostgres,
    /// `LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE` (what a plain
    /// `CREATE INDEX` or a migration takes: inserts wait, reads go on) for
    /// three times the sweeper's wait.
    LockOrders,
    /// Latency between the inventories and Redis, then a cut, then the heal.
    RedisLatencyCut,
    /// The same between the order service and PostgreSQL.
    PostgresLatencyCut,
    /// The same between the inventories and the order service and RabbitMQ.
    RabbitLatencyCut,
    /// `SIGSTOP` of the order service past the broker's heartbeat, then `SIGCONT`.
    PauseOrder,
    /// `SIGSTOP` of Redis for 5 s.
    PauseRedis,
    /// `kill -9` of Redis (`appendfsync always`), started again.
    KillRedis,
    /// `kill -9` of Redis running `appendfsync everysec`, started again,
    /// then the operator's `cache/flush`: what is lost is measured, and the
    /// sale must go on without oversell.
    KillRedisEverysec,
    /// Poison messages in the order queue.
    Poison,
    /// A corrupted copy of an in-flight reservation's message, ahead of the
    /// genuine one.
    PoisonInFlight,
    /// The second inventory's broker link closes every connection for 75 s
    /// while the process lives: its relay fails fast, pass after pass.
    RelayRefused,
    /// A sale's Redis keys restored from a snapshot 2 s old, mid-stampede:
    /// Redis came back with older data.
    RedisRollback,
    /// Two product processes; concurrent cache flushes, pauses and resumes
    /// spread over both mid-stampede.
    TwoProducts,
    /// Random kills and pauses of any service for a while.
    Nemesis,
}

impl Scenario {
    pub const ALL: [Scenario; 19] = [
        Scenario::KillGateway,
        Scenario::KillOrder,
        Scenario::Poison,
        Scenario::PoisonInFlight,
        Scenario::KillInventory,
        Scenario::KillRabbit,
        Scenario::StopPostgres,
        Scenario::LockOrders,
        Scenario::RedisLatencyCut,
        Scenario::PostgresLatencyCut,
        Scenario::RabbitLatencyCut,
        Scenario::PauseOrder,
        Scenario::PauseRedis,
        Scenario::KillRedis,
        Scenario::KillRedisEverysec,
        Scenario::RelayRefused,
        Scenario::RedisRollback,
        Scenario::TwoProducts,
        Scenario::Nemesis,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::KillInventory => "kill-inventory",
            Scenario::KillOrder => "kill-order",
            Scenario::KillGateway => "kill-gateway",
            Scenario::KillRabbit => "kill-rabbitmq",
            Scenario::StopPostgres => "stop-postgres",
            Scenario::LockOrders => "lock-orders",
            Scenario::RedisLatencyCut => "redis-latency-cut",
            Scenario::PostgresLatencyCut => "postgres-latency-cut",
            Scenario::RabbitLatencyCut => "rabbitmq-latency-cut",
            Scenario::PauseOrder => "pause-order",
            Scenario::PauseRedis => "pause-redis",
            Scenario::KillRedis => "kill-redis",
            Scenario::KillRedisEverysec => "kill-redis-everysec",
            Scenario::Poison => "poison",
            Scenario::PoisonInFlight => "poison-in-flight",
            Scenario::RelayRefused => "relay-refused",
            Scenario::RedisRollback => "redis-rollback",
            Scenario::TwoProducts => "two-products",
            Scenario::Nemesis => "nemesis",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// How old the order queue must be before the fault. Found by this
    /// suite on RabbitMQ 3.10: a broker killed about a second after the
    /// quorum queue was declared restarts it as a follower with an empty
    /// Raft log (index 0, term 0) that never elects a leader; every declare,
    /// publish and consume on it then waits forever. Production queues are
    /// old, so the scenario lets the queue age 10 s first;
    /// `CHAOS_QUEUE_AGE_MS=0` reproduces the stall.
    fn queue_age(self) -> Option<Duration> {
        let age = std::env::var("CHAOS_QUEUE_AGE_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(Duration::from_secs(10), Duration::from_millis);
        (self == Scenario::KillRabbit).then_some(age)
    }

    /// What the fault is, for the table.
    pub fn describe(self) -> &'static str {
        match self {
            Scenario::KillInventory => {
                "kill -9 of inventory 1 while its links to the broker (300 ms) and Redis (100 ms) are slow (reservations made, 202s not yet sent), restarted; then of inventory 2"
            }
            Scenario::KillOrder => "kill -9 of the order service, restarted 2 s later",
            Scenario::KillGateway => "kill -9 of gateway 1, restarted 2 s later; buyers retry on gateway 2",
            Scenario::KillRabbit => "kill -9 of RabbitMQ, started again",
            Scenario::StopPostgres => "pg_ctl -m immediate stop, started 3 s later",
            Scenario::LockOrders => {
                "LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE for 30 s (3 x the 10 s sweep wait): inserts wait, reads go on"
            }
            Scenario::RedisLatencyCut => {
                "300 ms latency inventories<->Redis for 3 s, then a blackhole for 3 s, healed"
            }
            Scenario::PostgresLatencyCut => {
                "300 ms latency order service<->PostgreSQL for 3 s, then a blackhole for 5 s, healed"
            }
            Scenario::RabbitLatencyCut => {
                "300 ms latency inventories and order service<->RabbitMQ for 3 s, then a blackhole for 12 s (past the 5 s heartbeat), healed"
            }
            Scenario::PauseOrder => "SIGSTOP of the order service for 15 s (heartbeat 5 s), SIGCONT",
            Scenario::PauseRedis => "SIGSTOP of Redis for 5 s, SIGCONT",
            Scenario::KillRedis => {
                "kill -9 of Redis (appendfsync always) while the order service stores a backlog, started again"
            }
            Scenario::KillRedisEverysec => {
                "kill -9 of Redis (appendfsync everysec), started again, then POST /api/admin/cache/flush"
            }
            Scenario::Poison => {
                "garbage, a wrong version, an unstorable held reservation, an unstorable copy of a stored order"
            }
            Scenario::PoisonInFlight => {
                "inventories paused; a reservation in the outbox and a corrupted copy of its message published first; resumed"
            }
            Scenario::RelayRefused => {
                "inventory 2's link to RabbitMQ closes every connection for 75 s, the process alive: its relay fails fast, pass after pass"
            }
            Scenario::RedisRollback => {
                "the sale's Redis keys (stock, buyers, idempotency, in flight) restored from a snapshot taken 2 s before, mid-stampede"
            }
            Scenario::TwoProducts => {
                "two product processes; 4 rounds of two concurrent cache flushes, a pause and a resume, spread over both"
            }
            Scenario::Nemesis => "random kill -9 / SIGSTOP of any service and pauses of Redis, one every 2-5 s",
        }
    }
}

/// How much load.
#[derive(Debug, Clone)]
pub struct Scale {
    pub stock: u64,
    pub limit: u32,
    pub users: usize,
    pub purchases: usize,
    /// Purchases started per second.
    pub rate: f64,
    pub workers: usize,
    /// How long the nemesis acts.
    pub nemesis_for: Duration,
}

impl Scale {
    /// For the normal test suite: a few seconds per scenario.
    pub fn small() -> Self {
        Self {
            stock: 150,
            limit: 2,
            users: 120,
            purchases: 400,
            rate: 200.0,
            workers: 16,
            nemesis_for: Duration::from_secs(15),
        }
    }

    /// For `scripts/chaos`.
    pub fn full() -> Self {
        Self {
            stock: 1500,
            limit: 2,
            users: 1200,
            purchases: 3000,
            rate: 300.0,
            workers: 48,
            nemesis_for: Duration::from_secs(60),
        }
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `flashsale` binary.
    pub bin: PathBuf,
    pub scale: Scale,
    /// How long the system may take to settle after the heal. A relay
    /// killed between the broker's confirm and its acknowledge leaves
    /// entries that another relay claims after 30 s (`RelayConfig::claim_after`),
    /// checked every 15 s: 90 s covers it with room.
    pub settle_bound: Duration,
    /// The nemesis's seed.
    pub seed: u64,
}

impl Config {
    pub fn new(bin: PathBuf, scale: Scale) -> Self {
        Self {
            bin,
            scale,
            settle_bound: Duration::from_secs(90),
            seed: 0x5eed_cafe,
        }
    }
}

/// Runs one scenario on `stores`; never panics, a failure is a row.
pub async fn run(scenario: Scenario, stores: &Stores, config: &Config) -> Row {
    let started = Instant::now();
    let mut row = match run_inner(scenario, stores, config).await {
        Ok(row) => row,
        Err(e) => Row::aborted(scenario.name(), e.to_string(), started.elapsed()),
    };
    row.elapsed = started.elapsed();
    row
}

/// What a fault reports.
struct Injected {
    figure: String,
    /// Named parts of the fault (since the stampede began), each reported
    /// on its own; the whole fault when empty.
    phases: Vec<(&'static str, Duration, Duration)>,
    /// 202s the fault itself stands for (a reservation it made).
    answered: Vec<Accepted>,
    /// What the fault found wrong beyond the stores' invariants.
    problems: Vec<String>,
    /// Since the stampede began.
    from: Duration,
    to: Duration,
    healed: Instant,
}

/// What a fault acts on.
struct Ctx<'a> {
    topo: &'a mut Topology,
    stores: &'a Stores,
    env: &'a StoreEnv,
    sale: &'a str,
    proxy: Option<&'a Proxy>,
    /// kill-inventory's second proxy, on the inventories' Redis link.
    redis_proxy: Option<&'a Proxy>,
    inspector: &'a mut Inspector,
    live: &'a Live,
    started: Instant,
    config: &'a Config,
}

async fn run_inner(scenario: Scenario, stores: &Stores, config: &Config) -> Result<Row, Error> {
    let scale = if scenario == Scenario::Nemesis {
        nemesis_scale(&config.scale)
    } else {
        config.scale.clone()
    };
    stores.ensure_running().await?;
    let env = stores.fresh(scenario.name()).await?;
    let dir = stores.dir().join(scenario.name());
    let store = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let proxy = match scenario {
        Scenario::RedisLatencyCut => Some(Proxy::start(store(stores.redis.port)).await?),
        Scenario::PostgresLatencyCut => Some(Proxy::start(store(stores.postgres.port)).await?),
        Scenario::RabbitLatencyCut | Scenario::KillInventory | Scenario::RelayRefused => {
            Some(Proxy::start(store(stores.rabbit.port)).await?)
        }
        _ => None,
    };
    let redis_proxy = match scenario {
        Scenario::KillInventory => Some(Proxy::start(store(stores.redis.port)).await?),
        _ => None,
    };
    // The same URL, through a proxy.
    let through = |proxy: &Option<Proxy>, url: &str, port: u16| {
        proxy
            .as_ref()
            .map(|p| url.replace(&format!("127.0.0.1:{port}"), &p.addr().to_string()))
    };
    let via = |url: &str, port: u16| through(&proxy, url, port);
    let mut shape = Shape::default();
    match scenario {
        Scenario::RedisLatencyCut => shape.inventory_redis = via(&env.redis, stores.redis.port),
        Scenario::PostgresLatencyCut => shape.order_database = via(&env.database, stores.postgres.port),
        Scenario::RabbitLatencyCut => shape.amqp = via(&env.amqp, stores.rabbit.port),
        Scenario::RelayRefused => shape.second_inventory_amqp = via(&env.amqp, stores.rabbit.port),
        Scenario::TwoProducts => shape.products = 2,
        Scenario::KillInventory => {
            shape.amqp = via(&env.amqp, stores.rabbit.port);
            shape.inventory_redis = through(&redis_proxy, &env.redis, stores.redis.port);
        }
        _ => {}
    }
    let mut topo = Topology::start(&config.bin, &dir, &env, &shape).await?;
    if std::env::var_os("CHAOS_VERBOSE").is_some() {
        let names: Vec<String> = topo
            .roles()
            .into_iter()
            .map(|r| {
                let s = topo.get(r);
                format!("{} {}", s.name, s.addr)
            })
            .collect();
        eprintln!("chaos: {} on {}", scenario.name(), names.join(", "));
    }
    let proxies = (proxy.as_ref(), redis_proxy.as_ref());
    let result = drive(scenario, stores, config, &scale, &env, &mut topo, proxies).await;
    topo.stop().await;
    result
}

fn nemesis_scale(scale: &Scale) -> Scale {
    // A lower rate, for as long as the nemesis acts (it starts once a fifth
    // of the stock is sold).
    let rate = (scale.rate / 4.0).max(20.0);
    let purchases = (rate * scale.nemesis_for.as_secs_f64() * 1.3) as usize;
    Scale {
        stock: (purchases as u64) * 3 / 4,
        users: purchases * 2 / 3,
        purchases,
        rate,
        ..scale.clone()
    }
}

async fn drive(
    scenario: Scenario,
    stores: &Stores,
    config: &Config,
    scale: &Scale,
    env: &StoreEnv,
    topo: &mut Topology,
    (proxy, redis_proxy): (Option<&Proxy>, Option<&Proxy>),
) -> Result<Row, Error> {
    let sale = topo.open_sale(scale.stock, scale.limit).await?;
    if let Some(age) = scenario.queue_age() {
        // See `Scenario::queue_age`.
        tokio::time::sleep(age).await;
    }
    let mut inspector = Inspector::new(env).await?;
    let live = Arc::new(Live::default());
    let spec = Spec {
        sale: sale.clone(),
        gateways: topo.gateway_addrs(),
        purchases: scale.purchases,
        users: scale.users,
        prefix: "b".into(),
        rate: scale.rate,
        workers: scale.workers,
        big_quantity: 2,
        request_timeout: Duration::from_secs(8),
        retry_budget: Duration::from_secs(120),
        stop_when_sold_out: false,
    };
    let started = Instant::now();
    let stampede = tokio::spawn(buyers::run(spec, live.clone()));

    // The trigger: a fifth of the stock answered (or the stampede over).
    let trigger = (scale.stock / 5).max(1);
    while live.units.load(Ordering::Relaxed) < trigger && !stampede.is_finished() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let injected = {
        let mut ctx = Ctx {
            topo,
            stores,
            env,
            sale: &sale,
            proxy,
            redis_proxy,
            inspector: &mut inspector,
            live: &live,
            started,
            config,
        };
        inject(scenario, &mut ctx).await?
    };
    let outcome = stampede
        .await
        .map_err(|e| Error::new(format!("the stampede panicked: {e}")))?;

    let mut answered: Vec<Accepted> = outcome.accepted.clone();
    answered.extend(injected.answered.iter().cloned());
    let settled = settle(
        &mut inspector,
        &sale,
        &answered,
        injected.healed,
        config.settle_bound,
    )
    .await;

    // The sale goes on: new buyers take whatever is left.
    let wave_live = Arc::new(Live::default());
    let wave = buyers::run(
        Spec {
            sale: sale.clone(),
            gateways: topo.gateway_addrs(),
            purchases: scale.stock as usize * 2 + 10,
            users: scale.stock as usize * 2 + 10,
            prefix: "w".into(),
            rate: 0.0,
            workers: 4,
            big_quantity: 1,
            request_timeout: Duration::from_secs(8),
            retry_budget: Duration::from_secs(60),
            stop_when_sold_out: true,
        },
        wave_live,
    )
    .await;
    answered.extend(wave.accepted.iter().cloned());
    let final_settle = Instant::now();
    // Already unsettled: the verdict is known, a short wait is enough.
    let wave_bound = if settled.is_some() {
        config.settle_bound
    } else {
        Duration::from_secs(10)
    };
    let wave_settled = settle(&mut inspector, &sale, &answered, final_settle, wave_bound).await;

    let replay_problems = replays(&topo.gateway_addrs(), &sale, &outcome.accepted, 100).await;
    let pipeline = pipeline_counters(topo).await;
    let view = inspector.view(&sale).await?;

    let phases = if injected.phases.is_empty() {
        vec![("during the fault", injected.from, injected.to)]
    } else {
        injected.phases.clone()
    };
    let phases: Vec<String> = phases
        .iter()
        .map(|(name, from, to)| {
            let (p99, failed, n) = buyers::window(&outcome.samples, *from, *to);
            format!(
                "{name}: {n} attempts, {:.0}% 503 or transport error, p99 {} ms",
                failed * 100.0,
                p99.as_millis()
            )
        })
        .collect();
    let mut row = Row {
        scenario: scenario.name().to_owned(),
        attempts: outcome.requests + wave.requests,
        settle: settled,
        figure: format!(
            "{}; {}; {} retries, {} replayed 202s; {pipeline}",
            injected.figure,
            phases.join("; "),
            outcome.retries,
            outcome.replayed
        ),
        ..Row::default()
    };
    row.judge(scale.stock, scale.limit, &answered, &view, config.settle_bound);
    if scenario == Scenario::KillRedisEverysec {
        // Measured, not a failure: `everysec` may lose the last second.
        row.problems
            .retain(|p| !p.contains("answered 202 but not in PostgreSQL"));
        row.figure = format!("{} answered orders lost by Redis; {}", row.lost, row.figure);
    }
    if settled.is_none() {
        row.problems.push(format!(
            "the answered orders were not all stored within {:?} of the heal; {}; gateway health: {}",
            config.settle_bound,
            describe_view(&view),
            health(topo.gateways[0].addr).await
        ));
    }
    if wave_settled.is_none() && settled.is_some() {
        row.problems.push("the final wave did not settle".into());
    }
    row.problems.extend(replay_problems);
    row.problems.extend(injected.problems.iter().cloned());
    for u in outcome.undocumented.iter().chain(&wave.undocumented).take(5) {
        row.problems.push(format!("undocumented answer: {u}"));
    }
    if outcome.gave_up + wave.gave_up > 0 {
        row.problems.push(format!(
            "{} purchases abandoned after retrying for 120 s",
            outcome.gave_up + wave.gave_up
        ));
    }
    Ok(row)
}

/// What the pipeline absorbed, from the `/metrics` of the order service and
/// the inventories alive at the end (a restarted process counts from zero).
async fn pipeline_counters(topo: &mut Topology) -> String {
    let mut sums: HashMap<String, u64> = HashMap::new();
    for role in topo.roles() {
        if !matches!(role, Role::Order | Role::Inventory(_)) {
            continue;
        }
        let mut conn = Conn::new(topo.get(role).addr);
        let Ok(answer) = conn
            .request(Method::GET, "/metrics", &[], None, Some(Duration::from_secs(2)))
            .await
        else {
            continue;
        };
        for line in String::from_utf8_lossy(&answer.body).lines() {
            let Some(rest) = line.strip_prefix("flashsale_pipeline_") else {
                continue;
            };
            if let Some((name, value)) = rest.split_once("_total ") {
                *sums.entry(name.to_owned()).or_default() += value.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    let n = |name: &str| sums.get(name).copied().unwrap_or(0);
    format!(
        "pipeline: {} redelivered, {} duplicate copies absorbed, {} batch retries, {} republished by relays, {} dead-lettered, {} voided, sweeper {} settled / {} released",
        n("redelivered"),
        n("duplicates"),
        n("batch_retries"),
        n("reclaimed"),
        n("dead_lettered"),
        n("voided"),
        n("swept_settled"),
        n("swept_released"),
    )
}

/// Waits until every answered order is a row and nothing is in flight;
/// returns the time since `since`, or `None` past the bound.
async fn settle(
    inspector: &mut Inspector,
    sale: &str,
    answered: &[Accepted],
    since: Instant,
    bound: Duration,
) -> Option<Duration> {
    let wanted: HashSet<&str> = answered.iter().map(|a| a.order_id.as_str()).collect();
    let deadline = Instant::now() + bound;
    loop {
        if let Ok(view) = inspector.view(sale).await {
            let stored: HashSet<&str> = view.orders.iter().map(|o| o.order_id.as_str()).collect();
            if view.quiet() && wanted.iter().all(|id| stored.contains(id)) {
                return Some(since.elapsed());
            }
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Up to `max` answered buyers retry with the same key: each must get the
/// same order back, marked replayed.
async fn replays(
    gateways: &[std::net::SocketAddr],
    sale: &str,
    accepted: &[Accepted],
    max: usize,
) -> Vec<String> {
    let mut problems = Vec::new();
    let step = (accepted.len() / max.max(1)).max(1);
    let mut conn = Conn::new(gateways[0]);
    for a in accepted.iter().step_by(step).take(max) {
        let token = format!("Bearer {}", crate::process::buyer(&a.user));
        let body = hyper::body::Bytes::from(json!({ "quantity": a.quantity }).to_string());
        let answer = conn
            .request(
                Method::POST,
                &format!("/api/sales/{sale}/purchase"),
                &[("authorization", &token), ("idempotency-key", &a.key)],
                Some(body),
                Some(Duration::from_secs(8)),
            )
            .await;
        match answer {
            Ok(r) if r.status == 202 && r.json()["order_id"].as_str() == Some(&a.order_id) => {}
            Ok(r) => problems.push(format!(
                "retry of {} {} after the fault: {} {} (expected 202 {})",
                a.user,
                a.key,
                r.status,
                String::from_utf8_lossy(&r.body),
                a.order_id
            )),
            Err(e) => problems.push(format!("retry of {} {}: {e}", a.user, a.key)),
        }
    }
    problems
}

/// The busiest the pipeline got while a fault was held.
#[derive(Debug, Default)]
struct Peaks {
    outbox: u64,
    in_flight: i64,
    queue: u32,
    /// Units answered 202 while the fault was held.
    answered: u64,
}

/// Holds the fault for `d`, watching the stores.
async fn hold(ctx: &mut Ctx<'_>, d: Duration, peaks: &mut Peaks) {
    let end = Instant::now() + d;
    let units = ctx.live.units.load(Ordering::Relaxed);
    while Instant::now() < end {
        if let Ok(Ok(r)) =
            tokio::time::timeout(Duration::from_millis(300), ctx.inspector.redis(ctx.sale)).await
        {
            peaks.outbox = peaks.outbox.max(r.outbox);
            peaks.in_flight = peaks.in_flight.max(r.in_flight);
        }
        if let Ok(Ok((ready, _))) =
            tokio::time::timeout(Duration::from_millis(300), ctx.inspector.queues()).await
        {
            peaks.queue = peaks.queue.max(ready);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    peaks.answered += ctx.live.units.load(Ordering::Relaxed) - units;
}

/// Progress on stderr when `CHAOS_VERBOSE` is set.
fn trace(ctx: &Ctx<'_>, what: &str) {
    if std::env::var_os("CHAOS_VERBOSE").is_some() {
        eprintln!(
            "chaos: {:>7.3} s  {what} ({} units answered)",
            ctx.started.elapsed().as_secs_f64(),
            ctx.live.units.load(Ordering::Relaxed)
        );
    }
}

async fn inject(scenario: Scenario, ctx: &mut Ctx<'_>) -> Result<Injected, Error> {
    trace(ctx, &format!("fault: {}", scenario.describe()));
    let from = ctx.started.elapsed();
    let mut peaks = Peaks::default();
    let mut phases = Vec::new();
    let mut extra = Vec::new();
    let mut problems = Vec::new();
    let figure = match scenario {
        Scenario::KillInventory => {
            // Before the first kill, while the stampede is at its height, the
            // inventories' link to RabbitMQ gets 300 ms of latency, so the
            // relay is caught between publishing and the broker's confirm,
            // or between the confirm and its acknowledge: those entries stay
            // pending under the dead relay until another claims them. Their
            // link to Redis gets 100 ms (enough, and the relay still cycles): the kill lands on reservations
            // made whose 202 is not yet sent; their buyers' retries must get
            // them back as replays. The second kill lands wherever the load
            // puts it.
            let broker = ctx.proxy.expect("this scenario has a broker proxy");
            let redis = ctx.redis_proxy.expect("this scenario has a Redis proxy");
            let mut abandoned = Vec::new();
            let replayed_before = ctx.live.replayed.load(Ordering::Relaxed);
            for i in 0..ctx.topo.inventories.len() {
                if i == 0 {
                    broker.set_latency(Duration::from_millis(300));
                    redis.set_latency(Duration::from_millis(100));
                    hold(ctx, Duration::from_millis(700), &mut peaks).await;
                }
                ctx.topo.get(Role::Inventory(i)).kill9().await;
                hold(ctx, Duration::from_secs(2), &mut peaks).await;
                // Read by the dead relay and never acknowledged.
                abandoned.push(outbox_abandoned(ctx, Duration::from_millis(1500)).await);
                ctx.topo.get(Role::Inventory(i)).restart().await?;
                broker.heal();
                redis.heal();
                hold(ctx, Duration::from_secs(1), &mut peaks).await;
            }
            format!(
                "outbox entries pending under a dead relay 2 s after each kill (claimed and published again by a live relay after 30 s): {} after the first (slow broker and Redis links), {} after the second; {} reservations whose 202 the kills cut off, answered to the buyers' retries as replays",
                abandoned[0],
                abandoned[1],
                ctx.live.replayed.load(Ordering::Relaxed) - replayed_before
            )
        }
        Scenario::KillOrder => {
            ctx.topo.order.kill9().await;
            hold(ctx, Duration::from_secs(2), &mut peaks).await;
            ctx.topo.order.restart().await?;
            format!("queue peak while down: {} messages", peaks.queue)
        }
        Scenario::KillGateway => {
            ctx.topo.get(Role::Gateway(0)).kill9().await;
            let port = ctx.topo.gateways[0].addr.port();
            trace(
                ctx,
                &format!(
                    "gateway 1 killed; port {port} open: {}",
                    flashsale_testkit::stores::port_open(port)
                ),
            );
            hold(ctx, Duration::from_secs(2), &mut peaks).await;
            ctx.topo.get(Role::Gateway(0)).restart().await?;
            format!("{} units answered while gateway 1 was down", peaks.answered)
        }
        Scenario::KillRabbit => {
            ctx.stores.rabbit.kill9().await;
            hold(ctx, Duration::from_secs(2), &mut peaks).await;
            let restart = Instant::now();
            ctx.stores.rabbit.start().await?;
            let down = restart.elapsed() + Duration::from_secs(2);
            format!(
                "broker down {:.1} s; {} units answered meanwhile; outbox peak {}",
                down.as_secs_f64(),
                peaks.answered,
                peaks.outbox
            )
        }
        Scenario::StopPostgres => {
            ctx.stores.postgres.stop_immediate().await?;
            hold(ctx, Duration::from_secs(3), &mut peaks).await;
            ctx.stores.postgres.start().await?;
            format!(
                "{} units answered while down; queue peak {}",
                peaks.answered, peaks.queue
            )
        }
        Scenario::LockOrders => {
            let fail = |e: sqlx::Error| Error::new(format!("lock the orders table: {e}"));
            let pool = sqlx::PgPool::connect(&ctx.env.database).await.map_err(fail)?;
            let mut lock = pool.begin().await.map_err(fail)?;
            sqlx::query("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *lock)
                .await
                .map_err(fail)?;
            hold(ctx, LOCK_ORDERS_FOR, &mut peaks).await;
            lock.rollback().await.map_err(fail)?;
            pool.close().await;
            format!(
                "orders locked {} s: {} units answered meanwhile; peaks: queue {}, in flight {}",
                LOCK_ORDERS_FOR.as_secs(),
                peaks.answered,
                peaks.queue,
                peaks.in_flight
            )
        }
        Scenario::RedisLatencyCut | Scenario::PostgresLatencyCut | Scenario::RabbitLatencyCut => {
            let proxy = ctx.proxy.expect("this scenario has a proxy");
            let blackhole = match scenario {
                Scenario::RedisLatencyCut => Duration::from_secs(3),
                Scenario::PostgresLatencyCut => Duration::from_secs(5),
                _ => Duration::from_secs(12),
            };
            proxy.set_latency(Duration::from_millis(300));
            let t0 = ctx.started.elapsed();
            let mut latency = Peaks::default();
            hold(ctx, Duration::from_secs(3), &mut latency).await;
            let t1 = ctx.started.elapsed();
            proxy.cut(Mode::Blackhole);
            hold(ctx, blackhole, &mut peaks).await;
            proxy.heal();
            phases.push(("300 ms latency", t0, t1));
            phases.push(("blackhole", t1, ctx.started.elapsed()));
            format!(
                "{} units answered during the latency, {} during the blackhole; peaks: outbox {}, queue {}, in flight {}; {} proxy connections",
                latency.answered,
                peaks.answered,
                peaks.outbox.max(latency.outbox),
                peaks.queue.max(latency.queue),
                peaks.in_flight.max(latency.in_flight),
                proxy.accepted()
            )
        }
        Scenario::PauseOrder => {
            ctx.topo.order.pause().await;
            hold(ctx, Duration::from_secs(15), &mut peaks).await;
            ctx.topo.order.resume().await;
            format!("queue peak while paused: {}", peaks.queue)
        }
        Scenario::PauseRedis => {
            ctx.stores.redis.pause().await;
            tokio::time::sleep(Duration::from_secs(5)).await;
            ctx.stores.redis.resume().await;
            "Redis paused 5 s".to_owned()
        }
        Scenario::KillRedis => {
            // Redis dies while the order service works through a backlog:
            // it stores the backlog in PostgreSQL while Redis is away.
            ctx.topo.order.pause().await;
            hold(ctx, Duration::from_secs(1), &mut Peaks::default()).await;
            // Answered and not yet stored (delivered to the paused consumer
            // within its prefetch window, or still queued).
            let backlog = ctx.inspector.redis(ctx.sale).await.map_or(0, |r| r.in_flight);
            ctx.stores.redis.kill9().await;
            ctx.topo.order.resume().await;
            hold(ctx, Duration::from_secs(1), &mut peaks).await;
            ctx.stores.redis.start().await?;
            format!(
                "Redis killed with {backlog} units waiting for the paused order service; {} units answered while Redis was down",
                peaks.answered
            )
        }
        Scenario::KillRedisEverysec => {
            ctx.stores.redis.config_set("appendfsync", "everysec").await?;
            ctx.stores.redis.kill9().await;
            hold(ctx, Duration::from_secs(1), &mut peaks).await;
            // Started again with the suite's setting (`always`).
            ctx.stores.redis.start().await?;
            let before = ctx.inspector.redis(ctx.sale).await?;
            // The operator flushes until it works (the services reconnect first).
            let mut answers = Vec::new();
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let status = Conn::new(ctx.topo.gateways[0].addr)
                    .admin(Method::POST, "/api/admin/cache/flush", None)
                    .await
                    .map_or(0, |a| a.status);
                answers.push(status);
                if status == 200 || Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let flush = format!("{answers:?}");
            let after = ctx.inspector.redis(ctx.sale).await?;
            format!(
                "{} units answered while Redis was down; before the flush {} in flight, {} remaining; flush answered {flush}; after it {} in flight, {} remaining",
                peaks.answered, before.in_flight, before.remaining, after.in_flight, after.remaining
            )
        }
        Scenario::Poison => {
            let (figure, answered) = poison(ctx).await?;
            extra = answered;
            figure
        }
        Scenario::RelayRefused => {
            let broker = ctx.proxy.expect("this scenario has a broker proxy");
            broker.cut(Mode::Close);
            hold(ctx, RELAY_REFUSED_FOR, &mut peaks).await;
            // The stampede ended long before: every entry the failing relay
            // took has been idle past claim_after (30 s), so the healthy
            // relay must have published it by now.
            let left = ctx.inspector.redis(ctx.sale).await.map_or(0, |r| r.outbox);
            broker.heal();
            if left > 0 {
                problems.push(format!(
                    "{left} outbox entries still pinned by the failing relay after {} s",
                    RELAY_REFUSED_FOR.as_secs()
                ));
            }
            format!(
                "{} units answered while inventory 2's relay failed; outbox peak {}; {left} entries left at the end of the cut",
                peaks.answered, peaks.outbox
            )
        }
        Scenario::RedisRollback => {
            let snapshot = snapshot_sale(ctx).await?;
            hold(ctx, Duration::from_secs(2), &mut peaks).await;
            let before = ctx.inspector.redis(ctx.sale).await?;
            restore_sale(ctx, &snapshot).await?;
            let rolled = ctx.inspector.redis(ctx.sale).await?;
            hold(ctx, Duration::from_secs(5), &mut Peaks::default()).await;
            format!(
                "{} units answered in the 2 s the snapshot missed; Redis rolled back from {} to {} remaining",
                peaks.answered, before.remaining, rolled.remaining
            )
        }
        Scenario::TwoProducts => {
            let gateway = ctx.topo.gateways[0].addr;
            let admin = |path: String| async move {
                Conn::new(gateway)
                    .admin(Method::POST, &path, None)
                    .await
                    .map_or(0, |a| a.status)
            };
            let mut statuses = Vec::new();
            for _ in 0..4 {
                let sale = ctx.sale.to_owned();
                let (a, b, c) = tokio::join!(
                    admin("/api/admin/cache/flush".into()),
                    admin("/api/admin/cache/flush".into()),
                    async {
                        let paused = admin(format!("/api/admin/sales/{sale}/pause")).await;
                        (paused, admin(format!("/api/admin/sales/{sale}/resume")).await)
                    }
                );
                statuses.extend([a, b, c.0, c.1]);
            }
            if statuses.iter().any(|s| *s != 200) {
                problems.push(format!("an operator call failed: {statuses:?}"));
            }
            format!(
                "{} operator calls over two product processes, all answered 200: {}",
                statuses.len(),
                statuses.iter().all(|s| *s == 200)
            )
        }
        Scenario::PoisonInFlight => {
            let (figure, answered) = poison_in_flight(ctx).await?;
            extra = answered;
            figure
        }
        Scenario::Nemesis => nemesis(ctx).await?,
    };
    trace(ctx, "healed");
    Ok(Injected {
        figure,
        phases,
        answered: extra,
        problems,
        from,
        to: ctx.started.elapsed(),
        healed: Instant::now(),
    })
}

/// How long relay-refused cuts the failing relay's broker link: past the
/// stampede's end plus `claim_after` (30 s) and the claim period (15 s).
const RELAY_REFUSED_FOR: Duration = Duration::from_secs(75);

/// `DUMP` of the sale's keys that a rollback restores.
async fn snapshot_sale(ctx: &Ctx<'_>) -> Result<Vec<(String, Option<Vec<u8>>)>, Error> {
    let fail = |e: redis::RedisError| Error::new(format!("snapshot: {e}"));
    let client = redis::Client::open(ctx.env.redis.as_str()).map_err(fail)?;
    let mut conn = client.get_multiplexed_async_connection().await.map_err(fail)?;
    let keys = sale_keys(ctx.sale)?;
    // What a rollback restores; the outbox stays: it is what the relays
    // publish from.
    let rolled_back = [keys.state, keys.stock, keys.buyers, keys.idem, keys.inflight];
    let mut dumps = Vec::new();
    for key in rolled_back {
        let dump: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(fail)?;
        dumps.push((key, dump));
    }
    Ok(dumps)
}

/// Puts the snapshot back, as one transaction.
async fn restore_sale(ctx: &Ctx<'_>, snapshot: &[(String, Option<Vec<u8>>)]) -> Result<(), Error> {
    let fail = |e: redis::RedisError| Error::new(format!("restore: {e}"));
    let client = redis::Client::open(ctx.env.redis.as_str()).map_err(fail)?;
    let mut conn = client.get_multiplexed_async_connection().await.map_err(fail)?;
    let mut pipe = redis::pipe();
    pipe.atomic();
    for (key, dump) in snapshot {
        pipe.cmd("DEL").arg(key).ignore();
        if let Some(dump) = dump {
            pipe.cmd("RESTORE")
                .arg(key)
                .arg(0)
                .arg(dump.as_slice())
                .arg("REPLACE")
                .ignore();
        }
    }
    pipe.query_async::<()>(&mut conn).await.map_err(fail)
}

/// How long lock-orders holds its lock: three times the sweep wait the
/// topology gives the order service (`FLASHSALE_SWEEP_AFTER_MS`, 10 s).
const LOCK_ORDERS_FOR: Duration = Duration::from_secs(30);

/// Outbox entries read by a relay and not acknowledged for `idle`.
async fn outbox_abandoned(ctx: &Ctx<'_>, idle: Duration) -> usize {
    let Ok(client) = redis::Client::open(ctx.env.redis.as_str()) else {
        return 0;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return 0;
    };
    let reply: redis::RedisResult<Vec<redis::Value>> = redis::cmd("XPENDING")
        .arg(sale_keys(ctx.sale).map_or_else(|_| String::new(), |k| k.outbox))
        .arg(RELAY_GROUP)
        .arg("IDLE")
        .arg(idle.as_millis() as u64)
        .arg("-")
        .arg("+")
        .arg(100_000)
        .query_async(&mut conn)
        .await;
    reply.map_or(0, |entries| entries.len())
}

/// Takes one unit for `user` in Redis as the reserve script does: in
/// flight, and (if `outbox`) in the outbox for the relays to publish; without
/// it, a reservation whose message got corrupted on its way. With
/// `unstorable`, the record itself has a remaining count the ledger
/// refuses, so no copy of it can ever be stored. Returns the units left and
/// the reservation's time (microseconds), or `None` if no unit was left.
async fn hold_in_redis(
    ctx: &Ctx<'_>,
    order_id: &str,
    user: &str,
    outbox: bool,
    unstorable: bool,
) -> Result<Option<(u64, i64)>, Error> {
    let client = redis::Client::open(ctx.env.redis.as_str()).map_err(|e| Error::new(e.to_string()))?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| Error::new(e.to_string()))?;
    let keys = sale_keys(ctx.sale)?;
    let script = redis::Script::new(
        r"
        local left = tonumber(redis.call('GET', KEYS[2]) or '0')
        if left < 1 then return {-1, 0} end
        left = redis.call('DECRBY', KEYS[2], 1)
        redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
        redis.call('HINCRBY', KEYS[1], 'in_flight', 1)
        local t = redis.call('TIME')
        local at = t[1] .. string.format('%06d', tonumber(t[2]))
        local remaining = ARGV[5] ~= '' and ARGV[5] or tostring(left)
        local rec = table.concat({ARGV[1], ARGV[2], '1', '', remaining, at}, '\n')
        redis.call('HSET', KEYS[4], ARGV[1], rec)
        if ARGV[3] == '1' then
          redis.call('XADD', KEYS[5], '*', 'v', '1', 'sale', ARGV[4], 'rec', rec)
        end
        return {left, at}
        ",
    );
    let (left, at): (i64, i64) = script
        .key(&keys.state)
        .key(&keys.stock)
        .key(&keys.buyers)
        .key(&keys.inflight)
        .key(&keys.outbox)
        .arg(order_id)
        .arg(user)
        .arg(if outbox { "1" } else { "0" })
        .arg(ctx.sale)
        .arg(if unstorable {
            u64::MAX.to_string()
        } else {
            String::new()
        })
        .invoke_async(&mut conn)
        .await
        .map_err(|e| Error::new(e.to_string()))?;
    Ok((left >= 0).then_some((left as u64, at)))
}

/// Publishes `bodies` to the scenario's order queue, each confirmed.
async fn publish(env: &StoreEnv, bodies: &[Vec<u8>]) -> Result<(), Error> {
    let fail = |e: lapin::Error| Error::new(format!("rabbitmq: {e}"));
    let conn = Connection::connect(&env.amqp, ConnectionProperties::default())
        .await
        .map_err(fail)?;
    let channel = conn.create_channel().await.map_err(fail)?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(fail)?;
    for body in bodies {
        channel
            .basic_publish(
                "".into(),
                env.queue.as_str().into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .map_err(fail)?
            .await
            .map_err(fail)?;
    }
    let _ = conn.close(200, "done".into()).await;
    Ok(())
}

/// A reservation answered 202 and waiting in the outbox, and a corrupted
/// copy of its message that reaches the queue first (the inventories, and
/// so the relays, are paused meanwhile): the copy is dead-lettered, and the
/// genuine message, relayed afterwards, must still end as exactly one order
/// without selling the unit twice.
async fn poison_in_flight(ctx: &mut Ctx<'_>) -> Result<(String, Vec<Accepted>), Error> {
    for i in 0..ctx.topo.inventories.len() {
        ctx.topo.get(Role::Inventory(i)).pause().await;
    }
    let order_id = uuid::Uuid::now_v7().to_string();
    let user = "in-flight-buyer";
    let held = hold_in_redis(ctx, &order_id, user, true, false).await?;
    let (_, dead_before) = ctx.inspector.queues().await.unwrap_or((0, 0));
    let copy = json!({"v": 1, "reservations": [{
        "order_id": order_id, "sale_id": ctx.sale, "user_id": user, "quantity": 1,
        "idempotency_key": null, "remaining": u64::MAX, "reserved_at": chrono::Utc::now().to_rfc3339()}]});
    let mut dead = dead_before;
    if held.is_some() {
        publish(ctx.env, &[copy.to_string().into_bytes()]).await?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while dead <= dead_before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            dead = ctx.inspector.queues().await.map_or(dead, |(_, d)| d);
        }
    }
    let released = ctx
        .inspector
        .redis(ctx.sale)
        .await
        .map(|r| !r.buyers.contains_key(user))
        .unwrap_or(false);
    for i in 0..ctx.topo.inventories.len() {
        ctx.topo.get(Role::Inventory(i)).resume().await;
    }
    let answered = held
        .map(|_| Accepted {
            order_id: order_id.clone(),
            user: user.into(),
            key: String::new(),
            quantity: 1,
        })
        .into_iter()
        .collect();
    Ok((
        format!(
            "the corrupted copy dead-lettered: {}; its unit released while the genuine message waited in the outbox: {released}",
            dead > dead_before
        ),
        answered,
    ))
}

/// Generated poison bodies published with the hand-made ones.
const RANDOM_POISONS: usize = 40;

/// Four poison messages and [`RANDOM_POISONS`] generated ones: garbage, a
/// wrong version, a copy of a reservation held in Redis that the ledger
/// refuses, identical to the one answered (no copy can ever be stored: the
/// consumer voids it through the ledger and its units must come back), and
/// a refused copy of an order already stored (its units must not come
/// back).
async fn poison(ctx: &mut Ctx<'_>) -> Result<(String, Vec<Accepted>), Error> {
    let reservation = |order_id: &str, user: &str, at: chrono::DateTime<chrono::Utc>| {
        let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        json!({"order_id": order_id, "sale_id": ctx.sale, "user_id": user, "quantity": 1,
               "idempotency_key": null, "remaining": u64::MAX, "reserved_at": at})
    };
    // A stored order, to copy.
    let mut stored = None;
    for _ in 0..100 {
        if let Ok(orders) = ctx.inspector.orders(ctx.sale).await {
            if let Some(o) = orders.into_iter().find(|o| o.quantity == 1) {
                stored = Some(o);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let stored = stored.ok_or_else(|| Error::new("no stored order to copy"))?;
    let held_id = uuid::Uuid::now_v7().to_string();
    let held = hold_in_redis(ctx, &held_id, "poisoned-buyer", false, true).await?;
    // A storable reservation travelling in the same message: it must be
    // stored though its message is dead-lettered.
    let good_id = uuid::Uuid::now_v7().to_string();
    let good = hold_in_redis(ctx, &good_id, "good-neighbour", false, false).await?;
    let mut bodies: Vec<Vec<u8>> = vec![
        b"{not json at all".to_vec(),
        json!({"v": 99, "reservations": []}).to_string().into_bytes(),
        json!({"v": 1, "reservations": [reservation(&stored.order_id, &stored.user_id, chrono::Utc::now())]})
            .to_string()
            .into_bytes(),
    ];
    let mut answered = Vec::new();
    if let Some((_, at)) = held {
        let at = chrono::DateTime::from_timestamp_micros(at).unwrap_or_default();
        let mut together = vec![reservation(&held_id, "poisoned-buyer", at)];
        if let Some((left, at)) = good {
            let at = chrono::DateTime::from_timestamp_micros(at).unwrap_or_default();
            let mut r = reservation(&good_id, "good-neighbour", at);
            r["remaining"] = json!(left);
            together.push(r);
            answered.push(Accepted {
                order_id: good_id.clone(),
                user: "good-neighbour".into(),
                key: String::new(),
                quantity: 1,
            });
        }
        bodies.push(json!({"v": 1, "reservations": together}).to_string().into_bytes());
    }
    bodies.extend(crate::bad_input::poison_bodies(RANDOM_POISONS));
    publish(ctx.env, &bodies).await?;
    // Dead-lettered, and the held unit back on sale (voided by the consumer
    // through the ledger).
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut dead = 0;
    let mut released = false;
    while Instant::now() < deadline {
        if let Ok((_, d)) = ctx.inspector.queues().await {
            dead = d;
        }
        if let Ok(r) = ctx.inspector.redis(ctx.sale).await {
            released = !r.buyers.contains_key("poisoned-buyer");
        }
        if dead as usize >= bodies.len() && (held.is_none() || released) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut figure = format!(
        "{} poison messages published ({RANDOM_POISONS} of them generated), {dead} dead-lettered",
        bodies.len()
    );
    if held.is_some() {
        figure.push_str(if released {
            "; the unstorable held unit voided and back on sale"
        } else {
            "; the unstorable held unit did NOT come back"
        });
    }
    if !answered.is_empty() {
        figure.push_str("; its message also carried a storable reservation (judged with the 202s)");
    }
    Ok((figure, answered))
}

/// A small Jepsen-style nemesis: one action at a time, every 2-5 s, each
/// healed before the next: `kill -9` and restart of any service, `SIGSTOP`
/// of any service for 1-4 s, `SIGSTOP` of Redis for 1-2 s.
async fn nemesis(ctx: &mut Ctx<'_>) -> Result<String, Error> {
    let mut rng = Rng(ctx.config.seed | 1);
    let until = Instant::now() + ctx.config.scale.nemesis_for;
    let roles = ctx.topo.roles();
    let mut log: Vec<String> = Vec::new();
    let (mut kills, mut pauses, mut redis_pauses) = (0, 0, 0);
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(2000 + rng.below(3000))).await;
        match rng.below(10) {
            0..=4 => {
                let role = roles[rng.below(roles.len() as u64) as usize];
                let service = ctx.topo.get(role);
                service.kill9().await;
                tokio::time::sleep(Duration::from_millis(500 + rng.below(1500))).await;
                service.restart().await?;
                kills += 1;
                log.push(format!("kill {}", service.name));
            }
            5..=8 => {
                let role = roles[rng.below(roles.len() as u64) as usize];
                let service = ctx.topo.get(role);
                service.pause().await;
                tokio::time::sleep(Duration::from_millis(1000 + rng.below(3000))).await;
                service.resume().await;
                pauses += 1;
                log.push(format!("pause {}", service.name));
            }
            _ => {
                ctx.stores.redis.pause().await;
                tokio::time::sleep(Duration::from_millis(1000 + rng.below(1000))).await;
                ctx.stores.redis.resume().await;
                redis_pauses += 1;
                log.push("pause redis".into());
            }
        }
    }
    Ok(format!(
        "seed {:#x}: {kills} kills, {pauses} pauses of services, {redis_pauses} of Redis ({})",
        ctx.config.seed,
        log.join(", ")
    ))
}

/// xorshift64: reproducible from the seed printed in the report.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Runs `scenarios` one after the other on one set of stores.
pub async fn run_all(scenarios: &[Scenario], stores: &Stores, config: &Config) -> Vec<Row> {
    let mut rows = Vec::new();
    for s in scenarios {
        let row = run(*s, stores, config).await;
        eprintln!(
            "chaos: {} {} in {:.1} s",
            s.name(),
            if row.passed() { "passed" } else { "FAILED" },
            row.elapsed.as_secs_f64()
        );
        rows.push(row);
    }
    rows
}

/// A gateway's `/api/health`, for a failed scenario's report.
async fn health(gateway: std::net::SocketAddr) -> String {
    match Conn::new(gateway)
        .request(
            Method::GET,
            "/api/health",
            &[],
            None,
            Some(Duration::from_secs(10)),
        )
        .await
    {
        Ok(a) => {
            let body = String::from_utf8_lossy(&a.body);
            format!("{} {}", a.status, &body[..body.len().min(1500)])
        }
        Err(e) => e.to_string(),
    }
}

/// What the view says, for a failed scenario's report.
pub fn describe_view(view: &View) -> String {
    format!(
        "{} orders ({} units) in PostgreSQL; Redis: state {}, stock {}, remaining {}, in flight {}, persisted {}, outbox {}; queue {} ready, {} dead",
        view.orders.len(),
        view.sold(),
        view.redis.state,
        view.redis.stock,
        view.redis.remaining,
        view.redis.in_flight,
        view.redis.persisted,
        view.redis.outbox,
        view.queue_ready,
        view.dead_letters
    )
}
