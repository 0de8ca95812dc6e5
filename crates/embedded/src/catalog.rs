//! The embedded sale catalog: the `sales` table of the SQLite file, with a
//! write-through copy of the live sales in memory so that buyers listing
//! sales during a stampede never touch the disk. Archived sales are read
//! from the file when asked for, so memory holds live sales, not history. In embedded mode this process is the
//! only writer, so the copy cannot go stale.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use flashsale_domain::{Archived, Sale, SaleCatalog, SaleId, SaleState, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

/// Sales in SQLite. Cheap to clone.
#[derive(Clone)]
pub struct SqliteCatalog {
    /// Held only for one short statement on a blocking thread, never across
    /// an `.await`: a std mutex is enough.
    conn: Arc<Mutex<Connection>>,
    sales: Arc<RwLock<BTreeMap<SaleId, Sale>>>,
}

fn store_error(e: impl ToString) -> StoreError {
    StoreError::new("sqlite", e)
}

fn bad(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(0, what.to_owned(), rusqlite::types::Type::Text)
}

fn time(raw: Option<String>) -> rusqlite::Result<Option<DateTime<Utc>>> {
    raw.map(|t| {
        DateTime::parse_from_rfc3339(&t)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| bad("timestamp"))
    })
    .transpose()
}

fn text(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Micros, true))
}

/// The columns `sale_from` reads, in its order.
const COLUMNS: &str =
    "id, name, product, price_cents, stock, per_user_limit, starts_at, ends_at, state, created_at, \
     archived_at, archived_sold, payment_window_seconds, prequeue_seconds, fair_start_seconds, archived_draw, \
     stock_buckets";

fn sale_from(row: &Row<'_>) -> rusqlite::Result<Sale> {
    let archived = match time(row.get(10)?)? {
        Some(at) => Some(Archived {
            at,
            sold: row.get::<_, Option<i64>>(11)?.unwrap_or(0) as u64,
            draw: row
                .get::<_, Option<String>>(15)?
                .map(|json| serde_json::from_str(&json).map_err(|_| bad("archived_draw")))
                .transpose()?,
        }),
        None => None,
    };
    Ok(Sale {
        id: SaleId::from_uuid(Uuid::try_parse(&row.get::<_, String>(0)?).map_err(|_| bad("id"))?),
        name: row.get(1)?,
        product: row.get(2)?,
        price_cents: row.get::<_, i64>(3)? as u64,
        stock: row.get::<_, i64>(4)? as u64,
        per_user_limit: row.get::<_, i64>(5)? as u32,
        starts_at: time(row.get(6)?)?,
        ends_at: time(row.get(7)?)?,
        state: SaleState::parse(&row.get::<_, String>(8)?).ok_or_else(|| bad("state"))?,
        created_at: time(row.get(9)?)?.ok_or_else(|| bad("created_at"))?,
        payment_window_seconds: row.get::<_, i64>(12)? as u32,
        prequeue_seconds: row.get::<_, i64>(13)? as u32,
        fair_start_seconds: row.get::<_, i64>(14)? as u32,
        stock_buckets: row.get::<_, i64>(16)? as u32,
        archived,
    })
}

impl SqliteCatalog {
    /// Opens the (already migrated) database file and loads the live sales;
    /// archived ones are read from the file when asked for.
    pub fn open(path: &Path) -> Result<Self, crate::database::DbError> {
        let conn = crate::database::open(path)?;
        let sales = conn
            .prepare(&format!("SELECT {COLUMNS} FROM sales WHERE archived_at IS NULL"))?
            .query_map([], sale_from)?
            .map(|s| s.map(|s| (s.id, s)))
            .collect::<rusqlite::Result<BTreeMap<_, _>>>()?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
            sales: Arc::new(RwLock::new(sales)),
        })
    }

    /// Runs `query` on the file, on a blocking thread.
    async fn read<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || query(&conn.lock().expect("catalog lock poisoned")))
            .await
            .map_err(store_error)?
            .map_err(store_error)
    }
    async fn write(&self, sale: &Sale, sql: &'static str) -> Result<(), StoreError> {
        let conn = self.conn.clone();
        let row = sale.clone();
        tokio::task::spawn_blocking(move || {
            conn.lock().expect("catalog lock poisoned").execute(
                sql,
                params![
                    row.id.to_string(),
                    row.name,
                    row.product,
                    row.price_cents as i64,
                    row.stock as i64,
                    row.per_user_limit,
                    text(row.starts_at),
                    text(row.ends_at),
                    row.state.as_str(),
                    text(Some(row.created_at)),
                    row.payment_window_seconds,
                    row.prequeue_seconds,
                    row.fair_start_seconds,
                    row.stock_buckets,
                ],
            )
        })
        .await
        .map_err(store_error)?
        .map_err(store_error)?;
        self.sales
            .write()
            .expect("catalog cache lock poisoned")
            .insert(sale.id, sale.clone());
        Ok(())
    }
}

#[async_trait]
impl SaleCatalog for SqliteCatalog {
    async fn insert(&self, sale: &Sale) -> Result<(), StoreError> {
        self.write(
            sale,
            "INSERT INTO sales (id, name, product, price_cents, stock, per_user_limit, starts_at, ends_at, state, created_at,
                payment_window_seconds, prequeue_seconds, fair_start_seconds, stock_buckets)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
        )
        .await
    }

    async fn update(&self, sale: &Sale) -> Result<(), StoreError> {
        self.write(
            sale,
            "UPDATE sales SET name = ?2, product = ?3, price_cents = ?4, stock = ?5, per_user_limit = ?6,
                starts_at = ?7, ends_at = ?8, state = ?9, created_at = ?10, payment_window_seconds = ?11,
                prequeue_seconds = ?12, fair_start_seconds = ?13, stock_buckets = ?14
             WHERE id = ?1",
        )
        .await
    }

    async fn get(&self, id: SaleId) -> Result<Option<Sale>, StoreError> {
        let live = self
            .sales
            .read()
            .expect("catalog cache lock poisoned")
            .get(&id)
            .cloned();
        if live.is_some() {
            return Ok(live);
        }
        self.read(move |conn| {
            conn.query_row(
                &format!("SELECT {COLUMNS} FROM sales WHERE id = ?1"),
                [id.to_string()],
                sale_from,
            )
            .optional()
        })
        .await
    }

    async fn list(&self) -> Result<Vec<Sale>, StoreError> {
        Ok(self
            .sales
            .read()
            .expect("catalog cache lock poisoned")
            .values()
            .cloned()
            .collect())
    }

    async fn page(
        &self,
        after: Option<SaleId>,
        limit: usize,
        archived: bool,
    ) -> Result<Vec<Sale>, StoreError> {
        use std::ops::Bound::{Excluded, Unbounded};
        if !archived {
            let sales = self.sales.read().expect("catalog cache lock poisoned");
            let from = after.map_or(Unbounded, Excluded);
            return Ok(sales
                .range((from, Unbounded))
                .take(limit)
                .map(|(_, s)| s.clone())
                .collect());
        }
        // Ids are hyphenated lowercase hex: text order is id order.
        let after = after.map_or_else(String::new, |id| id.to_string());
        self.read(move |conn| {
            conn.prepare(&format!(
                "SELECT {COLUMNS} FROM sales WHERE archived_at IS NOT NULL AND id > ?1 ORDER BY id LIMIT ?2"
            ))?
            .query_map(params![after, limit as i64], sale_from)?
            .collect()
        })
        .await
    }

    async fn archive(&self, id: SaleId, archived: Archived) -> Result<bool, StoreError> {
        let done = self
            .read(move |conn| {
                conn.execute(
                    "UPDATE sales SET archived_at = ?2, archived_sold = ?3, archived_draw = ?4 \
                     WHERE id = ?1 AND archived_at IS NULL",
                    params![
                        id.to_string(),
                        text(Some(archived.at)),
                        archived.sold as i64,
                        archived.draw.map(|d| serde_json::json!(d).to_string())
                    ],
                )
            })
            .await?;
        self.sales
            .write()
            .expect("catalog cache lock poisoned")
            .remove(&id);
        Ok(done == 1)
    }
}
