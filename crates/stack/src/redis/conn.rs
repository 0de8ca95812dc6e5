//! [`RedisConn`]: the engine's commands and scripts go to one Redis or to a
//! Redis Cluster through the same handle.
//!
//! `FLASHSALE_REDIS_URL` names a cluster by listing several of its nodes,
//! comma-separated (`redis://10.0.0.1:6379,redis://10.0.0.2:6379`); one URL
//! is one Redis. Every script touches the keys of one sale only, all under
//! the sale's hash tag (`fs:{sale:<id>}:…`), so each call runs on the
//! master that owns that sale's slot, and sales spread over the masters.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// The URLs `FLASHSALE_REDIS_URL` names: more than one is a cluster.
pub fn node_urls(url: &str) -> Vec<&str> {
    url.split(',').map(str::trim).filter(|u| !u.is_empty()).collect()
}

/// A multiplexed connection to one Redis, or to a Redis Cluster (routed by
/// key slot, following the cluster's moves). Cheap to clone: clones share
/// the connection.
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisConn {
    /// Connects to `url` (one Redis, or a cluster's nodes, see
    /// [`node_urls`]); a call with no answer within `response_timeout` fails.
    pub async fn connect(url: &str, response_timeout: Duration) -> RedisResult<Self> {
        let nodes = node_urls(url);
        if let [one] = nodes.as_slice() {
            let config = ConnectionManagerConfig::new().set_response_timeout(Some(response_timeout));
            let client = redis::Client::open(*one)?;
            return Ok(Self::Single(
                ConnectionManager::new_with_config(client, config).await?,
            ));
        }
        let cluster = ClusterClient::builder(nodes)
            .response_timeout(response_timeout)
            .build()?;
        Ok(Self::Cluster(cluster.get_async_connection().await?))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_urls_name_a_cluster() {
        assert_eq!(node_urls("redis://a:1/2"), ["redis://a:1/2"]);
        assert_eq!(
            node_urls("redis://a:1, redis://b:2,"),
            ["redis://a:1", "redis://b:2"]
        );
    }
}
