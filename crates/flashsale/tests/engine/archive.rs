//! A sale's life ends in the archive: once ended and drained its live
//! records leave the stock store, every background loop forgets it, and a
//! keyed retry still gets its first answer from the ledger.

use std::time::Duration;

use flashsale::Settings;
use hyper::Method;
use serde_json::{json, Value};

use crate::stack::stack_settings;
use crate::support::{buyer, code, settings, Client, TestApp, ADMIN};

/// Archives as soon as a sale is ended and drained.
fn archiving_at_once(mut s: Settings) -> Settings {
    s.archive_after = Duration::ZERO;
    s
}

/// Waits (at most 20 s) until `sale` reads archived; returns it.
pub(crate) async fn archived(c: &mut Client, sale: &str) -> Value {
    let path = format!("/api/sales/{sale}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, _, view) = c.send(Method::GET, &path, None, &[], None).await;
        if view["archived_at"].is_string() {
            return view;
        }
        assert!(tokio::time::Instant::now() < deadline, "not archived: {view}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What every engine must do with an ended sale once archived: listed only
/// with `?archived=true`, what it sold kept, keyed retries answered from
/// the ledger, every other attempt and every change refused.
async fn archived_sale_behaves(app: &TestApp) -> String {
    let sale = app.active_sale(5, 2).await;
    let mut c = app.client().await;
    let (first, answer) = c.buy(&sale, "ann", 2, Some("ann-key")).await;
    assert_eq!(first, 202, "{answer}");
    let order = answer["order_id"].as_str().unwrap().to_owned();
    app.admin(&format!("/api/admin/sales/{sale}/end"), None).await;
    let view = archived(&mut c, &sale).await;
    assert_eq!(
        (view["status"].as_str(), view["sold"].as_u64()),
        (Some("ended"), Some(2)),
        "{view}"
    );

    let (_, _, live) = c.send(Method::GET, "/api/sales", None, &[], None).await;
    assert!(
        !live.as_array().unwrap().iter().any(|s| s["id"] == sale.as_str()),
        "{live}"
    );
    let (_, _, old) = c
        .send(Method::GET, "/api/sales?archived=true", None, &[], None)
        .await;
    assert!(
        old.as_array().unwrap().iter().any(|s| s["id"] == sale.as_str()),
        "{old}"
    );

    let (status, replay) = c.buy(&sale, "ann", 2, Some("ann-key")).await;
    assert_eq!(
        (status, replay["order_id"].as_str()),
        (202, Some(order.as_str())),
        "{replay}"
    );
    assert_eq!(
        replay["remaining"], answer["remaining"],
        "the first answer, again"
    );
    let (status, reused) = c.buy(&sale, "ann", 1, Some("ann-key")).await;
    assert_eq!((status, code(&reused)), (422, "idempotency_key_reused"));
    for key in [None, Some("new-key")] {
        let (status, refused) = c.buy(&sale, "bob", 1, key).await;
        assert_eq!((status, code(&refused)), (409, "sale_not_active"), "{key:?}");
    }
    let (status, _, refused) = c
        .send(
            Method::POST,
            &format!("/api/admin/sales/{sale}/stock"),
            Some(ADMIN),
            &[],
            Some(json!({"add": 1})),
        )
        .await;
    assert_eq!((status, code(&refused)), (409, "invalid_transition"));
    let (_, _, order_view) = c
        .send(
            Method::GET,
            &format!("/api/orders/{order}"),
            Some(&buyer("ann")),
            &[],
            None,
        )
        .await;
    assert_eq!(order_view["status"], "confirmed", "the ledger keeps it");
    sale
}

/// Embedded: an archived sale behaves as archived, and a restart loads the
/// live sales' books only.
#[tokio::test]
async fn embedded_archive_and_restart() {
    let s = archiving_at_once(settings("archive-embedded"));
    let app = TestApp::spawn(s.clone()).await;
    archived_sale_behaves(&app).await;
    let live = app.active_sale(3, 1).await;
    app.halt().await;

    let again = TestApp::spawn(s).await;
    let (_, health) = again.health().await;
    let inventory = health["components"]["inventory"]["detail"]
        .as_str()
        .unwrap_or_default();
    assert!(
        inventory.starts_with("1 sales live"),
        "only the live book is loaded: {health}"
    );
    let (status, _) = again.client().await.buy(&live, "cy", 1, None).await;
    assert_eq!(status, 202);
    again.stop().await;
}

/// The real stack: the archive empties Redis of the sale and takes it out
/// of the index every relay and sweeper walks; nothing is archived while a
/// reservation is still in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_archive_waits_for_the_pipeline_and_empties_redis() {
    let s = archiving_at_once(stack_settings("archive-stack").await);
    let (redis_url, db) = (s.redis_url.clone().unwrap(), s.database_url.clone().unwrap());
    let app = TestApp::spawn(s).await;
    let sale = archived_sale_behaves(&app).await;
    let redis = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("fs:{{sale:{sale}}}:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(left.is_empty(), "keys left: {left:?}");
    let indexed: bool = redis::cmd("SISMEMBER")
        .arg("fs:sales")
        .arg(&sale)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!indexed, "the relays and sweepers still walk it");
    back_with_older_data(&app, &mut conn).await;

    // A reservation the ledger cannot store yet keeps its sale live.
    let held = app.active_sale(3, 1).await;
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    let mut c = app.client().await;
    let (status, _) = c.buy(&held, "dee", 1, None).await;
    assert_eq!(status, 202);
    app.admin(&format!("/api/admin/sales/{held}/end"), None).await;
    // Eight archive passes (every 250 ms) while the order cannot be stored.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, _, view) = c
        .send(Method::GET, &format!("/api/sales/{held}"), None, &[], None)
        .await;
    assert!(
        view["archived_at"].is_null(),
        "archived with a reservation in flight: {view}"
    );
    lock.rollback().await.unwrap();
    let view = archived(&mut c, &held).await;
    assert_eq!(view["sold"], 1);
    app.stop().await;
}

/// Redis comes back with older data that still holds an archived sale
/// (restored from before its archive): the sweeper finds it behind the
/// ledger, rebuilds it, and forgets it again, so no loop walks it for ever.
async fn back_with_older_data(app: &TestApp, conn: &mut redis::aio::MultiplexedConnection) {
    // A sale with one order, archived; its keys dumped just before.
    let sale = app.active_sale(2, 1).await;
    let mut c = app.client().await;
    assert_eq!(c.buy(&sale, "eve", 1, None).await.0, 202);
    let keys: Vec<String> = ["state", "stock", "buyers", "idem"]
        .iter()
        .map(|k| format!("fs:{{sale:{sale}}}:{k}"))
        .collect();
    let mut dumps = Vec::new();
    // The order is stored and settled once Redis says persisted 1.
    for _ in 0..400 {
        let persisted: Option<u64> = redis::cmd("HGET")
            .arg(&keys[0])
            .arg("persisted")
            .query_async(conn)
            .await
            .unwrap();
        if persisted == Some(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    for key in &keys {
        let dump: Option<Vec<u8>> = redis::cmd("DUMP").arg(key).query_async(conn).await.unwrap();
        dumps.push((key.clone(), dump));
    }
    app.admin(&format!("/api/admin/sales/{sale}/end"), None).await;
    archived(&mut c, &sale).await;
    // Older data: the keys as they were, back in the index, persisted 0.
    for (key, dump) in &dumps {
        if let Some(dump) = dump {
            let _: () = redis::cmd("RESTORE")
                .arg(key)
                .arg(0)
                .arg(dump.as_slice())
                .arg("REPLACE")
                .query_async(conn)
                .await
                .unwrap();
        }
    }
    let _: () = redis::cmd("HSET")
        .arg(&keys[0])
        .arg("persisted")
        .arg(0)
        .query_async(conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SADD")
        .arg("fs:sales")
        .arg(&sale)
        .query_async(conn)
        .await
        .unwrap();
    let pattern = format!("fs:{{sale:{sale}}}:*");
    for _ in 0..400 {
        let left: Vec<String> = redis::cmd("KEYS").arg(&pattern).query_async(conn).await.unwrap();
        let indexed: bool = redis::cmd("SISMEMBER")
            .arg("fs:sales")
            .arg(&sale)
            .query_async(conn)
            .await
            .unwrap();
        if !indexed && left.iter().all(|k| k.ends_with(":counted")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the archived sale Redis brought back is still there");
}
