//! The product service's ports: the catalog of sales, the lock that
//! serialises operator changes, and the rebuild of the stock store.

use async_trait::async_trait;

use super::StoreError;
use crate::ids::SaleId;
use crate::sale::{Archived, Sale};

/// Products and sale sessions: the source of truth for a sale's terms.
///
/// # Errors
/// Every method returns [`StoreError`] when the store cannot be reached;
/// an adapter MUST NOT report success for a write it did not make durable.
#[async_trait]
pub trait SaleCatalog: Send + Sync + 'static {
    /// Stores a new sale.
    async fn insert(&self, sale: &Sale) -> Result<(), StoreError>;
    /// Overwrites a sale's state and stock (the only fields that change).
    async fn update(&self, sale: &Sale) -> Result<(), StoreError>;
    async fn get(&self, id: SaleId) -> Result<Option<Sale>, StoreError>;
    /// Every live sale (not archived), oldest first: what the background
    /// work walks, so it scales with live sales, not with history.
    async fn list(&self) -> Result<Vec<Sale>, StoreError>;
    /// Up to `limit` live sales (archived ones when `archived`) whose id
    /// comes after `after` (every one when `None`), in id order: ids are
    /// time-ordered (UUIDv7), so this is creation order, and a page costs
    /// the same however many sales exist.
    async fn page(
        &self,
        after: Option<SaleId>,
        limit: usize,
        archived: bool,
    ) -> Result<Vec<Sale>, StoreError>;
    /// Archives the sale unless it is already; returns whether this call did.
    async fn archive(&self, id: SaleId, archived: Archived) -> Result<bool, StoreError>;
}

/// Rebuilds the stock store from the catalog and the order ledger (the
/// admin "cache flush"). Adapter-specific: it must keep reservations that are
/// answered but not yet stored, and it must not lose or double a unit while
/// buyers keep buying.
#[async_trait]
pub trait CacheRebuild: Send + Sync + 'static {
    /// Returns how many sales were rebuilt.
    async fn rebuild(&self, sales: Vec<Sale>) -> Result<usize, StoreError>;
}

/// Serialises the product service's changes (operator actions, the cache
/// flush, the schedule) across every product process: each reads the
/// catalog and writes the catalog and the stock store under it, so two
/// processes never interleave (two flushes would break each other's fence;
/// two schedules would apply one start twice).
///
/// # Errors
/// `acquire` waits for the lock; it MUST be released when the guard drops,
/// and when its holder dies, and it fails with [`StoreError`] rather than
/// wait without bound.
#[async_trait]
pub trait ChangeLock: Send + Sync + 'static {
    async fn acquire(&self) -> Result<ChangeGuard, StoreError>;
}

/// Holds a [`ChangeLock`] until dropped.
pub struct ChangeGuard(#[allow(dead_code)] Box<dyn Send>);

impl ChangeGuard {
    /// A guard that releases the lock when `held` drops.
    pub fn new(held: impl Send + 'static) -> Self {
        Self(Box::new(held))
    }
}

/// Told whenever units of a sale may have come back, so that every local
/// sold-out flag is cleared.
pub type UnitsBack = std::sync::Arc<dyn Fn(SaleId) + Send + Sync>;
