//! `redis-buckets-<B>`: one sale's stock split over `B` buckets, each under
//! a hash tag of its own (so on a cluster, on its own slot), as
//! `docs/hot-sale-buckets.md` designs it; the lab's proof of that design
//! before the engine takes it.
//!
//! - A buyer has one **home** bucket (a hash of the buyer): the buyer's
//!   count lives there only, so the limit is one script's decision.
//! - The **pool** holds what no bucket has leased yet. A home found empty
//!   leases a chunk from the pool; when the pool is empty too it **steals**
//!   half of the fullest bucket (at most a chunk).
//! - Units move by **transfers**: a debit on the source (its units move to
//!   the source's `moving` hash under the transfer's id), a credit on the
//!   destination (once per id: the `applied` set), then the source forgets
//!   the id. A unit is always in exactly one of a stock, a `moving` entry,
//!   or a buyer's count (between the credit and the forgetting it is in two
//!   places, which can only delay a "sold out", never cause a wrong one).
//! - **Sold out** is answered only from a consistent view of every place:
//!   each place's stock, units moving out, and a version bumped by every
//!   debit and credit, collected twice over every place; two identical
//!   collections with nothing anywhere prove there was a moment with no
//!   unit left. Reading the places once each, in any order, is not enough:
//!   a steal can move a unit into a bucket already read out of one not yet
//!   read, and the buyer would be told "sold out" beside a stranded unit.

use redis::Script;

use super::*;

/// Takes one unit for the buyer in its home bucket: the unit count left, or
/// -1 (the buyer is at the limit), or -2 (the bucket is empty).
const RESERVE: &str = r"
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if bought + 1 > tonumber(ARGV[2]) then return -1 end
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
if left <= 0 then return -2 end
redis.call('DECR', KEYS[1])
redis.call('HINCRBY', KEYS[2], ARGV[1], 1)
return left - 1
";

/// Debits a transfer from a place: at most ARGV[2] units, and at most half
/// (rounded up) of its stock when ARGV[3] is 'half'. Returns the units.
const DEBIT: &str = r"
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
local n = math.min(tonumber(ARGV[2]), left)
if ARGV[3] == 'half' then n = math.min(n, math.ceil(left / 2)) end
if n <= 0 then return 0 end
redis.call('DECRBY', KEYS[1], n)
redis.call('HSET', KEYS[2], ARGV[1], n)
redis.call('INCR', KEYS[3])
return n
";

/// Credits a transfer to a bucket, once per transfer id.
const CREDIT: &str = r"
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('INCRBY', KEYS[1], ARGV[2])
  redis.call('INCR', KEYS[3])
end
return 0
";

/// A place's stock, the units moving out of it, and its version.
const LOOK: &str = r"
local moving = 0
for _, n in ipairs(redis.call('HVALS', KEYS[2])) do moving = moving + tonumber(n) end
return {tonumber(redis.call('GET', KEYS[1]) or '0'), moving, tonumber(redis.call('GET', KEYS[3]) or '0')}
";

/// The keys of one place (a bucket or the pool), under one hash tag.
struct Place {
    stock: String,
    buyers: String,
    moving: String,
    applied: String,
    version: String,
}

impl Place {
    fn new(tag: String) -> Self {
        Self {
            stock: format!("{{{tag}}}:stock"),
            buyers: format!("{{{tag}}}:buyers"),
            moving: format!("{{{tag}}}:moving"),
            applied: format!("{{{tag}}}:applied"),
            version: format!("{{{tag}}}:version"),
        }
    }
}

/// How many double collections a "sold out" may take before the buyer is
/// sent to try again (units were on the move all along).
const COLLECTIONS: usize = 64;

pub(super) struct RedisBuckets {
    conn: RedisConn,
    name: &'static str,
    run: String,
    buckets: Vec<Place>,
    pool: Place,
    chunk: u64,
    limit: u32,
    transfers: AtomicU64,
    /// Set once a consistent view found nothing left: units never come
    /// back in the lab, so later buyers are refused from memory, as the
    /// engine's local sold-out flag does.
    gone: std::sync::atomic::AtomicBool,
    reserve: Script,
    debit: Script,
    credit: Script,
    look: Script,
}

impl RedisBuckets {
    /// `name` says the count of buckets (`redis-buckets-4`); the pool holds
    /// the whole stock at first, each bucket leases a quarter of its share.
    pub(super) async fn new(
        conn: RedisConn,
        name: &'static str,
        buckets: usize,
        run: &str,
        stock: u64,
        limit: u32,
    ) -> Result<Self, RaceError> {
        let run = format!("{run}{}", uuid_suffix());
        let this = Self {
            buckets: (0..buckets)
                .map(|k| Place::new(format!("rb:{run}:{k}")))
                .collect(),
            pool: Place::new(format!("rb:{run}:pool")),
            chunk: (stock / (4 * buckets as u64)).max(1),
            conn,
            name,
            run,
            limit,
            transfers: AtomicU64::new(0),
            gone: std::sync::atomic::AtomicBool::new(false),
            reserve: Script::new(RESERVE),
            debit: Script::new(DEBIT),
            credit: Script::new(CREDIT),
            look: Script::new(LOOK),
        };
        redis::cmd("SET")
            .arg(&this.pool.stock)
            .arg(stock)
            .query_async::<()>(&mut this.conn.clone())
            .await
            .map_err(err)?;
        for home in 0..buckets {
            this.lease(home, false).await.map_err(RaceError)?;
        }
        Ok(this)
    }

    fn home(&self, buyer: u64) -> usize {
        // A stable hash, the same in every process (FNV-1a of the id).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in buyer.to_le_bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        (h % self.buckets.len() as u64) as usize
    }

    /// Moves units into bucket `home`: from the pool, or (`steal`) half of
    /// the fullest other bucket. Whether any moved.
    async fn lease(&self, home: usize, steal: bool) -> Result<bool, String> {
        let source = if !steal {
            &self.pool
        } else {
            let mut fullest = None;
            let mut most = 0;
            for (k, place) in self.buckets.iter().enumerate() {
                if k == home {
                    continue;
                }
                let (stock, _, _) = self.look(place).await?;
                if stock > most {
                    most = stock;
                    fullest = Some(place);
                }
            }
            match fullest {
                Some(place) => place,
                None => return Ok(false),
            }
        };
        let id = format!("{}-{}", self.run, self.transfers.fetch_add(1, Ordering::Relaxed));
        let mut c = self.conn.clone();
        let e = |e: redis::RedisError| e.to_string();
        let n: i64 = self
            .debit
            .key(&source.stock)
            .key(&source.moving)
            .key(&source.version)
            .arg(&id)
            .arg(self.chunk)
            .arg(if steal { "half" } else { "all" })
            .invoke_async(&mut c)
            .await
            .map_err(e)?;
        if n == 0 {
            return Ok(false);
        }
        let dest = &self.buckets[home];
        let _: i64 = self
            .credit
            .key(&dest.stock)
            .key(&dest.applied)
            .key(&dest.version)
            .arg(&id)
            .arg(n)
            .invoke_async(&mut c)
            .await
            .map_err(e)?;
        let _: i64 = redis::cmd("HDEL")
            .arg(&source.moving)
            .arg(&id)
            .query_async(&mut c)
            .await
            .map_err(e)?;
        Ok(true)
    }

    async fn look(&self, place: &Place) -> Result<(i64, i64, i64), String> {
        let v: Vec<i64> = self
            .look
            .key(&place.stock)
            .key(&place.moving)
            .key(&place.version)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| e.to_string())?;
        Ok((v[0], v[1], v[2]))
    }

    async fn collect(&self) -> Result<Vec<(i64, i64, i64)>, String> {
        let mut all = Vec::with_capacity(self.buckets.len() + 1);
        for place in std::iter::once(&self.pool).chain(&self.buckets) {
            all.push(self.look(place).await?);
        }
        Ok(all)
    }

    /// Every buyer's units, over every bucket (a buyer's count lives in its
    /// home bucket only).
    async fn counts(&self) -> Result<Vec<u64>, String> {
        let mut all = Vec::new();
        for bucket in &self.buckets {
            let counts: Vec<u64> = redis::cmd("HVALS")
                .arg(&bucket.buyers)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(|e| e.to_string())?;
            all.extend(counts);
        }
        Ok(all)
    }

    /// Whether no unit is left anywhere, from two identical collections;
    /// `None` while units keep moving.
    async fn sold_out(&self) -> Result<Option<bool>, String> {
        for _ in 0..COLLECTIONS {
            let first = self.collect().await?;
            if first.iter().any(|(stock, moving, _)| stock + moving > 0) {
                return Ok(Some(false));
            }
            if self.collect().await? == first {
                return Ok(Some(true));
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl Strategy for RedisBuckets {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn attempt(&self, buyer: u64, seen: &AtomicI64) -> Result<Attempt, String> {
        let home = self.home(buyer);
        let bucket = &self.buckets[home];
        loop {
            if self.gone.load(Ordering::Relaxed) {
                return Ok(Attempt::SoldOut);
            }
            let left: i64 = self
                .reserve
                .key(&bucket.stock)
                .key(&bucket.buyers)
                .arg(buyer)
                .arg(self.limit)
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(|e| e.to_string())?;
            match left {
                -1 => return Ok(Attempt::Refused),
                -2 => {}
                left => {
                    seen_min(seen, left);
                    return Ok(Attempt::Sold);
                }
            }
            if self.lease(home, false).await? || self.lease(home, true).await? {
                continue;
            }
            match self.sold_out().await? {
                Some(true) => {
                    self.gone.store(true, Ordering::Relaxed);
                    return Ok(Attempt::SoldOut);
                }
                // Units somewhere, or on the move: try the home again.
                Some(false) | None => tokio::task::yield_now().await,
            }
        }
    }

    async fn settle(&self) -> Result<(i64, u64), String> {
        let all = self.collect().await?;
        let remaining = all.iter().map(|(stock, moving, _)| stock + moving).sum();
        Ok((remaining, self.counts().await?.iter().sum()))
    }

    async fn over_limit(&self) -> Result<Option<u64>, String> {
        let over = self
            .counts()
            .await?
            .iter()
            .filter(|n| **n > u64::from(self.limit))
            .count();
        Ok(Some(over as u64))
    }
}
