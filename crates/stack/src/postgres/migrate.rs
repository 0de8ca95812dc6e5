//! Schema migrations: the SQL files of `migrations/`, compiled into the
//! binary, each applied once and recorded in `schema_migrations`.
//!
//! Every service applies pending migrations at start, and several replicas
//! start at once: a transaction-scoped advisory lock makes one of them do
//! the work while the others wait, then find nothing left to do.

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
}

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
];

/// An arbitrary constant: the advisory lock all FlashSale migrators share.
const LOCK_KEY: i64 = 0x466c_6173_6853_616c;

/// Every migration's name, in order.
pub fn migration_names() -> Vec<&'static str> {
    MIGRATIONS.iter().map(|m| m.name).collect()
}

/// Applies the migrations not yet applied, in one transaction; returns
/// the names of those it applied.
pub async fn migrate(pool: &PgPool) -> Result<Vec<&'static str>, MigrateError> {
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
