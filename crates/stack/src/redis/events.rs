//! The operator's event log across processes: service processes publish
//! their events (sale state changes, sell-outs, admin actions) on a Redis
//! channel, and every gateway subscribes and shows them on its stream.
//! Best effort by design, like the log it feeds: an event lost while a
//! gateway reconnects is not an order lost.

use std::sync::Arc;

use super::conn::RedisConn;
use flashsale_domain::{Event, EventSink};

/// The channel; the message is the event as JSON.
pub const EVENTS_CHANNEL: &str = "fs:events";

/// An [`EventSink`] that publishes on [`EVENTS_CHANNEL`]. Emitting never
/// blocks: the publish runs in a task of its own.
pub struct RedisEvents {
    conn: RedisConn,
}

impl RedisEvents {
    pub fn new(conn: RedisConn) -> Self {
        Self { conn }
    }
}

impl EventSink for RedisEvents {
    fn emit(&self, event: Event) {
        let Ok(json) = serde_json::to_string(&event) else {
            return;
        };
        let mut conn = self.conn.clone();
        tokio::spawn(async move {
            let sent: redis::RedisResult<i64> = redis::cmd("PUBLISH")
                .arg(EVENTS_CHANNEL)
                .arg(json)
                .query_async(&mut conn)
                .await;
            if let Err(error) = sent {
                tracing::debug!(message = "Failed to publish an event.", %error);
            }
        });
    }
}

/// Feeds every event published on [`EVENTS_CHANNEL`] to `sink`, until the
/// task is aborted; reconnects by itself. Subscribed before it returns.
pub async fn subscribe_events(
    nodes: super::RedisNodes,
    sink: Arc<dyn EventSink>,
) -> redis::RedisResult<tokio::task::JoinHandle<()>> {
    super::pubsub::subscribe(nodes, EVENTS_CHANNEL, move |raw| {
        let Some(raw) = raw else { return };
        match serde_json::from_str::<Event>(&raw) {
            Ok(event) => sink.emit(event),
            Err(_) => tracing::warn!(message = "Ignored a malformed event."),
        }
    })
    .await
}
