//! Schema migrations: the SQL files of `migrations/`, compiled into the
//! binary, each applied once and recorded in `schema_migrations`.
//!
//! Every service applies pending migrations at start, and several replicas
//! start at once: a transaction-scoped advisory lock makes one of them do
//! the work while the others wait, then find nothing left to do.
//!
//! A migration that alters a table needs its strongest lock, and while it
//! waits for one (a long report reading `orders`, say), every writer of
//! that table queues behind it: the order consumers would stall. So each
//! attempt waits at most [`LOCK_WAIT`] for a lock, then gives up, lets the
//! writers through, and tries again, saying so, for `PATIENCE`.

use std::time::{Duration, Instant};

use sqlx::PgPool;

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("migration {name} failed: {source}")]
    Migration {
        name: &'static str,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot record migrations: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration {name} could not lock its tables in {waited:?}: they stayed in use")]
    LockBusy { name: &'static str, waited: Duration },
}

/// The longest one attempt waits for a table's lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(2);

/// How long the attempts go on before the start fails.
const PATIENCE: Duration = Duration::from_secs(600);

struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_sales_orders_audit",
        sql: include_str!("../../migrations/0001_sales_orders_audit.sql"),
    },
    Migration {
        version: 2,
        name: "0002_sale_totals",
        sql: include_str!("../../migrations/0002_sale_totals.sql"),
    },
    Migration {
        version: 3,
        name: "0003_void_orders",
        sql: include_str!("../../migrations/0003_void_orders.sql"),
    },
    Migration {
        version: 4,
        name: "0004_archived_sales",
        sql: include_str!("../../migrations/0004_archived_sales.sql"),
    },
    Migration {
        version: 5,
        name: "0005_checkout",
        sql: include_str!("../../migrations/0005_checkout.sql"),
    },
    Migration {
        version: 6,
        name: "0006_shop_outbox",
        sql: include_str!("../../migrations/0006_shop_outbox.sql"),
    },
    Migration {
        version: 7,
        name: "0007_fair_start",
        sql: include_str!("../../migrations/0007_fair_start.sql"),
    },
    Migration {
        version: 8,
        name: "0008_archived_draw",
        sql: include_str!("../../migrations/0008_archived_draw.sql"),
    },
    Migration {
        version: 9,
        name: "0009_stock_buckets",
        sql: include_str!("../../migrations/0009_stock_buckets.sql"),
    },
];

/// An arbitrary constant: the advisory lock all FlashSale migrators share.
const LOCK_KEY: i64 = 0x466c_6173_6853_616c;

/// Every migration's name, in order.
pub fn migration_names() -> Vec<&'static str> {
    MIGRATIONS.iter().map(|m| m.name).collect()
}

/// Applies the migrations not yet applied, in one transaction; returns
/// the names of those it applied. See the module docs for the lock waits.
pub async fn migrate(pool: &PgPool) -> Result<Vec<&'static str>, MigrateError> {
    let started = Instant::now();
    loop {
        match attempt(pool).await {
            Err(MigrateError::Migration { name, source }) if lock_not_available(&source) => {
                if started.elapsed() >= PATIENCE {
                    return Err(MigrateError::LockBusy {
                        name,
                        waited: started.elapsed(),
                    });
                }
                tracing::warn!(
                    message =
                        "A migration waits for a table in use; letting its writers through and retrying.",
                    migration = name,
                    waited_s = started.elapsed().as_secs()
                );
                tokio::time::sleep(LOCK_WAIT / 2).await;
            }
            other => return other,
        }
    }
}

/// SQLSTATE 55P03, what `lock_timeout` raises.
fn lock_not_available(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("55P03"))
}

async fn attempt(pool: &PgPool) -> Result<Vec<&'static str>, MigrateError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version bigint PRIMARY KEY,
            name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )
    .execute(&mut *tx)
    .await?;
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let done: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)")
                .bind(m.version)
                .fetch_one(&mut *tx)
                .await?;
        if done {
            continue;
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "SET LOCAL lock_timeout = '{}ms'",
            LOCK_WAIT.as_millis()
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(|source| MigrateError::Migration { name: m.name, source })?;
        sqlx::query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)")
            .bind(m.version)
            .bind(m.name)
            .execute(&mut *tx)
            .await?;
        applied.push(m.name);
    }
    tx.commit().await?;
    Ok(applied)
}
