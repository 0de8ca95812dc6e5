//! The embedded order ledger: the `orders` table of the SQLite file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, Utc};
use flashsale_domain::{
    Decision, IdempotencyKey, Order, OrderId, OrderStatus, OrderStore, OrderTotals, Quantity, Reservation,
    SaleId, StoreError, UserId,
};
use rusqlite::{params, Connection, OptionalExtension, Row};
use uuid::Uuid;

const STORE: &str = "sqlite";

/// Orders in SQLite. Cheap to clone.
///
/// Two connections: one for writes and one for reads, each behind a std
/// `Mutex`. A std lock is right here because every use is a short,
/// synchronous SQLite call made on a blocking thread, never held across an
/// `.await`.
///
/// A sale's totals are counted the first time they are asked for, then kept
/// up to date by every commit, so the stats (pushed every second to every
/// dashboard) never scan the table, and opening the file does not count the
/// orders of every sale ever sold.
#[derive(Clone)]
pub struct SqliteOrderStore {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    totals: Arc<Mutex<HashMap<SaleId, OrderTotals>>>,
}

impl SqliteOrderStore {
    /// Opens the (already migrated) database file.
    pub fn open(path: &Path) -> Result<Self, crate::database::DbError> {
        Ok(Self {
            writer: Arc::new(Mutex::new(crate::database::open(path)?)),
            reader: Arc::new(Mutex::new(crate::database::open(path)?)),
            totals: Arc::default(),
        })
    }

    /// Inserts the reservations in one transaction, sorted by order id,
    /// ignoring ids already stored. Returns how many orders were new.
    /// Blocking: call it from a blocking thread.
    pub fn insert_blocking(&self, reservations: &[Reservation]) -> Result<u64, StoreError> {
        let mut conn = self.writer.lock().expect("order writer lock poisoned");
        let fresh = insert(&mut conn, reservations).map_err(store_error)?;
        let mut totals = self.totals.lock().expect("order totals lock poisoned");
        // A sale not counted yet is counted, commits included, when asked.
        for (sale, added) in &fresh {
            if let Some(t) = totals.get_mut(sale) {
                t.orders += added.orders;
                t.units += added.units;
            }
        }
        Ok(fresh.values().map(|t| t.orders).sum())
    }

    async fn blocking<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || job(&reader.lock().expect("order reader lock poisoned")))
            .await
            .map_err(store_error)?
            .map_err(store_error)
    }
}

fn store_error(e: impl ToString) -> StoreError {
    StoreError::new(STORE, e)
}

/// Voids in one transaction unless the id is decided; returns the decision
/// that holds.
fn void(conn: &mut Connection, r: &Reservation, reason: &str) -> rusqlite::Result<Decision> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    insert_row(&tx, r, "void", Some(reason))?;
    let status: String = tx.query_row(
        "SELECT status FROM orders WHERE order_id = ?1",
        [r.order_id.to_string()],
        |row| row.get(0),
    )?;
    tx.commit()?;
    Ok(decision(&status))
}

fn decision(status: &str) -> Decision {
    if status == "void" {
        Decision::Void
    } else {
        Decision::Order
    }
}

/// Inserts the row of `r` with `status` unless its order id is decided
/// already; returns 1 if it was new.
fn insert_row(
    conn: &Connection,
    r: &Reservation,
    status: &str,
    reason: Option<&str>,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(
        "INSERT INTO orders (order_id, sale_id, user_id, quantity, status, idempotency_key, remaining_after, created_at, void_reason)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (order_id) DO NOTHING",
    )?
    .execute(params![
        r.order_id.to_string(),
        r.sale_id.to_string(),
        r.user_id.as_str(),
        r.quantity.get(),
        status,
        r.idempotency_key.as_ref().map(IdempotencyKey::as_str),
        r.remaining as i64,
        r.reserved_at.to_rfc3339_opts(SecondsFormat::Micros, true),
        reason,
    ])
}

/// Inserts in one transaction; returns what was new, per sale.
fn insert(
    conn: &mut Connection,
    reservations: &[Reservation],
) -> rusqlite::Result<HashMap<SaleId, OrderTotals>> {
    let mut sorted: Vec<&Reservation> = reservations.iter().collect();
    sorted.sort_by_key(|r| r.order_id);
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut fresh: HashMap<SaleId, OrderTotals> = HashMap::new();
    for r in sorted {
        if insert_row(&tx, r, "confirmed", None)? == 1 {
            let t = fresh.entry(r.sale_id).or_default();
            t.orders += 1;
            t.units += u64::from(r.quantity.get());
        }
    }
    tx.commit()?;
    Ok(fresh)
}

fn bad_row(what: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(0, what.to_owned(), rusqlite::types::Type::Text)
}

fn uuid(raw: String) -> rusqlite::Result<Uuid> {
    Uuid::try_parse(&raw).map_err(|_| bad_row("uuid"))
}

fn time(raw: String) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| bad_row("timestamp"))
}

/// Columns: order_id, sale_id, user_id, quantity, idempotency_key, remaining_after, created_at.
fn reservation_from(row: &Row<'_>) -> rusqlite::Result<Reservation> {
    Ok(Reservation {
        order_id: OrderId::from_uuid(uuid(row.get(0)?)?),
        sale_id: SaleId::from_uuid(uuid(row.get(1)?)?),
        user_id: UserId::parse(&row.get::<_, String>(2)?).map_err(|_| bad_row("user_id"))?,
        quantity: Quantity::parse(row.get(3)?).map_err(|_| bad_row("quantity"))?,
        idempotency_key: row
            .get::<_, Option<String>>(4)?
            .map(|k| IdempotencyKey::parse(&k).map_err(|_| bad_row("idempotency_key")))
            .transpose()?,
        remaining: row.get::<_, i64>(5)? as u64,
        reserved_at: time(row.get(6)?)?,
    })
}

const RESERVATION_COLUMNS: &str =
    "order_id, sale_id, user_id, quantity, idempotency_key, remaining_after, created_at";

fn reservations_of(conn: &Connection, sale: SaleId) -> rusqlite::Result<Vec<Reservation>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RESERVATION_COLUMNS} FROM orders WHERE sale_id = ?1 AND status <> 'void'"
    ))?;
    let rows = stmt.query_map([sale.to_string()], reservation_from)?;
    rows.collect()
}

/// Orders and units stored for `sale`.
fn count_of(conn: &Connection, sale: SaleId) -> rusqlite::Result<OrderTotals> {
    conn.prepare_cached(
        "SELECT COUNT(*), COALESCE(SUM(quantity), 0) FROM orders WHERE sale_id = ?1 AND status <> 'void'",
    )?
    .query_row([sale.to_string()], |row| {
        Ok(OrderTotals {
            orders: row.get::<_, i64>(0)? as u64,
            units: row.get::<_, i64>(1)? as u64,
        })
    })
}

#[async_trait]
impl OrderStore for SqliteOrderStore {
    async fn insert_batch(&self, reservations: &[Reservation]) -> Result<u64, StoreError> {
        let this = self.clone();
        let batch = reservations.to_vec();
        tokio::task::spawn_blocking(move || this.insert_blocking(&batch))
            .await
            .map_err(store_error)?
    }

    async fn void(&self, reservation: &Reservation, reason: &str) -> Result<Decision, StoreError> {
        let (writer, r, reason) = (self.writer.clone(), reservation.clone(), reason.to_owned());
        tokio::task::spawn_blocking(move || {
            void(
                &mut writer.lock().expect("order writer lock poisoned"),
                &r,
                &reason,
            )
        })
        .await
        .map_err(store_error)?
        .map_err(store_error)
    }

    async fn decisions(&self, ids: &[OrderId]) -> Result<HashMap<OrderId, Decision>, StoreError> {
        let ids = ids.to_vec();
        self.blocking(move |conn| {
            let mut stmt = conn.prepare_cached("SELECT status FROM orders WHERE order_id = ?1")?;
            let mut found = HashMap::new();
            for id in ids {
                let status: Option<String> = stmt.query_row([id.to_string()], |r| r.get(0)).optional()?;
                if let Some(status) = status {
                    found.insert(id, decision(&status));
                }
            }
            Ok(found)
        })
        .await
    }

    async fn get(&self, id: OrderId) -> Result<Option<Order>, StoreError> {
        self.blocking(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {RESERVATION_COLUMNS}, status, void_reason FROM orders WHERE order_id = ?1"
            ))?
            .query_row([id.to_string()], |row| {
                let r = reservation_from(row)?;
                Ok(match row.get::<_, String>(7)?.as_str() {
                    "void" => Order::void(&r, row.get::<_, Option<String>>(8)?.unwrap_or_default()),
                    _ => Order::with_status(&r, OrderStatus::Confirmed),
                })
            })
            .optional()
        })
        .await
    }

    async fn reservations_of(&self, sale: SaleId) -> Result<Vec<Reservation>, StoreError> {
        self.blocking(move |conn| reservations_of(conn, sale)).await
    }

    async fn totals(&self, sales: &[SaleId]) -> Result<HashMap<SaleId, OrderTotals>, StoreError> {
        let (writer, totals, sales) = (self.writer.clone(), self.totals.clone(), sales.to_vec());
        tokio::task::spawn_blocking(move || {
            // Under the writer's lock, as commits update the totals: no
            // commit falls between a count and its entry.
            let conn = writer.lock().expect("order writer lock poisoned");
            let mut totals = totals.lock().expect("order totals lock poisoned");
            let mut found = HashMap::new();
            for sale in sales {
                let t = match totals.get(&sale) {
                    Some(t) => *t,
                    None => *totals.entry(sale).or_insert(count_of(&conn, sale)?),
                };
                if t.orders > 0 {
                    found.insert(sale, t);
                }
            }
            Ok(found)
        })
        .await
        .map_err(store_error)?
        .map_err(|e: rusqlite::Error| store_error(e))
    }

    async fn first_answer(
        &self,
        sale: SaleId,
        user: &UserId,
        key: &IdempotencyKey,
    ) -> Result<Option<Reservation>, StoreError> {
        let (user, key) = (user.to_string(), key.as_str().to_owned());
        self.blocking(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {RESERVATION_COLUMNS} FROM orders
                 WHERE sale_id = ?1 AND user_id = ?2 AND idempotency_key = ?3 AND status <> 'void'"
            ))?
            .query_row(params![sale.to_string(), user, key], reservation_from)
            .optional()
        })
        .await
    }
}
