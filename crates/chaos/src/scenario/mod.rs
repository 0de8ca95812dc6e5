//! The scenarios and their runner.
//!
//! - this module: the scenarios, their scale, and what a fault acts on;
//! - `drive`: one scenario from fresh stores to its judged row;
//! - `faults`: each fault, injected, held and healed;
//! - `sabotage`: the stores changed by hand (a Redis rollback, a reservation
//!   held in Redis, poison messages) for the faults that need it.
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
use flashsale_testkit::stores::cluster::RedisCluster;
use flashsale_testkit::stores::{StoreEnv, Stores};
use hyper::Method;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::json;
use tokio::time::Instant;

use crate::buyers::{self, Accepted, Live, Spec};
use crate::payer::{PayerLive, PayerSpec};
use crate::process::AdminCalls;
use crate::proxy::{Mode, Proxy};
use crate::report::Row;
use crate::stores_view::{sale_keys, Inspector, View};
use crate::topology::{Role, Shape, Topology};
use crate::Error;

mod drive;
mod faults;
mod sabotage;

use drive::*;
use faults::*;
use sabotage::*;

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
    /// `SIGSTOP` of every PostgreSQL process for 10 s: a stalled database.
    PausePostgres,
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
    /// The same over two processes of every service.
    NemesisReplicas,
    /// A sale with a payment window: 70% of the orders paid (a fifth of
    /// those at their deadline, racing the expiry), the rest expiring and
    /// resold under the stampede.
    ExpireUnderStampede,
    /// The same, and `kill -9` of the order service while orders expire.
    KillOrderWhileExpiring,
    /// The same with two order processes, both consuming and expiring:
    /// the first `kill -9`ed while orders expire, the second going on.
    TwoOrders,
    /// On a Redis Cluster (3 masters, a replica each) with
    /// `FLASHSALE_REDIS_REPLICAS_ACK=1`: the sale's master `kill -9`ed
    /// mid-stampede, its replica promoted; no answered order may be lost.
    RedisFailover,
    /// The same on a hot sale split into four buckets over the masters
    /// (issue 17): units stolen between buckets while a master fails over.
    HotSaleFailover,
    /// A sale with a fair start: a gateway and an inventory `kill -9`ed
    /// while the buyers wait in the draw, restarted; each entry must be
    /// answered once, none before the window closes.
    KillInDraw,
    /// The same without the replicas' acknowledgement (on demand): the
    /// answered orders lost are measured. Units the lost master answered
    /// and relayed may sell again before the engine finds the sale behind
    /// the ledger: an invariant may fail, which is what the setting risks.
    RedisFailoverUnacked,
}

impl Scenario {
    /// Run only when named: they measure what an unsafe setting costs,
    /// and may fail an invariant by design.
    pub const ON_DEMAND: [Scenario; 1] = [Scenario::RedisFailoverUnacked];

    /// Every scenario `scripts/chaos` runs by default.
    pub const ALL: [Scenario; 27] = [
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
        Scenario::PausePostgres,
        Scenario::KillRedis,
        Scenario::KillRedisEverysec,
        Scenario::RelayRefused,
        Scenario::RedisRollback,
        Scenario::TwoProducts,
        Scenario::ExpireUnderStampede,
        Scenario::KillOrderWhileExpiring,
        Scenario::TwoOrders,
        Scenario::RedisFailover,
        Scenario::HotSaleFailover,
        Scenario::KillInDraw,
        Scenario::Nemesis,
        Scenario::NemesisReplicas,
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
            Scenario::PausePostgres => "pause-postgres",
            Scenario::KillRedis => "kill-redis",
            Scenario::KillRedisEverysec => "kill-redis-everysec",
            Scenario::Poison => "poison",
            Scenario::PoisonInFlight => "poison-in-flight",
            Scenario::RelayRefused => "relay-refused",
            Scenario::RedisRollback => "redis-rollback",
            Scenario::TwoProducts => "two-products",
            Scenario::Nemesis => "nemesis",
            Scenario::NemesisReplicas => "nemesis-replicas",
            Scenario::ExpireUnderStampede => "expire-under-stampede",
            Scenario::KillOrderWhileExpiring => "kill-order-while-expiring",
            Scenario::TwoOrders => "two-orders",
            Scenario::RedisFailover => "redis-failover",
            Scenario::HotSaleFailover => "hot-sale-failover",
            Scenario::RedisFailoverUnacked => "redis-failover-unacked",
            Scenario::KillInDraw => "kill-in-draw",
        }
    }

    /// Runs on a Redis Cluster of its own.
    pub fn on_a_cluster(self) -> bool {
        matches!(
            self,
            Scenario::RedisFailover | Scenario::RedisFailoverUnacked | Scenario::HotSaleFailover
        )
    }

    /// How many buckets the scenario's sale's stock is split over.
    pub fn stock_buckets(self) -> u32 {
        match self {
            Scenario::HotSaleFailover => 4,
            _ => 1,
        }
    }

    /// Measures the answered orders a store's crash loses, as the settings
    /// it runs with allow (`appendfsync everysec`, no replicas'
    /// acknowledgement), instead of failing on them.
    pub fn measures_loss(self) -> bool {
        matches!(self, Scenario::KillRedisEverysec | Scenario::RedisFailoverUnacked)
    }

    /// The scenario's sale has a fair start: its prequeue and draw seconds
    /// (the window opens as the sale is created).
    pub fn fair_start(self) -> Option<(u32, u32)> {
        (self == Scenario::KillInDraw).then_some((3, 2))
    }

    /// The payment window of the scenario's sale, in seconds (0: none).
    pub fn payment_window(self) -> u64 {
        match self {
            Scenario::ExpireUnderStampede | Scenario::KillOrderWhileExpiring | Scenario::TwoOrders => 3,
            _ => 0,
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain(Self::ON_DEMAND)
            .find(|s| s.name() == name)
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
            Scenario::PausePostgres => "SIGSTOP of every PostgreSQL process for 10 s (connections open, nothing answered), SIGCONT",
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
            Scenario::NemesisReplicas => {
                "the same over two processes of every service (products, orders, inventories, gateways)"
            }
            Scenario::ExpireUnderStampede => {
                "a 3 s payment window: 70% of orders paid by webhook (a fifth of those within 40 ms of their deadline), the rest expire and resell mid-stampede"
            }
            Scenario::KillOrderWhileExpiring => {
                "the same, and kill -9 of the order service (the expiry) once orders expire, restarted 2 s later"
            }
            Scenario::TwoOrders => {
                "two order processes, the same payment window: kill -9 of the first once orders expire, restarted 2 s later, the second consuming and expiring throughout"
            }
            Scenario::RedisFailover => {
                "Redis Cluster, 3 masters + 1 replica each, FLASHSALE_REDIS_REPLICAS_ACK=1: the sale's master cut off from its replica (a partition), kill -9ed 400 ms later, the replica promoted, the old master back as its replica"
            }
            Scenario::RedisFailoverUnacked => "the same with FLASHSALE_REDIS_REPLICAS_ACK=0: the loss is measured",
            Scenario::HotSaleFailover => {
                "the same on a sale split into 4 buckets over the masters (stock_buckets 4): bucket 0's master fails over while homes run out and units are stolen between buckets"
            }
            Scenario::KillInDraw => {
                "a fair start (3 s prequeue, 2 s draw): kill -9 of gateway 1 and inventory 1 while the buyers wait in the draw, restarted 1.5 s later"
            }
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
    /// The scenario's own Redis Cluster (see [`Scenario::on_a_cluster`]).
    cluster: Option<&'a RedisCluster>,
    inspector: &'a mut Inspector,
    live: &'a Live,
    /// When the sale's draw window closes (a fair start's scenario).
    draw_closes: Option<Instant>,
    started: Instant,
    config: &'a Config,
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
