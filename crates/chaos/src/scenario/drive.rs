//! One scenario from fresh stores to its judged row: the topology, the
//! stampede, the fault, the settling, the replays and the judgement.

use super::*;

pub(super) async fn run_inner(scenario: Scenario, stores: &Stores, config: &Config) -> Result<Row, Error> {
    let scale = if matches!(scenario, Scenario::Nemesis | Scenario::NemesisReplicas) {
        nemesis_scale(&config.scale)
    } else {
        config.scale.clone()
    };
    stores.ensure_running().await?;
    let mut env = stores.fresh(scenario.name()).await?;
    let dir = stores.dir().join(scenario.name());
    let cluster = match scenario.on_a_cluster() {
        true => {
            let cluster = RedisCluster::create(&dir.join("redis-cluster"), stores.dir(), 3, 1)?;
            cluster.start().await?;
            env.redis = cluster.url();
            Some(cluster)
        }
        false => None,
    };
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
        Scenario::TwoOrders => shape.orders = 2,
        Scenario::NemesisReplicas => (shape.products, shape.orders) = (2, 2),
        Scenario::RedisFailover | Scenario::HotSaleFailover => shape.redis_replicas_ack = 1,
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
    let levers = Levers {
        proxy: proxy.as_ref(),
        redis_proxy: redis_proxy.as_ref(),
        cluster: cluster.as_ref(),
    };
    let result = drive(scenario, stores, config, &scale, &env, &mut topo, levers).await;
    topo.stop().await;
    if let Some(cluster) = cluster {
        cluster.stop().await;
    }
    result
}

/// What a fault acts on besides the processes and the shared stores.
pub(super) struct Levers<'a> {
    /// A proxy in front of a store (see `run_inner`).
    proxy: Option<&'a Proxy>,
    /// kill-inventory's second proxy, on the inventories' Redis link.
    redis_proxy: Option<&'a Proxy>,
    /// The scenario's own Redis Cluster.
    cluster: Option<&'a RedisCluster>,
}

pub(super) fn nemesis_scale(scale: &Scale) -> Scale {
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

pub(super) async fn drive(
    scenario: Scenario,
    stores: &Stores,
    config: &Config,
    scale: &Scale,
    env: &StoreEnv,
    topo: &mut Topology,
    Levers {
        proxy,
        redis_proxy,
        cluster,
    }: Levers<'_>,
) -> Result<Row, Error> {
    let window = scenario.payment_window();
    let sale = topo
        .open_sale(
            scale.stock,
            scale.limit,
            window,
            scenario.fair_start(),
            scenario.stock_buckets(),
        )
        .await?;
    let draw_closes = scenario
        .fair_start()
        .map(|(prequeue, draw)| Instant::now() + Duration::from_secs((prequeue + draw).into()));
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
    let payer_live = Arc::new(PayerLive::default());
    let payer = if window > 0 {
        let spec = PayerSpec {
            sale: sale.clone(),
            gateways: topo.gateway_addrs(),
            price_cents: Topology::PRICE_CENTS,
            ratio: 0.7,
            racing: 0.2,
        };
        Some(tokio::spawn(crate::payer::run(
            spec,
            Inspector::new(env).await?,
            payer_live.clone(),
        )))
    } else {
        None
    };

    // The trigger: a fifth of the stock answered (or the stampede over);
    // in a draw, where nothing is answered before it closes, a second of
    // entries.
    if draw_closes.is_some() {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let trigger = (scale.stock / 5).max(1);
    while draw_closes.is_none() && live.units.load(Ordering::Relaxed) < trigger && !stampede.is_finished() {
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
            cluster,
            inspector: &mut inspector,
            live: &live,
            draw_closes,
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
        Awaited::of(scenario, &answered),
        injected.healed,
        config.settle_bound,
    )
    .await;

    // The sale goes on: new buyers take whatever is left (and, with a
    // payment window, pay for all of it).
    payer_live.pay_all.store(true, Ordering::Relaxed);
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
    let wave_settled = settle(
        &mut inspector,
        &sale,
        Awaited::of(scenario, &answered),
        final_settle,
        wave_bound,
    )
    .await;

    payer_live.stop.store(true, Ordering::Relaxed);
    let payments = match payer {
        Some(task) => Some(
            task.await
                .map_err(|e| Error::new(format!("the payer panicked: {e}")))?,
        ),
        None => None,
    };
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
    let mut replay_problems = replay_problems;
    if scenario.measures_loss() {
        // Measured, not a failure: `everysec` may lose the last second, an
        // unacknowledged master its replica's lag. A lost order's retry
        // finds nothing to replay.
        let stored: HashSet<&str> = view.orders.iter().map(|o| o.order_id.as_str()).collect();
        let lost: Vec<&str> = answered
            .iter()
            .map(|a| a.order_id.as_str())
            .filter(|id| !stored.contains(id))
            .collect();
        replay_problems.retain(|p| !lost.iter().any(|id| p.contains(id)));
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
    if let Some(payments) = &payments {
        let statuses: HashMap<&str, &str> = view
            .orders
            .iter()
            .map(|o| (o.order_id.as_str(), o.status.as_str()))
            .collect();
        let (problems, figure) = crate::payer::check(payments, &statuses);
        let expired = view.orders.iter().filter(|o| o.status == "expired").count();
        row.figure = format!("{figure}; {expired} orders expired and resold; {}", row.figure);
        row.problems.extend(problems);
        let unpaid = view.orders.iter().filter(|o| o.status == "confirmed").count();
        if unpaid > 0 {
            row.problems
                .push(format!("{unpaid} orders still awaiting payment at the end"));
        }
    }
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
pub(super) async fn pipeline_counters(topo: &mut Topology) -> String {
    let mut sums: HashMap<String, u64> = HashMap::new();
    for role in topo.roles() {
        if !matches!(role, Role::Order(_) | Role::Inventory(_)) {
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

/// What settling waits for besides nothing left in flight.
#[derive(Clone, Copy)]
pub(super) enum Awaited<'a> {
    /// Every one of these answered orders stored.
    Orders(&'a [Accepted]),
    /// Redis caught up with the ledger: a scenario that measures what a
    /// store's crash loses waits for the engine's repair, not for orders
    /// that may be lost.
    CaughtUp,
}

impl<'a> Awaited<'a> {
    fn of(scenario: Scenario, answered: &'a [Accepted]) -> Self {
        match scenario.measures_loss() {
            true => Awaited::CaughtUp,
            false => Awaited::Orders(answered),
        }
    }
}

/// Waits until every answered order is a row and nothing is in flight;
/// returns the time since `since`, or `None` past the bound.
pub(super) async fn settle(
    inspector: &mut Inspector,
    sale: &str,
    wanted: Awaited<'_>,
    since: Instant,
    bound: Duration,
) -> Option<Duration> {
    let deadline = Instant::now() + bound;
    loop {
        if let Ok(view) = inspector.view(sale).await {
            let stored: HashSet<&str> = view.orders.iter().map(|o| o.order_id.as_str()).collect();
            // Where Redis lost writes, settled also means the engine found
            // the sale behind the ledger and rebuilt it.
            let done = match wanted {
                Awaited::Orders(answered) => answered.iter().all(|a| stored.contains(a.order_id.as_str())),
                Awaited::CaughtUp => view.redis.persisted + view.redis.in_flight >= view.sold(),
            };
            if view.quiet() && done {
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
pub(super) async fn replays(
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

/// A gateway's `/api/health`, for a failed scenario's report.
pub(super) async fn health(gateway: std::net::SocketAddr) -> String {
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
