//! `flashsale bench stampede --payment-window 5s --pay-ratio 0.7`: a
//! stampede on a sale whose units are held while buyers pay. A share of
//! the winners pays (through the signed webhook, or the simulated provider
//! when no webhook secret is given); the others never do, their orders
//! expire and the units go back on sale to the buyers still arriving. New
//! buyers keep coming (a buyer refused `sold_out` waits 50 ms before the
//! next one tries), until every unit is paid: the report gives the time to
//! that state and what it took.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use hyper::body::Bytes;
use hyper::Method;
use serde_json::{json, Value};

use crate::report::{Check, CheckoutFigures, Latency, Report};
use crate::stampede::{error_code, get_json, open_sale, send, token, BenchError, StampedeArgs};
use flashsale_testkit::http::{authority, Conn};

/// The price of the sale the bench creates, in cents.
const PRICE_CENTS: u64 = 100;

/// A stable draw in [0, 1) for an order: whether its buyer pays.
fn draw(order: &str) -> f64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    order.hash(&mut h);
    (h.finish() % 10_000) as f64 / 10_000.0
}

/// The sale's stats entry.
async fn sale_stats(conn: &mut Conn, admin: &str, sale: &str) -> Option<Value> {
    let stats = get_json(conn, "/api/admin/stats", Some(admin)).await.ok()?;
    stats["sales"]
        .as_array()?
        .iter()
        .find(|s| s["sale_id"] == sale)
        .cloned()
}

/// Runs the checkout stampede; see the module docs.
pub async fn run(args: StampedeArgs, window: Duration) -> Result<Report, BenchError> {
    let authorities: Vec<String> = args
        .target
        .iter()
        .map(|t| authority(t))
        .collect::<Result<_, _>>()
        .map_err(BenchError::Setup)?;
    if !(0.0..=1.0).contains(&args.pay_ratio) || args.pay_ratio == 0.0 {
        return Err(BenchError::Setup(
            "--pay-ratio must be above 0 and at most 1".into(),
        ));
    }
    let (admin, jwt) = args.secrets.read()?;
    let mut conn = Conn::new(authorities[0].clone());
    let body = json!({"name": "bench checkout", "product": "load", "price_cents": PRICE_CENTS,
                      "stock": args.stock, "per_user_limit": args.limit,
                      "payment_window_seconds": window.as_secs()});
    let sale = open_sale(&mut conn, &admin, &body).await?;
    let mut report = Report {
        targets: args.target.clone(),
        sale_id: sale.clone(),
        stock: args.stock,
        per_user_limit: args.limit,
        concurrency: args.concurrency,
        ..Report::default()
    };
    let bound = Duration::from_secs_f64(args.duration.unwrap_or(300.0));
    let started = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let next_buyer = Arc::new(AtomicU64::new(0));
    let (orders_tx, orders_rx) = tokio::sync::mpsc::unbounded_channel::<(String, u64)>();
    let path = Arc::new(format!("/api/sales/{sale}/purchase"));
    let jwt = Arc::new(jwt);
    let workers: Vec<_> = (0..args.concurrency)
        .map(|w| {
            let authority = authorities[w % authorities.len()].clone();
            let (done, next_buyer, orders, path, jwt) = (
                done.clone(),
                next_buyer.clone(),
                orders_tx.clone(),
                path.clone(),
                jwt.clone(),
            );
            tokio::spawn(async move {
                let mut conn = Conn::new(authority);
                let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
                let mut answers: HashMap<String, u64> = HashMap::new();
                let body = Bytes::from_static(br#"{"quantity":1}"#);
                while !done.load(Ordering::Relaxed) && started.elapsed() < bound {
                    let buyer = next_buyer.fetch_add(1, Ordering::Relaxed);
                    let bearer = token(&jwt, &format!("checkout-{buyer}"));
                    let sent = Instant::now();
                    let answer =
                        send(&mut conn, Method::POST, &path, Some(&bearer), Some(body.clone())).await;
                    let _ = latency.record((sent.elapsed().as_micros() as u64).max(1));
                    let key = match answer {
                        Ok((202, body)) => {
                            if let Some(id) = serde_json::from_slice::<Value>(&body)
                                .ok()
                                .and_then(|v| v["order_id"].as_str().map(str::to_owned))
                            {
                                let _ = orders.send((id, buyer));
                            }
                            "202".to_owned()
                        }
                        Ok((status, body)) => {
                            let code = error_code(&body);
                            if code == "sold_out" {
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                            format!("{status} {code}")
                        }
                        Err(_) => "transport error".to_owned(),
                    };
                    *answers.entry(key).or_default() += 1;
                }
                (latency, answers)
            })
        })
        .collect();
    drop(orders_tx);
    let payer = tokio::spawn(pay_orders(
        authorities.clone(),
        jwt.clone(),
        args.payment_webhook_secret.clone(),
        args.pay_ratio,
        orders_rx,
    ));

    // Until every unit is paid (or the bound).
    let mut watch = Conn::new(authorities[0].clone());
    let mut paid_at = None;
    while started.elapsed() < bound {
        if let Some(s) = sale_stats(&mut watch, &admin, &sale).await {
            if s["units_paid"].as_u64() == Some(args.stock) {
                paid_at = Some(started.elapsed());
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    done.store(true, Ordering::Relaxed);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let mut answers = std::collections::BTreeMap::new();
    for w in workers {
        let (l, a) = w.await.map_err(|e| BenchError::Setup(e.to_string()))?;
        let _ = latency.add(&l);
        for (k, v) in a {
            *answers.entry(k).or_insert(0) += v;
        }
    }
    let payments = payer.await.map_err(|e| BenchError::Setup(e.to_string()))?;
    report.buyers = next_buyer.load(Ordering::Relaxed);
    report.attempts_per_buyer = 1;
    report.seconds = started.elapsed().as_secs_f64();
    report.attempts = latency.len();
    report.attempts_per_second = report.attempts as f64 / report.seconds;
    report.accepted = answers.get("202").copied().unwrap_or(0);
    report.accepted_per_second = report.accepted as f64 / report.seconds;
    report.latency = Latency::of(&latency);
    report.answers = answers;
    report.peak_rss_mib = args.pid.and_then(crate::stampede::peak_rss_mib);

    let stats = sale_stats(&mut watch, &admin, &sale).await.unwrap_or_default();
    let count = |v: &Value| v.as_u64().unwrap_or(0);
    let by_status = &stats["orders_by_status"];
    let figures = CheckoutFigures {
        payment_window_seconds: window.as_secs(),
        pay_ratio: args.pay_ratio,
        seconds_to_all_paid: paid_at.map(|d| d.as_secs_f64()),
        payments_sent: payments.sent,
        payments_refused: payments.refused,
        orders_paid: count(&by_status["paid"]),
        orders_expired: count(&by_status["expired"]),
        orders_awaiting: count(&by_status["confirmed"]),
        units_paid: count(&stats["units_paid"]),
    };
    let check = |name: &str, ok: bool, detail: String| Check {
        name: name.into(),
        ok,
        detail,
    };
    report.checks = vec![
        check(
            "every unit paid",
            paid_at.is_some(),
            format!("{} of {} units paid", figures.units_paid, args.stock),
        ),
        check(
            "no unit paid twice",
            figures.units_paid <= args.stock,
            format!("{} paid of a stock of {}", figures.units_paid, args.stock),
        ),
        check(
            "ledger balanced",
            stats["ledger"]["ok"] == true,
            format!(
                "remaining {} + in flight {} + awaiting {} + paid {} = stock {}",
                count(&stats["remaining"]),
                count(&stats["in_flight"]),
                count(&stats["units_awaiting_payment"]),
                figures.units_paid,
                args.stock
            ),
        ),
        check(
            "every payment answered",
            payments.refused == 0,
            format!("{} sent, {} refused", payments.sent, payments.refused),
        ),
    ];
    report.checkout = Some(figures);
    Ok(report)
}

/// What the payer did.
struct Paid {
    sent: u64,
    refused: u64,
}

/// Pays each order whose draw falls under `ratio`, once it is stored: by
/// the webhook with `secret`, else as its buyer (simulated payments).
async fn pay_orders(
    authorities: Vec<String>,
    jwt: Arc<String>,
    secret: Option<String>,
    ratio: f64,
    mut orders: tokio::sync::mpsc::UnboundedReceiver<(String, u64)>,
) -> Paid {
    let counts = Arc::new(Mutex::new(Paid { sent: 0, refused: 0 }));
    let gate = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = Vec::new();
    let mut n = 0usize;
    while let Some((order, buyer)) = orders.recv().await {
        if draw(&order) >= ratio {
            continue;
        }
        n += 1;
        let authority = authorities[n % authorities.len()].clone();
        let (jwt, secret, counts, gate) = (jwt.clone(), secret.clone(), counts.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _slot = gate.acquire().await;
            let mut conn = Conn::new(authority);
            let bearer = token(&jwt, &format!("checkout-{buyer}"));
            // Stored first: a pending order cannot be paid yet.
            for _ in 0..500 {
                let stored = send(
                    &mut conn,
                    Method::GET,
                    &format!("/api/orders/{order}"),
                    Some(&bearer),
                    None,
                )
                .await
                .ok()
                .and_then(|(s, b)| {
                    (s == 200)
                        .then(|| serde_json::from_slice::<Value>(&b).ok())
                        .flatten()
                })
                .is_some_and(|v| v["status"] != "pending");
                if stored {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let status = match &secret {
                Some(secret) => {
                    let event = json!({"id": format!("evt-{order}"), "type": "payment.succeeded",
                                       "order_id": order, "amount_cents": PRICE_CENTS})
                    .to_string();
                    let signature = flashsale_gateway::payments::sign(
                        secret,
                        chrono::Utc::now().timestamp(),
                        event.as_bytes(),
                    );
                    conn.request(
                        Method::POST,
                        "/api/payments/webhook",
                        &[
                            ("content-type", "application/json"),
                            ("flashsale-signature", &signature),
                        ],
                        Some(Bytes::from(event)),
                        None,
                    )
                    .await
                    .map(|a| a.status)
                }
                None => send(
                    &mut conn,
                    Method::POST,
                    &format!("/api/orders/{order}/pay"),
                    Some(&bearer),
                    None,
                )
                .await
                .map(|(s, _)| s),
            };
            let mut counts = counts.lock().expect("counts lock");
            counts.sent += 1;
            if status.ok() != Some(200) {
                counts.refused += 1;
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    Arc::try_unwrap(counts)
        .ok()
        .map(|m| m.into_inner().expect("counts lock"))
        .unwrap_or(Paid { sent: 0, refused: 0 })
}
