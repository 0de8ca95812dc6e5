//! The three PostgreSQL designs: the naive read-then-write, `SELECT … FOR
//! UPDATE`, and the conditional `UPDATE`.

use super::*;

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum PgKind {
    Naive,
    ForUpdate,
    Conditional,
}

/// The three PostgreSQL designs, each on tables of its own.
pub(super) struct Pg {
    pool: PgPool,
    kind: PgKind,
    limit: i64,
    stock_table: String,
    orders_table: String,
}

impl Pg {
    pub(super) async fn new(
        pool: PgPool,
        kind: PgKind,
        run: &str,
        stock: u64,
        limit: u32,
    ) -> Result<Self, RaceError> {
        let name = match kind {
            PgKind::Naive => "naive",
            PgKind::ForUpdate => "for_update",
            PgKind::Conditional => "conditional",
        };
        let this = Self {
            pool,
            kind,
            limit: i64::from(limit),
            stock_table: format!("race_{name}_{run}_stock"),
            orders_table: format!("race_{name}_{run}_orders"),
        };
        let ddl = format!(
            "CREATE TABLE {s} (id int PRIMARY KEY, stock bigint NOT NULL);
             INSERT INTO {s} VALUES (1, {stock});
             CREATE TABLE {o} (id bigserial PRIMARY KEY, buyer bigint NOT NULL);
             CREATE INDEX ON {o} (buyer);",
            s = this.stock_table,
            o = this.orders_table
        );
        sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
            .execute(&this.pool)
            .await
            .map_err(err)?;
        Ok(this)
    }

    /// Whether `buyer` already holds the limit (exact only under a lock).
    async fn at_limit<'e, E: sqlx::PgExecutor<'e>>(
        &self,
        executor: E,
        buyer: u64,
    ) -> Result<bool, sqlx::Error> {
        let (held,): (i64,) = sqlx::query_as(self.sql("SELECT count(*) FROM {o} WHERE buyer = $1"))
            .bind(buyer as i64)
            .fetch_one(executor)
            .await?;
        Ok(held >= self.limit)
    }

    fn sql(&self, template: &str) -> sqlx::AssertSqlSafe<String> {
        sqlx::AssertSqlSafe(
            template
                .replace("{s}", &self.stock_table)
                .replace("{o}", &self.orders_table),
        )
    }
}

#[async_trait]
impl Strategy for Pg {
    fn name(&self) -> &'static str {
        match self.kind {
            PgKind::Naive => "pg-naive",
            PgKind::ForUpdate => "pg-for-update",
            PgKind::Conditional => "pg-conditional",
        }
    }

    async fn attempt(&self, buyer: u64, seen: &AtomicI64) -> Result<Attempt, String> {
        let e = |e: sqlx::Error| e.to_string();
        match self.kind {
            PgKind::Naive => {
                if self.at_limit(&self.pool, buyer).await.map_err(e)? {
                    return Ok(Attempt::Refused);
                }
                let (stock,): (i64,) = sqlx::query_as(self.sql("SELECT stock FROM {s} WHERE id = 1"))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(e)?;
                seen_min(seen, stock);
                if stock < 1 {
                    return Ok(Attempt::SoldOut);
                }
                sqlx::query(self.sql("UPDATE {s} SET stock = $1 WHERE id = 1"))
                    .bind(stock - 1)
                    .execute(&self.pool)
                    .await
                    .map_err(e)?;
                sqlx::query(self.sql("INSERT INTO {o} (buyer) VALUES ($1)"))
                    .bind(buyer as i64)
                    .execute(&self.pool)
                    .await
                    .map_err(e)?;
                Ok(Attempt::Sold)
            }
            PgKind::ForUpdate => {
                let mut tx = self.pool.begin().await.map_err(e)?;
                let (stock,): (i64,) =
                    sqlx::query_as(self.sql("SELECT stock FROM {s} WHERE id = 1 FOR UPDATE"))
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(e)?;
                seen_min(seen, stock);
                if stock < 1 {
                    return Ok(Attempt::SoldOut);
                }
                // The row lock serialises buyers, so this count is exact.
                if self.at_limit(&mut *tx, buyer).await.map_err(e)? {
                    return Ok(Attempt::Refused);
                }
                sqlx::query(self.sql("UPDATE {s} SET stock = stock - 1 WHERE id = 1"))
                    .execute(&mut *tx)
                    .await
                    .map_err(e)?;
                sqlx::query(self.sql("INSERT INTO {o} (buyer) VALUES ($1)"))
                    .bind(buyer as i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(e)?;
                tx.commit().await.map_err(e)?;
                Ok(Attempt::Sold)
            }
            PgKind::Conditional => {
                let mut tx = self.pool.begin().await.map_err(e)?;
                let left: Option<(i64,)> = sqlx::query_as(
                    self.sql("UPDATE {s} SET stock = stock - 1 WHERE id = 1 AND stock >= 1 RETURNING stock"),
                )
                .fetch_optional(&mut *tx)
                .await
                .map_err(e)?;
                let Some((left,)) = left else {
                    return Ok(Attempt::SoldOut);
                };
                seen_min(seen, left);
                // The updated row stays locked until commit: the count is exact.
                if self.at_limit(&mut *tx, buyer).await.map_err(e)? {
                    tx.rollback().await.map_err(e)?;
                    return Ok(Attempt::Refused);
                }
                sqlx::query(self.sql("INSERT INTO {o} (buyer) VALUES ($1)"))
                    .bind(buyer as i64)
                    .execute(&mut *tx)
                    .await
                    .map_err(e)?;
                tx.commit().await.map_err(e)?;
                Ok(Attempt::Sold)
            }
        }
    }

    async fn settle(&self) -> Result<(i64, u64), String> {
        let e = |e: sqlx::Error| e.to_string();
        let (stock,): (i64,) = sqlx::query_as(self.sql("SELECT stock FROM {s} WHERE id = 1"))
            .fetch_one(&self.pool)
            .await
            .map_err(e)?;
        let (sold,): (i64,) = sqlx::query_as(self.sql("SELECT count(*) FROM {o}"))
            .fetch_one(&self.pool)
            .await
            .map_err(e)?;
        sqlx::raw_sql(self.sql("DROP TABLE {s}; DROP TABLE {o};"))
            .execute(&self.pool)
            .await
            .map_err(e)?;
        Ok((stock, sold as u64))
    }
}
