//! The local sold-out flag: once a sale is known to be sold out, later
//! buyers are refused from memory, without a call to the stock store.
//!
//! A flag that is set late could hide units that came back (a release, a
//! top-up) and undersell the sale. So each sale's flag carries an epoch:
//! [`SoldOutFlags::clear`] bumps it, and [`SoldOutFlags::mark`] only sets the
//! flag if no clear happened since the caller read [`SoldOutFlags::epoch`]
//! before asking the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use flashsale_domain::SaleId;

/// Bit 0: sold out; bits 1..: the epoch.
#[derive(Default)]
struct Flag(AtomicU64);

/// Sold-out flags of every sale this replica has seen.
#[derive(Clone, Default)]
pub struct SoldOutFlags {
    flags: Arc<RwLock<HashMap<SaleId, Arc<Flag>>>>,
}

impl SoldOutFlags {
    fn flag(&self, sale: SaleId) -> Arc<Flag> {
        if let Some(flag) = self.flags.read().expect("sold-out lock").get(&sale) {
            return flag.clone();
        }
        self.flags
            .write()
            .expect("sold-out lock")
            .entry(sale)
            .or_default()
            .clone()
    }

    /// Whether the sale is known to be sold out.
    pub fn is_sold_out(&self, sale: SaleId) -> bool {
        self.flags
            .read()
            .expect("sold-out lock")
            .get(&sale)
            .is_some_and(|f| f.0.load(Ordering::Acquire) & 1 == 1)
    }

    /// The sale's epoch; read it before asking the store. Does not create a
    /// flag, so probing unknown sale ids costs no memory.
    pub fn epoch(&self, sale: SaleId) -> u64 {
        self.flags
            .read()
            .expect("sold-out lock")
            .get(&sale)
            .map_or(0, |f| f.0.load(Ordering::Acquire) >> 1)
    }

    /// Marks the sale sold out, unless units came back since `epoch`.
    pub fn mark(&self, sale: SaleId, epoch: u64) {
        let flag = self.flag(sale);
        let _ = flag
            .0
            .compare_exchange(epoch << 1, (epoch << 1) | 1, Ordering::AcqRel, Ordering::Acquire);
    }

    /// Units came back (or the sale changed): ask the store again.
    pub fn clear(&self, sale: SaleId) {
        let flag = self.flag(sale);
        let _ = flag
            .0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(((v >> 1) + 1) << 1));
    }
}

impl SoldOutFlags {
    /// Clears every flag: after a lost subscription, when a "units came
    /// back" message may have been missed.
    pub fn clear_all(&self) {
        let sales: Vec<SaleId> = self
            .flags
            .read()
            .expect("sold-out lock")
            .keys()
            .copied()
            .collect();
        for sale in sales {
            self.clear(sale);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clear_between_read_and_mark_wins() {
        let flags = SoldOutFlags::default();
        let sale = SaleId::generate();
        let epoch = flags.epoch(sale);
        flags.clear(sale);
        flags.mark(sale, epoch);
        assert!(
            !flags.is_sold_out(sale),
            "stale mark must not hide returned units"
        );
        let epoch = flags.epoch(sale);
        flags.mark(sale, epoch);
        assert!(flags.is_sold_out(sale));
        flags.clear(sale);
        assert!(!flags.is_sold_out(sale));
        flags.mark(sale, flags.epoch(sale));
        flags.clear_all();
        assert!(!flags.is_sold_out(sale));
    }
}
