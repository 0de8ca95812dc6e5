//! The public live feed of a sale's figures, for buyers' pages: one reader
//! per sale and per gateway, shared by every watcher.
//!
//! The first watcher of a sale starts a ticker that reads the sale once a
//! second and, when its figures changed, publishes them (serialised once)
//! on a `watch` channel; every watcher's stream takes the latest value, so
//! a slow watcher skips updates instead of queueing them. The ticker stops
//! when the last watcher leaves. So the engine's work is one read per
//! watched sale per second, however many buyers watch.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flashsale_domain::SaleId;
use tokio::sync::watch;

use crate::dto::SaleDto;
use crate::upstream::ProductApi;

/// How often a watched sale is read.
pub const EVERY: Duration = Duration::from_secs(1);

/// The latest figures of a sale, as JSON.
pub type Figures = Option<Arc<str>>;

/// Every watched sale's channel.
#[derive(Default)]
pub struct SaleFeeds {
    feeds: Mutex<HashMap<SaleId, watch::Sender<Figures>>>,
}

impl SaleFeeds {
    /// A receiver of `sale`'s figures, with its first value read now;
    /// starts the sale's ticker if no one watches it yet.
    pub async fn watch(
        self: &Arc<Self>,
        sale: SaleId,
        product: Arc<dyn ProductApi>,
        first: SaleDto,
    ) -> watch::Receiver<Figures> {
        let mut feeds = self.feeds.lock().expect("feeds lock poisoned");
        if let Some(sender) = feeds.get(&sale) {
            return sender.subscribe();
        }
        let json: Arc<str> = serde_json::to_string(&first).expect("a sale serialises").into();
        let (sender, receiver) = watch::channel(Some(json));
        feeds.insert(sale, sender.clone());
        let this = self.clone();
        tokio::spawn(async move { this.tick(sale, sender, product).await });
        receiver
    }

    /// Reads the sale every [`EVERY`] while anyone watches it.
    async fn tick(
        self: Arc<Self>,
        sale: SaleId,
        sender: watch::Sender<Figures>,
        product: Arc<dyn ProductApi>,
    ) {
        let mut interval = tokio::time::interval(EVERY);
        interval.tick().await;
        loop {
            interval.tick().await;
            {
                let mut feeds = self.feeds.lock().expect("feeds lock poisoned");
                if sender.receiver_count() == 0 {
                    feeds.remove(&sale);
                    return;
                }
            }
            if let Ok(view) = product.get(sale).await {
                let json = serde_json::to_string(&SaleDto::from(&view)).expect("a sale serialises");
                sender.send_if_modified(|old| {
                    if old.as_deref() == Some(json.as_str()) {
                        return false;
                    }
                    *old = Some(json.into());
                    true
                });
            }
        }
    }

    /// Sales watched now, for `/metrics`.
    pub fn watched(&self) -> usize {
        self.feeds.lock().expect("feeds lock poisoned").len()
    }

    /// Watchers of every sale, for `/metrics`.
    pub fn watchers(&self) -> usize {
        self.feeds
            .lock()
            .expect("feeds lock poisoned")
            .values()
            .map(watch::Sender::receiver_count)
            .sum()
    }
}
