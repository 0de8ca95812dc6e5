//! What a 202 survives depends on how Redis persists: with
//! `appendfsync always`, any crash; with `everysec`, a killed Redis process
//! but up to about a second of a host crash; with no AOF, a restart loses
//! every reservation not yet relayed. Health reports it.

use redis::aio::ConnectionLike;

/// Redis's persistence settings, as `CONFIG GET` reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Persistence {
    pub appendonly: bool,
    /// `always`, `everysec` or `no`.
    pub appendfsync: String,
}

impl Persistence {
    /// Reads the settings.
    pub async fn read(conn: &mut impl ConnectionLike) -> redis::RedisResult<Self> {
        let appendonly: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendonly")
            .query_async(conn)
            .await?;
        let appendfsync: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("appendfsync")
            .query_async(conn)
            .await?;
        Ok(Self {
            appendonly: appendonly.get(1).is_some_and(|v| v == "yes"),
            appendfsync: appendfsync.get(1).cloned().unwrap_or_default(),
        })
    }

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
            (true, other) => format!("AOF appendfsync {other}: a host crash may lose recent purchases"),
        }
    }
}
