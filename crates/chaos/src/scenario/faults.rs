//! Each fault: injected, held while the stampede runs, then healed.

use super::*;

pub(super) async fn inject(scenario: Scenario, ctx: &mut Ctx<'_>) -> Result<Injected, Error> {
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
        Scenario::ExpireUnderStampede => {
            // The fault is the expiry itself: held while orders keep
            // expiring and reselling.
            hold(
                ctx,
                Duration::from_secs(scenario.payment_window() * 3),
                &mut peaks,
            )
            .await;
            "expiries under the stampede".to_owned()
        }
        Scenario::KillOrderWhileExpiring | Scenario::TwoOrders => {
            // Once the first orders are overdue: the expiry is at work.
            hold(
                ctx,
                Duration::from_secs(scenario.payment_window()) + Duration::from_millis(300),
                &mut peaks,
            )
            .await;
            ctx.topo.order.kill9().await;
            hold(ctx, Duration::from_secs(2), &mut peaks).await;
            ctx.topo.order.restart().await?;
            format!("queue peak while down: {} messages", peaks.queue)
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
        Scenario::PausePostgres => {
            ctx.stores.postgres.pause().await;
            hold(ctx, Duration::from_secs(10), &mut peaks).await;
            ctx.stores.postgres.resume().await;
            format!(
                "{} units answered while PostgreSQL was stalled; queue peak {}",
                peaks.answered, peaks.queue
            )
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
        Scenario::Nemesis | Scenario::NemesisReplicas => nemesis(ctx).await?,
        Scenario::KillInDraw => kill_in_draw(ctx, &mut peaks, &mut problems).await?,
        Scenario::RedisFailover | Scenario::RedisFailoverUnacked | Scenario::HotSaleFailover => {
            failover(ctx, &mut peaks).await?
        }
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
pub(super) const RELAY_REFUSED_FOR: Duration = Duration::from_secs(75);

/// How long lock-orders holds its lock: three times the sweep wait the
/// topology gives the order service (`FLASHSALE_SWEEP_AFTER_MS`, 10 s).
pub(super) const LOCK_ORDERS_FOR: Duration = Duration::from_secs(30);

/// A small Jepsen-style nemesis: one action at a time, every 2-5 s, each
/// healed before the next: `kill -9` and restart of any service, `SIGSTOP`
/// of any service for 1-4 s, `SIGSTOP` of Redis for 1-2 s.
pub(super) async fn nemesis(ctx: &mut Ctx<'_>) -> Result<String, Error> {
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

/// `kill -9` of gateway 1 and inventory 1 while the buyers wait in the
/// draw, restarted; then the draw must close, be served once, and have
/// answered nobody before it closed.
pub(super) async fn kill_in_draw(
    ctx: &mut Ctx<'_>,
    peaks: &mut Peaks,
    problems: &mut Vec<String>,
) -> Result<String, Error> {
    let closes = ctx.draw_closes.expect("this scenario's sale has a fair start");
    let victims = [Role::Gateway(0), Role::Inventory(0)];
    for role in victims {
        ctx.topo.get(role).kill9().await;
    }
    hold(ctx, Duration::from_millis(1500), peaks).await;
    for role in victims {
        ctx.topo.get(role).restart().await?;
    }
    // Just before the window closes, nobody may have been answered yet.
    tokio::time::sleep_until(closes - Duration::from_millis(150)).await;
    let early = ctx.live.units.load(Ordering::Relaxed);
    if early > 0 {
        problems.push(format!("{early} units answered before the draw closed"));
    }
    let sale_path = format!("/api/sales/{}", ctx.sale);
    let deadline = Instant::now() + Duration::from_secs(30);
    let draw = loop {
        let mut conn = Conn::new(ctx.topo.gateways[1].addr);
        if let Ok(a) = conn
            .request(Method::GET, &sale_path, &[], None, Some(Duration::from_secs(2)))
            .await
        {
            let draw = a.json()["draw"].clone();
            if draw["phase"] == "served" {
                break draw;
            }
        }
        if Instant::now() > deadline {
            problems.push("the draw was not served within 30 s of the kills".into());
            break serde_json::Value::Null;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    Ok(format!(
        "{} entrants drawn (seed {}…) and served, none answered before the window closed",
        draw["entrants"],
        draw["seed"]
            .as_str()
            .unwrap_or("none")
            .chars()
            .take(12)
            .collect::<String>(),
    ))
}

/// xorshift64: reproducible from the seed printed in the report.
pub(super) struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// The busiest the pipeline got while a fault was held.
#[derive(Debug, Default)]
pub(super) struct Peaks {
    pub(super) outbox: u64,
    pub(super) in_flight: i64,
    pub(super) queue: u32,
    /// Units answered 202 while the fault was held.
    pub(super) answered: u64,
}

/// Holds the fault for `d`, watching the stores.
pub(super) async fn hold(ctx: &mut Ctx<'_>, d: Duration, peaks: &mut Peaks) {
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

/// The sale's master lost with writes its replica never got: the master
/// cut off from its replica (a partition, see
/// [`RedisCluster::cut_off_replicas`]), 400 ms of stampede, the master
/// `kill -9`ed; once the cluster promoted the replica, the old master
/// starts again and rejoins as its replica.
async fn failover(ctx: &mut Ctx<'_>, peaks: &mut Peaks) -> Result<String, Error> {
    let cluster = ctx.cluster.expect("this scenario runs on a cluster");
    let key = sale_keys(ctx.sale)?.state;
    // A node may not have heard of every replica yet (gossip): ask again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (master, replica) = loop {
        match cluster.slot_owner(&key).await? {
            (master, replicas) if !replicas.is_empty() => break (master, replicas[0]),
            (master, _) if Instant::now() > deadline => {
                return Err(Error::new(format!("the sale's master :{master} has no replica")));
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    cluster.cut_off_replicas(master).await?;
    hold(ctx, Duration::from_millis(400), peaks).await;
    cluster.kill9(master).await;
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(30);
    loop {
        match cluster.slot_owner(&key).await {
            Ok((now, _)) if now != master => break,
            _ if Instant::now() > deadline => {
                return Err(Error::new(format!(
                    "no replica took over from :{master} within 30 s"
                )));
            }
            _ => hold(ctx, Duration::from_millis(100), peaks).await,
        }
    }
    let promoted = killed.elapsed();
    cluster.start_node(master).await?;
    hold(ctx, Duration::from_secs(1), peaks).await;
    Ok(format!(
        "the sale's master :{master} cut off from its replica :{replica}, kill -9ed 400 ms later; the replica served the sale {} ms after the kill; {} units answered meanwhile",
        promoted.as_millis(),
        peaks.answered
    ))
}
