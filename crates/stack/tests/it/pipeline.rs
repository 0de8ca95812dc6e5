//! The whole real stack: reserve in Redis → relay → RabbitMQ → consumer →
//! PostgreSQL, with faults.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use flashsale_domain::contract;
use flashsale_domain::{
    Decision, NoEvents, OrderQueue, OrderStatus, OrderStore, QueueError, Reservation, ReserveError, SaleId,
    SaleState, StockStore,
};
use flashsale_stack::rabbitmq::{ConsumerConfig, RelayConfig};
use flashsale_stack::redis::{record, SaleKeys};
use flashsale_stack::sweeper::SweepReport;
use flashsale_stack::{
    AmqpPublisher, OrderConsumer, PgOrderStore, PipelineMetrics, RedisStock, Relay, Sweeper, SweeperConfig,
    Topology,
};
use lapin::options::{BasicPublishOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use tokio::task::JoinHandle;

use crate::{postgres, redis_stock, support};

const WAIT: Duration = Duration::from_secs(30);

/// One private stack: its own Redis database, PostgreSQL database and queues.
pub struct Stack {
    pub stock: RedisStock,
    pub orders: PgOrderStore,
    /// The ledger's database, for tests that lock it.
    pub pool: sqlx::PgPool,
    pub publisher: Arc<AmqpPublisher>,
    pub amqp_url: String,
    pub topology: Topology,
    /// The counters of the consumer this stack starts.
    pub metrics: Arc<PipelineMetrics>,
    consumer: Option<(JoinHandle<()>, tokio::sync::oneshot::Sender<()>)>,
    relays: Vec<JoinHandle<()>>,
}

impl Stack {
    pub async fn new() -> Self {
        Self::on(support::amqp_url().await).await
    }

    /// A stack whose RabbitMQ connections go to `amqp_url`.
    pub async fn on(amqp_url: String) -> Self {
        let (stock, pool) = tokio::join!(redis_stock::stock(), postgres::database());
        let topology = Topology::named(&support::unique("orders"));
        let publisher = AmqpPublisher::connect(&amqp_url, topology.clone())
            .await
            .expect("connect the publisher");
        Self {
            stock,
            orders: PgOrderStore::new(pool.clone()),
            pool,
            publisher: Arc::new(publisher),
            amqp_url,
            topology,
            metrics: Arc::default(),
            consumer: None,
            relays: Vec::new(),
        }
    }

    pub fn start_consumer(&mut self) {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let consumer = OrderConsumer::new(
            &self.amqp_url,
            self.topology.clone(),
            self.orders.clone(),
            self.stock.clone(),
            Arc::new(NoEvents),
            ConsumerConfig {
                metrics: self.metrics.clone(),
                ..ConsumerConfig::default()
            },
        );
        let task = tokio::spawn(consumer.run(async {
            let _ = stopped.await;
        }));
        self.consumer = Some((task, stop));
    }

    pub fn start_relay(&mut self, queue: Arc<dyn OrderQueue>, config: RelayConfig) -> usize {
        let relay = Relay::new(self.stock.connection(), queue, config);
        let client = self.stock.client().clone();
        self.relays.push(tokio::spawn(async move {
            let waiter = redis::aio::ConnectionManager::new(client)
                .await
                .expect("a connection to wait on");
            relay.waiting_on(waiter).run().await
        }));
        self.relays.len() - 1
    }

    pub fn kill_relay(&mut self, index: usize) {
        self.relays[index].abort();
    }

    /// Units stored in PostgreSQL for `sale`, and the number of orders.
    pub async fn stored(&self, sale: SaleId) -> (u64, u64) {
        let totals = self.orders.totals(&[sale]).await.unwrap();
        totals.get(&sale).map_or((0, 0), |t| (t.units, t.orders))
    }

    pub async fn wait_stored(&self, sale: SaleId, units: u64) {
        support::eventually(WAIT, "orders stored", || async {
            self.stored(sale).await.0 >= units
        })
        .await;
    }

    /// Messages waiting in a queue.
    pub async fn queue_length(&self, queue: &str) -> u32 {
        let conn = Connection::connect(&self.amqp_url, ConnectionProperties::default())
            .await
            .unwrap();
        let channel = conn.create_channel().await.unwrap();
        let q = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let _ = conn.close(200, "done".into()).await;
        q.message_count()
    }

    /// A sweeper of this stack that reports the undecided after `after`.
    pub fn sweeper(&self, after: Duration) -> Sweeper {
        Sweeper::new(
            self.stock.clone(),
            self.orders.clone(),
            Arc::new(NoEvents),
            SweeperConfig {
                after,
                metrics: self.metrics.clone(),
            },
        )
    }

    /// Empties the outbox of `sale`, as a relay does once the broker
    /// confirmed its messages (no relay runs unless a test starts one).
    pub async fn forget_outbox(&self, sale: SaleId) {
        redis::cmd("DEL")
            .arg(SaleKeys::new(sale).outbox)
            .query_async::<i64>(&mut self.stock.connection())
            .await
            .unwrap();
    }

    /// Redis loses `sale`: its keys are deleted (and `more` of its keys).
    pub async fn lose_sale(&self, sale: SaleId, more: &[&str]) {
        let keys = SaleKeys::new(sale);
        redis::cmd("DEL")
            .arg(&keys.state)
            .arg(&keys.stock)
            .arg(&keys.buyers)
            .arg(&keys.inflight)
            .arg(more)
            .query_async::<i64>(&mut self.stock.connection())
            .await
            .unwrap();
    }

    pub async fn outbox_length(&self, sale: SaleId) -> u64 {
        redis::cmd("XLEN")
            .arg(SaleKeys::new(sale).outbox)
            .query_async(&mut self.stock.connection())
            .await
            .unwrap()
    }

    pub async fn shutdown(mut self) {
        for relay in self.relays.drain(..) {
            relay.abort();
        }
        if let Some((task, stop)) = self.consumer.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}

/// Reserves `n` single units for distinct buyers.
async fn reserve_n(stock: &RedisStock, sale: SaleId, n: usize, prefix: &str) -> Vec<Reservation> {
    let mut out = Vec::new();
    for i in 0..n {
        let outcome = stock
            .reserve(contract::request(sale, &format!("{prefix}{i}"), 1, None))
            .await
            .expect("reserve");
        out.push(outcome.reservation().clone());
    }
    out
}

/// The RabbitMQ publisher with the consumer behind it keeps the domain's
/// `order_queue` promise (stored exactly once, eventually), and the queue
/// drains.
#[tokio::test]
async fn amqp_queue_passes_the_order_queue_contract() {
    let mut stack = Stack::new().await;
    stack.start_consumer();
    contract::order_queue(stack.publisher.as_ref(), &stack.orders, || {
        tokio::time::sleep(Duration::from_millis(20))
    })
    .await;
    support::eventually(WAIT, "queue drained", || async {
        stack.queue_length(&stack.topology.queue).await == 0
    })
    .await;
    stack.shutdown().await;
}

/// Every answered reservation becomes exactly one row in PostgreSQL, the
/// outbox empties, and the stock store sees them all as persisted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reservations_flow_to_postgres_exactly_once() {
    let mut stack = Stack::new().await;
    stack.start_consumer();
    stack.start_relay(stack.publisher.clone(), RelayConfig::default());
    let terms = contract::sale(SaleState::Active, 500, 1).terms();
    let sale = terms.id;
    stack.stock.load(terms).await.unwrap();
    let mut tasks = Vec::new();
    for k in 0..4 {
        let stock = stack.stock.clone();
        tasks.push(tokio::spawn(async move {
            reserve_n(&stock, sale, 100, &format!("b{k}-")).await
        }));
    }
    let mut reserved = Vec::new();
    for t in tasks {
        reserved.extend(t.await.unwrap());
    }
    stack.wait_stored(sale, 400).await;
    support::eventually(WAIT, "all settled", || async {
        stack.stock.level(sale).await.unwrap().unwrap().in_flight == 0
    })
    .await;
    assert_eq!(stack.stored(sale).await, (400, 400));
    for r in &reserved {
        assert!(
            stack.orders.get(r.order_id).await.unwrap().is_some(),
            "{} stored",
            r.order_id
        );
    }
    let level = stack.stock.level(sale).await.unwrap().unwrap();
    assert_eq!(
        (level.remaining, level.persisted, level.ledger_difference()),
        (100, 400, 0)
    );
    assert_eq!(stack.outbox_length(sale).await, 0, "relayed entries are deleted");
    stack.shutdown().await;
}

/// A queue that publishes, reports it, then never returns: the relay is
/// "killed" between the broker's confirm and its XACK.
struct HangAfterPublish {
    inner: Arc<AmqpPublisher>,
    published: tokio::sync::mpsc::UnboundedSender<usize>,
}

#[async_trait]
impl OrderQueue for HangAfterPublish {
    async fn publish(&self, reservations: Vec<Reservation>) -> Result<(), QueueError> {
        let n = reservations.len();
        self.inner.publish(reservations).await?;
        let _ = self.published.send(n);
        std::future::pending::<()>().await;
        Ok(())
    }

    fn depth(&self) -> u64 {
        0
    }
}

/// A broker that refuses every publish (a wrong virtual host, a refused
/// login): the relay using it fails fast, pass after pass.
struct Refusing;

#[async_trait]
impl OrderQueue for Refusing {
    async fn publish(&self, _: Vec<Reservation>) -> Result<(), QueueError> {
        Err(QueueError::Unavailable("refused by the test".into()))
    }

    fn depth(&self) -> u64 {
        0
    }
}

/// Outbox entries pending under `consumer`.
async fn pending_under(stack: &Stack, sale: SaleId, consumer: &str) -> usize {
    let reply: redis::streams::StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(SaleKeys::new(sale).outbox)
        .arg("relay")
        .arg("-")
        .arg("+")
        .arg(10_000)
        .arg(consumer)
        .query_async(&mut stack.stock.connection())
        .await
        .unwrap();
    reply.ids.len()
}

/// A live relay that fails fast keeps retrying the entries it took, but its
/// retries do not reset their idle time: a healthy relay takes them over
/// once they have been pending `claim_after`, and publishes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_relay_does_not_pin_its_entries() {
    let mut stack = Stack::new().await;
    stack.start_consumer();
    let terms = contract::sale(SaleState::Active, 40, 1).terms();
    let sale = terms.id;
    stack.stock.load(terms).await.unwrap();
    reserve_n(&stack.stock, sale, 40, "f").await;
    let config = |consumer: &str| RelayConfig {
        consumer: consumer.into(),
        claim_after: Duration::from_millis(800),
        ..RelayConfig::default()
    };
    stack.start_relay(Arc::new(Refusing), config("failing"));
    support::eventually(WAIT, "the failing relay took every entry", || async {
        pending_under(&stack, sale, "failing").await == 40
    })
    .await;
    stack.start_relay(stack.publisher.clone(), config("healthy"));
    stack.wait_stored(sale, 40).await;
    assert_eq!(stack.stored(sale).await, (40, 40));
    stack.shutdown().await;
}

/// One sale whose outbox lost its consumer group (its stream deleted) does
/// not stop the relay for the others, and its group is created again so its
/// new reservations flow too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_without_its_consumer_group_blocks_no_other() {
    let mut stack = Stack::new().await;
    stack.start_consumer();
    let mut sales = Vec::new();
    for _ in 0..6 {
        let terms = contract::sale(SaleState::Active, 10, 1).terms();
        sales.push(terms.id);
        stack.stock.load(terms).await.unwrap();
    }
    let broken = sales[0];
    stack.forget_outbox(broken).await;
    for (i, sale) in sales.iter().enumerate() {
        reserve_n(&stack.stock, *sale, 3, &format!("g{i}-")).await;
    }
    stack.start_relay(stack.publisher.clone(), RelayConfig::default());
    for sale in &sales {
        stack.wait_stored(*sale, 3).await;
    }
    stack.shutdown().await;
}

/// A sale being archived: `forget` deleted its keys (the outbox with
/// them) and has not yet taken it out of the index, which on a cluster is
/// a call of its own. A relay's pass in between finds no consumer group
/// and must not create the stream again: the archived sale would leave an
/// empty outbox in Redis for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_does_not_bring_back_the_outbox_of_a_sale_being_forgotten() {
    let stack = Stack::new().await;
    let terms = contract::sale(SaleState::Ended, 10, 1).terms();
    let sale = terms.id;
    stack.stock.load(terms).await.unwrap();
    stack.forget_outbox(sale).await;
    assert!(
        stack.stock.sales().await.unwrap().contains(&sale),
        "still indexed"
    );
    let relay = Relay::new(
        stack.stock.connection(),
        stack.publisher.clone(),
        RelayConfig::default(),
    );
    relay.pass(false).await.unwrap();
    let outbox: bool = redis::cmd("EXISTS")
        .arg(SaleKeys::new(sale).outbox)
        .query_async(&mut stack.stock.connection())
        .await
        .unwrap();
    assert!(!outbox, "the outbox was created again");
    stack.shutdown().await;
}

/// The relay dies after the broker confirmed a batch but before XACK: a new
/// relay claims the abandoned entries and publishes them again; nothing is
/// lost and the ledger holds each order once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_before_xack_loses_and_doubles_nothing() {
    let mut stack = Stack::new().await;
    stack.start_consumer();
    let terms = contract::sale(SaleState::Active, 100, 1).terms();
    let sale = terms.id;
    stack.stock.load(terms).await.unwrap();
    let reserved = reserve_n(&stack.stock, sale, 60, "k").await;

    let (tx, mut published) = tokio::sync::mpsc::unbounded_channel();
    let doomed = HangAfterPublish {
        inner: stack.publisher.clone(),
        published: tx,
    };
    let claim_after = Duration::from_millis(500);
    let config = RelayConfig {
        batch: 25,
        claim_after,
        ..RelayConfig::default()
    };
    let first = stack.start_relay(Arc::new(doomed), config.clone());
    let n = tokio::time::timeout(WAIT, published.recv())
        .await
        .unwrap()
        .unwrap();
    stack.kill_relay(first);
    assert_eq!(n, 25, "one batch published, not acknowledged");
    // The published copy is stored; the entries are still pending.
    stack.wait_stored(sale, 25).await;
    assert_eq!(stack.outbox_length(sale).await, 60);

    let metrics = stack.metrics.clone();
    // Another relay (another consumer name), which must claim them.
    let other = RelayConfig {
        consumer: "relay-2".into(),
        metrics,
        ..config
    };
    stack.start_relay(stack.publisher.clone(), other);
    stack.wait_stored(sale, 60).await;
    support::eventually(WAIT, "outbox emptied", || async {
        stack.outbox_length(sale).await == 0
    })
    .await;
    support::eventually(WAIT, "queue drained", || async {
        stack.queue_length(&stack.topology.queue).await == 0
    })
    .await;
    assert_eq!(stack.stored(sale).await, (60, 60), "each order exactly once");
    let count = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let m = &stack.metrics;
    // The republished copies may reach the consumer after the fresh entries.
    support::eventually(WAIT, "the republished copies consumed", || async {
        count(&m.duplicates) >= 25
    })
    .await;
    assert_eq!(
        (count(&m.reclaimed), count(&m.duplicates), count(&m.stored)),
        (25, 25, 60),
        "the second relay republished the abandoned batch; the ledger absorbed it"
    );
    for r in &reserved {
        assert!(stack.orders.get(r.order_id).await.unwrap().is_some());
    }
    let level = stack.stock.level(sale).await.unwrap().unwrap();
    assert_eq!(
        (level.in_flight, level.persisted, level.ledger_difference()),
        (0, 60, 0)
    );
    stack.shutdown().await;
}

/// Poison in the order queue: garbage, a message mixing a good
/// reservation with one the ledger refuses for good, and a corrupted copy
/// of a reservation whose genuine message is still to come. The consumer
/// stores every good reservation (the mixed message's too) and goes on; the
/// refused reservation identical to the one answered can never be stored,
/// so it is voided through the ledger and its units return; the corrupted
/// copy says nothing about the genuine message, so its reservation stays
/// in flight until that message is stored.
#[tokio::test]
async fn poison_is_dead_lettered_and_only_the_unstorable_is_voided() {
    let mut stack = Stack::new().await;
    stack.start_consumer();
    let terms = contract::sale(SaleState::Active, 10, 1).terms();
    let sale = terms.id;
    stack.stock.load(terms).await.unwrap();
    let held = reserve_n(&stack.stock, sale, 4, "p").await;
    stack.forget_outbox(sale).await;
    // held[0] as Redis answered it is itself unstorable (remaining out of
    // the ledger's range): no copy of it can ever be stored.
    let mut unstorable = held[0].clone();
    unstorable.remaining = u64::MAX;
    redis::cmd("HSET")
        .arg(SaleKeys::new(sale).inflight)
        .arg(unstorable.order_id.to_string())
        .arg(record::encode(&unstorable))
        .query_async::<i64>(&mut stack.stock.connection())
        .await
        .unwrap();
    let mut corrupted = held[2].clone();
    corrupted.remaining = u64::MAX;

    let conn = Connection::connect(&stack.amqp_url, ConnectionProperties::default())
        .await
        .unwrap();
    let channel = conn.create_channel().await.unwrap();
    channel
        .basic_publish(
            "".into(),
            stack.topology.queue.as_str().into(),
            BasicPublishOptions::default(),
            b"{not json",
            BasicProperties::default().with_delivery_mode(2),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    let publish = |batch: Vec<Reservation>| stack.publisher.publish(batch);
    publish(vec![unstorable.clone(), held[1].clone()]).await.unwrap();
    publish(vec![corrupted]).await.unwrap();
    publish(vec![held[3].clone()]).await.unwrap();

    stack.wait_stored(sale, 2).await;
    support::eventually(WAIT, "three messages dead-lettered", || async {
        stack.queue_length(&stack.topology.dead_letter_queue).await == 3
    })
    .await;
    let void = stack
        .orders
        .get(held[0].order_id)
        .await
        .unwrap()
        .expect("a void row");
    assert_eq!(void.status, OrderStatus::Void);
    assert_eq!(
        void.void_reason.as_deref(),
        Some(flashsale_stack::rabbitmq::consumer::UNSTORABLE)
    );
    let level = stack.stock.level(sale).await.unwrap().unwrap();
    assert_eq!(
        (level.remaining, level.in_flight, level.persisted),
        (7, 1, 2),
        "the voided unit back on sale; the corrupted copy's reservation held"
    );
    // The corrupted copy's reservation is flagged, never released on silence.
    let mut sweeper = stack.sweeper(Duration::from_millis(300));
    let reports = sweep_until(&mut sweeper, |r| r.unaccounted == 1).await;
    assert!(reports.iter().all(|r| r.released == 0), "{reports:?}");
    // Its genuine message arrives after all, and is stored.
    publish(vec![held[2].clone()]).await.unwrap();
    stack.wait_stored(sale, 3).await;
    let level = stack.stock.level(sale).await.unwrap().unwrap();
    assert_eq!((level.remaining, level.in_flight, level.persisted), (7, 0, 3));
    assert_eq!(level.ledger_difference(), 0);
    // The buyer whose order was voided may buy again.
    stack
        .stock
        .reserve(contract::request(sale, "p0", 1, None))
        .await
        .expect("units returned to the buyer's limit too");
    assert_eq!(stack.metrics.voided.load(std::sync::atomic::Ordering::Relaxed), 1);
    let _ = conn.close(200, "done".into()).await;
    stack.shutdown().await;
}

/// A broker that accepts the connection and then never answers (as a queue
/// without a leader does): the call fails after its time limit instead of
/// holding the relay forever.
#[tokio::test]
async fn a_silent_broker_fails_the_call_instead_of_hanging() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let url = format!("amqp://guest:guest@{addr}/%2f");
    let connect = AmqpPublisher::connect(&url, Topology::named("silent"));
    let outcome = tokio::time::timeout(WAIT, connect)
        .await
        .expect("an answer, not a hang");
    let error = outcome.err().expect("a silent broker is an error");
    assert!(error.to_string().contains("in time"), "{error}");
    silent.abort();
}

/// Redis loses a sale while its reservations are still in the order queue
/// (no AOF): a rebuild that waits for the queue refuses while it holds
/// them, and once a consumer stored them it counts them, so none of those
/// units sells twice.
#[tokio::test]
async fn a_rebuild_after_redis_lost_a_sale_waits_for_the_queue() {
    use flashsale_domain::CacheRebuild;
    use flashsale_domain::Sale;
    use flashsale_stack::StackCacheRebuild;

    let mut stack = Stack::new().await;
    let row: Sale = contract::sale(SaleState::Active, 2, 1);
    let sale = row.id;
    stack.stock.load(row.terms()).await.unwrap();
    let held = reserve_n(&stack.stock, sale, 2, "q").await;
    stack.publisher.publish(held).await.unwrap();
    stack.lose_sale(sale, &[&SaleKeys::new(sale).outbox]).await;

    let rebuild = StackCacheRebuild::new(stack.stock.clone(), stack.orders.clone())
        .waiting_for(stack.publisher.clone(), Duration::from_millis(500));
    let refused = rebuild.rebuild(vec![row.clone()]).await;
    assert!(refused.is_err(), "rebuilt while the queue held 2 units");
    assert!(
        stack.stock.level(sale).await.unwrap().is_none(),
        "nothing rebuilt"
    );

    stack.start_consumer();
    stack.wait_stored(sale, 2).await;
    rebuild.rebuild(vec![row]).await.expect("the queue drained");
    let level = stack.stock.level(sale).await.unwrap().unwrap();
    assert_eq!((level.remaining, level.persisted, level.in_flight), (0, 2, 0));
    stack.shutdown().await;
}

/// Redis loses a sale while a consumer holds its reservations unacked
/// (delivered, their insert held by a table lock): the queue shows nothing
/// ready, so a rebuild runs, and the consumer stores them after the
/// rebuild's ledger snapshot. Those late orders must still be counted, or
/// their units would sell twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_counts_what_consumers_held_unacked() {
    use flashsale_domain::CacheRebuild;
    use flashsale_domain::Sale;
    use flashsale_stack::StackCacheRebuild;

    let mut stack = Stack::new().await;
    let row: Sale = contract::sale(SaleState::Active, 4, 1);
    let sale = row.id;
    stack.stock.load(row.terms()).await.unwrap();
    let held = reserve_n(&stack.stock, sale, 3, "u").await;
    stack.forget_outbox(sale).await;
    let mut lock = stack.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();
    stack.start_consumer();
    stack.publisher.publish(held).await.unwrap();
    support::eventually(WAIT, "every message delivered to the held consumer", || async {
        stack.queue_length(&stack.topology.queue).await == 0
    })
    .await;
    stack.lose_sale(sale, &[]).await;
    let rebuild = StackCacheRebuild::new(stack.stock.clone(), stack.orders.clone())
        .waiting_for(stack.publisher.clone(), Duration::from_secs(5));
    rebuild
        .rebuild(vec![row])
        .await
        .expect("the queue shows nothing ready");
    lock.rollback().await.unwrap();
    stack.wait_stored(sale, 3).await;
    support::eventually(WAIT, "the late orders counted", || async {
        let level = stack.stock.level(sale).await.unwrap().unwrap();
        level.persisted == 3
    })
    .await;
    let level = stack.stock.level(sale).await.unwrap().unwrap();
    assert_eq!(
        (level.remaining, level.in_flight, level.ledger_difference()),
        (1, 0, 0)
    );
    assert!(
        matches!(
            stack.stock.reserve(contract::request(sale, "u0", 1, None)).await,
            Err(ReserveError::Rejected(_))
        ),
        "the buyer's count came back too"
    );
    stack.shutdown().await;
}

/// Orders expire; the order service gives one back and dies before the
/// others; Redis is rebuilt from the ledger. Every expired unit is back
/// exactly once: the rebuild counts none of them, and a give-back retried
/// afterwards changes nothing.
#[tokio::test]
async fn a_rebuild_keeps_expired_orders_given_back_once() {
    use flashsale_domain::{CacheRebuild, Order, SaleCatalog};
    use flashsale_stack::{PgCatalog, StackCacheRebuild};

    let stack = Stack::new().await;
    let mut row = contract::sale(SaleState::Active, 5, 1);
    row.payment_window_seconds = 1;
    PgCatalog::new(stack.pool.clone()).insert(&row).await.unwrap();
    let sale = row.id;
    stack.stock.load(row.terms()).await.unwrap();
    let held = reserve_n(&stack.stock, sale, 3, "x").await;
    stack.orders.insert_batch(&held).await.unwrap();
    let ids: Vec<_> = held.iter().map(|r| r.order_id).collect();
    stack.stock.settle(sale, &ids).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired: Vec<Order> = stack.orders.expire_due(100).await.unwrap();
    assert_eq!(expired.len(), 3);
    assert_eq!(stack.stock.give_back(&expired[0]).await.unwrap(), 1);

    StackCacheRebuild::new(stack.stock.clone(), stack.orders.clone())
        .rebuild(vec![row])
        .await
        .unwrap();
    let level = stack.stock.level(sale).await.unwrap().unwrap();
    assert_eq!(
        (
            level.remaining,
            level.persisted,
            level.in_flight,
            level.ledger_difference()
        ),
        (5, 0, 0, 0),
        "every expired unit back, none counted"
    );
    for order in &expired {
        assert_eq!(stack.stock.give_back(order).await.unwrap(), 0, "given back once");
    }
    assert_eq!(stack.stock.level(sale).await.unwrap().unwrap().remaining, 5);
    // The buyers' limits are free again.
    for r in &held {
        assert!(stack
            .stock
            .reserve(contract::request(sale, r.user_id.as_str(), 1, None))
            .await
            .is_ok());
    }
}

/// Sweeps until `done` says so, at most [`WAIT`]; returns the reports.
async fn sweep_until(sweeper: &mut Sweeper, done: impl Fn(&SweepReport) -> bool) -> Vec<SweepReport> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut reports = Vec::new();
    loop {
        let report = sweeper.sweep().await.expect("sweep");
        reports.push(report);
        if done(&report) {
            return reports;
        }
        assert!(tokio::time::Instant::now() < deadline, "sweeps: {reports:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The sweeper asks the ledger: a reservation stored whose settle never
/// happened (Redis was away) is settled; one the ledger voided whose units
/// were not given back yet is released; one the ledger has not decided is
/// left in flight however long it waits, and reported (a metric and the
/// sweep report) once past the wait. A late copy of a voided reservation
/// is refused by the ledger, so no unit sells twice.
#[tokio::test]
async fn the_sweeper_follows_the_ledger_and_never_releases_on_silence() {
    let mut stack = Stack::new().await;
    let terms = contract::sale(SaleState::Active, 3, 1).terms();
    let sale = terms.id;
    stack.stock.load(terms).await.unwrap();
    let held = reserve_n(&stack.stock, sale, 3, "s").await;
    let (stored, voided, silent) = (&held[0], &held[1], &held[2]);
    stack.forget_outbox(sale).await;
    stack.orders.insert(std::slice::from_ref(stored)).await.unwrap();
    assert_eq!(stack.orders.void(voided, "test").await.unwrap(), Decision::Void);

    let after = Duration::from_millis(300);
    let mut sweeper = stack.sweeper(after);
    let reports = sweep_until(&mut sweeper, |r| r.unaccounted == 1).await;
    let total = |f: fn(&SweepReport) -> usize| reports.iter().map(f).sum::<usize>();
    assert_eq!(
        (total(|r| r.settled), total(|r| r.released)),
        (1, 1),
        "{reports:?}"
    );
    assert_eq!(
        stack
            .metrics
            .unaccounted
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    tokio::time::sleep(after * 3).await;
    let report = sweeper.sweep().await.unwrap();
    assert_eq!(
        (report.released, report.unaccounted),
        (0, 1),
        "silence releases nothing"
    );
    let level = stack.stock.level(sale).await.unwrap().unwrap();
    assert_eq!((level.persisted, level.in_flight, level.remaining), (1, 1, 1));

    // The voided unit sells again; a late copy of its message is refused.
    stack.start_consumer();
    let again = stack
        .stock
        .reserve(contract::request(sale, "t", 1, None))
        .await
        .expect("the voided unit is on sale")
        .reservation()
        .clone();
    stack
        .publisher
        .publish(vec![voided.clone(), again.clone(), silent.clone()])
        .await
        .unwrap();
    stack.wait_stored(sale, 3).await;
    assert_eq!(
        stack.orders.get(voided.order_id).await.unwrap().unwrap().status,
        OrderStatus::Void
    );
    assert_eq!(stack.stored(sale).await, (3, 3), "3 units, never 4");
    let report = sweep_until(&mut sweeper, |r| r.unaccounted == 0).await;
    assert!(report.iter().all(|r| r.released == 0));
    // The consumer settles in Redis right after its commit: under load, a
    // moment after the ledger shows the order.
    let settled = stack.stock.clone();
    support::eventually(Duration::from_secs(10), "the consumer settles", || {
        let stock = settled.clone();
        async move { stock.level(sale).await.unwrap().is_some_and(|l| l.in_flight == 0) }
    })
    .await;
    let level = stack.stock.level(sale).await.unwrap().unwrap();
    assert_eq!(
        (
            level.persisted,
            level.in_flight,
            level.remaining,
            level.ledger_difference()
        ),
        (3, 0, 0, 0)
    );
    stack.shutdown().await;
}

/// A cache rebuild in the middle of a stampede, with the relay and the
/// consumer running: no unit is lost or doubled. The sale sells exactly its
/// stock, nobody passes the limit, and the ledger balances at every rebuild.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_rebuild_during_a_stampede_keeps_every_unit() {
    rebuilds_during_a_stampede(1).await;
}

/// The same on a hot sale split into four buckets: units stolen between
/// buckets while rebuilds fence them, the relay reading four outboxes, the
/// consumer settling each reservation in its buyer's bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_rebuild_during_a_stampede_on_a_hot_sale_keeps_every_unit() {
    rebuilds_during_a_stampede(4).await;
}

async fn rebuilds_during_a_stampede(buckets: u32) {
    use flashsale_domain::CacheRebuild;
    use flashsale_stack::StackCacheRebuild;

    let mut stack = Stack::new().await;
    stack.start_consumer();
    stack.start_relay(stack.publisher.clone(), RelayConfig::default());
    let mut sale_row = contract::sale(SaleState::Active, 300, 2);
    sale_row.stock_buckets = buckets;
    let sale = sale_row.id;
    stack.stock.load(sale_row.terms()).await.unwrap();
    let cache = StackCacheRebuild::new(stack.stock.clone(), stack.orders.clone());

    let mut buyers = Vec::new();
    for k in 0..8 {
        let stock = stack.stock.clone();
        buyers.push(tokio::spawn(async move {
            let mut got: HashMap<String, u32> = HashMap::new();
            for i in 0..150 {
                let user = format!("c{}", (k * 150 + i) % 400);
                match stock.reserve(contract::request(sale, &user, 1, None)).await {
                    Ok(o) => *got.entry(o.reservation().user_id.to_string()).or_default() += 1,
                    Err(ReserveError::Rejected(_)) => {}
                    // Units moving between buckets while a rebuild fences
                    // them: the buyer is told to retry (503).
                    Err(ReserveError::UnitsMoving) if buckets > 1 => {}
                    Err(e) => panic!("{e}"),
                }
            }
            got
        }));
    }
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(40)).await;
        cache.rebuild(vec![sale_row.clone()]).await.expect("rebuild");
        let level = stack.stock.level(sale).await.unwrap().unwrap();
        assert_eq!(level.ledger_difference(), 0, "ledger after a rebuild: {level:?}");
    }
    let mut per_user: HashMap<String, u32> = HashMap::new();
    for b in buyers {
        for (user, n) in b.await.unwrap() {
            *per_user.entry(user).or_default() += n;
        }
    }
    let sold: u32 = per_user.values().sum();
    assert_eq!(
        sold, 300,
        "demand (1200) exceeds stock: exactly the stock is sold"
    );
    assert!(per_user.values().all(|&n| n <= 2), "limit held");
    stack.wait_stored(sale, 300).await;
    cache.rebuild(vec![sale_row.clone()]).await.unwrap();
    let level = stack.stock.level(sale).await.unwrap().unwrap();
    assert_eq!(
        (
            level.remaining,
            level.in_flight,
            level.persisted,
            level.ledger_difference()
        ),
        (0, 0, 300, 0)
    );
    assert_eq!(stack.stored(sale).await.0, 300);
    stack.shutdown().await;
}

/// Every client connection to the broker is closed while the consumer is in
/// the middle of its batches (and the relay in the middle of publishing):
/// unacked deliveries come back, the consumer and the publisher reconnect
/// by themselves, and every reservation is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_connections_dropped_mid_batch_lose_and_double_nothing() {
    let (url, vhost) = support::amqp_url_in_own_vhost().await;
    let mut stack = Stack::on(url).await;
    stack.start_consumer();
    let terms = contract::sale(SaleState::Active, 600, 1).terms();
    let sale = terms.id;
    stack.stock.load(terms).await.unwrap();
    reserve_n(&stack.stock, sale, 600, "cut").await;
    stack.start_relay(
        stack.publisher.clone(),
        RelayConfig {
            batch: 8,
            ..RelayConfig::default()
        },
    );
    support::eventually(WAIT, "consumption under way", || async {
        let stored = stack.stored(sale).await.0;
        stored > 0 && stored < 600
    })
    .await;
    support::close_amqp_connections(&vhost).await;
    stack.wait_stored(sale, 600).await;
    support::eventually(WAIT, "outbox emptied and queue drained", || async {
        stack.outbox_length(sale).await == 0 && stack.queue_length(&stack.topology.queue).await == 0
    })
    .await;
    assert_eq!(stack.stored(sale).await, (600, 600), "each order exactly once");
    let level = stack.stock.level(sale).await.unwrap().unwrap();
    assert_eq!((level.remaining, level.in_flight, level.persisted), (0, 0, 600));
    stack.shutdown().await;
}
