//! [`PgOrderStore`]: the order ledger in PostgreSQL, every order exactly once.
//!
//! A batch is one `INSERT … SELECT FROM UNNEST(…) ON CONFLICT (order_id) DO
//! NOTHING` statement: one round trip, one transaction, all or nothing, and
//! a redelivered order is a no-op. Rows are inserted sorted by `order_id`,
//! so two consumers inserting overlapping batches take their row locks in
//! the same order; should PostgreSQL still report a deadlock (40P01) or a
//! serialization failure (40001), the batch is retried.
//!
//! Each row keeps the idempotency key and the remaining count of the first
//! answer, so a buyer's retry can be answered the same after a cache rebuild.
//!
//! The table is also where a reservation is decided void ([`PgOrderStore::void`]):
//! a void row under the order's own primary key. The primary key
//! arbitrates: an insert of the order and a void of the same id never both
//! win, whatever the timing, and with any number of order services.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use flashsale_domain::{
    Decision, IdempotencyKey, LedgerSnapshot, Order, OrderChange, OrderId, OrderStatus, OrderStore,
    OrderTotals, OutboxBacklog, Quantity, Reservation, SaleId, ShopEvent, ShopOutbox, StoreError, UserId,
};
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::store_error;

/// Attempts of a batch that deadlocks or fails to serialize.
const ATTEMPTS: u32 = 5;

/// Why a batch was not stored.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// The batch can never be stored as it is (a value out of range, a
    /// constraint): retrying will not help; set it aside.
    #[error("the batch cannot be stored: {0}")]
    Permanent(String),
    /// The database is unavailable or busy: retry later.
    #[error("the order store is unavailable: {0}")]
    Transient(String),
}

impl InsertError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Permanent(_))
    }
}

impl From<InsertError> for StoreError {
    fn from(e: InsertError) -> Self {
        store_error(e)
    }
}

/// What a batch insert did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    /// Orders new to the ledger.
    pub new: u64,
    /// Ids of the batch the ledger had already decided void: not orders,
    /// and not to be settled as such.
    pub void: HashSet<OrderId>,
}

/// The order ledger. Cheap to clone.
#[derive(Clone)]
pub struct PgOrderStore {
    pool: PgPool,
    /// Whether each order change also writes its event for the shop.
    shop_events: bool,
}

/// A CTE (after a comma) writing the shop's event for each row of the CTE
/// `source` (order rows, in their new status) into the outbox, or nothing
/// when the events are off.
fn shop_events_of(on: bool, source: &str) -> String {
    if !on {
        return String::new();
    }
    format!(
        ", shop_{source} AS (
             INSERT INTO shop_outbox (id, type, order_id, payload)
             SELECT e.id, e.type, e.order_id, jsonb_build_object(
                 'id', e.id, 'type', e.type, 'created_at', now(),
                 'data', jsonb_strip_nulls(jsonb_build_object(
                     'order_id', e.order_id, 'sale_id', e.sale_id, 'user_id', e.user_id,
                     'quantity', e.quantity, 'status', e.status, 'created_at', e.created_at,
                     'void_reason', e.void_reason, 'payment_due_at', e.payment_due_at, 'paid_at', e.paid_at)))
             FROM (SELECT gen_random_uuid() AS id, 'order.' || s.status AS type, s.* FROM {source} s) e
         )"
    )
}

/// The columns of a stored reservation, in order.
const COLUMNS: &str = "order_id, sale_id, user_id, quantity, idempotency_key, remaining_after, created_at";

/// The columns of an order as buyers read it.
const ORDER_COLUMNS: &str =
    "order_id, sale_id, user_id, quantity, idempotency_key, remaining_after, created_at, \
     status, void_reason, payment_due_at, paid_at";

/// Moves the orders of `changed` (a CTE of order rows that left
/// `confirmed` for the status `to`) in the per-sale totals; an SQL fragment
/// for the statements below.
fn totals_move(to: OrderStatus) -> &'static str {
    match to {
        OrderStatus::Paid => {
            "UPDATE sale_totals t SET paid_orders = t.paid_orders + m.n, paid_units = t.paid_units + m.q
             FROM (SELECT sale_id, count(*)::int8 AS n, sum(quantity)::int8 AS q FROM changed GROUP BY sale_id) m
             WHERE t.sale_id = m.sale_id"
        }
        OrderStatus::Expired => {
            "UPDATE sale_totals t SET orders = t.orders - m.n, units = t.units - m.q, expired_orders = t.expired_orders + m.n
             FROM (SELECT sale_id, count(*)::int8 AS n, sum(quantity)::int8 AS q FROM changed GROUP BY sale_id) m
             WHERE t.sale_id = m.sale_id"
        }
        _ => {
            "UPDATE sale_totals t SET orders = t.orders - m.n, units = t.units - m.q, cancelled_orders = t.cancelled_orders + m.n
             FROM (SELECT sale_id, count(*)::int8 AS n, sum(quantity)::int8 AS q FROM changed GROUP BY sale_id) m
             WHERE t.sale_id = m.sale_id"
        }
    }
}

impl PgOrderStore {
    /// An order store on an already migrated database.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            shop_events: false,
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Every order change also writes its event for the shop into the
    /// outbox, in the same statement (see [`ShopOutbox`]).
    pub fn with_shop_events(mut self, on: bool) -> Self {
        self.shop_events = on;
        self
    }

    /// Orders stored over every sale, from the per-sale totals: for health.
    pub async fn orders_stored(&self) -> Result<u64, StoreError> {
        let stored: i64 = sqlx::query_scalar("SELECT coalesce(sum(orders), 0)::bigint FROM sale_totals")
            .fetch_one(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(stored.max(0) as u64)
    }

    /// Stores the reservations as orders; returns how many were new, and
    /// which ids were already void. See the module docs; [`InsertError`]
    /// says whether a retry can help.
    pub async fn insert(&self, reservations: &[Reservation]) -> Result<Stored, InsertError> {
        if reservations.is_empty() {
            return Ok(Stored::default());
        }
        let mut sorted: Vec<&Reservation> = reservations.iter().collect();
        sorted.sort_by_key(|r| r.order_id);
        sorted.dedup_by_key(|r| r.order_id);
        let mut columns = Columns::default();
        for r in sorted {
            columns.push(r)?;
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            // One statement, so one transaction: the orders new to the table
            // and the per-sale totals move together (totals rows in sale
            // order, like the orders, so concurrent batches lock alike).
            let result = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "WITH inserted AS (
                     INSERT INTO orders (order_id, sale_id, user_id, quantity, status, idempotency_key, remaining_after, created_at,
                                         payment_due_at)
                     SELECT o, s, u, q, 'confirmed', k, r, c,
                            CASE WHEN sales.payment_window_seconds > 0
                                 THEN now() + make_interval(secs => sales.payment_window_seconds) END
                     FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::int4[], $5::text[], $6::int8[], $7::timestamptz[])
                          AS t(o, s, u, q, k, r, c)
                     LEFT JOIN sales ON sales.id = t.s
                     ORDER BY o
                     ON CONFLICT (order_id) DO NOTHING
                     RETURNING *
                 ), due AS (
                     INSERT INTO payment_due (order_id, due_at)
                     SELECT order_id, payment_due_at FROM inserted WHERE payment_due_at IS NOT NULL
                 ){shop}, per_sale AS (
                     SELECT sale_id, count(*)::int8 AS n, sum(quantity)::int8 AS q FROM inserted GROUP BY sale_id
                 ), totals AS (
                     INSERT INTO sale_totals (sale_id, orders, units)
                     SELECT sale_id, n, q FROM per_sale ORDER BY sale_id
                     ON CONFLICT (sale_id) DO UPDATE
                         SET orders = sale_totals.orders + EXCLUDED.orders, units = sale_totals.units + EXCLUDED.units
                     RETURNING 1
                 )
                 SELECT COALESCE(sum(n), 0)::int8 FROM per_sale",
                shop = shop_events_of(self.shop_events, "inserted")
            )))
            .bind(&columns.order_id)
            .bind(&columns.sale_id)
            .bind(&columns.user_id)
            .bind(&columns.quantity)
            .bind(&columns.key)
            .bind(&columns.remaining)
            .bind(&columns.created_at)
            .fetch_one(&self.pool)
            .await;
            match result {
                Ok(new) => {
                    let new = new.max(0) as u64;
                    // Ids not new were stored before, or voided: only the
                    // (rare) duplicates cost this second look.
                    let void = if new < columns.order_id.len() as u64 {
                        let ids: Vec<OrderId> =
                            columns.order_id.iter().copied().map(OrderId::from_uuid).collect();
                        let decided = self
                            .decisions(&ids)
                            .await
                            .map_err(|e| InsertError::Transient(e.to_string()))?;
                        decided
                            .into_iter()
                            .filter(|(_, d)| *d == Decision::Void)
                            .map(|(id, _)| id)
                            .collect()
                    } else {
                        HashSet::new()
                    };
                    return Ok(Stored { new, void });
                }
                Err(e) if attempt < ATTEMPTS && is_retryable(&e) => {
                    tracing::warn!(message = "Order batch conflicted; retrying.", error = %e, attempt);
                    tokio::time::sleep(Duration::from_millis(10 * u64::from(attempt))).await;
                }
                Err(e) => return Err(classify(e)),
            }
        }
    }
}

impl PgOrderStore {
    /// Pays or cancels one order awaiting payment and not overdue (by the
    /// database's clock), in one statement: taking its deadline's row
    /// decides against a racing expiry or cancel (which take that row
    /// first too, so no two lock in opposite orders), and its status, its
    /// give-back (for a cancel) and the totals move with it.
    async fn settle_payment(&self, id: OrderId, to: OrderStatus) -> Result<Option<OrderChange>, StoreError> {
        let changed: Option<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "WITH due AS (
                 DELETE FROM payment_due WHERE order_id = $1 AND due_at > now() RETURNING order_id
             ), changed AS (
                 UPDATE orders SET status = $2, paid_at = CASE WHEN $2 = 'paid' THEN now() END
                 WHERE order_id IN (SELECT order_id FROM due) AND status = 'confirmed'
                 RETURNING *
             ), back AS (
                 INSERT INTO units_back (order_id) SELECT order_id FROM changed WHERE $2 = 'cancelled'
             ), totals AS (
                 {}
             ){}
             SELECT true FROM changed",
            totals_move(to),
            shop_events_of(self.shop_events, "changed")
        )))
        .bind(id.as_uuid())
        .bind(to.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(self.get(id).await?.map(|order| OrderChange {
            order,
            changed: changed.is_some(),
        }))
    }

    /// Decides the reservation void unless the ledger decided it already
    /// (see the module docs), writing `audit` beside it in the same
    /// transaction; returns the decision that holds.
    pub async fn void_audited(
        &self,
        r: &Reservation,
        reason: &str,
        audit: &str,
    ) -> Result<Decision, StoreError> {
        // The void row only records the decision and what the buyer was
        // told: values the ledger would refuse for an order are clamped.
        let won: Option<bool> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "WITH voided AS (
                 INSERT INTO orders (order_id, sale_id, user_id, quantity, status, idempotency_key, remaining_after, created_at, void_reason)
                 VALUES ($1, $2, $3, $4, 'void', $5, $6, $7, $8)
                 ON CONFLICT (order_id) DO NOTHING
                 RETURNING *
             ), audited AS (
                 INSERT INTO audit_log (sale_id, action, detail)
                 SELECT sale_id, $9, jsonb_build_object('order_id', order_id, 'user_id', user_id, 'quantity', quantity, 'reason', $8::text)
                 FROM voided
             ){}
             SELECT true FROM voided",
            shop_events_of(self.shop_events, "voided")
        )))
        .bind(r.order_id.as_uuid())
        .bind(r.sale_id.as_uuid())
        .bind(r.user_id.as_str())
        .bind(i32::try_from(r.quantity.get()).unwrap_or(i32::MAX))
        .bind(r.idempotency_key.as_ref().map(IdempotencyKey::as_str))
        .bind(i64::try_from(r.remaining).unwrap_or(i64::MAX))
        .bind(r.reserved_at)
        .bind(reason)
        .bind(audit)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        if won.is_some() {
            return Ok(Decision::Void);
        }
        // Lost to an earlier decision: read it (committed by now, since the
        // conflicting insert waited for it).
        let decided = self.decisions(&[r.order_id]).await?;
        decided
            .get(&r.order_id)
            .copied()
            .ok_or_else(|| store_error(format!("order {}: no decision after a conflict", r.order_id)))
    }

    /// Units stored for each of `sales` (absent: none): the live sales
    /// only, never a scan of history.
    pub async fn units_of(&self, sales: &[SaleId]) -> Result<HashMap<SaleId, u64>, StoreError> {
        let ids: Vec<Uuid> = sales.iter().map(SaleId::as_uuid).collect();
        let rows: Vec<(Uuid, i64)> =
            sqlx::query_as("SELECT sale_id, units FROM sale_totals WHERE sale_id = ANY($1)")
                .bind(&ids)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(sale, units)| (SaleId::from_uuid(sale), units.max(0) as u64))
            .collect())
    }
}

/// One array per column, for UNNEST.
#[derive(Default)]
struct Columns {
    order_id: Vec<Uuid>,
    sale_id: Vec<Uuid>,
    user_id: Vec<String>,
    quantity: Vec<i32>,
    key: Vec<Option<String>>,
    remaining: Vec<i64>,
    created_at: Vec<DateTime<Utc>>,
}

impl Columns {
    fn push(&mut self, r: &Reservation) -> Result<(), InsertError> {
        let remaining = i64::try_from(r.remaining)
            .map_err(|_| InsertError::Permanent(format!("order {}: remaining out of range", r.order_id)))?;
        let quantity = i32::try_from(r.quantity.get())
            .map_err(|_| InsertError::Permanent(format!("order {}: quantity out of range", r.order_id)))?;
        self.order_id.push(r.order_id.as_uuid());
        self.sale_id.push(r.sale_id.as_uuid());
        self.user_id.push(r.user_id.as_str().to_owned());
        self.quantity.push(quantity);
        self.key
            .push(r.idempotency_key.as_ref().map(|k| k.as_str().to_owned()));
        self.remaining.push(remaining);
        self.created_at.push(r.reserved_at);
        Ok(())
    }
}

fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    }
}

fn is_retryable(e: &sqlx::Error) -> bool {
    matches!(sqlstate(e).as_deref(), Some("40P01" | "40001"))
}

/// Data exceptions (class 22) and integrity violations (class 23) will fail
/// again; anything else may pass later.
fn classify(e: sqlx::Error) -> InsertError {
    match sqlstate(&e) {
        Some(code) if code.starts_with("22") || code.starts_with("23") => {
            InsertError::Permanent(e.to_string())
        }
        _ => InsertError::Transient(e.to_string()),
    }
}

/// The decision a stored status stands for.
fn decision(status: &str) -> Decision {
    if status == "void" {
        Decision::Void
    } else {
        Decision::Order
    }
}

fn order_from(row: &PgRow) -> Result<Order, StoreError> {
    let r = reservation_from(row)?;
    let status: String = row.try_get("status").map_err(store_error)?;
    let status =
        OrderStatus::parse(&status).ok_or_else(|| store_error(format!("unknown order status {status}")))?;
    Ok(Order {
        void_reason: row.try_get("void_reason").map_err(store_error)?,
        payment_due_at: row.try_get("payment_due_at").map_err(store_error)?,
        paid_at: row.try_get("paid_at").map_err(store_error)?,
        ..Order::with_status(&r, status)
    })
}

fn reservation_from(row: &PgRow) -> Result<Reservation, StoreError> {
    let quantity: i32 = row.try_get("quantity").map_err(store_error)?;
    let remaining: i64 = row.try_get("remaining_after").map_err(store_error)?;
    let user: String = row.try_get("user_id").map_err(store_error)?;
    let key: Option<String> = row.try_get("idempotency_key").map_err(store_error)?;
    Ok(Reservation {
        order_id: OrderId::from_uuid(row.try_get("order_id").map_err(store_error)?),
        sale_id: SaleId::from_uuid(row.try_get("sale_id").map_err(store_error)?),
        user_id: UserId::parse(&user).map_err(store_error)?,
        quantity: Quantity::parse(quantity.into()).map_err(store_error)?,
        idempotency_key: key
            .map(|k| IdempotencyKey::parse(&k))
            .transpose()
            .map_err(store_error)?,
        remaining: u64::try_from(remaining).map_err(store_error)?,
        reserved_at: row.try_get("created_at").map_err(store_error)?,
    })
}

#[async_trait]
impl OrderStore for PgOrderStore {
    async fn insert_batch(&self, reservations: &[Reservation]) -> Result<u64, StoreError> {
        Ok(self.insert(reservations).await?.new)
    }

    async fn void(&self, reservation: &Reservation, reason: &str) -> Result<Decision, StoreError> {
        self.void_audited(reservation, reason, "order_void").await
    }

    async fn decisions(&self, ids: &[OrderId]) -> Result<HashMap<OrderId, Decision>, StoreError> {
        let uuids: Vec<Uuid> = ids.iter().map(OrderId::as_uuid).collect();
        let rows: Vec<(Uuid, String)> =
            sqlx::query_as("SELECT order_id, status FROM orders WHERE order_id = ANY($1)")
                .bind(&uuids)
                .fetch_all(&self.pool)
                .await
                .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, status)| (OrderId::from_uuid(id), decision(&status)))
            .collect())
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = $1"
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.as_ref().map(order_from).transpose()
    }

    async fn first_answer(
        &self,
        sale: SaleId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<Reservation>, StoreError> {
        // orders_by_sale narrows it to the sale's orders.
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM orders
             WHERE sale_id = $1 AND user_id = $2 AND idempotency_key = $3 AND status <> 'void'"
        )))
        .bind(sale.as_uuid())
        .bind(user.as_str())
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        row.as_ref().map(reservation_from).transpose()
    }

    async fn reservations_of(&self, sale: SaleId) -> Result<LedgerSnapshot, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS}, status FROM orders WHERE sale_id = $1 AND status <> 'void'"
        )))
        .bind(sale.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut snapshot = LedgerSnapshot::default();
        for row in &rows {
            let r = reservation_from(row)?;
            let status: String = row.try_get("status").map_err(store_error)?;
            match OrderStatus::parse(&status) {
                Some(status) if status.gave_units_back() => snapshot.given_back.push(r.order_id),
                _ => snapshot.orders.push(r),
            }
        }
        Ok(snapshot)
    }

    async fn totals(&self, sales: &[SaleId]) -> Result<HashMap<SaleId, OrderTotals>, StoreError> {
        let ids: Vec<Uuid> = sales.iter().map(|s| s.as_uuid()).collect();
        let rows = sqlx::query(
            "SELECT sale_id, orders, units, paid_orders, paid_units, expired_orders, cancelled_orders
             FROM sale_totals WHERE sale_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                let count = |column: &str| -> Result<u64, StoreError> {
                    Ok(row.try_get::<i64, _>(column).map_err(store_error)?.max(0) as u64)
                };
                Ok((
                    SaleId::from_uuid(row.try_get("sale_id").map_err(store_error)?),
                    OrderTotals {
                        orders: count("orders")?,
                        units: count("units")?,
                        paid_orders: count("paid_orders")?,
                        paid_units: count("paid_units")?,
                        expired_orders: count("expired_orders")?,
                        cancelled_orders: count("cancelled_orders")?,
                    },
                ))
            })
            .collect()
    }

    async fn pay(&self, id: OrderId) -> Result<Option<OrderChange>, StoreError> {
        self.settle_payment(id, OrderStatus::Paid).await
    }

    async fn cancel(&self, id: OrderId) -> Result<Option<OrderChange>, StoreError> {
        self.settle_payment(id, OrderStatus::Cancelled).await
    }

    async fn expire_due(&self, limit: usize) -> Result<Vec<Order>, StoreError> {
        // SKIP LOCKED: several order services expire side by side, each
        // taking deadlines the others are not working on.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "WITH due AS (
                 DELETE FROM payment_due WHERE order_id IN (
                     SELECT order_id FROM payment_due WHERE due_at <= now()
                     ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
                 RETURNING order_id
             ), changed AS (
                 UPDATE orders SET status = 'expired'
                 WHERE order_id IN (SELECT order_id FROM due) AND status = 'confirmed'
                 RETURNING *
             ), back AS (
                 INSERT INTO units_back (order_id) SELECT order_id FROM changed
             ), totals AS (
                 {}
             ){}
             SELECT * FROM changed",
            totals_move(OrderStatus::Expired),
            shop_events_of(self.shop_events, "changed")
        )))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(order_from).collect()
    }

    async fn units_to_give_back(&self, limit: usize) -> Result<Vec<Order>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id IN
                 (SELECT order_id FROM units_back ORDER BY decided_at LIMIT $1)"
        )))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter().map(order_from).collect()
    }

    async fn mark_given_back(&self, ids: &[OrderId]) -> Result<(), StoreError> {
        let ids: Vec<Uuid> = ids.iter().map(OrderId::as_uuid).collect();
        sqlx::query("DELETE FROM units_back WHERE order_id = ANY($1)")
            .bind(&ids)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

#[async_trait]
impl ShopOutbox for PgOrderStore {
    async fn claim(&self, limit: usize, lease: Duration) -> Result<Vec<ShopEvent>, StoreError> {
        // SKIP LOCKED and the lease: several order services deliver side
        // by side, never the same event at once.
        let rows: Vec<(Uuid, String, DateTime<Utc>, i32)> = sqlx::query_as(
            "UPDATE shop_outbox SET next_attempt_at = now() + make_interval(secs => $2)
             WHERE id IN (
                 SELECT id FROM shop_outbox WHERE gave_up_at IS NULL AND next_attempt_at <= now()
                 ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
             RETURNING id, payload::text, created_at, attempts",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(lease.as_secs_f64())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(rows
            .into_iter()
            .map(|(id, payload, created_at, attempts)| ShopEvent {
                id: id.to_string(),
                payload,
                created_at,
                attempts: attempts.max(0) as u32,
            })
            .collect())
    }

    async fn delivered(&self, id: &str) -> Result<(), StoreError> {
        let id = Uuid::try_parse(id).map_err(store_error)?;
        sqlx::query("DELETE FROM shop_outbox WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn failed(&self, id: &str, error: &str, retry_at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        let id = Uuid::try_parse(id).map_err(store_error)?;
        sqlx::query(
            "UPDATE shop_outbox SET attempts = attempts + 1, last_error = $2,
                 next_attempt_at = COALESCE($3, next_attempt_at),
                 gave_up_at = CASE WHEN $3::timestamptz IS NULL THEN now() END
             WHERE id = $1",
        )
        .bind(id)
        .bind(error)
        .bind(retry_at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn backlog(&self) -> Result<OutboxBacklog, StoreError> {
        let (pending, failing, gave_up): (i64, i64, i64) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE gave_up_at IS NULL),
                    count(*) FILTER (WHERE gave_up_at IS NULL AND attempts > 0),
                    count(*) FILTER (WHERE gave_up_at IS NOT NULL)
             FROM shop_outbox",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(OutboxBacklog {
            pending: pending.max(0) as u64,
            failing: failing.max(0) as u64,
            gave_up: gave_up.max(0) as u64,
        })
    }
}
