//! [`RedisConn`]: the engine's commands and scripts go to one Redis or to a
//! Redis Cluster through the same handle.
//!
//! `FLASHSALE_REDIS_URL` names a cluster by listing several of its nodes,
//! comma-separated (`redis://10.0.0.1:6379,redis://10.0.0.2:6379`); one URL
//! is one Redis. Every script touches the keys of one sale only, all under
//! the sale's hash tag (`fs:{sale:<id>}:…`), so each call runs on the
//! master that owns that sale's slot, and sales spread over the masters.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
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

/// Every node `FLASHSALE_REDIS_URL` names, for connections of their own
/// (pub/sub, a node's `INFO`): each is tried in turn, from the last one that
/// answered, so a node lost with its host does not take the subscriptions
/// with it. Classic pub/sub reaches every node of a cluster: any node
/// serves a subscription.
#[derive(Clone, Debug)]
pub struct RedisNodes {
    clients: Vec<redis::Client>,
    next: Arc<AtomicUsize>,
}

impl RedisNodes {
    /// The nodes of `url` (see [`node_urls`]); fails on a malformed URL.
    pub fn open(url: &str) -> RedisResult<Self> {
        let clients = node_urls(url)
            .into_iter()
            .map(redis::Client::open)
            .collect::<RedisResult<Vec<_>>>()?;
        if clients.is_empty() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "no Redis URL",
            )));
        }
        Ok(Self {
            clients,
            next: Arc::default(),
        })
    }

    /// The first node named.
    pub fn first(&self) -> &redis::Client {
        &self.clients[0]
    }

    /// `connect` on each node in turn until one answers; the error of the
    /// last when none does.
    async fn any<T, F, Fut>(&self, connect: F) -> RedisResult<T>
    where
        F: Fn(redis::Client) -> Fut,
        Fut: std::future::Future<Output = RedisResult<T>>,
    {
        let start = self.next.load(Ordering::Relaxed);
        let mut last = None;
        for i in 0..self.clients.len() {
            let at = (start + i) % self.clients.len();
            match connect(self.clients[at].clone()).await {
                Ok(done) => {
                    self.next.store(at, Ordering::Relaxed);
                    return Ok(done);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.expect("at least one node"))
    }

    /// A pub/sub connection to a node that answers.
    pub async fn pubsub(&self) -> RedisResult<redis::aio::PubSub> {
        self.any(|client| async move { client.get_async_pubsub().await })
            .await
    }

    /// A connection of its own to a node that answers.
    pub async fn connection(&self) -> RedisResult<redis::aio::MultiplexedConnection> {
        self.any(|client| async move { client.get_multiplexed_async_connection().await })
            .await
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
