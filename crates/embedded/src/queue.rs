//! The embedded order queue: a bounded channel and one writer thread doing
//! group commit.
//!
//! A publisher's reservations wait in the channel; the writer takes every
//! job waiting (up to [`QueueConfig::max_batch`] reservations), inserts them
//! in one SQLite transaction, commits (one fsync), and only then answers each
//! publisher. While one batch commits, the next one gathers, so the batch
//! grows with the load and no timer adds latency when the load is light.
//!
//! A full channel is refused at once ([`QueueError::Full`]) so the caller
//! sheds load instead of queueing without bound.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use async_trait::async_trait;
use flashsale_domain::{OrderQueue, QueueError, Reservation, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::orders::SqliteOrderStore;

/// Bounds of the embedded queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueConfig {
    /// Publish calls that may wait for the writer; more are refused.
    pub capacity: usize,
    /// Reservations committed in one transaction at most.
    pub max_batch: usize,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            capacity: 16_384,
            max_batch: 4_096,
        }
    }
}

/// Called by the writer after each commit with the reservations now stored
/// (new or already there), before the publishers are answered.
pub type OnCommit = Box<dyn Fn(&[Reservation]) + Send + 'static>;

struct Job {
    reservations: Vec<Reservation>,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// The embedded [`OrderQueue`]. Dropping every clone of the sender side is
/// not needed to stop it: [`EmbeddedQueue::shutdown`] drains and joins.
pub struct EmbeddedQueue {
    sender: Mutex<Option<mpsc::Sender<Job>>>,
    depth: Arc<AtomicU64>,
    closed: AtomicBool,
    writer: Mutex<Option<JoinHandle<()>>>,
}

impl EmbeddedQueue {
    /// Starts the writer thread over `store`.
    pub fn start(store: SqliteOrderStore, config: QueueConfig, on_commit: OnCommit) -> Self {
        let (tx, rx) = mpsc::channel(config.capacity);
        let depth = Arc::new(AtomicU64::new(0));
        let writer_depth = depth.clone();
        let writer = std::thread::Builder::new()
            .name("order-writer".into())
            .spawn(move || write_loop(rx, store, config.max_batch, on_commit, writer_depth))
            .expect("spawn the order writer thread");
        Self {
            sender: Mutex::new(Some(tx)),
            depth,
            closed: AtomicBool::new(false),
            writer: Mutex::new(Some(writer)),
        }
    }

    /// Refuses new publishes, lets the writer commit everything already
    /// queued, and waits for it to finish.
    pub async fn shutdown(&self) {
        self.closed.store(true, Ordering::SeqCst);
        drop(self.sender.lock().expect("queue sender lock").take());
        let writer = self.writer.lock().expect("queue writer lock").take();
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }
}

fn write_loop(
    mut rx: mpsc::Receiver<Job>,
    store: SqliteOrderStore,
    max_batch: usize,
    on_commit: OnCommit,
    depth: Arc<AtomicU64>,
) {
    let mut waiting: Vec<oneshot::Sender<Result<(), StoreError>>> = Vec::new();
    let mut batch: Vec<Reservation> = Vec::with_capacity(max_batch);
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            batch.extend(job.reservations);
            waiting.push(job.done);
            if batch.len() < max_batch {
                next = rx.try_recv().ok();
            }
        }
        let outcome = store.insert_blocking(&batch);
        match &outcome {
            Ok(_) => on_commit(&batch),
            Err(error) => {
                tracing::error!(message = "Failed to commit an order batch.", %error, orders = batch.len())
            }
        }
        depth.fetch_sub(batch.len() as u64, Ordering::Relaxed);
        batch.clear();
        for done in waiting.drain(..) {
            let _ = done.send(outcome.as_ref().map(|_| ()).map_err(Clone::clone));
        }
    }
}

#[async_trait]
impl OrderQueue for EmbeddedQueue {
    async fn publish(&self, reservations: Vec<Reservation>) -> Result<(), QueueError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable("shutting down".into()));
        }
        let sender = self.sender.lock().expect("queue sender lock").clone();
        let sender = sender.ok_or_else(|| QueueError::Unavailable("shutting down".into()))?;
        let (done, answer) = oneshot::channel();
        let count = reservations.len() as u64;
        self.depth.fetch_add(count, Ordering::Relaxed);
        if let Err(e) = sender.try_send(Job { reservations, done }) {
            self.depth.fetch_sub(count, Ordering::Relaxed);
            return Err(match e {
                mpsc::error::TrySendError::Full(_) => QueueError::Full,
                mpsc::error::TrySendError::Closed(_) => QueueError::Unavailable("shutting down".into()),
            });
        }
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(QueueError::Unavailable(e.to_string())),
            Err(_) => Err(QueueError::Unavailable("the order writer stopped".into())),
        }
    }

    fn depth(&self) -> u64 {
        self.depth.load(Ordering::Relaxed)
    }
}
