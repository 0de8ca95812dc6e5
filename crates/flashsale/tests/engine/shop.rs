//! What the buyers' page stands on: the shop served under `/shop/`, the
//! engine's clock on sale reads, and the public live feed of a sale.

use std::time::Duration;

use hyper::Method;

use crate::support::{code, settings, TestApp};

/// `/shop/...` serves the shop's page (its client-side routes too), every
/// other page path the dashboard's.
#[tokio::test]
async fn the_shop_and_the_dashboard_are_served_side_by_side() {
    let mut s = settings("shop-pages");
    let dist = s.data_dir.join("dist");
    std::fs::create_dir_all(dist.join("shop")).unwrap();
    std::fs::write(dist.join("index.html"), "dashboard page").unwrap();
    std::fs::write(dist.join("shop/index.html"), "shop page").unwrap();
    s.dashboard_dir = Some(dist);
    let app = TestApp::spawn(s).await;
    let mut conn = flashsale_testkit::http::Conn::new(app.addr);
    for (path, page) in [
        ("/", "dashboard page"),
        ("/sales/x", "dashboard page"),
        ("/shop", "shop page"),
        ("/shop/", "shop page"),
        ("/shop/sale/0193", "shop page"),
    ] {
        let answer = conn.request(Method::GET, path, &[], None, None).await.unwrap();
        assert_eq!(
            (answer.status, String::from_utf8_lossy(&answer.body).as_ref()),
            (200, page),
            "{path}"
        );
    }
    app.stop().await;
}

/// Sale reads carry the engine's clock; the live feed sends the sale at
/// once and again when its figures change; an unknown sale is 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_feed_follows_the_sale() {
    let app = TestApp::start("shop-live").await;
    let sale = app.active_sale(5, 1).await;
    let mut conn = flashsale_testkit::http::Conn::new(app.addr);
    let answer = conn
        .request(Method::GET, &format!("/api/sales/{sale}"), &[], None, None)
        .await
        .unwrap();
    let clock: i64 = answer.headers["flashsale-server-time"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((clock - chrono::Utc::now().timestamp_millis()).abs() < 5_000);

    let watcher = {
        let (addr, sale) = (app.addr, sale.clone());
        tokio::spawn(async move {
            flashsale_testkit::http::Conn::new(addr)
                .stream_until(
                    &format!("/api/sales/{sale}/live"),
                    &[],
                    &["\"remaining\":5", "\"remaining\":4"],
                    Duration::from_secs(10),
                )
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut c = app.client().await;
    assert_eq!(c.buy(&sale, "watched", 1, None).await.0, 202);
    let (status, events) = watcher.await.unwrap();
    assert_eq!(status, 200);
    assert!(events.contains("event: sale"), "{events}");
    assert!(
        events.contains("\"remaining\":4"),
        "the purchase reached the watcher: {events}"
    );

    let (status, _, body) = c
        .send(
            Method::GET,
            "/api/sales/0193c9a0-0000-7000-8000-000000000000/live",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!((status, code(&body)), (404, "sale_not_found"));
    app.stop().await;
}
