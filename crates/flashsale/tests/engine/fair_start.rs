//! A fair start (issue 19) end to end on the embedded engine: purchase
//! attempts in the opening window wait, the draw serves them, each gets
//! one answer with today's shapes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;

use crate::support::{code, settings, TestApp};

/// 30 buyers try during the prequeue of a sale of 5 units (limit 1), one
/// of them twice with another key: no answer comes before the window
/// closes; then exactly 5 are accepted and the rest told sold out, the
/// buyer who tried twice gets one answer for both, the units sold are the
/// stock, and a buyer after the draw buys the ordinary way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opening_window_is_drawn_and_each_entry_answered_once() {
    let app = TestApp::spawn(settings("fair-start")).await;
    let starts_at = Utc::now() + chrono::Duration::seconds(2);
    let sale = app
        .admin(
            "/api/admin/sales",
            Some(
                json!({"name": "Fair", "product": "Widget", "price_cents": 100, "stock": 5,
                        "per_user_limit": 1, "starts_at": starts_at, "prequeue_seconds": 2,
                        "fair_start_seconds": 1}),
            ),
        )
        .await;
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
            let (addr, sale) = (app.addr, sale.clone());
            // Buyer 0 tries twice, with two keys.
            let (user, key) = match i {
                30 => ("buyer-0".to_owned(), "second-try".to_owned()),
                _ => (format!("buyer-{i}"), format!("first-try-{i}")),
            };
            tokio::spawn(async move {
                let mut client = crate::support::Client::connect(addr).await;
                let (status, body) = client.buy(&sale, &user, 1, Some(&key)).await;
                (user, status, body, Utc::now())
            })
        })
        .collect();
    let mut answers: HashMap<String, Vec<(u16, serde_json::Value)>> = HashMap::new();
    for attempt in attempts {
        let (user, status, body, at) = attempt.await.unwrap();
        assert!(
            at >= closes,
            "{user} was answered before the window closed: {status} {body}"
        );
        answers.entry(user).or_default().push((status, body));
    }
    let accepted: Vec<&String> = answers
        .iter()
        .filter(|(_, a)| a[0].0 == 202)
        .map(|(user, _)| user)
        .collect();
    assert_eq!(accepted.len(), 5, "winners = min(stock, entrants): {answers:?}");
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
    app.stop().await;
}
