//! `RedisStock` against a private Redis: the domain's contract, and the
//! purchase decision under a stampede.

use std::collections::HashMap;
use std::time::Duration;

use flashsale_domain::contract;
use flashsale_domain::{ReserveError, SaleState, StockStore};
use flashsale_stack::redis::SaleKeys;
use flashsale_stack::RedisStock;

use crate::support;

pub async fn stock() -> RedisStock {
    RedisStock::connect(&support::redis_url().await)
        .await
        .expect("connect to redis")
}

/// The domain's stock-store contract holds on Redis.
#[tokio::test]
async fn contract_holds() {
    contract::stock_store(&stock().await).await;
}

/// A hot sale split into buckets keeps the same promises on Redis.
#[tokio::test]
async fn hot_sale_contract_holds() {
    contract::hot_sale(&stock().await).await;
}

/// A settle counts each reservation once however often it names it in one
/// call, and past one script call's worth of ids (they go in chunks).
#[tokio::test]
async fn a_settle_counts_each_reservation_once() {
    use flashsale_domain::{OrderId, ReserveOutcome};

    let store = stock().await;
    let terms = contract::sale(SaleState::Active, 10, 3).terms();
    let sale = terms.id;
    store.load(terms).await.unwrap();
    let mut reserved = Vec::new();
    for (user, q) in [("a", 1), ("b", 2)] {
        match store.reserve(contract::request(sale, user, q, None)).await {
            Ok(ReserveOutcome::Reserved(r)) => reserved.push(r.order_id),
            other => panic!("{other:?}"),
        }
    }
    let (a, b) = (reserved[0], reserved[1]);
    let mut ids = vec![a, a];
    ids.extend((0..2_500).map(|_| OrderId::generate()));
    ids.extend([b, a, b]);
    store.settle(sale, &ids).await.unwrap();
    let level = store.level(sale).await.unwrap().unwrap();
    assert_eq!((level.remaining, level.in_flight, level.persisted), (7, 0, 3));
    assert_eq!(level.ledger_difference(), 0);
}

/// Thousands of concurrent reserves pipelined over one multiplexed
/// connection on a small stock: exactly the stock is sold, nobody passes
/// the limit, every unit is accounted for, and each sale gets one outbox
/// entry per reservation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stampede_sells_exactly_the_stock() {
    let store = stock().await;
    let terms = contract::sale(SaleState::Active, 50, 2).terms();
    let sale = terms.id;
    store.load(terms).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..3000 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let user = format!("u{}", i % 40);
            let q = 1 + (i % 2) as u32;
            store.reserve(contract::request(sale, &user, q, None)).await
        }));
    }
    let support::Tally {
        sold,
        reservations,
        per_user,
        ..
    } = support::tally(tasks, false).await;
    assert_eq!(sold, 50, "exactly the stock is sold");
    assert!(per_user.values().all(|&u| u <= 2), "limit: {per_user:?}");
    let level = store.level(sale).await.unwrap().unwrap();
    assert_eq!(
        (level.remaining, level.in_flight, level.ledger_difference()),
        (0, 50, 0)
    );
    let mut conn = store.connection();
    let entries: u64 = redis::cmd("XLEN")
        .arg(SaleKeys::new(sale).outbox)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (1..=reservations).contains(&entries),
        "{entries} outbox entries: one per batch with reservations"
    );
    assert_eq!(
        store.outbox_orders(sale).await.unwrap().len() as u64,
        reservations
    );
    assert_eq!(store.in_flight(sale).await.unwrap().len() as u64, reservations);
}

/// A batch decides each request exactly as the domain's `SaleBook` decides
/// the same requests one by one, in arrival order: replays of a key within
/// one batch, limits across a buyer's requests, the last units, quantities
/// above the limit. Requests queued while a call is under way go together
/// (far fewer script calls than requests); with a batch of 1 each goes
/// alone, to the same outcomes.
///
/// On one thread, so the arrival order is the test's: each request is
/// queued by its future's first poll, and the batches' tasks run in the
/// order they were spawned.
#[tokio::test(flavor = "current_thread")]
async fn batched_reserves_decide_as_the_sale_book_does() {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Waker};

    use flashsale_domain::{ReserveOutcome, SaleBook};

    fn summary(outcome: Result<ReserveOutcome, ReserveError>) -> String {
        match outcome {
            Ok(ReserveOutcome::Reserved(r)) => format!("reserved {} {}", r.order_id, r.remaining),
            Ok(ReserveOutcome::Replayed(r)) => format!("replayed {} {}", r.order_id, r.remaining),
            Err(e) => format!("{e:?}"),
        }
    }
    for max_batch in [64, 1] {
        let store = stock().await.with_reserve_batch(max_batch);
        let terms = contract::sale(SaleState::Active, 90, 3).terms();
        let sale = terms.id;
        store.load(terms.clone()).await.unwrap();
        let mut book = SaleBook::new(terms);
        let mut decide = |r: &flashsale_domain::ReserveRequest| {
            summary(book.reserve(r.clone()).map_err(ReserveError::Rejected))
        };
        // A first request alone: the script is loaded, and no call is under way.
        let first = contract::request(sale, "first", 1, None);
        assert_eq!(summary(store.reserve(first.clone()).await), decide(&first));

        let requests: Vec<_> = (0..300u32)
            .map(|i| {
                let user = format!("u{}", i % 12);
                let q = [1, 2, 1, 3, 4][(i % 5) as usize];
                let key = (i % 4 == 0).then(|| format!("k{}", i % 3));
                contract::request(sale, &user, q, key.as_deref())
            })
            .collect();
        let expected: Vec<String> = requests.iter().map(&mut decide).collect();
        let before = store.reserve_batch_stats();
        let got: Vec<String> = if max_batch == 1 {
            let mut got = Vec::new();
            for r in requests {
                got.push(summary(store.reserve(r).await));
            }
            got
        } else {
            let mut calls: Vec<Pin<Box<dyn Future<Output = _> + Send + '_>>> =
                requests.into_iter().map(|r| store.reserve(r)).collect();
            let mut cx = Context::from_waker(Waker::noop());
            for call in &mut calls {
                assert!(call.as_mut().poll(&mut cx).is_pending());
            }
            futures_util::future::join_all(calls)
                .await
                .into_iter()
                .map(summary)
                .collect()
        };
        assert_eq!(got, expected, "batch of {max_batch}");
        let stats = store.reserve_batch_stats();
        let spent = stats.calls - before.calls;
        assert_eq!(stats.requests - before.requests, 300);
        let expected_calls = if max_batch == 1 { 300..=300 } else { 1..=12 };
        assert!(
            expected_calls.contains(&spent),
            "{spent} script calls, batch of {max_batch}"
        );
        assert_eq!(
            store.level(sale).await.unwrap().unwrap().remaining,
            book.level().remaining
        );
        // The outbox holds exactly the reservations, one entry per call
        // that made any (the first request's call included).
        let reserved: std::collections::HashSet<String> = got
            .iter()
            .filter_map(|s| s.strip_prefix("reserved ")?.split(' ').next())
            .map(str::to_owned)
            .collect();
        let outbox: std::collections::HashSet<String> = store
            .outbox_orders(sale)
            .await
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(outbox.len(), reserved.len() + 1, "batch of {max_batch}");
        assert!(reserved.is_subset(&outbox), "batch of {max_batch}");
        let entries: u64 = redis::cmd("XLEN")
            .arg(flashsale_stack::redis::keys::SaleKeys::new(sale).outbox)
            .query_async(&mut store.connection())
            .await
            .unwrap();
        assert!(
            entries <= spent + 1,
            "{entries} outbox entries for {spent} script calls, batch of {max_batch}"
        );
    }
}

/// Behind a stalled Redis (`SIGSTOP`), every waiting buyer is answered
/// after one timeout: the failure of a sale's call fails the requests
/// queued behind it at once (never sent, so nothing was reserved for them)
/// instead of sending them batch by batch into the same stall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_fails_the_queued_requests_with_the_call() {
    let (redis, url) = support::private_redis(&[]).await;
    let store = RedisStock::connect_with(&url, Duration::from_millis(300))
        .await
        .expect("the private Redis answers")
        .with_reserve_batch(4);
    let terms = contract::sale(SaleState::Active, 1000, 1).terms();
    let sale = terms.id;
    store.load(terms).await.unwrap();
    store
        .reserve(contract::request(sale, "warm", 1, None))
        .await
        .unwrap();
    signal(&redis, "-STOP");
    let before = store.reserve_batch_stats();
    let calls: Vec<_> = (0..100)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .reserve(contract::request(sale, &format!("u{i}"), 1, None))
                    .await
            })
        })
        .collect();
    for call in calls {
        let outcome = call.await.unwrap();
        assert!(matches!(outcome, Err(ReserveError::Store(_))), "{outcome:?}");
    }
    let spent = store.reserve_batch_stats().calls - before.calls;
    signal(&redis, "-CONT");
    // The two calls under way when Redis stopped; 100 requests in batches
    // of 4 would have taken 25 calls, two timeouts at a time.
    assert!(spent <= 2, "{spent} script calls sent into the stall");
}

fn signal(child: &tokio::process::Child, sig: &str) {
    let pid = child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap()
        .success());
}

/// With `with_replicas_ack(1)`, a reservation is answered only once its
/// replica holds it: on the replica the moment the answer comes; with the
/// replica stopped, the call fails (nothing answered as reserved), and the
/// buyer's retry with the same key, once the replica is back, gets the
/// first reservation again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_waits_for_its_replica() {
    let (_master, url) = support::private_redis(&[]).await;
    let (replica, mut on_replica) = synced_replica(&url).await;
    let store = RedisStock::connect_with(&url, Duration::from_secs(2))
        .await
        .unwrap()
        .with_replicas_ack(1);
    let terms = contract::sale(SaleState::Active, 10, 2).terms();
    let sale = terms.id;
    store.load(terms).await.unwrap();
    let inflight = SaleKeys::new(sale).inflight;
    for user in ["a", "b", "c"] {
        let r = store
            .reserve(contract::request(sale, user, 1, None))
            .await
            .unwrap()
            .reservation()
            .clone();
        let held: Option<String> = redis::cmd("HGET")
            .arg(&inflight)
            .arg(r.order_id.to_string())
            .query_async(&mut on_replica)
            .await
            .unwrap();
        assert!(
            held.is_some(),
            "{} answered before its replica held it",
            r.order_id
        );
    }
    signal(&replica, "-STOP");
    let request = contract::request(sale, "d", 1, Some("retry"));
    let unacknowledged = store.reserve(request.clone()).await;
    signal(&replica, "-CONT");
    assert!(
        matches!(unacknowledged, Err(ReserveError::Store(_))),
        "{unacknowledged:?}"
    );
    let again = store.reserve(request).await.unwrap();
    assert!(
        matches!(again, flashsale_domain::ReserveOutcome::Replayed(_)),
        "{again:?}"
    );
}

/// A replica of `master_url`'s Redis, started and in sync.
async fn synced_replica(master_url: &str) -> (tokio::process::Child, redis::aio::MultiplexedConnection) {
    let port = master_url.rsplit(':').next().unwrap().to_owned();
    let (replica, replica_url) = support::private_redis(&["--replicaof", "127.0.0.1", &port]).await;
    let replica_client = redis::Client::open(replica_url.as_str()).unwrap();
    let mut on_replica = replica_client.get_multiplexed_async_connection().await.unwrap();
    for _ in 0..200 {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query_async(&mut on_replica)
            .await
            .unwrap();
        if info.contains("master_link_status:up") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    (replica, on_replica)
}

/// The order queue of a test: what was published, kept.
#[derive(Default)]
struct Kept(std::sync::Mutex<Vec<flashsale_domain::Reservation>>);

#[async_trait::async_trait]
impl flashsale_domain::OrderQueue for Kept {
    async fn publish(
        &self,
        reservations: Vec<flashsale_domain::Reservation>,
    ) -> Result<(), flashsale_domain::QueueError> {
        self.0.lock().unwrap().extend(reservations);
        Ok(())
    }

    fn depth(&self) -> u64 {
        0
    }
}

/// With the replicas' acknowledgement on, the relay publishes an outbox
/// entry only once a replica holds it: an order in the ledger whose
/// reservation a promoted replica lacks would have its units sold again
/// (the `redis-failover` chaos scenario). With the replica stopped, a pass
/// publishes nothing and keeps the entries; once it is back, the next pass
/// publishes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_publishes_only_what_a_replica_holds() {
    use flashsale_stack::rabbitmq::relay::RelayError;
    use flashsale_stack::rabbitmq::{Relay, RelayConfig};
    let (_master, url) = support::private_redis(&[]).await;
    let (replica, _) = synced_replica(&url).await;
    // Reservations answered without waiting: the relay is under test.
    let store = RedisStock::connect_with(&url, Duration::from_secs(2))
        .await
        .unwrap();
    let terms = contract::sale(SaleState::Active, 10, 2).terms();
    let sale = terms.id;
    store.load(terms).await.unwrap();
    let queue = std::sync::Arc::new(Kept::default());
    let config = RelayConfig {
        replicas_ack: 1,
        ..RelayConfig::default()
    };
    let relay = Relay::new(store.connection(), queue.clone(), config);

    signal(&replica, "-STOP");
    for user in ["a", "b"] {
        store
            .reserve(contract::request(sale, user, 1, None))
            .await
            .unwrap();
    }
    let held_back = relay.pass(false).await;
    signal(&replica, "-CONT");
    assert!(
        matches!(held_back, Err(RelayError::Unreplicated { acked: 0, wanted: 1 })),
        "{held_back:?}"
    );
    assert!(
        queue.0.lock().unwrap().is_empty(),
        "published before a replica held it"
    );

    assert_eq!(relay.pass(false).await.unwrap(), 2);
    assert_eq!(queue.0.lock().unwrap().len(), 2);
}

/// A release, a top-up and a flush are announced on the units-back channel.
#[tokio::test]
async fn units_back_reaches_subscribers() {
    let store = stock().await;
    let (_sub, mut rx, r) = support::listening_with_a_reservation(&store).await;
    let sale = r.sale_id;
    store.release(&r).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Some(Some(s)) = rx.recv().await {
                return s;
            }
        }
    })
    .await
    .expect("a units-back message");
    assert_eq!(got, sale);
    let profile = store.profile().await.unwrap();
    assert!(profile.persistence.appendonly, "the private redis runs with AOF");
    assert_eq!(profile.refusal(false), None, "{profile:?}");
}

/// The domain's draw-store contract holds on Redis.
#[tokio::test]
async fn the_draw_contract_holds() {
    contract::draw_store(&stock().await).await;
}

/// Buyers entering twice each while the draw closes in the middle: every
/// entry made before the close is counted by it, none after; a buyer's two
/// attempts got the same entry; and the draw leaves with the sale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_racing_the_close_are_counted_once() {
    use flashsale_domain::ports::{DrawEntry, DrawStore, Entered};
    use flashsale_domain::{DrawSeed, IdempotencyKey, OrderId, Quantity, Transition, UserId};

    let store = stock().await;
    let terms = contract::sale(SaleState::Active, 10, 1).terms();
    let sale = terms.id;
    store.load(terms).await.unwrap();
    let attempt = |i: usize| {
        let store = store.clone();
        tokio::spawn(async move {
            let entry = DrawEntry {
                user_id: UserId::parse(&format!("racer-{}", i % 150)).unwrap(),
                order_id: OrderId::generate(),
                quantity: Quantity::parse(1).unwrap(),
                idempotency_key: IdempotencyKey::parse(&format!("attempt-{i}")).unwrap(),
            };
            (entry.user_id.clone(), store.enter(sale, entry).await.unwrap())
        })
    };
    let first: Vec<_> = (0..150).map(attempt).collect();
    let closer = {
        let store = store.clone();
        tokio::spawn(async move { store.close(sale, DrawSeed::from_bytes([1; 32])).await.unwrap() })
    };
    let second: Vec<_> = (150..300).map(attempt).collect();
    let mut got: HashMap<UserId, Vec<Entered>> = HashMap::new();
    for task in first.into_iter().chain(second) {
        let (user, entered) = task.await.unwrap();
        got.entry(user).or_default().push(entered);
    }
    let closed = closer.await.unwrap();
    let entries = store.entries(sale).await.unwrap();
    assert_eq!(
        closed.entrants,
        entries.len() as u64,
        "the close counted every entry made before it"
    );
    let entered: Vec<&DrawEntry> = got
        .values()
        .filter_map(|answers| {
            let mut firsts = answers.iter().filter_map(|a| match a {
                Entered::Entry(e) => Some(e),
                _ => None,
            });
            let one = firsts.next()?;
            assert!(firsts.all(|e| e == one), "one buyer, two entries: {answers:?}");
            Some(one)
        })
        .collect();
    assert_eq!(entered.len(), entries.len(), "an entry answered is an entry kept");
    for e in entered {
        assert!(entries.contains(e), "{e:?} answered, not kept");
    }

    store
        .transition(sale, Transition::End, chrono::Utc::now())
        .await
        .unwrap();
    assert!(store.forget(sale).await.unwrap().is_some());
    assert_eq!(
        store.status(sale).await.unwrap(),
        None,
        "the draw left with the sale"
    );
    assert!(store.entries(sale).await.unwrap().is_empty());
}
