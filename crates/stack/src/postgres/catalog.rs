//! [`PgCatalog`]: sales in PostgreSQL, the source of truth for their terms.
//! Every write also appends to `audit_log` in the same transaction, so the
//! log never claims a change that did not happen, nor misses one that did.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use flashsale_domain::{Archived, Sale, SaleCatalog, SaleId, SaleState, StoreError};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use super::store_error;

/// The sale catalog. Cheap to clone.
#[derive(Clone)]
pub struct PgCatalog {
    pool: PgPool,
}

const COLUMNS: &str = "id, name, product, price_cents, stock, per_user_limit, starts_at, ends_at, state, \
     created_at, archived_at, archived_sold, archived_draw, payment_window_seconds, prequeue_seconds, \
     fair_start_seconds, stock_buckets";

impl PgCatalog {
    /// A catalog on an already migrated database.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn sale_from(row: &PgRow) -> Result<Sale, StoreError> {
    let unsigned = |column: &str| -> Result<u64, StoreError> {
        let n: i64 = row.try_get(column).map_err(store_error)?;
        u64::try_from(n).map_err(|_| store_error(format!("negative {column}")))
    };
    let seconds = |column: &str| -> Result<u32, StoreError> {
        let n: i32 = row.try_get(column).map_err(store_error)?;
        u32::try_from(n).map_err(|_| store_error(format!("negative {column}")))
    };
    let state: String = row.try_get("state").map_err(store_error)?;
    let limit: i32 = row.try_get("per_user_limit").map_err(store_error)?;
    Ok(Sale {
        id: SaleId::from_uuid(row.try_get("id").map_err(store_error)?),
        name: row.try_get("name").map_err(store_error)?,
        product: row.try_get("product").map_err(store_error)?,
        price_cents: unsigned("price_cents")?,
        stock: unsigned("stock")?,
        per_user_limit: u32::try_from(limit).map_err(store_error)?,
        starts_at: row
            .try_get::<Option<DateTime<Utc>>, _>("starts_at")
            .map_err(store_error)?,
        ends_at: row
            .try_get::<Option<DateTime<Utc>>, _>("ends_at")
            .map_err(store_error)?,
        state: SaleState::parse(&state).ok_or_else(|| store_error(format!("unknown state {state}")))?,
        created_at: row.try_get("created_at").map_err(store_error)?,
        payment_window_seconds: seconds("payment_window_seconds")?,
        prequeue_seconds: seconds("prequeue_seconds")?,
        fair_start_seconds: seconds("fair_start_seconds")?,
        stock_buckets: seconds("stock_buckets")?,
        archived: match row
            .try_get::<Option<DateTime<Utc>>, _>("archived_at")
            .map_err(store_error)?
        {
            Some(at) => Some(Archived {
                at,
                sold: row
                    .try_get::<Option<i64>, _>("archived_sold")
                    .map_err(store_error)?
                    .unwrap_or(0)
                    .max(0) as u64,
                draw: row
                    .try_get::<Option<String>, _>("archived_draw")
                    .map_err(store_error)?
                    .map(|json| serde_json::from_str(&json).map_err(store_error))
                    .transpose()?,
            }),
            None => None,
        },
    })
}

fn signed(n: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| store_error(format!("{what} out of range")))
}

#[async_trait]
impl SaleCatalog for PgCatalog {
    async fn insert(&self, sale: &Sale) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query(
            "INSERT INTO sales (id, name, product, price_cents, stock, per_user_limit, starts_at, ends_at, state, created_at,
                 payment_window_seconds, prequeue_seconds, fair_start_seconds, stock_buckets)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(sale.id.as_uuid())
        .bind(&sale.name)
        .bind(&sale.product)
        .bind(signed(sale.price_cents, "price_cents")?)
        .bind(signed(sale.stock, "stock")?)
        .bind(sale.per_user_limit as i32)
        .bind(sale.starts_at)
        .bind(sale.ends_at)
        .bind(sale.state.as_str())
        .bind(sale.created_at)
        .bind(i32::try_from(sale.payment_window_seconds).map_err(store_error)?)
        .bind(i32::try_from(sale.prequeue_seconds).map_err(store_error)?)
        .bind(i32::try_from(sale.fair_start_seconds).map_err(store_error)?)
        .bind(i32::try_from(sale.stock_buckets).map_err(store_error)?)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        audit(&mut tx, sale, "created").await?;
        tx.commit().await.map_err(store_error)
    }

    async fn update(&self, sale: &Sale) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let done = sqlx::query("UPDATE sales SET state = $2, stock = $3 WHERE id = $1")
            .bind(sale.id.as_uuid())
            .bind(sale.state.as_str())
            .bind(signed(sale.stock, "stock")?)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        if done.rows_affected() == 0 {
            return Err(store_error(format!("no sale {}", sale.id)));
        }
        audit(&mut tx, sale, "updated").await?;
        tx.commit().await.map_err(store_error)
    }

    async fn get(&self, id: SaleId) -> Result<Option<Sale>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sales WHERE id = $1"
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.as_ref().map(sale_from).transpose()
    }

    async fn list(&self) -> Result<Vec<Sale>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sales WHERE archived_at IS NULL ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(sale_from).collect()
    }

    async fn page(
        &self,
        after: Option<SaleId>,
        limit: usize,
        archived: bool,
    ) -> Result<Vec<Sale>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sales
             WHERE (archived_at IS NOT NULL) = $3 AND ($1::uuid IS NULL OR id > $1)
             ORDER BY id LIMIT $2"
        )))
        .bind(after.map(|id| id.as_uuid()))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(archived)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(sale_from).collect()
    }

    async fn archive(&self, id: SaleId, archived: Archived) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let done = sqlx::query(
            "UPDATE sales SET archived_at = $2, archived_sold = $3, archived_draw = $4 \
             WHERE id = $1 AND archived_at IS NULL",
        )
        .bind(id.as_uuid())
        .bind(archived.at)
        .bind(signed(archived.sold, "sold")?)
        .bind(archived.draw.map(|d| serde_json::json!(d).to_string()))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if done == 1 {
            let detail = serde_json::json!({ "sold": archived.sold, "draw": archived.draw });
            sqlx::query("INSERT INTO audit_log (sale_id, action, detail) VALUES ($1, 'archive', $2::jsonb)")
                .bind(id.as_uuid())
                .bind(detail.to_string())
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        tx.commit().await.map_err(store_error)?;
        Ok(done == 1)
    }
}

async fn audit(tx: &mut sqlx::PgConnection, sale: &Sale, action: &str) -> Result<(), StoreError> {
    let detail = serde_json::json!({
        "name": sale.name,
        "state": sale.state.as_str(),
        "stock": sale.stock,
    });
    sqlx::query("INSERT INTO audit_log (sale_id, action, detail) VALUES ($1, $2, $3::jsonb)")
        .bind(sale.id.as_uuid())
        .bind(action)
        .bind(detail.to_string())
        .execute(tx)
        .await
        .map_err(store_error)?;
    Ok(())
}
