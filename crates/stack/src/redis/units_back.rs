//! Units came back to a sale (a release, a top-up, a cache flush): every
//! replica must clear its local sold-out flag for it, or it would keep
//! refusing buyers while units are on sale (undersell). A Redis pub/sub
//! channel carries the sale id; pub/sub is fire-and-forget, so a subscriber
//! that reconnects also reports `None`, meaning "clear every flag".

use flashsale_domain::SaleId;
use redis::aio::ConnectionLike;

/// The channel; the message is the sale id.
pub const UNITS_BACK_CHANNEL: &str = "fs:units-back";

/// Tells every subscriber that units of `sale` came back.
pub async fn publish_units_back(conn: &mut impl ConnectionLike, sale: SaleId) -> redis::RedisResult<()> {
    redis::cmd("PUBLISH")
        .arg(UNITS_BACK_CHANNEL)
        .arg(sale.to_string())
        .query_async::<i64>(conn)
        .await
        .map(drop)
}

/// Runs until the task is aborted: calls `on_units_back(Some(sale))` for
/// every message, and `on_units_back(None)` after every (re)subscription,
/// since messages sent while it was away are lost. Reconnects by itself.
/// The first subscription is made before this returns.
pub async fn subscribe_units_back(
    nodes: super::RedisNodes,
    on_units_back: impl Fn(Option<SaleId>) + Send + Sync + 'static,
) -> redis::RedisResult<tokio::task::JoinHandle<()>> {
    super::pubsub::subscribe(nodes, UNITS_BACK_CHANNEL, move |raw| match raw {
        None => on_units_back(None),
        Some(raw) => match SaleId::parse(&raw) {
            Ok(sale) => on_units_back(Some(sale)),
            Err(_) => tracing::warn!(message = "Ignored a malformed units-back message.", payload = %raw),
        },
    })
    .await
}
