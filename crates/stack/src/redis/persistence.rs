//! What the engine needs to know of the Redis it runs on, read at start and
//! by health:
//! - the version: the scripts use Redis 7's `#!lua` flags;
//! - the eviction policy: an evicting Redis silently drops buyers' counts,
//!   idempotency records and outbox entries under memory pressure, which
//!   breaks the limit and loses answered orders; only `noeviction` is safe;
//! - persistence: what a 202 survives depends on it. With
//!   `appendfsync always`, any crash; with `everysec`, a killed Redis
//!   process but up to about a second of a host crash; with no AOF, a
//!   restart loses every reservation not yet relayed.
//!
//! `INFO` answers on managed Redis services that disable `CONFIG`; only the
//! fsync policy needs `CONFIG`, and it is reported unknown without it.

use redis::aio::ConnectionLike;

/// Redis's persistence settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persistence {
    pub appendonly: bool,
    /// `always`, `everysec`, `no`, or `unknown` when `CONFIG` is disabled.
    pub appendfsync: String,
}

impl Persistence {
    /// Whether an answered purchase survives a crash of the Redis process.
    pub fn survives_process_crash(&self) -> bool {
        self.appendonly && matches!(self.appendfsync.as_str(), "always" | "everysec")
    }

    /// One line for `/api/health`.
    pub fn describe(&self) -> String {
        match (self.appendonly, self.appendfsync.as_str()) {
            (false, _) => "AOF off: a Redis restart loses reservations not yet relayed".into(),
            (true, "always") => "AOF appendfsync always: answered purchases survive any crash".into(),
            (true, "everysec") => {
                "AOF appendfsync everysec: survives a Redis crash; a host crash may lose about 1 s".into()
            }
            (true, "unknown") => {
                "AOF on, fsync policy unknown (CONFIG is disabled): ask your provider what a crash loses"
                    .into()
            }
            (true, other) => format!("AOF appendfsync {other}: a host crash may lose recent purchases"),
        }
    }
}

/// The oldest Redis major version the scripts run on.
pub const MIN_MAJOR_VERSION: u32 = 7;

/// The one eviction policy that never drops the engine's keys.
pub const SAFE_POLICY: &str = "noeviction";

/// The Redis the engine runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisProfile {
    /// `redis_version` as `INFO` reports it.
    pub version: String,
    pub maxmemory_policy: String,
    pub persistence: Persistence,
    /// `used_memory`, bytes.
    pub used_memory: u64,
    /// `maxmemory`, bytes; 0 when unlimited.
    pub maxmemory: u64,
    /// Replicas connected to it (`connected_slaves`): with any, a failover
    /// is possible, and safe only with the replicas' acknowledgement.
    pub replicas: u64,
    /// It is a node of a Redis Cluster (`cluster_enabled`).
    pub cluster: bool,
}

impl RedisProfile {
    /// Reads `INFO` (and `CONFIG GET appendfsync` where allowed).
    pub async fn read(conn: &mut impl ConnectionLike) -> redis::RedisResult<Self> {
        let info: String = redis::cmd("INFO").query_async(conn).await?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        let fsync: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendfsync")
            .query_async(conn)
            .await;
        let appendfsync = match fsync {
            Ok(pair) => pair.get(1).cloned().unwrap_or_else(|| "unknown".into()),
            Err(_) => "unknown".into(),
        };
        Ok(Self {
            version: field("redis_version"),
            maxmemory_policy: field("maxmemory_policy"),
            persistence: Persistence {
                appendonly: field("aof_enabled") == "1",
                appendfsync,
            },
            used_memory: field("used_memory").parse().unwrap_or(0),
            maxmemory: field("maxmemory").parse().unwrap_or(0),
            replicas: field("connected_slaves").parse().unwrap_or(0),
            cluster: field("cluster_enabled") == "1",
        })
    }

    /// Why answered purchases are at risk in a failover, if they are: a
    /// replica may be promoted (Redis has replicas, or is a cluster), and
    /// `replicas_ack` is 0. A promoted replica lacks the writes it had not
    /// received: their 202s have no order, and units already stored may
    /// sell again (the chaos scenario `redis-failover-unacked`).
    pub fn failover_risk(&self, replicas_ack: usize) -> Option<&'static str> {
        (replicas_ack == 0 && (self.replicas > 0 || self.cluster)).then_some(
            "replicas may be promoted, and FLASHSALE_REDIS_REPLICAS_ACK is 0: a failover may lose answered \
             orders and sell units twice; set FLASHSALE_REDIS_REPLICAS_ACK=1",
        )
    }

    fn major(&self) -> Option<u32> {
        self.version.split('.').next()?.parse().ok()
    }

    /// Whether the eviction policy may drop the engine's keys.
    pub fn evicts(&self) -> bool {
        self.maxmemory_policy != SAFE_POLICY
    }

    /// Why the engine must not run on this Redis, if it must not.
    /// `allow_eviction` is the operator's explicit acceptance of an
    /// evicting policy.
    pub fn refusal(&self, allow_eviction: bool) -> Option<String> {
        if self.major().is_none_or(|major| major < MIN_MAJOR_VERSION) {
            return Some(format!(
                "Redis {} is too old: the engine needs Redis {MIN_MAJOR_VERSION} or later",
                self.version
            ));
        }
        if self.evicts() && !allow_eviction {
            return Some(format!(
                "Redis evicts keys (maxmemory-policy {}): under memory pressure it would drop buyers' counts, \
                 idempotency records and answered reservations; set maxmemory-policy {SAFE_POLICY}, or \
                 FLASHSALE_REDIS_ALLOW_EVICTION=true to accept that risk",
                self.maxmemory_policy
            ));
        }
        None
    }

    /// Memory used, and of how much, for `/api/health`.
    pub fn memory(&self) -> String {
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        match self.maxmemory {
            0 => format!("{:.1} MiB used (no maxmemory)", mib(self.used_memory)),
            max => format!("{:.1} MiB used of {:.1} MiB", mib(self.used_memory), mib(max)),
        }
    }

    /// One line for `/api/health` and the banner.
    pub fn describe(&self) -> String {
        format!(
            "Redis {}; maxmemory-policy {}; {}",
            self.version,
            self.maxmemory_policy,
            self.persistence.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(version: &str, policy: &str) -> RedisProfile {
        RedisProfile {
            version: version.into(),
            maxmemory_policy: policy.into(),
            used_memory: 0,
            maxmemory: 0,
            replicas: 0,
            cluster: false,
            persistence: Persistence {
                appendonly: true,
                appendfsync: "always".into(),
            },
        }
    }

    /// A Redis that may fail over is named a risk unless reservations wait
    /// for a replica.
    #[test]
    fn a_failover_without_the_acknowledgement_is_named_a_risk() {
        let alone = profile("7.0.15", "noeviction");
        assert_eq!(alone.failover_risk(0), None);
        let replicated = RedisProfile {
            replicas: 1,
            ..alone.clone()
        };
        let cluster = RedisProfile {
            cluster: true,
            ..alone
        };
        for p in [&replicated, &cluster] {
            assert!(p
                .failover_risk(0)
                .is_some_and(|why| why.contains("FLASHSALE_REDIS_REPLICAS_ACK=1")));
            assert_eq!(p.failover_risk(1), None);
        }
    }

    #[test]
    fn old_versions_and_evicting_policies_are_refused() {
        assert_eq!(profile("7.0.15", "noeviction").refusal(false), None);
        assert_eq!(
            profile("7.2.4", "allkeys-lru").refusal(true),
            None,
            "accepted by the operator"
        );
        for (version, policy) in [
            ("6.2.14", "noeviction"),
            ("", "noeviction"),
            ("7.0.15", "allkeys-lru"),
            ("7.0.15", "volatile-ttl"),
        ] {
            assert!(
                profile(version, policy).refusal(false).is_some(),
                "{version} {policy}"
            );
        }
    }
}
