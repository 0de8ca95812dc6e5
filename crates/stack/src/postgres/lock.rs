//! [`PgChangeLock`]: the product service's changes serialised across every
//! product process by a PostgreSQL advisory lock, taken inside a
//! transaction that the guard holds: released when the guard drops (the
//! rollback is sent when the connection goes back to the pool), and with
//! the session if the process dies. A wait past a minute fails, so an
//! operator gets 503 rather than a request that hangs.
//!
//! Within a process the changes queue on a local lock first, so at most one
//! of them holds a pooled connection while it waits for the advisory lock:
//! otherwise as many concurrent changes as the pool has connections would
//! each hold one waiting, and the holder would find none left for its own
//! writes.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use flashsale_domain::{ChangeGuard, ChangeLock, StoreError};
use sqlx::PgPool;
use tokio::sync::Mutex;

use super::store_error;

/// The advisory lock's key, shared by every FlashSale product process.
const KEY: i64 = 0x466c_6173_6850_726f;

/// The longest wait for another process's change (a flush waits for the
/// order queue to drain, up to 30 s).
const WAIT: &str = "60s";

/// The cross-process change lock. Cheap to clone.
#[derive(Clone)]
pub struct PgChangeLock {
    pool: PgPool,
    local: Arc<Mutex<()>>,
}

impl PgChangeLock {
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            local: Arc::default(),
        }
    }
}

#[async_trait]
impl ChangeLock for PgChangeLock {
    async fn acquire(&self) -> Result<ChangeGuard, StoreError> {
        let local = tokio::time::timeout(Duration::from_secs(60), self.local.clone().lock_owned())
            .await
            .map_err(|_| store_error("another change of this process took over a minute"))?;
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query(sqlx::AssertSqlSafe(format!("SET LOCAL lock_timeout = '{WAIT}'")))
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(KEY)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        // Fields drop in order: the transaction (and the advisory lock) first.
        Ok(ChangeGuard::new((tx, local)))
    }
}
