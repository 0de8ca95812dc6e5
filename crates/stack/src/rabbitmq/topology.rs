//! Queue names and their declaration.
//!
//! `orders` is a quorum queue: a publisher confirm then means the message is
//! on a majority of the nodes' disks. Messages a consumer rejects go, via the
//! dead-letter exchange, to `orders.dlq` with the at-least-once strategy, so
//! a poison message cannot vanish between the two queues; that strategy
//! needs `x-overflow: reject-publish`, which also makes a full queue refuse
//! (nack) a publish instead of dropping old messages.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

/// The names of the order queue, its dead-letter exchange and queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub queue: String,
    pub dead_letter_exchange: String,
    pub dead_letter_queue: String,
}

impl Default for Topology {
    /// `orders`, `orders.dlx`, `orders.dlq`.
    fn default() -> Self {
        Self::named("orders")
    }
}

impl Topology {
    /// `<queue>`, `<queue>.dlx`, `<queue>.dlq` (tests use names of their own).
    pub fn named(queue: &str) -> Self {
        Self {
            queue: queue.to_owned(),
            dead_letter_exchange: format!("{queue}.dlx"),
            dead_letter_queue: format!("{queue}.dlq"),
        }
    }

    /// Declares everything (idempotent when the arguments are the same).
    pub async fn declare(&self, channel: &Channel) -> lapin::Result<()> {
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        channel
            .exchange_declare(
                self.dead_letter_exchange.as_str().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let mut dlq_args = FieldTable::default();
        dlq_args.insert("x-queue-type".into(), text("quorum"));
        channel
            .queue_declare(self.dead_letter_queue.as_str().into(), durable, dlq_args)
            .await?;
        channel
            .queue_bind(
                self.dead_letter_queue.as_str().into(),
                self.dead_letter_exchange.as_str().into(),
                self.dead_letter_queue.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), text("quorum"));
        args.insert("x-dead-letter-exchange".into(), text(&self.dead_letter_exchange));
        args.insert("x-dead-letter-routing-key".into(), text(&self.dead_letter_queue));
        args.insert("x-dead-letter-strategy".into(), text("at-least-once"));
        args.insert("x-overflow".into(), text("reject-publish"));
        channel
            .queue_declare(self.queue.as_str().into(), durable, args)
            .await?;
        Ok(())
    }
}

fn text(value: &str) -> AMQPValue {
    AMQPValue::LongString(value.into())
}
