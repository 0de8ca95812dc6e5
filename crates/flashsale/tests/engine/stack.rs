//! The engine on the real stack (private Redis, RabbitMQ and PostgreSQL
//! servers of this test binary): stampedes in one process and across two
//! processes, operator actions in the middle, and the order ledger checked
//! in PostgreSQL itself.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use flashsale::services::Kind;
use flashsale::Settings;
use flashsale_testkit::stores::shared as testing;
use hyper::Method;
use serde_json::json;

use crate::stampede::{check_orders, stampede, stampede_on};
use crate::support::{
    assert_within_limit, buyer, data_dir, launch, launch_command, launch_with_logs, open_sale, serve_gateway,
    serve_service, settings, Client, TestApp, ADMIN,
};

/// Settings on fresh private stores: a Redis database, a PostgreSQL
/// database and an order queue of this test's own.
pub(crate) async fn stack_settings(name: &str) -> Settings {
    let mut s = settings(name);
    s.redis_url = Some(testing::redis_url().await);
    s.database_url = Some(testing::database_url().await);
    s.amqp_url = Some(testing::amqp_url().await);
    s.amqp_queue = testing::unique("orders");
    s
}

/// The `orders` table: order id → user, once every expected row is there.
pub(crate) async fn orders_in_postgres(url: &str, expected: usize) -> HashMap<String, String> {
    let pool = sqlx::PgPool::connect(url).await.expect("connect to postgres");
    let mut rows = Vec::new();
    for _ in 0..600 {
        rows = sqlx::query_as::<_, (String, String)>(
            "SELECT order_id::text, user_id FROM orders WHERE status <> 'void'",
        )
        .fetch_all(&pool)
        .await
        .expect("read orders");
        if rows.len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pool.close().await;
    let count = rows.len();
    let by_id: HashMap<String, String> = rows.into_iter().collect();
    assert_eq!(by_id.len(), count, "duplicate order ids in PostgreSQL");
    by_id
}

/// Every 202 is exactly one row, and every row a 202.
pub(crate) fn same_orders(answered: &HashMap<String, String>, stored: &HashMap<String, String>) {
    let a: HashSet<&String> = answered.keys().collect();
    let s: HashSet<&String> = stored.keys().collect();
    assert_eq!(a.difference(&s).count(), 0, "answered 202 but not in PostgreSQL");
    assert_eq!(
        s.difference(&a).count(),
        0,
        "in PostgreSQL but never answered 202"
    );
    for (id, user) in answered {
        assert_eq!(&stored[id], user, "order {id} stored for another buyer");
    }
}

/// A stampede through `flashsale up` on the real stores: exactly the stock
/// sold, every 202 exactly one row in PostgreSQL for its buyer, nobody
/// above the limit, the ledger balanced once everything is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_stampede_stores_every_202_exactly_once() {
    let s = stack_settings("stack-stampede").await;
    let db = s.database_url.clone().unwrap();
    let app = TestApp::spawn(s).await;
    let sale = app.active_sale(300, 2).await;
    let outcome = stampede(&app, &sale, 600, 3, 48).await;
    assert_eq!(
        outcome.accepted.len(),
        300,
        "units sold; refusals {:?}",
        outcome.by_code
    );
    let view = app.sale(&sale).await;
    assert_eq!(
        (view["remaining"].as_u64(), view["status"].as_str()),
        (Some(0), Some("sold_out"))
    );
    same_orders(&outcome.accepted, &orders_in_postgres(&db, 300).await);
    check_orders(&app, &outcome.accepted, 2).await;
    let stats = app.stats().await;
    assert_eq!(stats["mode"], "stack");
    assert_eq!(stats["sales"][0]["ledger"]["ok"], true, "{stats}");
    let (status, health) = app.health().await;
    assert_eq!(status, 200, "{health}");
    for name in ["redis", "rabbitmq", "postgres", "relay", "consumer"] {
        assert_eq!(health["components"][name]["status"], "ok", "{name}: {health}");
    }
    // Every attempt that reached Redis was decided by a script call, in
    // batches of one or more.
    let metrics = flashsale_testkit::http::Conn::new(app.addr)
        .request(Method::GET, "/metrics", &[], None, None)
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {metrics}"))
    };
    let (calls, requests) = (
        counter("flashsale_reserve_script_calls_total"),
        counter("flashsale_reserve_requests_total"),
    );
    assert!(
        requests >= 300 && (1..=requests).contains(&calls),
        "{calls} calls for {requests} requests"
    );
    app.stop().await;
}

/// `flashsale up` on a Redis Cluster of three masters (`FLASHSALE_REDIS_URL`
/// listing its nodes): two sales' stampedes, every 202 exactly one row in
/// PostgreSQL, both ledgers balanced, Redis healthy. Without the replicas'
/// acknowledgement its banner warns what a failover would cost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_stampede_on_a_redis_cluster() {
    let mut s = stack_settings("stack-cluster").await;
    s.redis_url = Some(testing::redis_cluster_url().await);
    let db = s.database_url.clone().unwrap();
    let app = TestApp::spawn(s).await;
    let redis = app.summary.iter().find(|l| l.starts_with("redis:")).unwrap();
    assert!(
        redis.contains("WARNING") && redis.contains("FLASHSALE_REDIS_REPLICAS_ACK=1"),
        "{redis}"
    );
    let mut per_sale = Vec::new();
    for _ in 0..2 {
        let sale = app.active_sale(150, 2).await;
        let outcome = stampede(&app, &sale, 300, 2, 32).await;
        assert_eq!(outcome.accepted.len(), 150, "refusals {:?}", outcome.by_code);
        per_sale.push(outcome.accepted);
    }
    let answered: HashMap<String, String> = per_sale
        .iter()
        .flatten()
        .map(|(o, u)| (o.clone(), u.clone()))
        .collect();
    same_orders(&answered, &orders_in_postgres(&db, 300).await);
    for accepted in &per_sale {
        check_orders(&app, accepted, 2).await;
    }
    let stats = app.stats().await;
    for sale in stats["sales"].as_array().unwrap() {
        assert_eq!(sale["ledger"]["ok"], true, "{stats}");
    }
    let (status, health) = app.health().await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["components"]["redis"]["status"], "ok", "{health}");
    app.stop().await;
}

/// A stock top-up and cache flushes in the middle of a stampede on the real
/// stack: sold out to exactly the new stock, every 202 one row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_top_up_and_cache_flush_during_a_stampede() {
    let s = stack_settings("stack-flush").await;
    let db = s.database_url.clone().unwrap();
    let app = Arc::new(TestApp::spawn(s).await);
    let sale = app.active_sale(200, 3).await;
    let running = {
        let (app, sale) = (app.clone(), sale.clone());
        tokio::spawn(async move { stampede(&app, &sale, 500, 3, 32).await })
    };
    while app.sale(&sale).await["sold"].as_u64().unwrap() < 20 {
        tokio::task::yield_now().await;
    }
    app.admin(
        &format!("/api/admin/sales/{sale}/stock"),
        Some(json!({"add": 150})),
    )
    .await;
    for _ in 0..3 {
        app.admin("/api/admin/cache/flush", None).await;
    }
    let outcome = running.await.unwrap();
    let view = app.sale(&sale).await;
    assert_eq!(
        (view["sold"].as_u64(), view["remaining"].as_u64()),
        (Some(350), Some(0)),
        "{:?}",
        outcome.by_code
    );
    same_orders(&outcome.accepted, &orders_in_postgres(&db, 350).await);
    Arc::try_unwrap(app).ok().unwrap().stop().await;
}

/// Two engines as separate processes on the same stores (two gateways, two
/// inventories, two relays, two consumers): one sale, buyers spread over
/// both, the per-user limit held across them; after the sell-out a top-up
/// made on one is sold by the other (its sold-out flag cleared over pub/sub).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_engine_processes_share_one_sale() {
    let s = stack_settings("stack-two").await;
    let (redis, amqp, db) = (s.redis_url.unwrap(), s.amqp_url.unwrap(), s.database_url.unwrap());
    let env = [
        ("FLASHSALE_REDIS_URL", redis.as_str()),
        ("FLASHSALE_AMQP_URL", amqp.as_str()),
        ("FLASHSALE_DATABASE_URL", db.as_str()),
        ("FLASHSALE_AMQP_QUEUE", s.amqp_queue.as_str()),
    ];
    let (mut one, a) = launch(&data_dir("stack-one"), &env).await;
    let (mut two, b) = launch(&data_dir("stack-two"), &env).await;
    let mut admin_b = Client::connect(b).await;
    let sale = open_sale(b, 400, 2).await;

    let outcome = stampede_on(&[a, b], &sale, 300, 4, 32).await;
    assert_eq!(outcome.accepted.len(), 400, "{:?}", outcome.by_code);
    assert_within_limit(outcome.accepted.values(), 2);
    same_orders(&outcome.accepted, &orders_in_postgres(&db, 400).await);

    // Sold out on both; a top-up through B must be sold through A.
    let mut on_a = Client::connect(a).await;
    assert_eq!(on_a.buy(&sale, "late-0", 1, None).await.0, 409);
    let (status, _, _) = admin_b
        .send(
            Method::POST,
            &format!("/api/admin/sales/{sale}/stock"),
            Some(ADMIN),
            &[],
            Some(json!({"add": 5})),
        )
        .await;
    assert_eq!(status, 200);
    let mut sold_on_a = 0;
    for n in 1..2_000 {
        match on_a.buy(&sale, &format!("late-{n}"), 1, None).await.0 {
            202 => sold_on_a += 1,
            409 => tokio::time::sleep(Duration::from_millis(5)).await,
            other => panic!("unexpected {other}"),
        }
        if sold_on_a == 5 {
            break;
        }
    }
    assert_eq!(sold_on_a, 5, "replica A kept refusing units topped up on B");
    for engine in [&mut one, &mut two] {
        engine.start_kill().unwrap();
        engine.wait().await.unwrap();
    }
}

/// The production topology as real processes: product, order, two
/// inventories and two gateways on the same stores. A stampede over both
/// gateways sells exactly the stock, every 202 one row in PostgreSQL, the
/// limit held across replicas; each gateway's health shows every replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_topology_one_process_per_service() {
    let s = stack_settings("topology").await;
    let (redis, amqp, db) = (s.redis_url.unwrap(), s.amqp_url.unwrap(), s.database_url.unwrap());
    let data = data_dir("topology");
    let stores = [
        ("FLASHSALE_REDIS_URL", redis.as_str()),
        ("FLASHSALE_AMQP_URL", amqp.as_str()),
        ("FLASHSALE_DATABASE_URL", db.as_str()),
        ("FLASHSALE_AMQP_QUEUE", s.amqp_queue.as_str()),
    ];
    let mut processes = Vec::new();
    let start = |command: &'static str, extra: Vec<(&'static str, String)>| {
        let data = data.clone();
        let mut env: Vec<(String, String)> = stores
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.extend(extra.into_iter().map(|(k, v)| (k.to_owned(), v)));
        async move {
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            launch_command(command, &data, &env).await
        }
    };
    let (p, product) = start("product", vec![]).await;
    let (o, order) = start("order", vec![]).await;
    let (i1, inventory1) = start("inventory", vec![]).await;
    let (i2, inventory2) = start("inventory", vec![]).await;
    let upstreams = vec![
        ("FLASHSALE_PRODUCT_URL", format!("http://{product}")),
        (
            "FLASHSALE_INVENTORY_URL",
            format!("http://{inventory1},http://{inventory2}"),
        ),
        ("FLASHSALE_ORDER_URL", format!("http://{order}")),
    ];
    let (g1, gateway1) = start("gateway", upstreams.clone()).await;
    let (g2, gateway2) = start("gateway", upstreams).await;
    processes.extend([p, o, i1, i2, g1, g2]);
    let sale = open_sale(gateway1, 300, 2).await;
    let second = open_sale(gateway1, 1, 1).await;
    // The listing pages through the product service's internal API.
    let (status, headers, first_page) = Client::connect(gateway2)
        .await
        .send(Method::GET, "/api/sales?limit=1", None, &[], None)
        .await;
    assert_eq!((status, first_page[0]["id"].as_str()), (200, Some(sale.as_str())));
    let next = headers["link"].to_str().unwrap().to_owned();
    assert!(next.contains(&format!("cursor={sale}")), "{next}");
    let (_, _, second_page) = Client::connect(gateway2)
        .await
        .send(Method::GET, &next[1..next.find('>').unwrap()], None, &[], None)
        .await;
    assert_eq!(second_page[0]["id"].as_str(), Some(second.as_str()));

    let outcome = stampede_on(&[gateway1, gateway2], &sale, 250, 3, 32).await;
    assert_eq!(outcome.accepted.len(), 300, "{:?}", outcome.by_code);
    assert_within_limit(outcome.accepted.values(), 2);
    same_orders(&outcome.accepted, &orders_in_postgres(&db, 300).await);

    for gateway in [gateway1, gateway2] {
        let (status, _, health) = Client::connect(gateway)
            .await
            .send(Method::GET, "/api/health", None, &[], None)
            .await;
        assert_eq!(status, 200, "{health}");
        let inventory = health["components"]["inventory"]["detail"]
            .as_str()
            .unwrap_or_default();
        assert!(inventory.starts_with("2 of 2 replicas up"), "{health}");
        for store in ["redis", "rabbitmq", "postgres", "relay", "consumer"] {
            assert_eq!(health["components"][store]["status"], "ok", "{store}: {health}");
        }
        // What the engine costs Redis: its memory, and its keys per sale.
        let redis = health["components"]["redis"]["detail"]
            .as_str()
            .unwrap_or_default();
        assert!(
            redis.contains(" MiB used") && redis.contains(" keys for 2 sales"),
            "{redis}"
        );
    }
    let (status, _, view) = Client::connect(gateway2)
        .await
        .send(Method::GET, &format!("/api/sales/{sale}"), None, &[], None)
        .await;
    assert_eq!(
        (status, view["status"].as_str(), view["remaining"].as_u64()),
        (200, Some("sold_out"), Some(0))
    );
    // A fair start over both gateways and both inventories: the draw lives
    // in Redis, each inventory serves it, each entry is answered once.
    let round = crate::fair_start::draw_round(&[gateway1, gateway2]).await;
    let stored = orders_in_postgres(&db, 305).await;
    assert_eq!(stored.len(), 305);
    for (user, got) in &round.answers {
        if got[0].0 == 202 {
            let order = got[0].1["order_id"].as_str().unwrap();
            assert_eq!(stored.get(order), Some(user), "a winner's order in PostgreSQL");
        }
    }
    // Probed last: a gateway keeps its services' health for a second, and
    // the footprint checked above must not be one read before the sales.
    // Every process answers the orchestrator's probes, without a token.
    for addr in [product, order, inventory1, inventory2, gateway1, gateway2] {
        let mut c = Client::connect(addr).await;
        let (status, _, live) = c.send(Method::GET, "/livez", None, &[], None).await;
        assert_eq!((status, live["status"].as_str()), (200, Some("alive")), "{addr}");
        let (status, _, ready) = c.send(Method::GET, "/readyz", None, &[], None).await;
        assert_eq!(
            (status, ready["status"].as_str()),
            (200, Some("ready")),
            "{addr}: {ready}"
        );
    }
    for process in &mut processes {
        process.start_kill().unwrap();
        process.wait().await.unwrap();
    }
}

/// A graceful stop right after a stampede drains the pipeline: when the
/// engine has stopped, every 202 is already a row in PostgreSQL, with no
/// waiting afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_drains_relay_and_consumer() {
    let s = stack_settings("stack-drain").await;
    let db = s.database_url.clone().unwrap();
    let app = TestApp::spawn(s).await;
    // One Redis without replicas: no failover to warn of.
    let redis = app.summary.iter().find(|l| l.starts_with("redis:")).unwrap();
    assert!(!redis.contains("WARNING"), "{redis}");
    let sale = app.active_sale(400, 1).await;
    let outcome = stampede(&app, &sale, 600, 1, 32).await;
    assert_eq!(outcome.accepted.len(), 400);
    app.stop().await;
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let (rows,): (i64,) = sqlx::query_as("SELECT count(*) FROM orders")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(rows, 400, "answered orders not stored when the engine stopped");
    pool.close().await;
}

/// Calls of `command` Redis has served since start (`INFO commandstats`).
async fn redis_calls(url: &str, command: &str) -> u64 {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The key rules on the real stack, and what a keyed attempt on a sold-out
/// sale costs: one look-up of its key (`HGET`), never the reserve script.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyed_attempts_after_the_sell_out_cost_one_key_lookup() {
    // A Redis of its own: the shared one counts every other test's scripts.
    let (_redis, redis) = testing::private_redis(&[]).await;
    let mut s = stack_settings("stack-keys").await;
    s.redis_url = Some(redis.clone());
    let app = TestApp::spawn(s).await;
    let sale = crate::stampede::key_reuse_and_keyed_retries_after_the_sell_out(&app).await;
    let mut c = app.client().await;
    let (scripts, lookups) = (
        redis_calls(&redis, "evalsha").await,
        redis_calls(&redis, "hget").await,
    );
    for n in 0..50 {
        let (status, _) = c.buy(&sale, &format!("keyed-{n}"), 1, Some("k")).await;
        assert_eq!(status, 409);
    }
    // The sweeper and the relay use this Redis too: allow them a few scripts.
    let scripts_spent = redis_calls(&redis, "evalsha").await - scripts;
    let lookups_spent = redis_calls(&redis, "hget").await - lookups;
    assert!(
        scripts_spent < 10,
        "{scripts_spent} scripts for 50 keyed attempts on a sold-out sale"
    );
    assert!(
        lookups_spent >= 50,
        "{lookups_spent} key look-ups for 50 keyed attempts"
    );
    app.stop().await;
}

/// A Redis that evicts keys would silently drop buyers' counts and answered
/// reservations: the engine refuses to start on it, saying why, unless the
/// operator accepts the risk; then health shows Redis degraded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicting_redis_is_refused_unless_accepted() {
    let (_redis, url) = testing::private_redis(&["--maxmemory-policy", "allkeys-lru"]).await;
    let mut s = stack_settings("stack-evicting").await;
    s.redis_url = Some(url);
    let refused = flashsale::Engine::start(&s)
        .await
        .err()
        .expect("an evicting Redis is refused");
    assert!(
        refused.to_string().contains("maxmemory-policy allkeys-lru"),
        "{refused}"
    );
    s.redis_allow_eviction = true;
    let app = TestApp::spawn(s).await;
    let (status, health) = app.health().await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["components"]["redis"]["status"], "degraded", "{health}");
    app.stop().await;
}

/// `/readyz`'s answer once its status is `status`, or the last one after 5 s.
async fn readyz_until(c: &mut crate::support::Client, status: u16) -> serde_json::Value {
    let mut last = json!(null);
    for _ in 0..100 {
        let (found, _, body) = c.send(Method::GET, "/readyz", None, &[], None).await;
        last = body;
        if found == status {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

/// With its Redis gone, the engine is not ready (`/readyz` 503, naming
/// Redis) but alive (`/livez` 200): an orchestrator stops sending it
/// traffic and does not restart it; with Redis back, it is ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_down_makes_the_engine_not_ready_but_alive() {
    let (redis, url) = testing::private_redis(&[]).await;
    let mut s = stack_settings("stack-probes").await;
    s.redis_url = Some(url);
    let app = TestApp::spawn(s).await;
    let mut c = app.client().await;
    // Ready once its order consumer has its channel, just after start.
    let ready = readyz_until(&mut c, 200).await;
    assert_eq!(ready["status"], "ready", "{ready}");
    drop(redis);
    let ready = readyz_until(&mut c, 503).await;
    assert_eq!(ready["status"], "not_ready", "{ready}");
    assert!(
        ready["down"].as_array().unwrap().iter().any(|d| d == "redis"),
        "{ready}"
    );
    let (status, _, live) = c.send(Method::GET, "/livez", None, &[], None).await;
    assert_eq!((status, live["status"].as_str()), (200, Some("alive")));
    app.stop().await;
}

/// The internal API of a service process opens to the service token only:
/// not to the admin token (a dashboard user must not buy as any buyer),
/// and the service token does not open the public admin API. Without
/// FLASHSALE_SERVICE_TOKEN it is derived from the admin token and the JWT
/// secret, so processes sharing those agree with no extra setting.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_calls_need_the_service_token() {
    let s = stack_settings("service-token").await;
    let inventory = serve_service(Kind::Inventory, &s).await;
    let addr = inventory.addr;
    let service = flashsale_gateway::auth::derived_service_token(ADMIN, crate::support::JWT_SECRET);
    let call = json!({"sale_id": "01890a5d-ac96-774b-bcce-b302099a8057", "user_id": "mallory", "quantity": 1, "idempotency_key": null});
    let mut c = Client::connect(addr).await;
    for (token, expected) in [(ADMIN, 401), (service.as_str(), 404)] {
        let (status, _, body) = c
            .send(
                Method::POST,
                "/internal/purchase",
                None,
                &[("x-flashsale-internal", token)],
                Some(call.clone()),
            )
            .await;
        assert_eq!(status, expected, "{body}");
    }
    let app = TestApp::spawn(s).await;
    let (status, _, _) = app
        .client()
        .await
        .send(Method::GET, "/api/admin/stats", Some(&service), &[], None)
        .await;
    assert_eq!(status, 401, "the service token opens no admin route");
    app.stop().await;
}

/// Two product processes behind one gateway (its calls go round-robin over
/// them): concurrent cache flushes, pauses, resumes and top-ups in the
/// middle of a stampede. Their changes are serialised across processes, so
/// the sale sells exactly its final stock, every 202 is one order, and the
/// ledger check holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_product_processes_change_one_sale_safely() {
    let s = stack_settings("two-products").await;
    let db = s.database_url.clone().unwrap();
    let (product_a, product_b) = (
        serve_service(Kind::Product, &s).await,
        serve_service(Kind::Product, &s).await,
    );
    let inventory = serve_service(Kind::Inventory, &s).await;
    let order = serve_service(Kind::Order, &s).await;
    let products = format!("{},{}", product_a.url(), product_b.url());
    let gateway = serve_gateway(&s, &products, &inventory.url(), &order.url()).await;
    let addr = gateway.addr;

    let sale = open_sale(addr, 300, 1).await;
    let running = {
        let sale = sale.clone();
        tokio::spawn(async move { stampede_on(&[addr], &sale, 1_200, 1, 32).await })
    };
    let admin = |path: String, body: Option<serde_json::Value>| async move {
        let (status, _, answer) = Client::connect(addr)
            .await
            .send(Method::POST, &path, Some(ADMIN), &[], body)
            .await;
        assert_eq!(status, 200, "{path}: {answer}");
    };
    for _ in 0..5 {
        tokio::join!(
            admin("/api/admin/cache/flush".into(), None),
            admin("/api/admin/cache/flush".into(), None),
            admin(format!("/api/admin/sales/{sale}/stock"), Some(json!({"add": 10}))),
        );
        admin(format!("/api/admin/sales/{sale}/pause"), None).await;
        admin(format!("/api/admin/sales/{sale}/resume"), None).await;
    }
    let outcome = running.await.unwrap();
    let (status, _, view) = Client::connect(addr)
        .await
        .send(Method::GET, &format!("/api/sales/{sale}"), None, &[], None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(view["stock"], 350, "{view}");
    assert!(
        outcome.accepted.len() <= 350,
        "{} units sold on a stock of 350",
        outcome.accepted.len()
    );
    same_orders(
        &outcome.accepted,
        &orders_in_postgres(&db, outcome.accepted.len()).await,
    );
    let (_, _, stats) = Client::connect(addr)
        .await
        .send(Method::GET, "/api/admin/stats", Some(ADMIN), &[], None)
        .await;
    assert_eq!(stats["sales"][0]["ledger"]["ok"], true, "{stats}");
}

/// One sale lost from Redis (its keys deleted) fails nothing: the listing,
/// the sale, the stats and `/metrics` answer, that sale shown degraded with
/// nothing on sale; it is rebuilt from the ledger in the background, units
/// already sold staying sold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_lost_from_redis_is_shown_degraded_and_rebuilt() {
    let s = stack_settings("lost-sale").await;
    let (redis, db) = (s.redis_url.clone().unwrap(), s.database_url.clone().unwrap());
    let app = TestApp::spawn(s).await;
    let lost = app.active_sale(10, 1).await;
    let kept = app.active_sale(10, 1).await;
    let mut c = app.client().await;
    for n in 0..3 {
        assert_eq!(c.buy(&lost, &format!("early-{n}"), 1, None).await.0, 202);
    }
    orders_in_postgres(&db, 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = redis::Client::open(redis.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let tag = format!("fs:{{sale:{lost}}}");
    let _: i64 = redis::cmd("DEL")
        .arg(format!("{tag}:state"))
        .arg(format!("{tag}:stock"))
        .arg(format!("{tag}:buyers"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let (status, _, list) = c.send(Method::GET, "/api/sales", None, &[], None).await;
    assert_eq!(status, 200, "{list}");
    let shown = |list: &serde_json::Value, id: &str| {
        list.as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(shown(&list, &lost)["degraded"], true, "{list}");
    assert_eq!(shown(&list, &lost)["remaining"], 0, "{list}");
    assert!(shown(&list, &kept).get("degraded").is_none(), "{list}");
    for path in ["/api/admin/stats", "/metrics"] {
        let (status, _, _) = c.send(Method::GET, path, Some(ADMIN), &[], None).await;
        assert_eq!(status, 200, "{path}");
    }
    let mut view = serde_json::Value::Null;
    for _ in 0..100 {
        view = app.sale(&lost).await;
        if view.get("degraded").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        (view["remaining"].as_u64(), view["sold"].as_u64()),
        (Some(7), Some(3)),
        "{view}"
    );
    assert_eq!(
        c.buy(&lost, "early-0", 1, None).await.0,
        409,
        "the limit survived the loss"
    );
    app.stop().await;
}

/// Redis comes back with older data (here: a sale's keys restored from a
/// snapshot taken five orders ago, as after an `everysec` host crash or a
/// replica promotion). The sweeper finds Redis behind the ledger, pauses
/// the sale, rebuilds it from the ledger and resumes it: units already
/// sold are not sold again, buyers' counts come back, and the sale sells
/// out to exactly its stock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_back_with_older_data_is_rebuilt_from_the_ledger() {
    let mut s = stack_settings("redis-behind").await;
    s.sweep_after_ms = 1_000;
    let (redis, db) = (s.redis_url.clone().unwrap(), s.database_url.clone().unwrap());
    let app = TestApp::spawn(s).await;
    let sale = app.active_sale(20, 1).await;
    let mut c = app.client().await;
    let mut answered = HashMap::new();
    for n in 0..5 {
        let (status, body) = c.buy(&sale, &format!("first-{n}"), 1, None).await;
        assert_eq!(status, 202);
        answered.insert(
            body["order_id"].as_str().unwrap().to_owned(),
            format!("first-{n}"),
        );
    }
    orders_in_postgres(&db, 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = redis::Client::open(redis.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let tag = format!("fs:{{sale:{sale}}}");
    let keys: Vec<String> = ["state", "stock", "buyers", "idem", "inflight"]
        .iter()
        .map(|k| format!("{tag}:{k}"))
        .collect();
    let mut snapshot = Vec::new();
    for key in &keys {
        let dump: Option<Vec<u8>> = redis::cmd("DUMP").arg(key).query_async(&mut conn).await.unwrap();
        snapshot.push((key.clone(), dump));
    }
    for n in 0..5 {
        let (status, body) = c.buy(&sale, &format!("second-{n}"), 1, None).await;
        assert_eq!(status, 202);
        answered.insert(
            body["order_id"].as_str().unwrap().to_owned(),
            format!("second-{n}"),
        );
    }
    orders_in_postgres(&db, 10).await;
    for (key, dump) in &snapshot {
        let _: () = redis::cmd("DEL").arg(key).query_async(&mut conn).await.unwrap();
        if let Some(dump) = dump {
            let _: () = redis::cmd("RESTORE")
                .arg(key)
                .arg(0)
                .arg(dump.as_slice())
                .arg("REPLACE")
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }
    // Found behind the ledger by the sweeper and rebuilt: 60 s at most (a
    // few seconds alone; once past 30 s on two cores busy with the chaos
    // subset's clusters and topologies beside it).
    let mut view = serde_json::Value::Null;
    for _ in 0..600 {
        view = app.sale(&sale).await;
        if view["remaining"] == 10 && view["status"] == "active" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        (view["remaining"].as_u64(), view["status"].as_str()),
        (Some(10), Some("active")),
        "{view}"
    );
    assert_eq!(
        c.buy(&sale, "second-0", 1, None).await.0,
        409,
        "the buyer's count came back"
    );
    let outcome = stampede(&app, &sale, 40, 1, 8).await;
    answered.extend(outcome.accepted);
    assert_eq!(answered.len(), 20, "sold exactly the stock");
    same_orders(&answered, &orders_in_postgres(&db, 20).await);
    app.stop().await;
}

/// Operator changes queue for the cross-process change lock: more of them
/// at once than the PostgreSQL pool has connections must all succeed (each
/// waiting one used to hold a connection, and the holder found none left
/// for its own writes: 503s after the pool's time-out).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_concurrent_operator_changes_than_connections_all_succeed() {
    let app = TestApp::spawn(stack_settings("many-changes").await).await;
    let creates: Vec<_> = (0..48)
        .map(|_| {
            let addr = app.addr;
            tokio::spawn(async move {
                let body = json!({"name": "Drop", "product": "Shoe", "price_cents": 1, "stock": 1, "per_user_limit": 1});
                let (status, _, answer) = Client::connect(addr)
                    .await
                    .send(Method::POST, "/api/admin/sales", Some(ADMIN), &[], Some(body))
                    .await;
                (status, answer)
            })
        })
        .collect();
    for create in creates {
        let (status, answer) = create.await.unwrap();
        assert_eq!(status, 201, "{answer}");
    }
    app.stop().await;
}

/// Issue 18's traces: with an OTLP endpoint set, a purchase is one trace
/// from the gateway through the inventory, the relay and the consumer,
/// each process its own service, each span the child of the one before
/// it; a buyer's own `traceparent` is honoured; the gateway's JSON log
/// line for the purchase carries its trace id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purchase_is_one_trace_across_the_processes() {
    use flashsale_testkit::otlp::{OtlpReceiver, ReceivedSpan};
    let collector = OtlpReceiver::start().await.unwrap();
    let s = stack_settings("traces").await;
    let (redis, amqp, db) = (s.redis_url.unwrap(), s.amqp_url.unwrap(), s.database_url.unwrap());
    let data = data_dir("traces");
    let stores = vec![
        ("FLASHSALE_REDIS_URL", redis),
        ("FLASHSALE_AMQP_URL", amqp),
        ("FLASHSALE_DATABASE_URL", db),
        ("FLASHSALE_AMQP_QUEUE", s.amqp_queue),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.endpoint.clone()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json".to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ];
    let mut processes = Vec::new();
    let mut addrs = Vec::new();
    for command in ["product", "inventory", "order"] {
        let env: Vec<(&str, &str)> = stores.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (child, addr) = launch_command(command, &data, &env).await;
        processes.push(child);
        addrs.push(addr);
    }
    let mut gateway_env = stores.clone();
    gateway_env.extend([
        ("FLASHSALE_PRODUCT_URL", format!("http://{}", addrs[0])),
        ("FLASHSALE_INVENTORY_URL", format!("http://{}", addrs[1])),
        ("FLASHSALE_ORDER_URL", format!("http://{}", addrs[2])),
        ("FLASHSALE_LOG_FORMAT", "json".to_owned()),
        ("FLASHSALE_LOG", "warn,flashsale_gateway=debug".to_owned()),
    ]);
    let gateway_env: Vec<(&str, &str)> = gateway_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (gateway_process, gateway, mut logs) = launch_with_logs("gateway", &data, &gateway_env).await;
    processes.push(gateway_process);
    let sale = open_sale(gateway, 10, 1).await;

    // Three buyers; the first sends a trace context of its own.
    let (client_trace, client_span) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let mut c = Client::connect(gateway).await;
    let mut orders = Vec::new();
    for n in 0..3 {
        let traceparent = format!("00-{client_trace}-{client_span}-01");
        let headers: Vec<(&str, &str)> = match n {
            0 => vec![("traceparent", traceparent.as_str())],
            _ => vec![],
        };
        let (status, _, body) = c
            .send(
                Method::POST,
                &format!("/api/sales/{sale}/purchase"),
                Some(&buyer(&format!("traced-{n}"))),
                &headers,
                Some(json!({"quantity": 1})),
            )
            .await;
        assert_eq!(status, 202, "{body}");
        orders.push(body["order_id"].as_str().unwrap().to_owned());
    }

    // Each process exports on its own schedule: wait for all four spans of
    // the three purchases.
    let hops = [
        "POST /api/sales/{id}/purchase",
        "inventory purchase",
        "relay publish",
        "order store",
    ];
    let spans = collector
        .wait_for(Duration::from_secs(30), |spans| {
            spans.iter().filter(|s| hops.contains(&s.name.as_str())).count() >= 4 * 3
        })
        .await;
    let one = |name: &str, service: &str, trace: &str| -> ReceivedSpan {
        let found: Vec<&ReceivedSpan> = spans
            .iter()
            .filter(|s| s.name == name && s.trace_id == trace)
            .collect();
        assert_eq!(found.len(), 1, "{name} in trace {trace}: {spans:#?}");
        assert_eq!(found[0].service, service, "{name}");
        found[0].clone()
    };
    for (n, order) in orders.iter().enumerate() {
        let purchase = spans
            .iter()
            .find(|s| s.kind == 2 && s.attributes.get("flashsale.order_id") == Some(order))
            .unwrap_or_else(|| panic!("no gateway span for order {order}: {spans:#?}"));
        assert_eq!(
            (purchase.name.as_str(), purchase.service.as_str(), purchase.kind),
            ("POST /api/sales/{id}/purchase", "flashsale-gateway", 2)
        );
        if n == 0 {
            assert_eq!(
                (purchase.trace_id.as_str(), purchase.parent_span_id.as_str()),
                (client_trace, client_span),
                "the buyer's traceparent is the purchase's parent"
            );
        } else {
            assert_eq!(
                purchase.parent_span_id, "",
                "a purchase without a context starts a trace"
            );
        }
        let trace = purchase.trace_id.as_str();
        let inventory = one("inventory purchase", "flashsale-inventory", trace);
        let relay = one("relay publish", "flashsale-inventory", trace);
        let store = one("order store", "flashsale-order", trace);
        assert_eq!(inventory.parent_span_id, purchase.span_id);
        assert_eq!(relay.parent_span_id, inventory.span_id);
        assert_eq!(store.parent_span_id, relay.span_id);
        assert_eq!((relay.kind, store.kind), (4, 5));
        assert_eq!(store.attributes.get("flashsale.order_id"), Some(order));
    }

    // The gateway's log line of the first purchase names its trace.
    let traced_line = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(line)) = logs.next_line().await {
            let entry: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if entry["message"] == "Purchase answered." {
                return entry;
            }
        }
        panic!("the gateway's log ended");
    })
    .await
    .expect("a purchase's log line");
    assert_eq!(traced_line["trace_id"], client_trace, "{traced_line}");
    assert_eq!(
        traced_line["span_id"].as_str().map(str::len),
        Some(16),
        "{traced_line}"
    );
    for process in &mut processes {
        process.start_kill().unwrap();
        process.wait().await.unwrap();
    }
}
