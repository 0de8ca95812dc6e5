//! The payment provider of the checkout scenarios: it watches the ledger for
//! orders awaiting payment and pays a share of them through the signed
//! webhook, some at once and some at their deadline (racing the expiry),
//! and remembers what each payment was told, to be checked against what
//! the ledger decided.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use flashsale_gateway::payments;
use flashsale_testkit::http::Conn;
use hyper::Method;
use serde_json::json;

use crate::stores_view::Inspector;

/// The webhook secret every process of a checkout scenario shares.
pub const WEBHOOK_SECRET: &str = "chaos-payment-webhook-secret";

/// What to pay.
#[derive(Debug, Clone)]
pub struct PayerSpec {
    pub sale: String,
    pub gateways: Vec<SocketAddr>,
    pub price_cents: i64,
    /// Share of the orders paid (the rest expire).
    pub ratio: f64,
    /// Share of the paid ones paid at their deadline, racing the expiry.
    pub racing: f64,
}

/// Switches the scenario flips while the payer runs.
#[derive(Debug, Default)]
pub struct PayerLive {
    /// Pay every order from now on (the final wave must end paid).
    pub pay_all: AtomicBool,
    pub stop: AtomicBool,
    pub sent: AtomicU64,
}

/// What the payer saw.
#[derive(Debug, Default)]
pub struct Payments {
    /// Order id → the outcome its payment was answered with (`paid` or
    /// `order_expired`).
    pub told: HashMap<String, String>,
    /// Order ids paid at their deadline.
    pub raced: HashSet<String>,
    /// Payments that got no definitive answer, or an unexpected one.
    pub problems: Vec<String>,
}

/// A stable draw in [0, 1) for an order.
fn draw(id: &str, salt: u64) -> f64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (id, salt).hash(&mut h);
    (h.finish() % 10_000) as f64 / 10_000.0
}

/// Runs until `live.stop`; returns what every payment was told.
pub async fn run(spec: PayerSpec, inspector: Inspector, live: Arc<PayerLive>) -> Payments {
    let spec = Arc::new(spec);
    let found = Arc::new(Mutex::new(Payments::default()));
    let mut seen: HashSet<String> = HashSet::new();
    let mut tasks = Vec::new();
    while !live.stop.load(Ordering::Relaxed) {
        if let Ok(awaiting) = inspector.awaiting_payment(&spec.sale).await {
            for (id, quantity, due) in awaiting {
                if !seen.insert(id.clone()) {
                    continue;
                }
                let all = live.pay_all.load(Ordering::Relaxed);
                if !all && draw(&id, 1) >= spec.ratio {
                    continue;
                }
                let racing = !all && draw(&id, 2) < spec.racing;
                let (spec, found, live) = (spec.clone(), found.clone(), live.clone());
                tasks.push(tokio::spawn(async move {
                    if racing {
                        // Within 40 ms either side of the deadline.
                        let jitter = chrono::Duration::milliseconds((draw(&id, 3) * 80.0) as i64 - 40);
                        let wait = (due + jitter - Utc::now()).to_std().unwrap_or_default();
                        tokio::time::sleep(wait).await;
                        found.lock().unwrap().raced.insert(id.clone());
                    }
                    let amount = spec.price_cents * quantity;
                    let outcome = pay(&spec, &id, amount).await;
                    live.sent.fetch_add(1, Ordering::Relaxed);
                    let mut found = found.lock().unwrap();
                    match outcome {
                        Ok(told) => {
                            found.told.insert(id, told);
                        }
                        Err(e) => found.problems.push(format!("payment of {id}: {e}")),
                    }
                }));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for task in tasks {
        let _ = task.await;
    }
    Arc::try_unwrap(found)
        .map(|m| m.into_inner().unwrap())
        .unwrap_or_default()
}

/// One payment, retried (same event id) on a transport error or a 503,
/// over the gateways, for up to 60 s.
async fn pay(spec: &PayerSpec, order: &str, amount: i64) -> Result<String, String> {
    let event = json!({"id": format!("evt-{order}"), "type": "payment.succeeded", "order_id": order,
                       "amount_cents": amount})
    .to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    for attempt in 0.. {
        if tokio::time::Instant::now() > deadline {
            break;
        }
        let signature = payments::sign(WEBHOOK_SECRET, Utc::now().timestamp(), event.as_bytes());
        let mut conn = Conn::new(spec.gateways[attempt % spec.gateways.len()]);
        match conn
            .request(
                Method::POST,
                "/api/payments/webhook",
                &[
                    ("content-type", "application/json"),
                    ("flashsale-signature", &signature),
                ],
                Some(event.clone().into()),
                Some(Duration::from_secs(8)),
            )
            .await
        {
            Ok(a) if a.status == 200 => {
                return a.json()["outcome"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("200 without an outcome: {}", String::from_utf8_lossy(&a.body)));
            }
            Ok(a) if a.status == 503 => last = "503".into(),
            Ok(a) => return Err(format!("{} {}", a.status, String::from_utf8_lossy(&a.body))),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(format!("no answer within 60 s ({last})"))
}

/// What the ledger decided must be what each payment was told: `paid`
/// exactly for the paid orders, `order_expired` exactly for the expired
/// ones. Returns the problems, and a figure.
pub fn check(payments: &Payments, statuses: &HashMap<&str, &str>) -> (Vec<String>, String) {
    let mut problems = payments.problems.clone();
    let (mut won, mut lost) = (0, 0);
    for (id, told) in &payments.told {
        let status = statuses.get(id.as_str()).copied().unwrap_or("missing");
        let agrees = matches!(
            (told.as_str(), status),
            ("paid", "paid") | ("order_expired", "expired")
        );
        if !agrees {
            problems.push(format!(
                "order {id}: the payment was told {told}, the ledger says {status}"
            ));
        }
        if payments.raced.contains(id) {
            if told == "paid" {
                won += 1;
            } else {
                lost += 1;
            }
        }
    }
    let paid_unpaid = statuses.values().filter(|s| **s == "paid").count();
    let figure = format!(
        "{} payments, {paid_unpaid} orders paid; {} paid at the deadline: {won} beat the expiry, {lost} came too late",
        payments.told.len(),
        payments.raced.len()
    );
    (problems, figure)
}
