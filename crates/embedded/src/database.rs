//! The embedded mode's one database file (`<data dir>/flashsale.db`): sales
//! and orders, in SQLite.
//!
//! It is opened in WAL mode with `synchronous = FULL`, so a committed
//! transaction survives a `kill -9` of the engine and a crash of the host;
//! the order writer commits many orders per transaction (group commit), so
//! the fsync is paid once per batch, not once per purchase. One engine at a
//! time holds the folder ([`lock_data_dir`]).

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

/// Why the database could not be opened or migrated.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: rusqlite::Error },
    #[error("migration {name} failed: {source}")]
    Migration {
        name: &'static str,
        source: rusqlite::Error,
    },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create the data folder {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error(
        "the data folder {0} is in use by another FlashSale engine: two engines on one folder would sell the same units twice; stop the other one, or give this one its own FLASHSALE_DATA_DIR"
    )]
    DataDirInUse(String),
}

/// One schema change, applied once, in order.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_sales_and_orders",
        sql: "
        CREATE TABLE sales (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            product TEXT NOT NULL,
            price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
            stock INTEGER NOT NULL CHECK (stock >= 0),
            per_user_limit INTEGER NOT NULL CHECK (per_user_limit >= 1),
            starts_at TEXT,
            ends_at TEXT,
            state TEXT NOT NULL CHECK (state IN ('scheduled', 'active', 'paused', 'ended')),
            created_at TEXT NOT NULL
        );
        CREATE TABLE orders (
            order_id TEXT PRIMARY KEY,
            sale_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            quantity INTEGER NOT NULL CHECK (quantity >= 1),
            status TEXT NOT NULL DEFAULT 'confirmed',
            idempotency_key TEXT,
            remaining_after INTEGER NOT NULL,
            created_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX orders_by_sale ON orders (sale_id);
    ",
    },
    Migration {
        version: 2,
        name: "0002_void_orders",
        // A void order keeps its row (the ledger's decision for that id) with
        // the status 'void' and why.
        sql: "ALTER TABLE orders ADD COLUMN void_reason TEXT;",
    },
    Migration {
        version: 3,
        name: "0003_archived_sales",
        // An archived sale keeps its row with when it was archived and what
        // it sold; the partial index keeps the live ones cheap to find.
        sql: "ALTER TABLE sales ADD COLUMN archived_at TEXT;
              ALTER TABLE sales ADD COLUMN archived_sold INTEGER;
              CREATE INDEX sales_live ON sales (id) WHERE archived_at IS NULL;",
    },
    Migration {
        version: 4,
        name: "0004_checkout",
        // A sale's payment window; an order's payment deadline and payment.
        // Two small queues beside the orders, each row deleted once done:
        // the orders awaiting payment by deadline (what the expiry reads),
        // and the expired or cancelled orders whose units are not back on
        // sale yet. Their work scales with what is open, not with history,
        // and no index is built over the orders.
        sql: "ALTER TABLE sales ADD COLUMN payment_window_seconds INTEGER NOT NULL DEFAULT 0;
              ALTER TABLE orders ADD COLUMN payment_due_at TEXT;
              ALTER TABLE orders ADD COLUMN paid_at TEXT;
              CREATE TABLE payment_due (order_id TEXT PRIMARY KEY, due_at TEXT NOT NULL) WITHOUT ROWID;
              CREATE INDEX payment_due_by_time ON payment_due (due_at);
              CREATE TABLE units_back (order_id TEXT PRIMARY KEY, decided_at TEXT NOT NULL) WITHOUT ROWID;",
    },
    Migration {
        version: 5,
        name: "0005_shop_outbox",
        // The events for the shop, written with the order change they
        // report; a row leaves once delivered (or stays, given up).
        sql: "CREATE TABLE shop_outbox (
                  id TEXT PRIMARY KEY,
                  type TEXT NOT NULL,
                  order_id TEXT NOT NULL,
                  payload TEXT NOT NULL,
                  created_at TEXT NOT NULL,
                  attempts INTEGER NOT NULL DEFAULT 0,
                  next_attempt_at TEXT NOT NULL,
                  last_error TEXT,
                  gave_up_at TEXT
              ) WITHOUT ROWID;
              CREATE INDEX shop_outbox_due ON shop_outbox (next_attempt_at) WHERE gave_up_at IS NULL;",
    },
    Migration {
        version: 6,
        name: "0006_fair_start",
        // A fair start (issue 19): a sale's opening draw window; one row
        // per entry, keyed by sale and buyer (one entry each), with its
        // answer once served; and the draw itself once closed. Rows leave
        // with the sale.
        sql: "ALTER TABLE sales ADD COLUMN prequeue_seconds INTEGER NOT NULL DEFAULT 0;
              ALTER TABLE sales ADD COLUMN fair_start_seconds INTEGER NOT NULL DEFAULT 0;
              CREATE TABLE draw_entries (
                  sale_id TEXT NOT NULL,
                  user_id TEXT NOT NULL,
                  entry TEXT NOT NULL,
                  answer TEXT,
                  PRIMARY KEY (sale_id, user_id)
              ) WITHOUT ROWID;
              CREATE TABLE draws (
                  sale_id TEXT PRIMARY KEY,
                  phase TEXT NOT NULL,
                  seed TEXT NOT NULL,
                  entrants INTEGER NOT NULL,
                  served INTEGER NOT NULL
              ) WITHOUT ROWID;",
    },
    Migration {
        version: 7,
        name: "0007_archived_draw",
        // The draw kept with the archived sale, as JSON, for audit once its
        // rows left with the sale.
        sql: "ALTER TABLE sales ADD COLUMN archived_draw TEXT;",
    },
    Migration {
        version: 8,
        name: "0008_stock_buckets",
        // A hot sale's bucket count (issue 17): kept so the sale reads back
        // as created; the embedded engine sells from one book whatever it is.
        sql: "ALTER TABLE sales ADD COLUMN stock_buckets INTEGER NOT NULL DEFAULT 1;",
    },
];

/// The database file inside `data_dir`.
pub fn database_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("flashsale.db")
}

/// The lock file that makes one engine the only one on a data folder.
const LOCK_FILE: &str = "flashsale.lock";

/// Takes the data folder for this process: two engines on one folder would
/// each hold their own stock in memory and sell the same units twice. The
/// lock is the operating system's (`flock`), so it goes with the process,
/// however it dies; hold the returned file for as long as the engine runs.
pub fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, DbError> {
    let dir_error = |source| DbError::DataDir {
        path: data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(dir_error)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(data_dir.join(LOCK_FILE))
        .map_err(dir_error)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(DbError::DataDirInUse(data_dir.display().to_string())),
        Err(std::fs::TryLockError::Error(source)) => Err(dir_error(source)),
    }
}

/// Creates the data folder, opens its database and applies pending
/// migrations (`flashsale migrate`, and every start); returns their names.
pub fn migrate_dir(data_dir: &Path) -> Result<Vec<&'static str>, DbError> {
    std::fs::create_dir_all(data_dir).map_err(|source| DbError::DataDir {
        path: data_dir.display().to_string(),
        source,
    })?;
    migrate(&mut open(&database_path(data_dir))?)
}

/// Opens (creating if needed) the database with the engine's settings. Does
/// not migrate: call [`migrate`] once at start-up.
pub fn open(path: &Path) -> Result<Connection, DbError> {
    let conn = Connection::open(path).map_err(|source| DbError::Open {
        path: path.display().to_string(),
        source,
    })?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Applies the migrations not yet applied, each in its own transaction;
/// returns the names of those it applied.
pub fn migrate(conn: &mut Connection) -> Result<Vec<&'static str>, DbError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at TEXT NOT NULL
        )",
    )?;
    let mut applied = Vec::new();
    for m in MIGRATIONS {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let done: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = ?1)",
            [m.version],
            |r| r.get(0),
        )?;
        if done {
            continue;
        }
        tx.execute_batch(m.sql)
            .map_err(|source| DbError::Migration { name: m.name, source })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            rusqlite::params![m.version, m.name, chrono::Utc::now().to_rfc3339()],
        )?;
        tx.commit()?;
        applied.push(m.name);
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrate_applies_once() {
        let dir = std::env::temp_dir().join(format!("flashsale-sqlite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = database_path(&dir);
        let _ = std::fs::remove_file(&path);
        let mut conn = open(&path).unwrap();
        assert_eq!(
            migrate(&mut conn).unwrap(),
            vec![
                "0001_sales_and_orders",
                "0002_void_orders",
                "0003_archived_sales",
                "0004_checkout",
                "0005_shop_outbox",
                "0006_fair_start",
                "0007_archived_draw",
                "0008_stock_buckets"
            ]
        );
        assert!(migrate(&mut conn).unwrap().is_empty());
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
