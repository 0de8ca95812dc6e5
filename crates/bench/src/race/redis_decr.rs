//! `DECR`, then `INCR` back when negative or over the limit: the hand-written
//! Redis design.

use super::*;

/// `DECR`, then `INCR` back when the result is negative; then the buyer's
/// count, given back (`INCR` again) when over the limit. Each step is atomic,
/// the whole is not.
pub(super) struct RedisDecr {
    conn: redis::aio::ConnectionManager,
    stock: String,
    buyers: String,
    sold: String,
    limit: u32,
}

impl RedisDecr {
    pub(super) async fn new(
        conn: redis::aio::ConnectionManager,
        run: &str,
        stock: u64,
        limit: u32,
    ) -> Result<Self, RaceError> {
        let this = Self {
            conn,
            stock: format!("race:{run}:stock"),
            buyers: format!("race:{run}:buyers"),
            sold: format!("race:{run}:sold"),
            limit,
        };
        redis::cmd("SET")
            .arg(&this.stock)
            .arg(stock)
            .query_async::<()>(&mut this.conn.clone())
            .await
            .map_err(err)?;
        Ok(this)
    }
}

#[async_trait]
impl Strategy for RedisDecr {
    fn name(&self) -> &'static str {
        "redis-decr"
    }

    async fn attempt(&self, buyer: u64, seen: &AtomicI64) -> Result<Attempt, String> {
        let mut c = self.conn.clone();
        let e = |e: redis::RedisError| e.to_string();
        let left: i64 = redis::cmd("DECR")
            .arg(&self.stock)
            .query_async(&mut c)
            .await
            .map_err(e)?;
        seen_min(seen, left);
        if left < 0 {
            let _: i64 = redis::cmd("INCR")
                .arg(&self.stock)
                .query_async(&mut c)
                .await
                .map_err(e)?;
            return Ok(Attempt::SoldOut);
        }
        let held: i64 = redis::cmd("HINCRBY")
            .arg(&self.buyers)
            .arg(buyer)
            .arg(1)
            .query_async(&mut c)
            .await
            .map_err(e)?;
        if held > i64::from(self.limit) {
            let _: i64 = redis::cmd("HINCRBY")
                .arg(&self.buyers)
                .arg(buyer)
                .arg(-1)
                .query_async(&mut c)
                .await
                .map_err(e)?;
            let _: i64 = redis::cmd("INCR")
                .arg(&self.stock)
                .query_async(&mut c)
                .await
                .map_err(e)?;
            return Ok(Attempt::Refused);
        }
        let _: i64 = redis::cmd("INCR")
            .arg(&self.sold)
            .query_async(&mut c)
            .await
            .map_err(e)?;
        Ok(Attempt::Sold)
    }

    async fn settle(&self) -> Result<(i64, u64), String> {
        let mut c = self.conn.clone();
        let e = |e: redis::RedisError| e.to_string();
        let stock: i64 = redis::cmd("GET")
            .arg(&self.stock)
            .query_async(&mut c)
            .await
            .map_err(e)?;
        let sold: Option<u64> = redis::cmd("GET")
            .arg(&self.sold)
            .query_async(&mut c)
            .await
            .map_err(e)?;
        let _: i64 = redis::cmd("DEL")
            .arg(&self.stock)
            .arg(&self.buyers)
            .arg(&self.sold)
            .query_async(&mut c)
            .await
            .map_err(e)?;
        Ok((stock, sold.unwrap_or(0)))
    }
}
