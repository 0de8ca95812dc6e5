//! Stampedes over HTTP with real concurrency: far more buyers than units,
//! several attempts each, and operator actions in the middle.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hyper::Method;
use serde_json::json;
use tokio::sync::Mutex;

use crate::support::{assert_within_limit, buyer, code, Client, TestApp};

/// What a stampede saw.
#[derive(Default)]
pub struct Outcome {
    /// order id → buyer, for every 202.
    pub accepted: HashMap<String, String>,
    pub by_code: HashMap<String, u64>,
}

/// `buyers` buyers, `attempts` purchases of 1 unit each, over `connections`
/// keep-alive connections. Every answer must be a documented one.
pub async fn stampede(
    app: &TestApp,
    sale: &str,
    buyers: usize,
    attempts: usize,
    connections: usize,
) -> Outcome {
    stampede_on(&[app.addr], sale, buyers, attempts, connections).await
}

/// The same, with the connections spread over several engines.
pub async fn stampede_on(
    addrs: &[std::net::SocketAddr],
    sale: &str,
    buyers: usize,
    attempts: usize,
    connections: usize,
) -> Outcome {
    let outcome = Arc::new(Mutex::new(Outcome::default()));
    let work: Vec<usize> = (0..buyers * attempts).collect();
    let chunks: Vec<Vec<usize>> = work
        .chunks(work.len().div_ceil(connections))
        .map(<[usize]>::to_vec)
        .collect();
    let tasks: Vec<_> = chunks
        .into_iter()
        .enumerate()
        .map(|(i, chunk)| {
            let (addr, sale, outcome) = (addrs[i % addrs.len()], sale.to_owned(), outcome.clone());
            tokio::spawn(async move {
                let mut c = Client::connect(addr).await;
                for n in chunk {
                    let user = format!("buyer{}", n % buyers);
                    let (status, body) = c.buy(&sale, &user, 1, None).await;
                    let mut o = outcome.lock().await;
                    match status {
                        202 => {
                            let id = body["order_id"].as_str().unwrap().to_owned();
                            assert!(o.accepted.insert(id, user).is_none(), "duplicate order id");
                        }
                        409 | 503 => *o.by_code.entry(code(&body).to_owned()).or_default() += 1,
                        other => panic!("undocumented answer {other}: {body}"),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    Arc::try_unwrap(outcome).ok().unwrap().into_inner()
}

/// Every accepted order is `confirmed` for its buyer, and no buyer holds
/// more than `limit`.
pub async fn check_orders(app: &TestApp, accepted: &HashMap<String, String>, limit: usize) {
    let mut c = app.client().await;
    for (order, user) in accepted {
        let path = format!("/api/orders/{order}");
        let (status, _, body) = c.send(Method::GET, &path, Some(&buyer(user)), &[], None).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("confirmed")),
            "order {order}"
        );
    }
    assert_within_limit(accepted.values(), limit);
}

/// A sale of 300 units, 600 buyers × 3 attempts on 48 connections: exactly
/// 300 sold, remaining 0, `sold_out`, every 202 a confirmed order, no buyer
/// above 2, no duplicate order id, the ledger balanced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_sells_exactly_the_stock() {
    let app = TestApp::start("stampede").await;
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
        (view["remaining"].as_u64(), view["sold"].as_u64()),
        (Some(0), Some(300))
    );
    assert_eq!(view["status"], "sold_out");
    check_orders(&app, &outcome.accepted, 2).await;
    let stats = app.stats().await;
    assert_eq!(stats["sales"][0]["ledger"]["ok"], true, "{stats}");
    assert_eq!(stats["sales"][0]["orders_persisted"], 300);
    app.stop().await;
}

/// The same Idempotency-Key sent 32 times at once by one buyer: one order,
/// 32 identical answers, one unit sold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_with_one_key_make_one_order() {
    let app = TestApp::start("idempotency").await;
    let sale = app.active_sale(10, 5).await;
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (addr, sale) = (app.addr, sale.clone());
            tokio::spawn(async move {
                Client::connect(addr)
                    .await
                    .buy(&sale, "retrier", 1, Some("order-attempt-1"))
                    .await
            })
        })
        .collect();
    let mut answers = HashSet::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 202, "{body}");
        answers.insert(body.to_string());
    }
    assert_eq!(answers.len(), 1, "different answers: {answers:?}");
    assert_eq!(app.sale(&sale).await["sold"], 1);
    let mut c = app.client().await;
    let (status, again) = c.buy(&sale, "retrier", 1, Some("order-attempt-2")).await;
    assert_eq!(status, 202, "a new key is a new purchase");
    assert_ne!(again.to_string(), *answers.iter().next().unwrap());
    assert_eq!(app.sale(&sale).await["sold"], 2);
    app.stop().await;
}

/// A key reused with another body: 422 `idempotency_key_reused`, nothing
/// changed. After the sell-out (the replica's sold-out flag set), a keyed
/// retry still gets its first answer, the reused key is still refused, and
/// a new key is `sold_out`. Returns the sale, for the real-stack variant.
pub async fn key_reuse_and_keyed_retries_after_the_sell_out(app: &TestApp) -> String {
    let sale = app.active_sale(2, 2).await;
    let mut c = app.client().await;
    let (status, first) = c.buy(&sale, "retrier", 1, Some("k-1")).await;
    assert_eq!(status, 202, "{first}");
    let (status, body) = c.buy(&sale, "retrier", 2, Some("k-1")).await;
    assert_eq!((status, code(&body)), (422, "idempotency_key_reused"), "{body}");
    assert_eq!(
        app.sale(&sale).await["sold"],
        1,
        "a refused reuse changes nothing"
    );
    assert_eq!(c.buy(&sale, "other", 1, None).await.0, 202);
    assert_eq!(code(&c.buy(&sale, "late", 1, None).await.1), "sold_out");
    let (status, again) = c.buy(&sale, "retrier", 1, Some("k-1")).await;
    assert_eq!(
        (status, &again),
        (202, &first),
        "the first answer, after the sell-out"
    );
    let (status, body) = c.buy(&sale, "retrier", 2, Some("k-1")).await;
    assert_eq!((status, code(&body)), (422, "idempotency_key_reused"), "{body}");
    let (status, body) = c.buy(&sale, "retrier", 1, Some("k-2")).await;
    assert_eq!((status, code(&body)), (409, "sold_out"), "{body}");
    assert_eq!(app.sale(&sale).await["sold"], 2);
    sale
}

#[tokio::test]
async fn a_reused_key_is_refused_and_keyed_retries_survive_the_sell_out() {
    let app = TestApp::start("key-reuse").await;
    key_reuse_and_keyed_retries_after_the_sell_out(&app).await;
    app.stop().await;
}

/// Pause in the middle of a stampede: nothing is sold after the pause is
/// answered; resume sells the rest, to exactly the stock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_stops_sales_at_once_and_resume_sells_the_rest() {
    let app = Arc::new(TestApp::start("pause").await);
    let sale = app.active_sale(400, 1).await;
    let running = {
        let (app, sale) = (app.clone(), sale.clone());
        tokio::spawn(async move { stampede(&app, &sale, 2_000, 1, 32).await })
    };
    loop {
        if app.sale(&sale).await["sold"].as_u64().unwrap() >= 50 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let paused = app.admin(&format!("/api/admin/sales/{sale}/pause"), None).await;
    let sold_at_pause = paused["sold"].as_u64().unwrap();
    let first = running.await.unwrap();
    assert_eq!(
        app.sale(&sale).await["sold"].as_u64(),
        Some(sold_at_pause),
        "sold after the pause answer"
    );
    assert_eq!(first.accepted.len() as u64, sold_at_pause);
    assert!(first.by_code.get("sale_not_active").copied().unwrap_or(0) > 0);

    app.admin(&format!("/api/admin/sales/{sale}/resume"), None).await;
    let second = stampede(&app, &sale, 2_000, 1, 32).await;
    let view = app.sale(&sale).await;
    assert_eq!(
        (view["sold"].as_u64(), view["status"].as_str()),
        (Some(400), Some("sold_out"))
    );
    let mut all = first.accepted;
    all.extend(second.accepted);
    assert_eq!(all.len(), 400);
    Arc::try_unwrap(app).ok().unwrap().stop().await;
}

/// A stock top-up and a cache flush while buyers buy: the sale sells out
/// to exactly the new stock, the ledger balanced throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn top_up_and_cache_flush_during_a_stampede() {
    let app = Arc::new(TestApp::start("topup").await);
    let sale = app.active_sale(200, 3).await;
    let running = {
        let (app, sale) = (app.clone(), sale.clone());
        tokio::spawn(async move { stampede(&app, &sale, 500, 3, 32).await })
    };
    loop {
        if app.sale(&sale).await["sold"].as_u64().unwrap() >= 20 {
            break;
        }
        tokio::task::yield_now().await;
    }
    let topped = app
        .admin(
            &format!("/api/admin/sales/{sale}/stock"),
            Some(json!({"add": 150})),
        )
        .await;
    assert_eq!(topped["stock"], 350);
    for _ in 0..3 {
        app.admin("/api/admin/cache/flush", None).await;
        let stats = app.stats().await;
        assert_eq!(stats["sales"][0]["ledger"]["difference"], 0, "{stats}");
    }
    let outcome = running.await.unwrap();
    let view = app.sale(&sale).await;
    assert_eq!(
        (view["sold"].as_u64(), view["remaining"].as_u64()),
        (Some(350), Some(0)),
        "{:?}",
        outcome.by_code
    );
    assert_eq!(outcome.accepted.len(), 350);
    check_orders(&app, &outcome.accepted, 3).await;
    Arc::try_unwrap(app).ok().unwrap().stop().await;
}
