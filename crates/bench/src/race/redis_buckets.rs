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
//! - Units move by the engine's own **transfers**
//!   (`flashsale_stack::redis::transfers`: a debit on the source, a credit
//!   on the destination once per id, the id forgotten), and **sold out**
//!   is answered only from its consistent view of every place
//!   ([`Transfers::nothing_left`]): reading the places once each, in any
//!   order, is not enough, as a steal can move a unit into a bucket already
//!   read out of one not yet read.

use flashsale_stack::redis::{Amount, Place, PlaceLook, Transfers};
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

/// A bucket: a place units move in and out of, and its buyers' counts.
struct Bucket {
    place: Place,
    buyers: String,
}

impl Bucket {
    fn new(tag: String) -> Self {
        Self {
            buyers: format!("{{{tag}}}:buyers"),
            place: Place::new(tag),
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
    buckets: Vec<Bucket>,
    /// The pool and then every bucket's place: what a "sold out" reads.
    places: Vec<Place>,
    chunk: u64,
    limit: u32,
    transfers_made: AtomicU64,
    /// Set once a consistent view found nothing left: units never come
    /// back in the lab, so later buyers are refused from memory, as the
    /// engine's local sold-out flag does.
    gone: std::sync::atomic::AtomicBool,
    reserve: Script,
    transfers: Transfers,
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
        let buckets: Vec<Bucket> = (0..buckets)
            .map(|k| Bucket::new(format!("rb:{run}:{k}")))
            .collect();
        let places = std::iter::once(Place::new(format!("rb:{run}:pool")))
            .chain(buckets.iter().map(|b| b.place.clone()))
            .collect();
        let this = Self {
            transfers: Transfers::new(conn.clone()),
            places,
            chunk: (stock / (4 * buckets.len() as u64)).max(1),
            buckets,
            conn,
            name,
            run,
            limit,
            transfers_made: AtomicU64::new(0),
            gone: std::sync::atomic::AtomicBool::new(false),
            reserve: Script::new(RESERVE),
        };
        redis::cmd("SET")
            .arg(&this.pool().stock)
            .arg(stock)
            .query_async::<()>(&mut this.conn.clone())
            .await
            .map_err(err)?;
        for home in 0..this.buckets.len() {
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

    fn pool(&self) -> &Place {
        &self.places[0]
    }

    /// Moves units into bucket `home`: from the pool, or (`steal`) half of
    /// the fullest other bucket. Whether any moved.
    async fn lease(&self, home: usize, steal: bool) -> Result<bool, String> {
        let e = |e: redis::RedisError| e.to_string();
        let source = if !steal {
            self.pool()
        } else {
            let mut fullest = None;
            let mut most = 0;
            for (k, bucket) in self.buckets.iter().enumerate() {
                if k == home {
                    continue;
                }
                let stock = self.transfers.look(&bucket.place).await.map_err(e)?.stock;
                if stock > most {
                    most = stock;
                    fullest = Some(&bucket.place);
                }
            }
            match fullest {
                Some(place) => place,
                None => return Ok(false),
            }
        };
        let id = format!(
            "{}-{}",
            self.run,
            self.transfers_made.fetch_add(1, Ordering::Relaxed)
        );
        let amount = if steal {
            Amount::HalfUpTo(self.chunk)
        } else {
            Amount::UpTo(self.chunk)
        };
        let moved = self
            .transfers
            .transfer(&id, source, &self.buckets[home].place, amount)
            .await
            .map_err(e)?;
        Ok(moved > 0)
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

    /// Whether no unit is left anywhere (see [`Transfers::nothing_left`]).
    async fn sold_out(&self) -> Result<Option<bool>, String> {
        self.transfers
            .nothing_left(&self.places, COLLECTIONS)
            .await
            .map_err(|e| e.to_string())
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
                .key(&bucket.place.stock)
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
        let all = self
            .transfers
            .look_all(&self.places)
            .await
            .map_err(|e| e.to_string())?;
        let remaining = all.iter().map(PlaceLook::units).sum();
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
