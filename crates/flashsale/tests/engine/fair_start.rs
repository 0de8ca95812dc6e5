//! A fair start (issue 19) end to end: purchase attempts in the opening
//! window wait, the draw serves them, each gets one answer with today's
//! shapes; on the embedded engine here, and through several gateways and
//! inventories of the real stack in `stack::production_topology_one_process_per_service`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use chrono::Utc;
use hyper::Method;
use serde_json::{json, Value};

use crate::archive::archived;
use crate::support::{code, settings, Client, TestApp, ADMIN};

/// What [`draw_round`] saw: each buyer's answers, and the sale.
pub(crate) struct DrawRound {
    pub sale: String,
    pub answers: HashMap<String, Vec<(u16, Value)>>,
}

/// A sale of 5 units (limit 1) with a 2 s prequeue and a 1 s fair start;
/// 30 buyers try during the prequeue, spread over `gateways`, one of them
/// twice with another key. No answer comes before the window closes; then
/// exactly 5 are accepted and the rest told sold out, with today's shapes,
/// and the buyer who tried twice gets one answer for both.
pub(crate) async fn draw_round(gateways: &[SocketAddr]) -> DrawRound {
    let starts_at = Utc::now() + chrono::Duration::seconds(2);
    let (status, _, sale) = Client::connect(gateways[0])
        .await
        .send(
            Method::POST,
            "/api/admin/sales",
            Some(ADMIN),
            &[],
            Some(
                json!({"name": "Fair", "product": "Widget", "price_cents": 100, "stock": 5,
                        "per_user_limit": 1, "starts_at": starts_at, "prequeue_seconds": 2,
                        "fair_start_seconds": 1}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{sale}");
    assert_eq!(
        (
            sale["prequeue_seconds"].as_u64(),
            sale["fair_start_seconds"].as_u64()
        ),
        (Some(2), Some(1))
    );
    let sale = sale["id"].as_str().unwrap().to_owned();
    let closes = starts_at + chrono::Duration::seconds(1);
    let attempts: Vec<_> = (0..31)
        .map(|i| {
            let (addr, sale) = (gateways[i % gateways.len()], sale.clone());
            // Buyer 0 tries twice, with two keys.
            let (user, key) = match i {
                30 => ("buyer-0".to_owned(), "second-try".to_owned()),
                _ => (format!("buyer-{i}"), format!("first-try-{i}")),
            };
            tokio::spawn(async move {
                let (status, body) = Client::connect(addr).await.buy(&sale, &user, 1, Some(&key)).await;
                (user, status, body, Utc::now())
            })
        })
        .collect();
    let mut answers: HashMap<String, Vec<(u16, Value)>> = HashMap::new();
    for attempt in attempts {
        let (user, status, body, at) = attempt.await.unwrap();
        assert!(
            at >= closes,
            "{user} was answered before the window closed: {status} {body}"
        );
        answers.entry(user).or_default().push((status, body));
    }
    let accepted = answers.values().filter(|a| a[0].0 == 202).count();
    assert_eq!(accepted, 5, "winners = min(stock, entrants): {answers:?}");
    for (user, got) in &answers {
        for (status, body) in got {
            match status {
                202 => assert_eq!(body["status"], "pending"),
                409 => assert_eq!(code(body), "sold_out", "{user}"),
                other => panic!("{user}: {other} {body}"),
            }
        }
    }
    let twice = &answers["buyer-0"];
    assert_eq!(twice.len(), 2);
    assert_eq!(
        twice[0], twice[1],
        "one entry per buyer: both attempts get its answer"
    );
    let mut client = Client::connect(gateways[0]).await;
    let (_, _, view) = client
        .send(Method::GET, &format!("/api/sales/{sale}"), None, &[], None)
        .await;
    assert_served_draw(&view["draw"], 30);
    let (_, _, stats) = client
        .send(Method::GET, "/api/admin/stats", Some(ADMIN), &[], None)
        .await;
    let figures = stats["sales"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["sale_id"] == sale.as_str())
        .expect("the sale in the stats");
    assert_eq!(figures["draw"], view["draw"], "the operator sees the same draw");
    DrawRound { sale, answers }
}

/// A served draw of `entrants`, as the API shows it: its seed (64 hex
/// digits) and every entry answered.
fn assert_served_draw(draw: &Value, entrants: u64) {
    assert_eq!(
        (
            draw["phase"].as_str(),
            draw["entrants"].as_u64(),
            draw["served"].as_u64()
        ),
        (Some("served"), Some(entrants), Some(entrants)),
        "{draw}"
    );
    let seed = draw["seed"].as_str().unwrap_or_default();
    assert!(
        seed.len() == 64 && seed.bytes().all(|b| b.is_ascii_hexdigit()),
        "{draw}"
    );
}

/// The round on the embedded engine; then the units sold are the stock, a
/// buyer after the draw buys the ordinary way, a retry with an entry's key
/// gets the entry's answer at once, and the draw stays with the sale in
/// the archive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opening_window_is_drawn_and_each_entry_answered_once() {
    let mut s = settings("fair-start");
    s.archive_after = Duration::ZERO;
    let app = TestApp::spawn(s).await;
    let DrawRound { sale, answers } = draw_round(&[app.addr]).await;
    assert_eq!(app.sale(&sale).await["sold"], 5);
    let (status, body) = app.client().await.buy(&sale, "after-the-draw", 1, None).await;
    assert_eq!(
        (status, code(&body)),
        (409, "sold_out"),
        "first come, first served after the draw"
    );
    let started = Instant::now();
    let (status, _) = app
        .client()
        .await
        .buy(&sale, "buyer-1", 1, Some("first-try-1"))
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a retry after the draw is answered at once"
    );
    assert_eq!(
        status, answers["buyer-1"][0].0,
        "a retry with the key gets the entry's answer"
    );
    let drawn = app.sale(&sale).await["draw"].clone();
    app.admin(&format!("/api/admin/sales/{sale}/end"), None).await;
    let view = archived(&mut app.client().await, &sale).await;
    assert_eq!(view["draw"], drawn, "the archive keeps the draw");
    app.stop().await;
}
