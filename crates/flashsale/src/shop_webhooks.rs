//! Events out, to the shop: the order service delivers the ledger's outbox
//! (`order.confirmed`, `.paid`, `.expired`, `.cancelled`, `.void`) to
//! `FLASHSALE_WEBHOOK_URL`, at least once.
//!
//! Each event is POSTed with its id (`FlashSale-Event-Id`, also in the body:
//! the shop deduplicates on it) and signed like the payment webhook
//! (`FlashSale-Signature: t=…,v1=…` under `FLASHSALE_WEBHOOK_SECRET`). A 2xx
//! answer removes it from the outbox; anything else (another status, a
//! refused connection, no answer in 10 s) retries it with exponential
//! back-off (1 s, 2 s, 4 s … at most an hour apart) for a day, then gives
//! up on it: a critical event in the log, a counter on `/metrics`, and the
//! row kept in the outbox with its last error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use flashsale_domain::{
    ComponentHealth, Event, EventKind, EventSink, HealthProbe, OutboxBacklog, Severity, ShopEvent, ShopOutbox,
};
use flashsale_gateway::payments;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Events claimed per pass.
const BATCH: usize = 64;
/// How long a claimed event is this deliverer's: longer than a delivery.
const LEASE: Duration = Duration::from_secs(60);
/// One delivery's bound: connect, send, answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Between passes that found nothing to do.
const IDLE: Duration = Duration::from_millis(250);
/// After this long, an event that was never acknowledged is given up on.
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// Why the webhook settings were refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookSettingsError {
    #[error("FLASHSALE_WEBHOOK_URL {0:?} is not an http:// URL (https: put a TLS-terminating egress proxy in front)")]
    Url(String),
    #[error("FLASHSALE_WEBHOOK_URL is set without FLASHSALE_WEBHOOK_SECRET: the shop could not tell our events from forgeries")]
    NoSecret,
}

/// Where events go and how they are signed.
#[derive(Clone)]
pub struct ShopEndpoint {
    url: hyper::Uri,
    secret: String,
}

impl ShopEndpoint {
    /// The endpoint from the settings; `None` when no URL is set.
    pub fn from_settings(
        url: Option<&str>,
        secret: Option<&str>,
    ) -> Result<Option<Self>, WebhookSettingsError> {
        let Some(raw) = url.filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let url: hyper::Uri = raw
            .parse()
            .map_err(|_| WebhookSettingsError::Url(raw.to_owned()))?;
        if url.scheme_str() != Some("http") || url.host().is_none() {
            return Err(WebhookSettingsError::Url(raw.to_owned()));
        }
        let secret = secret
            .filter(|s| !s.is_empty())
            .ok_or(WebhookSettingsError::NoSecret)?;
        Ok(Some(Self {
            url,
            secret: secret.to_owned(),
        }))
    }

    /// For the banner: where events go (never the secret).
    pub fn describe(&self) -> String {
        format!("shop webhooks to {}", self.url)
    }
}

/// The deliverer's counters and last view of the outbox: `/metrics` and
/// health read them without a query.
#[derive(Default)]
pub struct DeliveryStats {
    delivered: AtomicU64,
    failed: AtomicU64,
    gave_up: AtomicU64,
    backlog: Mutex<Option<OutboxBacklog>>,
    last_error: Mutex<Option<String>>,
}

impl DeliveryStats {
    /// Prometheus text.
    pub fn prometheus(&self) -> String {
        let mut out = String::from(
            "# HELP flashsale_shop_webhook_deliveries_total Deliveries of events to the shop, by outcome.\n\
             # TYPE flashsale_shop_webhook_deliveries_total counter\n",
        );
        for (outcome, n) in [
            ("delivered", &self.delivered),
            ("failed", &self.failed),
            ("gave_up", &self.gave_up),
        ] {
            out.push_str(&format!(
                "flashsale_shop_webhook_deliveries_total{{outcome=\"{outcome}\"}} {}\n",
                n.load(Ordering::Relaxed)
            ));
        }
        if let Some(b) = *self.backlog.lock().expect("backlog lock poisoned") {
            out.push_str(
                "# HELP flashsale_shop_webhook_backlog Events in the outbox: pending (failing: tried at least once), given up.\n\
                 # TYPE flashsale_shop_webhook_backlog gauge\n",
            );
            for (state, n) in [
                ("pending", b.pending),
                ("failing", b.failing),
                ("gave_up", b.gave_up),
            ] {
                out.push_str(&format!(
                    "flashsale_shop_webhook_backlog{{state=\"{state}\"}} {n}\n"
                ));
            }
        }
        out
    }
}

/// Delivers the outbox, pass after pass.
pub struct ShopWebhooks {
    outbox: Arc<dyn ShopOutbox>,
    endpoint: ShopEndpoint,
    client: Client<HttpConnector, Full<Bytes>>,
    events: Arc<dyn EventSink>,
    stats: Arc<DeliveryStats>,
}

impl ShopWebhooks {
    pub fn new(outbox: Arc<dyn ShopOutbox>, endpoint: ShopEndpoint, events: Arc<dyn EventSink>) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(Duration::from_secs(3)));
        Self {
            outbox,
            endpoint,
            client: Client::builder(TokioExecutor::new()).build(connector),
            events,
            stats: Arc::default(),
        }
    }

    pub fn stats(&self) -> Arc<DeliveryStats> {
        self.stats.clone()
    }

    /// Runs passes forever (the caller aborts it): back to back while they
    /// find a full batch. Safe to abort anywhere: an event claimed and not
    /// settled is delivered again once its lease passes.
    pub async fn run(self) {
        let mut last_backlog = Instant::now() - Duration::from_secs(60);
        loop {
            let full = match self.pass().await {
                Ok(n) => n >= BATCH,
                Err(error) => {
                    tracing::warn!(message = "Shop webhook pass failed; retrying.", %error);
                    false
                }
            };
            if last_backlog.elapsed() >= Duration::from_secs(1) {
                last_backlog = Instant::now();
                if let Ok(backlog) = self.outbox.backlog().await {
                    *self.stats.backlog.lock().expect("backlog lock poisoned") = Some(backlog);
                }
            }
            if !full {
                tokio::time::sleep(IDLE).await;
            }
        }
    }

    /// Claims and delivers one batch (concurrently); returns its size.
    pub async fn pass(&self) -> Result<usize, flashsale_domain::StoreError> {
        let claimed = self.outbox.claim(BATCH, LEASE).await?;
        let n = claimed.len();
        let outcomes = futures_util::future::join_all(claimed.iter().map(|event| self.deliver(event))).await;
        let mut failures = 0;
        for (event, outcome) in claimed.iter().zip(outcomes) {
            match outcome {
                Ok(()) => {
                    self.outbox.delivered(&event.id).await?;
                    self.stats.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => {
                    failures += 1;
                    *self.stats.last_error.lock().expect("error lock poisoned") = Some(error.clone());
                    let retry_at = retry_at(event, Utc::now());
                    self.outbox.failed(&event.id, &error, retry_at).await?;
                    if retry_at.is_some() {
                        self.stats.failed.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.stats.gave_up.fetch_add(1, Ordering::Relaxed);
                        self.events.emit(Event::new(
                            EventKind::Checkout,
                            Severity::Critical,
                            format!(
                                "Gave up on shop event {} after a day of failed deliveries: {error}",
                                event.id
                            ),
                        ));
                    }
                }
            }
        }
        if failures > 0 {
            self.events.emit(Event::new(
                EventKind::Checkout,
                Severity::Warning,
                format!("{failures} deliveries of shop events failed; they are retried."),
            ));
        }
        Ok(n)
    }

    /// One POST; `Err` says why it did not count as delivered.
    async fn deliver(&self, event: &ShopEvent) -> Result<(), String> {
        let body = Bytes::from(event.payload.clone());
        let signature = payments::sign(&self.endpoint.secret, Utc::now().timestamp(), &body);
        let request = Request::post(self.endpoint.url.clone())
            .header("content-type", "application/json")
            .header("user-agent", concat!("flashsale/", env!("CARGO_PKG_VERSION")))
            .header("flashsale-event-id", &event.id)
            .header("flashsale-signature", signature)
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| e.to_string())?;
            let status = response.status();
            // Read (and drop) the answer, so the connection can be reused.
            let _ = response.into_body().collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(format!("the shop answered {status}"))
            }
        };
        tokio::time::timeout(TIMEOUT, exchange)
            .await
            .unwrap_or_else(|_| Err(format!("no answer in {} s", TIMEOUT.as_secs())))
    }
}

/// When to try `event` again after its failed delivery at `now`, or `None`
/// to give up: 1 s after the first failure, doubling, at most an hour
/// apart, until a day after the event.
pub fn retry_at(event: &ShopEvent, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let give_up = event.created_at + chrono::Duration::from_std(GIVE_UP_AFTER).expect("a day fits");
    if now >= give_up {
        return None;
    }
    let wait = Duration::from_secs(1u64 << event.attempts.min(12)).min(MAX_BACKOFF);
    Some((now + chrono::Duration::from_std(wait).expect("an hour fits")).min(give_up))
}

/// The deliverer's health: degraded while events fail or were given up on.
pub struct ShopWebhooksProbe(pub Arc<DeliveryStats>);

#[async_trait]
impl HealthProbe for ShopWebhooksProbe {
    fn name(&self) -> &'static str {
        "shop_webhooks"
    }

    async fn check(&self) -> ComponentHealth {
        let backlog = *self.0.backlog.lock().expect("backlog lock poisoned");
        let Some(b) = backlog else {
            return ComponentHealth::ok("starting");
        };
        let detail = format!(
            "{} pending ({} failing), {} given up; {} delivered since start",
            b.pending,
            b.failing,
            b.gave_up,
            self.0.delivered.load(Ordering::Relaxed)
        );
        if b.failing > 0 || b.gave_up > 0 {
            let last = self.0.last_error.lock().expect("error lock poisoned").clone();
            ComponentHealth::degraded(format!("{detail}; last error: {}", last.unwrap_or_default()))
        } else {
            ComponentHealth::ok(detail)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(attempts: u32, age: chrono::Duration) -> ShopEvent {
        ShopEvent {
            id: "e".into(),
            payload: "{}".into(),
            created_at: Utc::now() - age,
            attempts,
        }
    }

    #[test]
    fn retries_back_off_then_give_up_after_a_day() {
        let now = Utc::now();
        let wait = |attempts, age| retry_at(&event(attempts, age), now).map(|t| (t - now).num_seconds());
        assert_eq!(wait(0, chrono::Duration::zero()), Some(1));
        assert_eq!(wait(3, chrono::Duration::zero()), Some(8));
        assert_eq!(
            wait(40, chrono::Duration::zero()),
            Some(3600),
            "at most an hour apart"
        );
        assert_eq!(
            wait(5, chrono::Duration::hours(24) + chrono::Duration::seconds(1)),
            None,
            "a day: given up"
        );
        let near = wait(20, chrono::Duration::hours(23) + chrono::Duration::minutes(59)).unwrap();
        assert!(near <= 60, "never past the day: {near}");
    }

    #[test]
    fn the_endpoint_needs_http_and_a_secret() {
        assert!(ShopEndpoint::from_settings(None, None).unwrap().is_none());
        assert!(
            ShopEndpoint::from_settings(Some("http://shop:9000/hooks"), Some("s"))
                .unwrap()
                .is_some()
        );
        assert!(matches!(
            ShopEndpoint::from_settings(Some("http://shop/hooks"), None),
            Err(WebhookSettingsError::NoSecret)
        ));
        for bad in ["ftp://shop/x", "shop/hooks", "http:///x"] {
            assert!(
                matches!(
                    ShopEndpoint::from_settings(Some(bad), Some("s")),
                    Err(WebhookSettingsError::Url(_))
                ),
                "{bad}"
            );
        }
    }
}
