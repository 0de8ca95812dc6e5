//! A hot sale split into buckets (issue 17, `docs/hot-sale-buckets.md`):
//! how many a sale has, which one is a buyer's home, and how units reach a
//! bucket that ran out while another still has some.
//!
//! Each bucket is a whole key space of a sale under its own hash tag (see
//! [`SaleKeys::bucket`]), so on a Redis Cluster the buckets spread over the
//! masters and every existing script runs unchanged on one bucket. A buyer
//! always buys in one bucket, their home, so their count there is their
//! count in the sale and the per-buyer limit stays exact. A home that ran
//! out takes half of the fullest other bucket by an exactly-once
//! [`super::Transfers`] transfer; "sold out" is answered only when two identical
//! readings of every bucket found no unit anywhere.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use flashsale_domain::{
    OrderId, PurchaseRejection, ReserveError, ReserveOutcome, ReserveRequest, SaleId, StoreError, UserId,
};

use super::conn::RedisConn;
use super::keys::SaleKeys;
use super::stock::RedisStock;
use super::store_error;
use super::transfers::{Amount, Place};

/// How many times a purchase whose home ran out takes units and tries
/// again before it is told to retry.
const STEAL_ATTEMPTS: usize = 4;

/// Pairs of readings [`super::Transfers::nothing_left`] takes before it
/// gives up on units that keep moving.
const READINGS: usize = 3;

/// The home bucket of `user` in a sale of `buckets`: FNV-1a of the user
/// id, so every process and every version of the engine agrees.
pub fn home(user: &UserId, buckets: u32) -> u32 {
    let hash = user.as_str().bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(buckets.max(1))) as u32
}

/// How many sales a process keeps per-sale facts of (bucket counts, bucket
/// tags): past it, it forgets them all and reads or computes again the ones
/// still bought from, so years of ended sales never pile up in memory.
pub(super) const REMEMBERED: usize = 4096;

/// The bucket count of each sale seen, read once from bucket 0's state: it
/// is set with the sale's first state and never changes.
#[derive(Default)]
pub struct BucketCounts {
    known: Mutex<HashMap<SaleId, u32>>,
}

impl BucketCounts {
    /// The buckets of `sale`; 1 for a sale not (or no longer) in Redis,
    /// which is then not remembered.
    pub async fn of(&self, conn: &RedisConn, sale: SaleId) -> redis::RedisResult<u32> {
        if let Some(n) = self.lock().get(&sale) {
            return Ok(*n);
        }
        let (state, buckets): (Option<String>, Option<u32>) = redis::cmd("HMGET")
            .arg(SaleKeys::new(sale).state)
            .arg("state")
            .arg("buckets")
            .query_async(&mut conn.clone())
            .await?;
        if state.is_none() {
            return Ok(1);
        }
        // Sales loaded before buckets existed have no count: one bucket.
        let n = buckets.unwrap_or(1).max(1);
        let mut known = self.lock();
        if known.len() >= REMEMBERED {
            known.clear();
        }
        known.insert(sale, n);
        Ok(n)
    }

    /// Forgets the sales not in `live`.
    pub fn keep_only(&self, live: &HashSet<SaleId>) {
        self.lock().retain(|sale, _| live.contains(sale));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SaleId, u32>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One lock per (sale, bucket) while purchases steal into it: the purchases
/// that find their home empty at once make one steal, not one each. A lock
/// leaves the map when its last user is done.
#[derive(Default)]
pub(super) struct StealLocks {
    locks: Mutex<HashMap<(SaleId, u32), StealLock>>,
}

type StealLock = Arc<tokio::sync::Mutex<()>>;

impl StealLocks {
    fn of(&self, sale: SaleId, bucket: u32) -> StealLock {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry((sale, bucket)).or_default().clone()
    }

    /// Gives `lock` back; the last user takes it out of the map.
    fn done(&self, sale: SaleId, bucket: u32, lock: StealLock) {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        // The map's reference and this one: nobody else waits on it.
        if Arc::strong_count(&lock) == 2 {
            locks.remove(&(sale, bucket));
        }
    }
}

/// Whether a rejection is one that units from another bucket could lift.
fn out_of_units(outcome: &Result<ReserveOutcome, ReserveError>) -> bool {
    matches!(
        outcome,
        Err(ReserveError::Rejected(
            PurchaseRejection::SoldOut | PurchaseRejection::NotEnoughStock { .. }
        ))
    )
}

impl RedisStock {
    /// A purchase in a sale of `buckets` buckets: in the buyer's home; when
    /// the home ran out, units taken from the fullest other bucket and the
    /// purchase tried again. Sold out only when no unit is left anywhere;
    /// units that keep moving answer [`ReserveError::UnitsMoving`] (retry).
    pub(super) async fn reserve_bucketed(
        &self,
        request: ReserveRequest,
        buckets: u32,
    ) -> Result<ReserveOutcome, ReserveError> {
        let sale = request.sale_id;
        let home = home(&request.user_id, buckets);
        let mut outcome = self.reserve_in(request.clone(), home, buckets).await;
        if !out_of_units(&outcome) {
            return outcome;
        }
        // Only a purchase whose home ran out needs the other buckets.
        let places: Vec<Place> = SaleKeys::buckets(sale, buckets)
            .into_iter()
            .map(|k| k.place)
            .collect();
        for _ in 0..STEAL_ATTEMPTS {
            if !out_of_units(&outcome) {
                return outcome;
            }
            if self
                .steal(sale, &places, home, request.quantity.get().into())
                .await?
                == 0
            {
                let short = matches!(
                    outcome,
                    Err(ReserveError::Rejected(PurchaseRejection::NotEnoughStock { .. }))
                );
                // Not enough here and nothing to take elsewhere: the answer
                // stands. Nothing here: sold out only if nothing anywhere.
                if short
                    || self
                        .transfers()
                        .nothing_left(&places, READINGS)
                        .await
                        .map_err(store_error)?
                        == Some(true)
                {
                    return outcome;
                }
            }
            outcome = self.reserve_in(request.clone(), home, buckets).await;
        }
        match outcome {
            Err(ReserveError::Rejected(PurchaseRejection::SoldOut)) => Err(ReserveError::UnitsMoving),
            other => other,
        }
    }

    /// Units into `home` from the fullest other bucket: half of it, or what
    /// a purchase of `need` units lacks if that is more. How many arrived,
    /// or 1 when another purchase refilled `home` meanwhile.
    async fn steal(&self, sale: SaleId, places: &[Place], home: u32, need: u64) -> Result<u64, StoreError> {
        let lock = self.steal_locks().of(sale, home);
        let stolen = {
            let _one_at_a_time = lock.lock().await;
            self.steal_alone(places, home, need).await
        };
        self.steal_locks().done(sale, home, lock);
        stolen
    }

    /// [`Self::steal`] under the bucket's lock.
    async fn steal_alone(&self, places: &[Place], home: u32, need: u64) -> Result<u64, StoreError> {
        let transfers = self.transfers();
        let looks = transfers.look_all(places).await.map_err(store_error)?;
        let have = looks[home as usize].stock.max(0) as u64;
        if have >= need {
            return Ok(1);
        }
        let Some((from, fullest)) = looks
            .iter()
            .enumerate()
            .filter(|(k, _)| *k != home as usize)
            .max_by_key(|(_, look)| look.stock)
        else {
            return Ok(0);
        };
        if fullest.stock <= 0 {
            return Ok(0);
        }
        let lacking = need - have;
        let amount = if lacking > (fullest.stock as u64).div_ceil(2) {
            Amount::UpTo(lacking)
        } else {
            Amount::HalfUpTo(u64::MAX)
        };
        let id = OrderId::generate().to_string();
        transfers
            .transfer(&id, &places[from], &places[home as usize], amount)
            .await
            .map_err(store_error)
    }

    /// Every unit left in buckets 1.. moved into bucket 0 (before a
    /// withdrawal, which bucket 0 then decides alone).
    pub(super) async fn gather(&self, sale: SaleId, buckets: u32) -> Result<(), StoreError> {
        let keys = SaleKeys::buckets(sale, buckets);
        let transfers = self.transfers();
        for bucket in &keys[1..] {
            let id = OrderId::generate().to_string();
            transfers
                .transfer(&id, &bucket.place, &keys[0].place, Amount::UpTo(u64::MAX))
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    /// Copies bucket 0's state, start and end to the other buckets (after a
    /// transition on bucket 0, or to mend one a crash left behind).
    pub(super) async fn spread_terms(&self, sale: SaleId, buckets: u32) -> Result<(), StoreError> {
        let keys = SaleKeys::buckets(sale, buckets);
        let mut conn = self.connection();
        let t: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(&keys[0].state)
            .arg(&["terms_version", "state", "starts_at", "ends_at"])
            .query_async(&mut conn)
            .await
            .map_err(store_error)?;
        let [version, Some(state), starts, ends] = t.as_slice() else {
            return Ok(());
        };
        let text = |f: &Option<String>| f.clone().unwrap_or_default();
        for bucket in &keys[1..] {
            self.scripts
                .spread
                .key(&bucket.state)
                .arg(version.as_deref().unwrap_or("0"))
                .arg(state)
                .arg(text(starts))
                .arg(text(ends))
                .invoke_async::<i64>(&mut conn)
                .await
                .map_err(store_error)?;
        }
        Ok(())
    }

    /// Delivers the transfers of `sale` that a process left between debit
    /// and credit (it died, or lost its connection).
    pub async fn finish_transfers(&self, sale: SaleId) -> Result<u64, StoreError> {
        let buckets = self.buckets_of(sale).await?;
        let mut credited = 0;
        if buckets > 1 {
            for bucket in SaleKeys::buckets(sale, buckets) {
                credited += self
                    .transfers()
                    .finish_pending(&bucket.place)
                    .await
                    .map_err(store_error)?;
            }
        }
        Ok(credited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homes_spread_buyers_and_never_move() {
        let mut per_bucket = [0; 4];
        for i in 0..4000 {
            let user = UserId::parse(&format!("buyer-{i}")).unwrap();
            let h = home(&user, 4);
            assert_eq!(h, home(&user, 4));
            per_bucket[h as usize] += 1;
        }
        assert!(
            per_bucket.iter().all(|n| (800..1200).contains(n)),
            "{per_bucket:?}"
        );
        // Fixed values: a change of the hash would move every buyer's
        // purchases to another bucket, past their limit.
        let alice = UserId::parse("alice").unwrap();
        assert_eq!(home(&alice, 1), 0);
        assert_eq!(home(&alice, 16), (0x508b_2abb_65a0_3907_u64 % 16) as u32);
    }
}
