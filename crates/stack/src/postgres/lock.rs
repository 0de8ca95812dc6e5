//! [`PgChangeLock`]: the product service's changes serialised across every
//! product process by a PostgreSQL advisory lock, taken inside a
//! transaction that the guard holds: released when the guard drops (the
//! rollback is sent when the connection goes back to the pool), and with
//! the session if the process dies. A wait past a minute fails, so an
//! operator gets 503 rather than a request that hangs.

use async_trait::async_trait;
use flashsale_domain::{ChangeGuard, ChangeLock, StoreError};
use sqlx::PgPool;

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
}

impl PgChangeLock {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait]
impl ChangeLock for PgChangeLock {
    async fn acquire(&self) -> Result<ChangeGuard, StoreError> {
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
        Ok(ChangeGuard::new(tx))
    }
}
