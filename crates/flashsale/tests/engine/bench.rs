//! `flashsale bench stampede` against the embedded engine, small: the
//! generator's own verification must pass, and its figures must add up.

use flashsale_bench::StampedeArgs;

use crate::support::{TestApp, ADMIN, JWT_SECRET};

fn args(app: &TestApp) -> StampedeArgs {
    StampedeArgs {
        target: vec![format!("http://{}", app.addr)],
        buyers: 400,
        stock: 150,
        attempts_per_buyer: 2,
        concurrency: 16,
        duration: None,
        buckets: 1,
        limit: 1,
        sale: None,
        ceiling_seconds: 0.2,
        pid: None,
        json: None,
        confirm_timeout: 30.0,
        ceiling: "bare".into(),
        redis_url: None,
        database_url: None,
        payment_window: None,
        pay_ratio: 0.7,
        payment_webhook_secret: None,
        secrets: flashsale_bench::stampede::EngineSecrets {
            admin_token: Some(ADMIN.into()),
            jwt_secret: Some(JWT_SECRET.into()),
            data_dir: app.data_dir.clone(),
        },
    }
}

/// 400 buyers × 2 attempts on 150 units: every check passes, 150
/// accepted, 650 refused as `sold_out` or `limit_exceeded`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_stampede_verifies_a_clean_run() {
    let app = TestApp::start("bench").await;
    let report = flashsale_bench::run(args(&app)).await.expect("the stampede runs");
    assert!(report.passed(), "{}", report.table());
    assert_eq!(report.accepted, 150);
    assert_eq!(report.attempts, 800);
    let refused: u64 = report
        .answers
        .iter()
        .filter(|(k, _)| k.starts_with("409"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(refused, 650, "{:?}", report.answers);
    assert!(report.ceiling_per_second.is_some_and(|c| c > 0.0));
    assert!(report.seconds_to_last_confirmed.is_some());
    app.stop().await;
}

/// A checkout stampede (1 s to pay, half the winners pay, once through the
/// webhook): unpaid units expire and sell again until every unit is paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_checkout_sells_every_unit_paid() {
    let app = TestApp::start("bench-checkout").await;
    let mut args = args(&app);
    args.stock = 30;
    args.concurrency = 4;
    args.payment_window = Some(std::time::Duration::from_secs(1));
    args.pay_ratio = 0.5;
    args.duration = Some(60.0);
    args.payment_webhook_secret = Some(crate::support::WEBHOOK_SECRET.into());
    let report = flashsale_bench::run(args).await.expect("the stampede runs");
    assert!(report.passed(), "{}", report.table());
    let checkout = report.checkout.as_ref().expect("checkout figures");
    assert_eq!(checkout.units_paid, 30);
    assert!(checkout.orders_expired > 0, "{}", report.table());
    assert!(
        report.accepted >= 30 + checkout.orders_expired,
        "{}",
        report.table()
    );
    app.stop().await;
}

/// Against a sale whose remaining stock is already gone, the generator
/// reports that nothing could be sold and every attempt was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_stampede_on_a_sold_out_sale() {
    let app = TestApp::start("bench-sold-out").await;
    let sale = app.active_sale(1, 1).await;
    let mut c = app.client().await;
    assert_eq!(c.buy(&sale, "first", 1, None).await.0, 202);
    let mut args = args(&app);
    args.sale = Some(sale);
    args.ceiling_seconds = 0.0;
    let report = flashsale_bench::run(args).await.expect("the stampede runs");
    assert_eq!(report.accepted, 0);
    assert_eq!(
        report.answers.get("409 sold_out"),
        Some(&800),
        "{:?}",
        report.answers
    );
    assert!(report.passed(), "{}", report.table());
    app.stop().await;
}

/// The race lab on the private Redis and PostgreSQL: the correct designs
/// sell exactly the stock; the naive read-then-write oversells (retried a
/// few times, since a race may, rarely, not happen); `DECR` never
/// oversells but lets the stock go negative. The sale split into 1, 2 and
/// 4 buckets sells exactly its stock too, nobody above the limit, units
/// stranded in one bucket reaching buyers homed in another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn race_lab_shows_which_designs_oversell() {
    use flashsale_bench::race::{by_name, run, table, RaceArgs};
    let args = RaceArgs {
        stock: 100,
        buyers: 200,
        attempts_per_buyer: 3,
        limit: 1,
        concurrency: 24,
        redis_url: flashsale_testkit::stores::shared::redis_url().await,
        // Not the shared cluster: the `flashsale up` tests on it would relay
        // the lab's reservations into their ledgers.
        redis_cluster_url: None,
        database_url: flashsale_testkit::stores::shared::database_url().await,
        svg: Some(std::env::temp_dir().join(format!("race-{}.svg", std::process::id()))),
        json: None,
    };
    let mut naive_oversold = 0;
    for _ in 0..5 {
        let rows = run(&args).await.expect("the lab runs");
        let rows_by_name = by_name(&rows);
        for exact in [
            "pg-for-update",
            "pg-conditional",
            "redis-lua",
            "memory",
            "redis-buckets-1",
            "redis-buckets-2",
            "redis-buckets-4",
        ] {
            let r = rows_by_name[exact];
            assert_eq!(
                (r.sold, r.oversold, r.lost),
                (100, 0, 0),
                "{exact}:\n{}",
                table(&rows, &args)
            );
            assert!(r.lowest_stock_seen >= 0, "{exact} showed negative stock");
        }
        for buckets in ["redis-buckets-1", "redis-buckets-2", "redis-buckets-4"] {
            let r = rows_by_name[buckets];
            assert_eq!((r.wrongly_refused, r.over_limit), (0, Some(0)), "{buckets}");
        }
        let decr = rows_by_name["redis-decr"];
        assert_eq!(decr.oversold, 0, "DECR with INCR-back never oversells");
        naive_oversold = rows_by_name["pg-naive"].oversold;
        if naive_oversold > 0 {
            break;
        }
    }
    assert!(naive_oversold > 0, "the naive strategy never oversold in 5 runs");
    let chart = std::fs::read_to_string(args.svg.as_ref().unwrap()).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("pg-naive") && chart.contains("redis-lua"));
    let _ = std::fs::remove_file(args.svg.unwrap());
}

/// `flashsale bench history` runs end to end on an engine that archives at
/// once: both bursts confirmed, every ended sale archived (it fails
/// otherwise), and no Redis figure on the embedded engine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_history_measures_before_and_after_the_archive() {
    let mut s = crate::support::settings("bench-history");
    s.archive_after = std::time::Duration::ZERO;
    let app = TestApp::spawn(s).await;
    let args = flashsale_bench::history::HistoryArgs {
        target: format!("http://{}", app.addr),
        ended: 20,
        burst: 10,
        concurrency: 4,
        archive_timeout: 30.0,
        redis_url: None,
        secrets: flashsale_bench::stampede::EngineSecrets {
            admin_token: Some(ADMIN.into()),
            jwt_secret: Some(JWT_SECRET.into()),
            data_dir: app.data_dir.clone(),
        },
    };
    let report = flashsale_bench::history::run(&args)
        .await
        .expect("the history bench runs");
    assert_eq!((report.ended, report.burst), (20, 10));
    assert!(report.fresh.confirmed_secs > 0.0 && report.after.confirmed_secs > 0.0);
    assert_eq!(report.memory_ratio(), None);
    assert!(
        report.table().contains("after 20 ended sales"),
        "{}",
        report.table()
    );
    let (_, _, live) = app
        .client()
        .await
        .send(hyper::Method::GET, "/api/sales", None, &[], None)
        .await;
    // At most the last burst's sale, ended a moment ago, is still live.
    assert!(
        live.as_array().unwrap().len() <= 1,
        "every ended sale archived: {live}"
    );
    app.stop().await;
}

/// `bench watchers`, small: every watcher connects to the live feed and
/// sees the purchases as updates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_watchers_hold_the_live_feed() {
    let app = TestApp::start("bench-watchers").await;
    let args = flashsale_bench::watchers::WatchersArgs {
        target: format!("http://{}", app.addr),
        watchers: 200,
        seconds: 3.0,
        pid: std::process::id(),
        secrets: flashsale_bench::stampede::EngineSecrets {
            admin_token: Some(ADMIN.into()),
            jwt_secret: Some(JWT_SECRET.into()),
            data_dir: app.data_dir.clone(),
        },
    };
    let report = flashsale_bench::watchers::run(&args)
        .await
        .expect("the bench runs");
    assert_eq!(report.connected, 200, "{}", report.table());
    assert!(report.purchases >= 2, "{}", report.table());
    assert!(report.updates_per_watcher >= 1.0, "{}", report.table());
    assert!(report.rss_watched_mib > 0.0);
    app.stop().await;
}

/// On the real stack the report adds what the stampede cost Redis (its own
/// time and commands per accepted purchase) and PostgreSQL (commits per
/// 1,000 orders), read from the stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_stampede_reports_the_cost_in_the_stores() {
    let s = crate::stack::stack_settings("bench-stack").await;
    let (redis, database) = (s.redis_url.clone(), s.database_url.clone());
    let app = TestApp::spawn(s).await;
    let mut args = args(&app);
    args.buyers = 120;
    args.stock = 60;
    args.attempts_per_buyer = 1;
    args.redis_url = redis;
    args.database_url = database;
    let report = flashsale_bench::run(args).await.expect("the stampede runs");
    assert!(report.passed(), "{}", report.table());
    let cost = report.redis.as_ref().expect("the Redis figures");
    assert!(
        cost.cpu_usec_per_purchase > 0.0
            && cost.script_usec_per_purchase > 0.0
            && cost.commands_per_purchase >= 1.0,
        "{}",
        report.table()
    );
    assert!(
        report.postgres_commits_per_1000_orders.is_some_and(|c| c > 0.0),
        "{}",
        report.table()
    );
    assert!(report.table().contains("a bare axum server"));
    app.stop().await;
}

/// `flashsale bench fairness`, 20 fast buyers (at the start) and 200 slow
/// ones (0-500 ms after) for 20 units: without a fair start, first come,
/// first served hands the fast ones far more than their share of the
/// units, outside the 99.9% range of a fair draw (issue 19's baseline);
/// with a 1 s fair start, their units lie within that range (a 0.1%
/// chance of a false alarm, the bound the report states). Both printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opening_second_goes_to_the_fastest_unless_it_is_drawn() {
    use flashsale_bench::fairness::{run, FairnessArgs};
    let app = TestApp::start("bench-fairness").await;
    let args = |fair_start_seconds| FairnessArgs {
        target: format!("http://{}", app.addr),
        stock: 20,
        fast: 20,
        slow: 200,
        spread_ms: 500,
        seed: 19,
        fair_start_seconds,
        secrets: flashsale_bench::stampede::EngineSecrets {
            admin_token: Some(ADMIN.into()),
            jwt_secret: Some(JWT_SECRET.into()),
            data_dir: app.data_dir.clone(),
        },
    };
    let race = run(&args(0)).await.expect("the opening runs");
    println!("{}", race.table());
    assert_eq!(race.fast_units + race.slow_units, 20, "{}", race.table());
    assert_eq!(race.other_answers, 0, "{}", race.table());
    assert!(race.fast_share_of_units() >= 0.5, "{}", race.table());
    assert!(!race.within_fair_range(), "{}", race.table());
    let drawn = run(&args(1)).await.expect("the opening runs");
    println!("{}", drawn.table());
    assert_eq!(drawn.fast_units + drawn.slow_units, 20, "{}", drawn.table());
    assert_eq!(drawn.other_answers, 0, "{}", drawn.table());
    assert!(drawn.within_fair_range(), "{}", drawn.table());
    app.stop().await;
}
