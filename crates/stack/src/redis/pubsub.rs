//! A Redis pub/sub subscription that outlives its connection, shared by
//! the channels the processes use ([`super::events`], [`super::units_back`]).
//! It resubscribes on any node named that answers: a node lost for good
//! does not silence the channel.

use std::time::Duration;

use futures_util::StreamExt;

use super::conn::RedisNodes;

/// Subscribes to `channel` and, until the task is aborted, calls
/// `on_message(Some(payload))` for every message and `on_message(None)`
/// after every resubscription: pub/sub is fire-and-forget, so messages sent
/// while it was away are lost. Reconnects by itself. The first
/// subscription is made before this returns.
pub(crate) async fn subscribe(
    nodes: RedisNodes,
    channel: &'static str,
    on_message: impl Fn(Option<String>) + Send + Sync + 'static,
) -> redis::RedisResult<tokio::task::JoinHandle<()>> {
    let mut pubsub = nodes.pubsub().await?;
    pubsub.subscribe(channel).await?;
    Ok(tokio::spawn(async move {
        loop {
            {
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    on_message(Some(message.get_payload().unwrap_or_default()));
                }
            }
            tracing::warn!(message = "Lost a Redis subscription; reconnecting.", channel);
            pubsub = loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                match nodes.pubsub().await {
                    Ok(mut p) => {
                        if p.subscribe(channel).await.is_ok() {
                            break p;
                        }
                    }
                    Err(error) => tracing::debug!(message = "Redis resubscription failed.", channel, %error),
                }
            };
            on_message(None);
        }
    }))
}
