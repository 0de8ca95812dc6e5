//! [`AmqpPublisher`]: the [`OrderQueue`] on RabbitMQ.
//!
//! `publish` returns only once the broker confirmed the message: persistent
//! (delivery mode 2) on a durable quorum queue, published `mandatory` so a
//! missing queue is an error instead of a silent drop. All publishes share
//! one confirm-mode channel (confirms are matched by delivery tag, so
//! concurrent publishes pipeline); a channel found closed is replaced by a
//! new connection on the next call.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use flashsale_domain::{OrderQueue, QueueError, Reservation};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use tokio::sync::Mutex;

use super::message::OrderMessage;
use super::topology::Topology;

/// Publishes reservations to the order queue. Share it behind an `Arc`.
pub struct AmqpPublisher {
    url: String,
    topology: Topology,
    /// The connection and its confirm-mode channel, made on first use.
    link: Mutex<Option<(Connection, Channel)>>,
    /// Reservations published and not yet confirmed.
    unconfirmed: AtomicU64,
}

impl AmqpPublisher {
    /// Connects to `url` and declares the topology, so a misconfigured
    /// broker is reported at start-up.
    pub async fn connect(url: &str, topology: Topology) -> lapin::Result<Self> {
        let publisher = Self {
            url: url.to_owned(),
            topology,
            link: Mutex::new(None),
            unconfirmed: AtomicU64::new(0),
        };
        publisher.channel().await?;
        Ok(publisher)
    }

    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    async fn channel(&self) -> lapin::Result<Channel> {
        let mut link = self.link.lock().await;
        if let Some((conn, channel)) = link.as_ref() {
            if conn.status().connected() && channel.status().connected() {
                return Ok(channel.clone());
            }
        }
        let conn = Connection::connect(&self.url, ConnectionProperties::default()).await?;
        let channel = conn.create_channel().await?;
        self.topology.declare(&channel).await?;
        channel.confirm_select(ConfirmSelectOptions::default()).await?;
        *link = Some((conn, channel.clone()));
        Ok(channel)
    }

    /// Messages ready in the order queue and in its dead-letter queue, as the
    /// broker counts them (a passive declare): for health and stats.
    pub async fn queue_depths(&self) -> lapin::Result<(u32, u32)> {
        let channel = self.channel().await?;
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let ready = channel
            .queue_declare(
                self.topology.queue.as_str().into(),
                passive,
                FieldTable::default(),
            )
            .await?
            .message_count();
        let dead = channel
            .queue_declare(
                self.topology.dead_letter_queue.as_str().into(),
                passive,
                FieldTable::default(),
            )
            .await?
            .message_count();
        Ok((ready, dead))
    }

    /// Publishes one body to the order queue and waits for its confirm.
    async fn publish_body(&self, body: &[u8]) -> Result<(), QueueError> {
        let unavailable = |e: lapin::Error| QueueError::Unavailable(e.to_string());
        let channel = self.channel().await.map_err(unavailable)?;
        let properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into());
        let confirm = channel
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
            .await
            .map_err(unavailable)?
            .await
            .map_err(unavailable)?;
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
        if reservations.is_empty() {
            return Ok(());
        }
        let count = reservations.len() as u64;
        let body = OrderMessage::new(reservations).to_json();
        self.unconfirmed.fetch_add(count, Ordering::Relaxed);
        let result = self.publish_body(&body).await;
        self.unconfirmed.fetch_sub(count, Ordering::Relaxed);
        result
    }

    fn depth(&self) -> u64 {
        self.unconfirmed.load(Ordering::Relaxed)
    }
}
