//! Key names. Every key of one sale carries the hash tag `{sale:<id>}`, so
//! a sale lives on one Redis Cluster slot and one script can touch all its
//! keys atomically. The index of sales is the only key outside a sale's tag.
//! A hot sale split into buckets (issue 17) has one such key space per
//! bucket: bucket 0 is the sale's own, bucket `k` carries `{sale:<id>:<k>}`.

use flashsale_domain::SaleId;

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
        Self::bucket(sale, 0)
    }

    /// The keys of bucket `k` of the sale (0: the sale's own).
    pub fn bucket(sale: SaleId, k: u32) -> Self {
        let place = if k == 0 {
            Place::new(format!("sale:{sale}"))
        } else {
            Place::new(format!("sale:{sale}:{k}"))
        };
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
        (0..buckets.max(1)).map(|k| Self::bucket(sale, k)).collect()
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
        let third = SaleKeys::bucket(id, 3);
        for key in third.all() {
            assert!(key.starts_with(&format!("fs:{{sale:{id}:3}}:")), "{key}");
        }
        assert_eq!(third.place.stock, third.stock);
        assert_eq!(SaleKeys::buckets(id, 4)[0], keys);
    }
}
