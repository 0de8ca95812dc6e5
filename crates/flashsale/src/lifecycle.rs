//! One lifecycle for every process (`up`, `gateway`, each service): serve
//! until told to stop, let the requests in flight be answered (for a bounded
//! while), then stop the background work in the order it was listed, each
//! task within its own bound.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use flashsale_order::OrderService;
use flashsale_product::ProductService;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a stop waits for answered requests before closing them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(15);

/// How often the schedule (`starts_at`, `ends_at`) is applied.
const SCHEDULE_EVERY: Duration = Duration::from_millis(250);

/// How often overdue orders are expired (and units of expired or cancelled
/// orders given back): at most this late, plus a pass.
pub const CHECKOUT_EVERY: Duration = Duration::from_millis(250);

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What one background task does when it is stopped.
struct Task {
    name: &'static str,
    within: Duration,
    stop: Box<dyn FnOnce() -> BoxFuture + Send>,
}

/// The named background tasks of a process, stopped in the order they were
/// added, once no request is being served.
#[derive(Default)]
pub struct Background {
    tasks: Vec<Task>,
}

impl Background {
    /// Adds a task whose `stop` runs after those of the tasks added before,
    /// for at most `within` (then it is abandoned, and logged).
    pub fn add<F>(&mut self, name: &'static str, within: Duration, stop: impl FnOnce() -> F + Send + 'static)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tasks.push(Task {
            name,
            within,
            stop: Box::new(move || Box::pin(stop())),
        });
    }

    /// Adds a task that has nothing to finish: stopping it aborts it.
    pub fn abort_on_stop(&mut self, name: &'static str, task: JoinHandle<()>) {
        self.add(name, Duration::from_secs(1), move || async move { task.abort() });
    }

    /// Runs the sale schedule until stopped.
    pub fn schedule(&mut self, product: Arc<ProductService>) {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(product.run_schedule(SCHEDULE_EVERY, async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        self.add("schedule", Duration::from_secs(5), move || async move {
            let _ = stop.send(true);
            let _ = task.await;
        });
    }

    /// Runs the checkout's expiry until stopped: back to back while passes
    /// find full batches. Stopping aborts it anywhere: each step is decided
    /// by the ledger first and the give-back is once per order, so the next
    /// start (or another order service) finishes what was cut.
    pub fn checkout(&mut self, orders: Arc<OrderService>) {
        let task = tokio::spawn(async move {
            loop {
                match orders.expire_and_give_back().await {
                    Ok(pass) if pass.full() => continue,
                    Ok(_) => {}
                    Err(error) => tracing::warn!(message = "Checkout pass failed; retrying.", %error),
                }
                tokio::time::sleep(CHECKOUT_EVERY).await;
            }
        });
        self.abort_on_stop("checkout", task);
    }

    /// Delivers the shop's events until stopped (if an endpoint is set);
    /// returns the deliverer's health probe and `/metrics` source.
    pub fn shop_webhooks(
        &mut self,
        outbox: Arc<dyn flashsale_domain::ShopOutbox>,
        endpoint: Option<crate::shop_webhooks::ShopEndpoint>,
        events: Arc<dyn flashsale_domain::EventSink>,
    ) -> Option<(
        Arc<dyn flashsale_domain::HealthProbe>,
        flashsale_gateway::MetricsSource,
    )> {
        let deliverer = crate::shop_webhooks::ShopWebhooks::new(outbox, endpoint?, events);
        let stats = deliverer.stats();
        self.abort_on_stop("shop webhooks", tokio::spawn(deliverer.run()));
        let metrics = stats.clone();
        Some((
            Arc::new(crate::shop_webhooks::ShopWebhooksProbe(stats)),
            Arc::new(move || metrics.prometheus()),
        ))
    }

    /// Stops every task, in order, each within its bound.
    pub async fn stop(self) {
        for task in self.tasks {
            match tokio::time::timeout(task.within, (task.stop)()).await {
                Ok(()) => tracing::debug!(message = "Stopped.", task = task.name),
                Err(_) => tracing::warn!(
                    message = "A background task did not stop in time; abandoned.",
                    task = task.name,
                    within_secs = task.within.as_secs()
                ),
            }
        }
    }
}

/// Serves with `serve` until `shutdown` resolves; then lets the requests in
/// flight be answered for at most [`SHUTDOWN_GRACE`], and stops `background`.
pub async fn serve_until<S, F>(
    serve: S,
    shutdown: impl Future<Output = ()> + Send + 'static,
    background: Background,
) -> std::io::Result<()>
where
    S: FnOnce(BoxFuture) -> F,
    F: Future<Output = std::io::Result<()>>,
{
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let serving = serve(Box::pin(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    }));
    tokio::pin!(serving);
    let served = tokio::select! {
        result = &mut serving => result,
        _ = async {
            let _ = stop_rx.wait_for(|s| *s).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!(message = "Requests still open after the grace period; closing them.");
            Ok(())
        }
    };
    background.stop().await;
    served
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use super::Background;

    /// Tasks stop in the order they were added, and one that does not stop
    /// within its bound is abandoned without holding up the next.
    #[tokio::test]
    async fn tasks_stop_in_order_each_within_its_bound() {
        let stopped = Arc::new(Mutex::new(Vec::new()));
        let mut background = Background::default();
        for name in ["first", "hung", "last"] {
            let stopped = stopped.clone();
            background.add(name, Duration::from_millis(100), move || async move {
                if name == "hung" {
                    std::future::pending::<()>().await;
                }
                stopped.lock().unwrap().push(name);
            });
        }
        let started = Instant::now();
        background.stop().await;
        assert_eq!(*stopped.lock().unwrap(), ["first", "last"]);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_secs(5),
            "{took:?}"
        );
    }
}
