//! The RabbitMQ side: the order queue between the outbox and the ledger.
//!
//! # Layout
//! - [`topology`]: the durable quorum queue `orders` and its dead-letter
//!   queue `orders.dlq`, declared by whoever connects first.
//! - [`message`]: the versioned JSON body, several reservations per message.
//! - [`publisher`]: [`AmqpPublisher`], the [`OrderQueue`](flashsale_domain::OrderQueue):
//!   persistent, mandatory, confirmed publishes.
//! - [`relay`]: [`Relay`], from the Redis outbox streams to the queue.
//! - [`consumer`]: [`OrderConsumer`], from the queue to PostgreSQL.
//!
//! Delivery is at least once at every hop and each hop is idempotent on the
//! order id, so a crash anywhere repeats work and never loses or doubles an
//! order.

pub mod consumer;
pub mod message;
pub mod publisher;
pub mod relay;
pub mod topology;

pub use consumer::{ConsumerConfig, OrderConsumer};
pub use message::OrderMessage;
pub use publisher::AmqpPublisher;
pub use relay::{Relay, RelayConfig};
pub use topology::Topology;
