//! [`AmqpPublisher`]: the [`OrderQueue`] on RabbitMQ.
//!
//! `publish` returns only once the broker confirmed the message: persistent
//! (delivery mode 2) on a durable quorum queue, published `mandatory` so a
//! missing queue is an error instead of a silent drop. All publishes share
//! one confirm-mode channel (confirms are matched by delivery tag, so
//! concurrent publishes pipeline); a channel found closed is replaced by a
//! new connection on the next call.
//!
//! Every call to the broker has a time limit: a broker can accept a
//! connection and then never answer (a quorum queue that lost its leader
//! waits forever), and a relay stuck on such a call would hold its outbox
//! silently. A call past its limit fails, drops the connection, and is
//! remembered for health ([`AmqpPublisher::recent_failure`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use flashsale_domain::{OrderQueue, QueueError, Reservation};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::Mutex;

/// The longest wait for a connection, its channel and the topology: about
/// ten round trips, so room for a link of 1 s round trips (found by the
/// chaos suite: 5 s failed every connect over a 300 ms-latency link).
const LINK_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest wait for a publish's confirm or a queue's depth.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// A broker call that failed, or did not answer in time.
fn unanswered<T>(
    result: Result<lapin::Result<T>, tokio::time::error::Elapsed>,
    what: &str,
) -> Result<T, String> {
    match result {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("the broker did not answer {what} in time")),
    }
}

use super::message::{trace_headers, OrderMessage};
use super::topology::Topology;

/// Publishes reservations to the order queue. Share it behind an `Arc`.
pub struct AmqpPublisher {
    url: String,
    topology: Topology,
    /// The connection and its confirm-mode channel, made on first use.
    link: Mutex<Option<(Connection, Channel)>>,
    /// Reservations published and not yet confirmed.
    unconfirmed: AtomicU64,
    /// The last failed call, and when.
    last_failure: std::sync::Mutex<Option<(Instant, String)>>,
}

impl AmqpPublisher {
    /// Connects to `url` and declares the topology, so a misconfigured
    /// broker is reported at start-up.
    pub async fn connect(url: &str, topology: Topology) -> Result<Self, QueueError> {
        let publisher = Self {
            url: url.to_owned(),
            topology,
            link: Mutex::new(None),
            unconfirmed: AtomicU64::new(0),
            last_failure: std::sync::Mutex::new(None),
        };
        publisher.channel().await.map_err(QueueError::Unavailable)?;
        Ok(publisher)
    }

    /// The last call that failed within `window`, for health: a relay that
    /// cannot publish shows here rather than only as a growing outbox.
    pub fn recent_failure(&self, window: Duration) -> Option<String> {
        let last = self.last_failure.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()
            .filter(|(at, _)| at.elapsed() < window)
            .map(|(_, why)| why.clone())
    }

    /// Remembers a failure and drops the connection, so the next call
    /// starts afresh instead of waiting on a link that stopped answering.
    async fn failed(&self, why: String) -> String {
        *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), why.clone()));
        if let Some((conn, _)) = self.link.lock().await.take() {
            tokio::spawn(async move {
                let _ = tokio::time::timeout(LINK_TIMEOUT, conn.close(320, "replaced".into())).await;
            });
        }
        why
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The confirm-mode channel, connecting first if need be.
    async fn channel(&self) -> Result<Channel, String> {
        let mut link = self.link.lock().await;
        if let Some((conn, channel)) = link.as_ref() {
            if conn.status().connected() && channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        let opened = tokio::time::timeout(LINK_TIMEOUT, async {
            let conn = Connection::connect(&self.url, ConnectionProperties::default()).await?;
            let channel = conn.create_channel().await?;
            self.topology.declare(&channel).await?;
            channel.confirm_select(ConfirmSelectOptions::default()).await?;
            Ok((conn, channel))
        })
        .await;
        match unanswered(opened, "the connection") {
            Ok((conn, channel)) => {
                *link = Some((conn, channel.clone()));
                Ok(channel)
            }
            Err(why) => {
                drop(link);
                Err(self.failed(why).await)
            }
        }
    }

    /// Messages ready in the order queue and in its dead-letter queue, as the
    /// broker counts them (a passive declare): for health and stats.
    pub async fn queue_depths(&self) -> Result<(u32, u32), QueueError> {
        let channel = self.channel().await.map_err(QueueError::Unavailable)?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let depth = |queue: &str| {
            let (channel, queue) = (channel.clone(), queue.to_owned());
            async move {
                channel
                    .queue_declare(queue.as_str().into(), passive, FieldTable::default())
                    .await
                    .map(|q| q.message_count())
            }
        };
        let depths = tokio::time::timeout(CALL_TIMEOUT, async {
            Ok((
                depth(&self.topology.queue).await?,
                depth(&self.topology.dead_letter_queue).await?,
            ))
        })
        .await;
        match unanswered(depths, "a queue's depth") {
            Ok(depths) => Ok(depths),
            Err(why) => Err(QueueError::Unavailable(self.failed(why).await)),
        }
    }

    /// Publishes one body to the order queue and waits for its confirm.
    async fn publish_body(&self, body: &[u8], headers: Option<FieldTable>) -> Result<(), QueueError> {
        let channel = self.channel().await.map_err(QueueError::Unavailable)?;
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        if let Some(headers) = headers {
            properties = properties.with_headers(headers);
        }
        let confirmed = tokio::time::timeout(CALL_TIMEOUT, async {
            channel
                .basic_publish(
                    "".into(),
                    self.topology.queue.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    body,
                    properties,
                )
                .await?
                .await
        })
        .await;
        let confirm = match unanswered(confirmed, "a publish") {
            Ok(confirm) => confirm,
            Err(why) => return Err(QueueError::Unavailable(self.failed(why).await)),
        };
        match confirm {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(returned)) => Err(QueueError::Unavailable(format!(
                "the broker could not route the message: {}",
                returned.reply_text
            ))),
            Confirmation::Nack(_) => Err(QueueError::Unavailable("the broker refused the message".into())),
            Confirmation::NotRequested => Err(QueueError::Unavailable("publisher confirms are off".into())),
        }
    }
}

#[async_trait]
impl OrderQueue for AmqpPublisher {
    async fn publish(&self, reservations: Vec<Reservation>) -> Result<(), QueueError> {
        self.publish_traced(reservations, Vec::new()).await
    }

    async fn publish_traced(
        &self,
        reservations: Vec<Reservation>,
        traces: Vec<String>,
    ) -> Result<(), QueueError> {
        if reservations.is_empty() {
            return Ok(());
        }
        let count = reservations.len() as u64;
        let body = OrderMessage::new(reservations).to_json();
        self.unconfirmed.fetch_add(count, Ordering::Relaxed);
        let result = self.publish_body(&body, trace_headers(traces)).await;
        self.unconfirmed.fetch_sub(count, Ordering::Relaxed);
        result
    }

    fn depth(&self) -> u64 {
        self.unconfirmed.load(Ordering::Relaxed)
    }
}
