//! Checkout over HTTP, embedded and on the real stack alike: units held
//! while buyers pay, paid once however often the provider delivers, back on
//! sale (and off the buyer's limit) when cancelled or not paid in time.

use std::time::Duration;

use flashsale_gateway::payments;
use hyper::Method;
use serde_json::{json, Value};

use crate::stack::stack_settings;
use crate::support::{buyer, code, settings, Client, TestApp, ADMIN, WEBHOOK_SECRET};

/// A started sale with a payment window; returns its id.
async fn windowed_sale(app: &TestApp, stock: u64, limit: u32, window: u64) -> String {
    let mut c = app.client().await;
    let body = json!({"name": "Checkout sale", "product": "Widget", "price_cents": 1500, "stock": stock,
                      "per_user_limit": limit, "payment_window_seconds": window});
    let (status, _, created) = c
        .send(Method::POST, "/api/admin/sales", Some(ADMIN), &[], Some(body))
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["payment_window_seconds"], window);
    let id = created["id"].as_str().unwrap().to_owned();
    app.admin(&format!("/api/admin/sales/{id}/start"), None).await;
    id
}

/// Buys and waits until the order is stored; returns it.
async fn bought(c: &mut Client, sale: &str, user: &str, quantity: u32) -> Value {
    let (status, body) = c.buy(sale, user, quantity, None).await;
    assert_eq!(status, 202, "{user}: {body}");
    let id = body["order_id"].as_str().unwrap().to_owned();
    for _ in 0..400 {
        let order = order(c, user, &id).await;
        if order["status"] != "pending" {
            return order;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("order {id} never stored");
}

async fn order(c: &mut Client, user: &str, id: &str) -> Value {
    let (status, _, order) = c
        .send(
            Method::GET,
            &format!("/api/orders/{id}"),
            Some(&buyer(user)),
            &[],
            None,
        )
        .await;
    assert_eq!(status, 200, "{order}");
    order
}

/// `POST /api/orders/{id}/{action}` (pay or cancel) by `user`.
async fn act(c: &mut Client, user: &str, id: &str, action: &str) -> (u16, Value) {
    let (status, _, body) = c
        .send(
            Method::POST,
            &format!("/api/orders/{id}/{action}"),
            Some(&buyer(user)),
            &[],
            None,
        )
        .await;
    (status, body)
}

/// A payment event for `order`, signed at `at` (unix seconds) with `secret`.
async fn webhook(c: &mut Client, event: &Value, secret: &str, at: i64) -> (u16, Value) {
    let body = event.to_string().into_bytes();
    let signature = payments::sign(secret, at, &body);
    let (status, _, answer) = c
        .send_raw(
            Method::POST,
            "/api/payments/webhook",
            None,
            &[
                ("content-type", "application/json"),
                ("flashsale-signature", &signature),
            ],
            body,
        )
        .await;
    (status, answer)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Polls the order until its status is `status`.
async fn until_status(c: &mut Client, user: &str, id: &str, status: &str) -> Value {
    for _ in 0..1000 {
        let order = order(c, user, id).await;
        if order["status"] == status {
            return order;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("order {id} never {status}");
}

/// The stats of `sale`.
async fn sale_stats(app: &TestApp, sale: &str) -> Value {
    let stats = app.stats().await;
    stats["sales"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sale_id"] == sale)
        .cloned()
        .expect("the sale's stats")
}

/// The whole checkout on one engine: hold, cancel, resell, pay, expire,
/// the webhook's signature, amount, idempotence and late payments, and
/// the ledger check (stock = remaining + in flight + awaiting + paid).
async fn checkout_flow(app: &TestApp) {
    let sale = windowed_sale(app, 3, 1, 3).await;
    let mut c = app.client().await;

    // Held while unpaid: the sale sells out.
    let alice = bought(&mut c, &sale, "alice", 1).await;
    assert_eq!(alice["status"], "confirmed");
    assert!(alice["payment_due_at"].is_string(), "{alice}");
    let bob = bought(&mut c, &sale, "bob", 1).await;
    let dave = bought(&mut c, &sale, "dave", 1).await;
    let (status, body) = c.buy(&sale, "carol", 1, None).await;
    assert_eq!((status, code(&body)), (409, "sold_out"));

    // A cancel puts the unit back on sale and off the buyer's limit.
    let bob_first = bob["order_id"].as_str().unwrap();
    let (status, body) = act(&mut c, "mallory", bob_first, "cancel").await;
    assert_eq!(
        (status, code(&body)),
        (404, "order_not_found"),
        "another buyer's order"
    );
    let (status, body) = act(&mut c, "bob", bob_first, "cancel").await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("cancelled")),
        "{body}"
    );
    let (status, _) = act(&mut c, "bob", bob_first, "cancel").await;
    assert_eq!(status, 200, "cancelling again answers it again");
    let (status, body) = act(&mut c, "bob", bob_first, "pay").await;
    assert_eq!((status, code(&body)), (409, "order_cancelled"));
    let bob_again = bought(&mut c, &sale, "bob", 1).await;
    let bob_again = bob_again["order_id"].as_str().unwrap().to_owned();

    // Paid once, however often: the buyer's own payment (simulated) ...
    let alice_id = alice["order_id"].as_str().unwrap();
    let (status, paid) = act(&mut c, "alice", alice_id, "pay").await;
    assert_eq!((status, paid["status"].as_str()), (200, Some("paid")), "{paid}");
    let (status, again) = act(&mut c, "alice", alice_id, "pay").await;
    assert_eq!((status, &again["paid_at"]), (200, &paid["paid_at"]), "paid once");
    let (status, body) = act(&mut c, "alice", alice_id, "cancel").await;
    assert_eq!((status, code(&body)), (409, "order_paid"));

    // ... or the provider's webhook: checked, then idempotent.
    let event =
        json!({"id": "evt_bob", "type": "payment.succeeded", "order_id": bob_again, "amount_cents": 1500});
    let (status, body) = webhook(&mut c, &event, "not-the-secret", now()).await;
    assert_eq!((status, code(&body)), (401, "invalid_signature"));
    let (status, body) = webhook(&mut c, &event, WEBHOOK_SECRET, now() - 301).await;
    assert_eq!((status, code(&body)), (400, "stale_signature"));
    let wrong =
        json!({"id": "evt_x", "type": "payment.succeeded", "order_id": bob_again, "amount_cents": 1499});
    let (status, body) = webhook(&mut c, &wrong, WEBHOOK_SECRET, now()).await;
    assert_eq!((status, code(&body)), (422, "amount_mismatch"));
    assert_eq!(
        order(&mut c, "bob", &bob_again).await["status"],
        "confirmed",
        "nothing changed"
    );
    let mut paid_at = Vec::new();
    for _ in 0..3 {
        let (status, answer) = webhook(&mut c, &event, WEBHOOK_SECRET, now()).await;
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (200, Some("paid")),
            "{answer}"
        );
        paid_at.push(order(&mut c, "bob", &bob_again).await["paid_at"].clone());
    }
    assert!(
        paid_at[0].is_string() && paid_at.iter().all(|p| *p == paid_at[0]),
        "paid once: {paid_at:?}"
    );

    // Not paid in time: expired, the unit back on sale for another buyer;
    // a payment that comes later is told so (to refund).
    let dave_id = dave["order_id"].as_str().unwrap();
    until_status(&mut c, "dave", dave_id, "expired").await;
    let late =
        json!({"id": "evt_late", "type": "payment.succeeded", "order_id": dave_id, "amount_cents": 1500});
    let (status, answer) = webhook(&mut c, &late, WEBHOOK_SECRET, now()).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("order_expired")),
        "{answer}"
    );
    let (status, body) = act(&mut c, "dave", dave_id, "pay").await;
    assert_eq!((status, code(&body)), (409, "order_expired"));
    let mut carol = None;
    for _ in 0..200 {
        let (status, body) = c.buy(&sale, "carol", 1, None).await;
        if status == 202 {
            carol = Some(body["order_id"].as_str().unwrap().to_owned());
            break;
        }
        assert_eq!(code(&body), "sold_out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let carol = carol.expect("the expired unit is sold again");
    until_status(&mut c, "carol", &carol, "confirmed").await;

    let stats = sale_stats(app, &sale).await;
    assert_eq!(stats["ledger"]["ok"], true, "{stats}");
    let figure = |name: &str| stats[name].as_u64().unwrap();
    let (remaining, in_flight, awaiting, paid) = (
        figure("remaining"),
        figure("in_flight"),
        figure("units_awaiting_payment"),
        figure("units_paid"),
    );
    assert_eq!((remaining, in_flight, awaiting, paid), (0, 0, 1, 2), "{stats}");
    assert_eq!(
        remaining + in_flight + awaiting + paid,
        3,
        "stock = remaining + in flight + awaiting + paid"
    );
    assert_eq!(
        stats["orders_by_status"],
        json!({"confirmed": 1, "paid": 2, "expired": 1, "cancelled": 1}),
        "{stats}"
    );
    let (status, log) = app
        .client()
        .await
        .read_stream(
            &format!("/api/admin/events?token={ADMIN}"),
            &["expired; their units", "refund 1500"],
        )
        .await;
    assert_eq!(status, 200);
    assert!(log.contains("\"kind\":\"checkout\""), "{log}");
}

/// Embedded: the whole checkout, and its events in the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_checkout_holds_pays_and_gives_back() {
    let app = TestApp::start("checkout").await;
    checkout_flow(&app).await;
    app.stop().await;
}

/// The real stack: the same checkout (payments simulated for the test).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_checkout_holds_pays_and_gives_back() {
    let mut s = stack_settings("stack-checkout").await;
    s.payments = Some("simulated".into());
    let app = TestApp::spawn(s).await;
    checkout_flow(&app).await;
    app.stop().await;
}

/// With webhook payments (the real stack's default), buyers cannot pay
/// themselves; without a webhook secret, the webhook is off.
#[tokio::test]
async fn payment_routes_follow_the_settings() {
    let mut s = settings("payments-off");
    s.payments = Some("webhook".into());
    s.payment_webhook_secret = None;
    let app = TestApp::spawn(s).await;
    let sale = windowed_sale(&app, 2, 1, 60).await;
    let mut c = app.client().await;
    let order = bought(&mut c, &sale, "erin", 1).await;
    let id = order["order_id"].as_str().unwrap();
    let (status, body) = act(&mut c, "erin", id, "pay").await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let event = json!({"id": "evt_1", "type": "payment.succeeded", "order_id": id, "amount_cents": 1500});
    let (status, body) = webhook(&mut c, &event, WEBHOOK_SECRET, now()).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (_, _, health) = c.send(Method::GET, "/api/health", None, &[], None).await;
    assert_eq!(
        health["components"]["payments"]["detail"],
        "webhook (webhook off)"
    );
    // A sale without a payment window: orders are final.
    let final_sale = app.active_sale(2, 1).await;
    let fin = bought(&mut c, &final_sale, "erin", 1).await;
    assert!(fin.get("payment_due_at").is_none(), "{fin}");
    let (status, body) = act(&mut c, "erin", fin["order_id"].as_str().unwrap(), "cancel").await;
    assert_eq!((status, code(&body)), (409, "order_not_awaiting_payment"));
    // A window out of range is refused, nothing created.
    let (status, _, body) = c
        .send(
            Method::POST,
            "/api/admin/sales",
            Some(ADMIN),
            &[],
            Some(
                json!({"name": "n", "product": "p", "price_cents": 1, "stock": 1, "per_user_limit": 1,
                        "payment_window_seconds": 86_401}),
            ),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    app.stop().await;
}

/// One delivery to the receiver: event id, body, signature, the status it
/// was answered.
type Delivery = (String, String, String, u16);

/// A shop's webhook receiver: records every delivery and fails every other
/// one with 500.
#[derive(Clone, Default)]
struct Receiver {
    deliveries: std::sync::Arc<std::sync::Mutex<Vec<Delivery>>>,
}

impl Receiver {
    async fn serve(&self, listener: tokio::net::TcpListener) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        let app = axum::Router::new().route(
            "/hooks",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let this = this.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    let mut all = this.deliveries.lock().unwrap();
                    let status = if all.len().is_multiple_of(2) { 500 } else { 200 };
                    all.push((
                        header("flashsale-event-id"),
                        body,
                        header("flashsale-signature"),
                        status,
                    ));
                    axum::http::StatusCode::from_u16(status).unwrap()
                }
            }),
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        })
    }

    /// Event ids the shop acknowledged (answered 200), with their bodies.
    fn acknowledged(&self) -> Vec<(String, Value)> {
        self.deliveries
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.3 == 200)
            .map(|d| (d.0.clone(), serde_json::from_str(&d.1).unwrap()))
            .collect()
    }
}

/// The shop gets every order change at least once, signed, from the
/// ledger's outbox, though its receiver is down at first and then fails
/// every other delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shop_events_reach_a_flaky_receiver() {
    const SHOP_SECRET: &str = "shop-webhook-secret";
    // A port for the receiver, down for now.
    let port = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let mut s = settings("shop-events");
    s.webhook_url = Some(format!("http://{port}/hooks"));
    s.webhook_secret = Some(SHOP_SECRET.into());
    let app = TestApp::spawn(s).await;
    let sale = windowed_sale(&app, 5, 1, 1).await;
    let mut c = app.client().await;
    let paid = bought(&mut c, &sale, "payer", 1).await["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = bought(&mut c, &sale, "quitter", 1).await["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let expired = bought(&mut c, &sale, "sleeper", 1).await["order_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(act(&mut c, "payer", &paid, "pay").await.0, 200);
    assert_eq!(act(&mut c, "quitter", &cancelled, "cancel").await.0, 200);
    until_status(&mut c, "sleeper", &expired, "expired").await;

    let receiver = Receiver::default();
    let server = receiver
        .serve(tokio::net::TcpListener::bind(port).await.unwrap())
        .await;
    let expected = [
        ("order.confirmed", &paid),
        ("order.confirmed", &cancelled),
        ("order.confirmed", &expired),
        ("order.paid", &paid),
        ("order.cancelled", &cancelled),
        ("order.expired", &expired),
    ];
    let mut got = Vec::new();
    for _ in 0..600 {
        got = receiver.acknowledged();
        if got.len() >= expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut seen: Vec<(String, String)> = got
        .iter()
        .map(|(id, body)| {
            assert_eq!(
                body["id"],
                id.as_str(),
                "the event id is in the header and the body"
            );
            (
                body["type"].as_str().unwrap().to_owned(),
                body["data"]["order_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    seen.dedup();
    let mut want: Vec<(String, String)> = expected
        .iter()
        .map(|(kind, id)| (kind.to_string(), id.to_string()))
        .collect();
    want.sort();
    assert_eq!(seen, want, "every change, once acknowledged");
    for (_, body, signature, _) in receiver.deliveries.lock().unwrap().iter() {
        payments::verify(SHOP_SECRET, Some(signature), body.as_bytes(), now()).expect("signed");
    }
    let failed = receiver
        .deliveries
        .lock()
        .unwrap()
        .iter()
        .filter(|d| d.3 == 500)
        .count();
    assert!(
        failed >= 3,
        "the receiver failed deliveries that were retried: {failed}"
    );
    // Health reports the outbox empty once all is acknowledged.
    let mut detail = String::new();
    for _ in 0..100 {
        let (_, _, health) = c.send(Method::GET, "/api/health", None, &[], None).await;
        detail = health["components"]["shop_webhooks"]["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if detail.starts_with("0 pending") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        detail.starts_with("0 pending (0 failing), 0 given up"),
        "{detail}"
    );
    let metrics = flashsale_testkit::http::Conn::new(app.addr)
        .request(Method::GET, "/metrics", &[], None, None)
        .await
        .unwrap();
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    let delivered: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("flashsale_shop_webhook_deliveries_total{outcome=\"delivered\"} "))
        .and_then(|n| n.parse().ok())
        .expect("the delivered counter");
    assert!(delivered >= expected.len() as u64, "{metrics}");
    server.abort();
    app.stop().await;
}

/// The embedded engine killed (SIGKILL) while its orders fall due, and
/// started again: every unpaid order expires exactly once, the paid ones
/// stay paid, and every expired unit is on sale again (no unit lost, none
/// counted twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_the_expiry_expires_each_order_once() {
    use crate::support::{data_dir, launch};
    let data = data_dir("expiry-kill9");
    let (mut engine, addr) = launch(&data, &[]).await;
    let mut c = Client::connect(addr).await;
    let body = json!({"name": "n", "product": "p", "price_cents": 1500, "stock": 40, "per_user_limit": 1,
                      "payment_window_seconds": 1});
    let (_, _, created) = c
        .send(Method::POST, "/api/admin/sales", Some(ADMIN), &[], Some(body))
        .await;
    let sale = created["id"].as_str().unwrap().to_owned();
    c.send(
        Method::POST,
        &format!("/api/admin/sales/{sale}/start"),
        Some(ADMIN),
        &[],
        None,
    )
    .await;
    let mut orders = Vec::new();
    for i in 0..40 {
        let user = format!("k{i}");
        let (status, body) = c.buy(&sale, &user, 1, None).await;
        assert_eq!(status, 202, "{body}");
        orders.push((user, body["order_id"].as_str().unwrap().to_owned()));
    }
    // A quarter paid; the rest falls due while the engine dies.
    for (user, id) in orders.iter().step_by(4) {
        let (status, body) = act(&mut c, user, id, "pay").await;
        assert_eq!(status, 200, "{body}");
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    engine.start_kill().unwrap();
    engine.wait().await.unwrap();

    let (_engine, addr) = launch(&data, &[]).await;
    let mut c = Client::connect(addr).await;
    for (i, (user, id)) in orders.iter().enumerate() {
        let want = if i % 4 == 0 { "paid" } else { "expired" };
        until_status(&mut c, user, id, want).await;
    }
    let (_, _, stats) = c
        .send(Method::GET, "/api/admin/stats", Some(ADMIN), &[], None)
        .await;
    let stats = stats["sales"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sale_id"] == sale.as_str())
        .cloned()
        .unwrap();
    assert_eq!(
        (&stats["remaining"], &stats["units_paid"], &stats["ledger"]["ok"]),
        (&json!(30), &json!(10), &json!(true)),
        "{stats}"
    );
    assert_eq!(stats["orders_by_status"]["expired"], 30);
}
