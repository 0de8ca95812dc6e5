//! No timer gives an answered unit away: the ledger (PostgreSQL) decides,
//! once per order id, between "order" and "void". Write stalls of the
//! ledger that outlive the sweeper's wait, on the real stores.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use flashsale::services::Kind;
use flashsale_chaos::proxy::Proxy;
use hyper::Method;
use sqlx::PgPool;

use crate::stack::{orders_in_postgres, same_orders, stack_settings};
use crate::support::{serve_gateway, serve_service, Client, TestApp, ADMIN};

/// The sweeper's wait in these tests: short, so the stalls below outlive it
/// three times over.
const SWEEP_AFTER_MS: u64 = 1_000;

/// Buys one unit as a new buyer every 50 ms for `during`, over `addr`;
/// returns order id → buyer for every 202.
async fn buy_steadily(
    addr: std::net::SocketAddr,
    sale: &str,
    tag: &str,
    during: Duration,
) -> HashMap<String, String> {
    let mut client = Client::connect(addr).await;
    let mut answered = HashMap::new();
    let until = Instant::now() + during;
    let mut n = 0;
    while Instant::now() < until {
        let user = format!("{tag}-{n}");
        n += 1;
        let (status, body) = client.buy(sale, &user, 1, None).await;
        match status {
            202 => {
                answered.insert(body["order_id"].as_str().unwrap().to_owned(), user);
            }
            409 => {}
            other => panic!("unexpected {other}: {body}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    answered
}

/// Rows of `orders` with the status `void`.
async fn voided(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = 'void'")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// What a plain `CREATE INDEX` or a migration takes on `orders`: inserts
/// wait, reads go on. Held for three times the sweeper's wait while buyers
/// buy: afterwards every 202 is exactly one stored order, and orders never
/// exceed the stock (the sweeper used to take the silence for a loss,
/// release the units, resell them, and then the held inserts committed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_lock_longer_than_the_sweep_wait_gives_no_unit_away() {
    let mut s = stack_settings("ledger-lock").await;
    s.sweep_after_ms = SWEEP_AFTER_MS;
    let db = s.database_url.clone().unwrap();
    let app = TestApp::spawn(s).await;
    let sale = app.active_sale(10, 1).await;
    let pool = PgPool::connect(&db).await.unwrap();
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let answered = buy_steadily(
        app.addr,
        &sale,
        "locked",
        Duration::from_millis(3 * SWEEP_AFTER_MS),
    )
    .await;
    lock.rollback().await.unwrap();
    assert!(
        answered.len() <= 10,
        "{} purchases answered 202 on a stock of 10",
        answered.len()
    );
    assert_eq!(answered.len(), 10, "the sale did not sell out");
    // Time for the sweeper to act on anything it wrongly thinks lost.
    tokio::time::sleep(Duration::from_millis(2 * SWEEP_AFTER_MS)).await;
    same_orders(&answered, &orders_in_postgres(&db, answered.len()).await);
    assert_eq!(voided(&pool).await, 0, "an answered order was voided");
    app.stop().await;
}

/// Two order services; one of them stores over a PostgreSQL link so slow
/// that its inserts outlive the sweep wait, while the other's sweeper runs.
/// No unit is given away: every 202 exactly one order, orders ≤ stock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_order_service_beside_a_fast_one_gives_no_unit_away() {
    let mut s = stack_settings("ledger-slow").await;
    s.sweep_after_ms = SWEEP_AFTER_MS;
    let db = s.database_url.clone().unwrap();
    let app = TestApp::spawn(s.clone()).await;
    let sale = app.active_sale(30, 1).await;

    let pg: std::net::SocketAddr = db
        .split_once('@')
        .and_then(|(_, rest)| rest.split_once('/'))
        .map(|(host, _)| host.parse().unwrap())
        .unwrap();
    let proxy = Proxy::start(pg).await.unwrap();
    let mut slow = s.clone();
    slow.database_url = Some(db.replace(&pg.to_string(), &proxy.addr().to_string()));
    slow.data_dir = crate::support::data_dir("ledger-slow-order");
    let _order = serve_service(Kind::Order, &slow).await;
    proxy.set_latency(Duration::from_millis(SWEEP_AFTER_MS));

    let answered = buy_steadily(app.addr, &sale, "slow", Duration::from_millis(3 * SWEEP_AFTER_MS)).await;
    assert!(
        answered.len() <= 30,
        "{} purchases answered 202 on a stock of 30",
        answered.len()
    );
    tokio::time::sleep(Duration::from_millis(3 * SWEEP_AFTER_MS)).await;
    proxy.set_latency(Duration::ZERO);
    let pool = PgPool::connect(&db).await.unwrap();
    same_orders(&answered, &orders_in_postgres(&db, answered.len()).await);
    assert_eq!(voided(&pool).await, 0, "an answered order was voided");
    app.stop().await;
}

/// An operator voids what the sweeper flagged: `POST
/// /api/admin/orders/{id}/void` needs the admin token, refuses a stored
/// order (409 `invalid_transition`), and an unknown id is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_void_refuses_stored_orders() {
    let s = stack_settings("ledger-void").await;
    let db = s.database_url.clone().unwrap();
    let app = TestApp::spawn(s).await;
    let sale = app.active_sale(5, 1).await;
    let mut c = app.client().await;
    let (status, body) = c.buy(&sale, "stored-buyer", 1, None).await;
    assert_eq!(status, 202, "{body}");
    let id = body["order_id"].as_str().unwrap().to_owned();
    orders_in_postgres(&db, 1).await;
    let path = format!("/api/admin/orders/{id}/void");
    let (status, _, body) = c.send(Method::POST, &path, None, &[], None).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = c.send(Method::POST, &path, Some(ADMIN), &[], None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("invalid_transition")),
        "{body}"
    );
    let unknown = format!("/api/admin/orders/{}/void", uuid_like());
    let (status, _, body) = c.send(Method::POST, &unknown, Some(ADMIN), &[], None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("order_not_found")),
        "{body}"
    );
    app.stop().await;
}

fn uuid_like() -> &'static str {
    "01890a5d-ac96-774b-bcce-b302099a8057"
}

/// The gateway's `/api/health`, once `component` has `status`.
async fn health_once(gateway: std::net::SocketAddr, component: &str, status: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        let (_, _, health) = Client::connect(gateway)
            .await
            .send(Method::GET, "/api/health", None, &[], None)
            .await;
        if health["components"][component]["status"] == status {
            return health;
        }
        last = health;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{component} never {status}: {last}");
}

/// A reservation whose message no order service will ever read (the
/// inventory publishes to a queue nobody consumes): the sweeper flags it
/// past its wait (health `degraded` with the count, through the gateway)
/// and never releases it. The operator voids it (audited); its buyer sees
/// `void` with the reason; the unit is on sale again; health recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecided_reservation_is_flagged_then_voided_by_the_operator() {
    let mut s = stack_settings("ledger-flagged").await;
    s.sweep_after_ms = SWEEP_AFTER_MS;
    let db = s.database_url.clone().unwrap();
    let mut stray = s.clone();
    stray.amqp_queue = format!("{}-nobody-reads", s.amqp_queue);
    let product = serve_service(Kind::Product, &s).await;
    let inventory = serve_service(Kind::Inventory, &stray).await;
    let order = serve_service(Kind::Order, &s).await;
    let gateway = serve_gateway(&s, &product.url(), &inventory.url(), &order.url()).await;
    let addr = gateway.addr;

    let sale = crate::support::open_sale(addr, 1, 1).await;
    let mut c = Client::connect(addr).await;
    let (status, body) = c.buy(&sale, "stranded", 1, None).await;
    assert_eq!(status, 202, "{body}");
    let id = body["order_id"].as_str().unwrap().to_owned();
    assert_eq!(
        c.buy(&sale, "next", 1, None).await.0,
        409,
        "sold out while it is held"
    );

    let health = health_once(addr, "sweeper", "degraded").await;
    let detail = health["components"]["sweeper"]["detail"].as_str().unwrap();
    assert!(detail.starts_with("1 answered reservations"), "{health}");
    let token = crate::support::buyer("stranded");
    let order_path = format!("/api/orders/{id}");
    let (_, _, pending) = c.send(Method::GET, &order_path, Some(&token), &[], None).await;
    assert_eq!(
        pending["status"], "pending",
        "never released on silence: {pending}"
    );

    let (status, _, voided) = c
        .send(
            Method::POST,
            &format!("/api/admin/orders/{id}/void"),
            Some(ADMIN),
            &[],
            None,
        )
        .await;
    assert_eq!(
        (status, voided["status"].as_str()),
        (200, Some("void")),
        "{voided}"
    );
    let (_, _, seen) = c.send(Method::GET, &order_path, Some(&token), &[], None).await;
    assert_eq!(seen["status"], "void", "{seen}");
    assert_eq!(seen["void_reason"], "voided by an operator", "{seen}");
    let (status, body) = c.buy(&sale, "next", 1, None).await;
    assert_eq!(status, 202, "the voided unit is on sale again: {body}");
    health_once(addr, "sweeper", "ok").await;

    let pool = PgPool::connect(&db).await.unwrap();
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'order_void' AND detail->>'order_id' = $1",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(audited, 1, "the void is audited");
}
