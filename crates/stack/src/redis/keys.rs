//! Key names. Every key of one sale carries the hash tag `{sale:<id>}`, so
//! a sale lives on one Redis Cluster slot and one script can touch all its
//! keys atomically. The index of sales is the only key outside a sale's tag.
//! A hot sale split into buckets (issue 17) has one such key space per
//! bucket: bucket 0 is the sale's own, bucket `k` carries
//! `{sale:<id>:<k>.<n>}`, the first `n` that puts it `k/B` of the way
//! round the cluster's slots from bucket 0 (see [`bucket_tag`]).

use std::collections::HashMap;
use std::sync::Mutex;

use flashsale_domain::SaleId;

use super::buckets::REMEMBERED;
use super::transfers::Place;

/// The set of every sale id loaded into Redis: the relay's list of outboxes.
pub const SALES_INDEX: &str = "fs:sales";

/// The consumer group of the relays on every outbox stream.
pub const RELAY_GROUP: &str = "relay";

/// The keys of one sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleKeys {
    /// Hash: state, stock (units ever put on sale), limit, starts_at,
    /// ends_at (microseconds, "" when unset), in_flight, persisted (units).
    pub state: String,
    /// Integer: units left to sell.
    pub stock: String,
    /// Hash: buyer → units held (in flight or persisted).
    pub buyers: String,
    /// Hash: buyer "\n" idempotency key → the first answer (a record).
    pub idem: String,
    /// Hash: order id → record, for reservations answered but not stored.
    pub inflight: String,
    /// Stream: every reservation, until a relay has published it.
    pub outbox: String,
    /// String with a time-out: a cache rebuild of this sale is under way.
    pub rebuild: String,
    /// Hash: order id → record, settled while a rebuild was under way.
    pub settled: String,
    /// Set with a time-out: the order ids the last rebuild accounted for,
    /// so a reservation Redis forgot and a consumer stored later is counted.
    pub counted: String,
    /// Set: the stored orders whose units went back on sale (expired,
    /// cancelled), so that a give-back is once per order.
    pub given_back: String,
    /// Hash: buyer → the buyer's entry in a fair start's draw (order id,
    /// quantity, idempotency key).
    pub draw: String,
    /// Hash: the draw once closed: phase, seed, entrants, served.
    pub draw_state: String,
    /// Hash: buyer → the answer the buyer's entry got.
    pub draw_answers: String,
    /// The bucket as a place units move between (`moving`, `applied`,
    /// `version`; its `stock` and `fence` are the keys above).
    pub place: Place,
}

impl SaleKeys {
    /// The sale's own keys: bucket 0.
    pub fn new(sale: SaleId) -> Self {
        Self::bucket(sale, 0, 1)
    }

    /// The keys of bucket `k` of a sale split into `buckets` (bucket 0:
    /// the sale's own).
    pub fn bucket(sale: SaleId, k: u32, buckets: u32) -> Self {
        let place = Place::new(bucket_tag(sale, k, buckets));
        let tag = format!("fs:{{{}}}", place.tag);
        Self {
            state: format!("{tag}:state"),
            stock: format!("{tag}:stock"),
            buyers: format!("{tag}:buyers"),
            idem: format!("{tag}:idem"),
            inflight: format!("{tag}:inflight"),
            outbox: format!("{tag}:outbox"),
            rebuild: format!("{tag}:rebuild"),
            settled: format!("{tag}:settled"),
            counted: format!("{tag}:counted"),
            given_back: format!("{tag}:given_back"),
            draw: format!("{tag}:draw"),
            draw_state: format!("{tag}:draw:state"),
            draw_answers: format!("{tag}:draw:answers"),
            place,
        }
    }

    /// The keys of every bucket of a sale split into `buckets`, bucket 0
    /// first.
    pub fn buckets(sale: SaleId, buckets: u32) -> Vec<Self> {
        (0..buckets.max(1))
            .map(|k| Self::bucket(sale, k, buckets))
            .collect()
    }

    /// Every key of the bucket, in the order the scripts that take a whole
    /// sale (`rebuild.lua`, `forget.lua`) expect them.
    pub fn all(&self) -> [&str; 16] {
        [
            &self.state,
            &self.stock,
            &self.buyers,
            &self.idem,
            &self.inflight,
            &self.outbox,
            &self.rebuild,
            &self.settled,
            &self.counted,
            &self.given_back,
            &self.draw,
            &self.draw_state,
            &self.draw_answers,
            &self.place.moving,
            &self.place.applied,
            &self.place.version,
        ]
    }
}

/// Redis Cluster's slots.
const SLOTS: u32 = 16_384;

/// The slot Redis Cluster gives a key whose hash tag is `tag`
/// (CRC16/XMODEM, modulo 16,384). Computed here: the `redis` crate's
/// `cluster_routing::Slot::for_key` does the same but keeps the number
/// private.
pub fn slot(tag: &str) -> u16 {
    let crc = tag.bytes().fold(0_u16, |crc, byte| {
        (0..8).fold(crc ^ (u16::from(byte) << 8), |crc, _| {
            if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            }
        })
    });
    (u32::from(crc) % SLOTS) as u16
}

/// The tags computed so far: (sale, bucket, buckets) → tag.
type TagCache = HashMap<(SaleId, u32, u32), String>;

/// How close to its place on the ring a bucket's slot must fall, in slots.
const WINDOW: u32 = 64;

/// The hash tag of bucket `k` of `buckets`: bucket 0's is the sale's own;
/// bucket `k` takes the first suffix that puts its slot within `WINDOW`
/// slots after the point `k/buckets` of the way round the slot ring from
/// bucket 0's slot. A cluster's masters own contiguous slot ranges, so
/// evenly spaced buckets sit on different masters instead of where their
/// names happen to hash: with the equal ranges `redis-cli --cluster
/// create` makes, fewer buckets than masters never share one, and as many
/// buckets as masters or more use every master. Every process computes the
/// same tags (the count is fixed when the sale is created); each is
/// computed once per process (about 256 tries of CRC16).
pub fn bucket_tag(sale: SaleId, k: u32, buckets: u32) -> String {
    let own = format!("sale:{sale}");
    if k == 0 || buckets <= 1 {
        return own;
    }
    static TAGS: Mutex<Option<TagCache>> = Mutex::new(None);
    let mut tags = TAGS.lock().unwrap_or_else(|e| e.into_inner());
    let tags = tags.get_or_insert_with(HashMap::new);
    if let Some(tag) = tags.get(&(sale, k, buckets)) {
        return tag.clone();
    }
    if tags.len() >= REMEMBERED {
        tags.clear();
    }
    let target = (u32::from(slot(&own)) + k * SLOTS / buckets) % SLOTS;
    let near = |tag: &String| (u32::from(slot(tag)) + SLOTS - target) % SLOTS < WINDOW;
    let tag = (0..)
        .map(|n| format!("{own}:{k}.{n}"))
        .find(near)
        .expect("some suffix lands in every window");
    tags.insert((sale, k, buckets), tag.clone());
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_sale_hash_tag() {
        let id = SaleId::generate();
        let keys = SaleKeys::new(id);
        assert_eq!(keys.stock, format!("fs:{{sale:{id}}}:stock"));
        for key in keys.all() {
            assert!(key.starts_with(&format!("fs:{{sale:{id}}}:")), "{key}");
        }
        assert_eq!(keys.place.stock, keys.stock);
        assert_eq!(keys.place.fence, keys.rebuild);
        let third = SaleKeys::bucket(id, 3, 4);
        for key in third.all() {
            assert!(
                key.starts_with(&format!("fs:{{{}}}:", bucket_tag(id, 3, 4))),
                "{key}"
            );
        }
        assert!(bucket_tag(id, 3, 4).starts_with(&format!("sale:{id}:3")));
        assert_eq!(third.place.stock, third.stock);
        assert_eq!(SaleKeys::buckets(id, 4)[0], keys);
    }

    /// Redis's own examples: `CLUSTER KEYSLOT` of these keys.
    #[test]
    fn slots_are_redis_clusters() {
        assert_eq!(slot("123456789"), 0x31c3);
        assert_eq!(slot("foo"), 12_182);
        assert_eq!(slot("bar"), 5_061);
    }

    /// Buckets sit evenly spaced round the slot ring from bucket 0, so on
    /// three masters with equal ranges (what `redis-cli --cluster create`
    /// makes) 2 buckets never share a master and 4 use all three.
    #[test]
    fn buckets_spread_over_the_masters() {
        let master = |slot: u16| u32::from(slot) * 3 / SLOTS;
        let masters = |id: SaleId, buckets: u32| -> std::collections::HashSet<u32> {
            SaleKeys::buckets(id, buckets)
                .iter()
                .map(|k| master(slot(&k.place.tag)))
                .collect()
        };
        for _ in 0..200 {
            let id = SaleId::generate();
            assert_eq!(masters(id, 2).len(), 2, "{id} in 2");
            assert_eq!(masters(id, 4).len(), 3, "{id} in 4");
            let start = u32::from(slot(&format!("sale:{id}")));
            for (k, keys) in SaleKeys::buckets(id, 16).iter().enumerate() {
                let at = (u32::from(slot(&keys.place.tag)) + SLOTS - start) % SLOTS;
                let place = k as u32 * SLOTS / 16;
                assert!(
                    (place..place + WINDOW).contains(&at) || k == 0,
                    "{id} bucket {k} at {at}"
                );
            }
        }
    }
}
