//! The embedded order ledger: the `orders` table of the SQLite file.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use flashsale_domain::{
    Decision, IdempotencyKey, LedgerSnapshot, Order, OrderChange, OrderId, OrderStatus, OrderStore,
    OrderTotals, OutboxBacklog, Quantity, Reservation, SaleId, ShopEvent, ShopEventBody, ShopOutbox,
    StoreError, UserId,
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
    /// Whether each order change also writes its event for the shop.
    shop_events: bool,
}

impl SqliteOrderStore {
    /// Opens the (already migrated) database file.
    pub fn open(path: &Path) -> Result<Self, crate::database::DbError> {
        Ok(Self {
            writer: Arc::new(Mutex::new(crate::database::open(path)?)),
            reader: Arc::new(Mutex::new(crate::database::open(path)?)),
            totals: Arc::default(),
            shop_events: false,
        })
    }

    /// Every order change also writes its event for the shop into the
    /// outbox, in the same transaction (see [`ShopOutbox`]).
    pub fn with_shop_events(mut self, on: bool) -> Self {
        self.shop_events = on;
        self
    }

    /// Inserts the reservations in one transaction, sorted by order id,
    /// ignoring ids already stored. Returns how many orders were new.
    /// Blocking: call it from a blocking thread.
    pub fn insert_blocking(&self, reservations: &[Reservation]) -> Result<u64, StoreError> {
        let mut conn = self.writer.lock().expect("order writer lock poisoned");
        let fresh = insert(&mut conn, reservations, self.shop_events).map_err(store_error)?;
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

    /// Runs `change` in one immediate transaction on the writer, then
    /// applies what it returns to the totals of the sales already counted:
    /// under the writer's lock, so no commit falls between.
    async fn change<T: Send + 'static>(
        &self,
        change: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<(T, Vec<TotalsMove>)> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (writer, totals) = (self.writer.clone(), self.totals.clone());
        tokio::task::spawn_blocking(move || {
            let mut conn = writer.lock().expect("order writer lock poisoned");
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let (out, moves) = change(&tx)?;
            tx.commit()?;
            let mut totals = totals.lock().expect("order totals lock poisoned");
            for m in moves {
                if let Some(t) = totals.get_mut(&m.sale) {
                    m.apply(t);
                }
            }
            Ok(out)
        })
        .await
        .map_err(store_error)?
        .map_err(|e: rusqlite::Error| store_error(e))
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
fn void(
    conn: &mut Connection,
    r: &Reservation,
    reason: &str,
    shop_events: bool,
) -> rusqlite::Result<Decision> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if insert_row(&tx, r, "void", Some(reason))? == 1 && shop_events {
        shop_event(&tx, &Order::void(r, reason))?;
    }
    let status: String = tx.query_row(
        "SELECT status FROM orders WHERE order_id = ?1",
        [r.order_id.to_string()],
        |row| row.get(0),
    )?;
    tx.commit()?;
    Ok(decision(&status))
}

/// Writes the shop's event for `order`'s new status into the outbox.
fn shop_event(conn: &Connection, order: &Order) -> rusqlite::Result<()> {
    let Some(kind) = flashsale_domain::ports::shop::event_type(order.status) else {
        return Ok(());
    };
    let now = Utc::now();
    let body = ShopEventBody {
        id: Uuid::now_v7().to_string(),
        kind: kind.to_owned(),
        created_at: now,
        data: order.clone(),
    };
    let payload = serde_json::to_string(&body).map_err(|_| bad_row("payload"))?;
    conn.prepare_cached(
        "INSERT INTO shop_outbox (id, type, order_id, payload, created_at, next_attempt_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(params![
        body.id,
        kind,
        order.order_id.to_string(),
        payload,
        stamp(now)
    ])?;
    Ok(())
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
    shop_events: bool,
) -> rusqlite::Result<HashMap<SaleId, OrderTotals>> {
    let mut sorted: Vec<&Reservation> = reservations.iter().collect();
    sorted.sort_by_key(|r| r.order_id);
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut fresh: HashMap<SaleId, OrderTotals> = HashMap::new();
    let mut windows: HashMap<SaleId, i64> = HashMap::new();
    let now = Utc::now();
    for r in sorted {
        if insert_row(&tx, r, "confirmed", None)? == 1 {
            let window = match windows.get(&r.sale_id) {
                Some(w) => *w,
                None => {
                    let w = payment_window(&tx, r.sale_id)?;
                    *windows.entry(r.sale_id).or_insert(w)
                }
            };
            let due = (window > 0).then(|| (now + chrono::Duration::seconds(window)).trunc_subsecs(6));
            if let Some(due) = due {
                tx.prepare_cached("UPDATE orders SET payment_due_at = ?2 WHERE order_id = ?1")?
                    .execute(params![r.order_id.to_string(), stamp(due)])?;
                tx.prepare_cached("INSERT INTO payment_due (order_id, due_at) VALUES (?1, ?2)")?
                    .execute(params![r.order_id.to_string(), stamp(due)])?;
            }
            if shop_events {
                shop_event(
                    &tx,
                    &Order {
                        payment_due_at: due,
                        ..Order::confirmed(r)
                    },
                )?;
            }
            let t = fresh.entry(r.sale_id).or_default();
            t.orders += 1;
            t.units += u64::from(r.quantity.get());
        }
    }
    tx.commit()?;
    Ok(fresh)
}

/// The sale's payment window in seconds (0 for a sale the file lacks).
fn payment_window(conn: &Connection, sale: SaleId) -> rusqlite::Result<i64> {
    Ok(conn
        .prepare_cached("SELECT payment_window_seconds FROM sales WHERE id = ?1")?
        .query_row([sale.to_string()], |row| row.get(0))
        .optional()?
        .unwrap_or(0))
}

/// A time as the file keeps it: RFC 3339 with microseconds in UTC, so that
/// text order is time order.
fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// How one order's change moves its sale's totals.
struct TotalsMove {
    sale: SaleId,
    units: u64,
    to: OrderStatus,
}

impl TotalsMove {
    fn of(order: &Order) -> Self {
        Self {
            sale: order.sale_id,
            units: u64::from(order.quantity.get()),
            to: order.status,
        }
    }

    /// From confirmed (awaiting payment) to `to`.
    fn apply(&self, t: &mut OrderTotals) {
        match self.to {
            OrderStatus::Paid => {
                t.paid_orders += 1;
                t.paid_units += self.units;
            }
            OrderStatus::Expired | OrderStatus::Cancelled => {
                t.orders = t.orders.saturating_sub(1);
                t.units = t.units.saturating_sub(self.units);
                if self.to == OrderStatus::Expired {
                    t.expired_orders += 1;
                } else {
                    t.cancelled_orders += 1;
                }
            }
            _ => {}
        }
    }
}

/// Moves an order awaiting payment, not overdue at `now`, to `to` (paid or
/// cancelled); returns the order as it stands after, and whether it moved.
fn settle_payment(
    tx: &rusqlite::Transaction<'_>,
    id: OrderId,
    to: OrderStatus,
    now: DateTime<Utc>,
    shop_events: bool,
) -> rusqlite::Result<(Option<OrderChange>, Vec<TotalsMove>)> {
    let now = stamp(now);
    let moved = tx
        .prepare_cached(
            "UPDATE orders SET status = ?2, paid_at = CASE WHEN ?2 = 'paid' THEN ?3 END
             WHERE order_id = ?1 AND status = 'confirmed' AND payment_due_at IS NOT NULL AND payment_due_at > ?3",
        )?
        .execute(params![id.to_string(), to.as_str(), now])?
        == 1;
    if moved {
        tx.prepare_cached("DELETE FROM payment_due WHERE order_id = ?1")?
            .execute([id.to_string()])?;
        if to == OrderStatus::Cancelled {
            tx.prepare_cached("INSERT INTO units_back (order_id, decided_at) VALUES (?1, ?2)")?
                .execute(params![id.to_string(), now])?;
        }
    }
    let Some(order) = order_by_id(tx, id)? else {
        return Ok((None, Vec::new()));
    };
    if moved && shop_events {
        shop_event(tx, &order)?;
    }
    let moves = if moved {
        vec![TotalsMove::of(&order)]
    } else {
        Vec::new()
    };
    Ok((
        Some(OrderChange {
            order,
            changed: moved,
        }),
        moves,
    ))
}

/// Expires up to `limit` orders overdue at `now`.
fn expire_due(
    tx: &rusqlite::Transaction<'_>,
    limit: usize,
    now: DateTime<Utc>,
    shop_events: bool,
) -> rusqlite::Result<(Vec<Order>, Vec<TotalsMove>)> {
    let now = stamp(now);
    let due: Vec<String> = tx
        .prepare_cached("SELECT order_id FROM payment_due WHERE due_at <= ?1 ORDER BY due_at LIMIT ?2")?
        .query_map(params![now, limit as i64], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut expired = Vec::new();
    for id in due {
        tx.prepare_cached("DELETE FROM payment_due WHERE order_id = ?1")?
            .execute([&id])?;
        let moved = tx
            .prepare_cached(
                "UPDATE orders SET status = 'expired' WHERE order_id = ?1 AND status = 'confirmed'",
            )?
            .execute([&id])?
            == 1;
        if !moved {
            continue;
        }
        tx.prepare_cached("INSERT INTO units_back (order_id, decided_at) VALUES (?1, ?2)")?
            .execute(params![id, now])?;
        let id = OrderId::from_uuid(uuid(id)?);
        if let Some(order) = order_by_id(tx, id)? {
            if shop_events {
                shop_event(tx, &order)?;
            }
            expired.push(order);
        }
    }
    let moves = expired.iter().map(TotalsMove::of).collect();
    Ok((expired, moves))
}

/// Columns of [`order_from`]: the reservation's, then status, void_reason,
/// payment_due_at, paid_at.
const ORDER_COLUMNS: &str =
    "order_id, sale_id, user_id, quantity, idempotency_key, remaining_after, created_at, \
     status, void_reason, payment_due_at, paid_at";

fn order_from(row: &Row<'_>) -> rusqlite::Result<Order> {
    let r = reservation_from(row)?;
    let status = OrderStatus::parse(&row.get::<_, String>(7)?).ok_or_else(|| bad_row("status"))?;
    let optional_time = |i| -> rusqlite::Result<Option<DateTime<Utc>>> {
        row.get::<_, Option<String>>(i)?.map(time).transpose()
    };
    Ok(Order {
        void_reason: row.get(8)?,
        payment_due_at: optional_time(9)?,
        paid_at: optional_time(10)?,
        ..Order::with_status(&r, status)
    })
}

fn order_by_id(conn: &Connection, id: OrderId) -> rusqlite::Result<Option<Order>> {
    conn.prepare_cached(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE order_id = ?1"))?
        .query_row([id.to_string()], order_from)
        .optional()
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

fn reservations_of(conn: &Connection, sale: SaleId) -> rusqlite::Result<LedgerSnapshot> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {RESERVATION_COLUMNS}, status FROM orders WHERE sale_id = ?1 AND status <> 'void'"
    ))?;
    let mut snapshot = LedgerSnapshot::default();
    let mut rows = stmt.query([sale.to_string()])?;
    while let Some(row) = rows.next()? {
        let r = reservation_from(row)?;
        match OrderStatus::parse(&row.get::<_, String>(7)?) {
            Some(status) if status.gave_units_back() => snapshot.given_back.push(r.order_id),
            _ => snapshot.orders.push(r),
        }
    }
    Ok(snapshot)
}

/// The totals of `sale`, counted.
fn count_of(conn: &Connection, sale: SaleId) -> rusqlite::Result<OrderTotals> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, COUNT(*), COALESCE(SUM(quantity), 0) FROM orders WHERE sale_id = ?1 GROUP BY status",
    )?;
    let mut rows = stmt.query([sale.to_string()])?;
    let mut t = OrderTotals::default();
    while let Some(row) = rows.next()? {
        let (n, units) = (row.get::<_, i64>(1)? as u64, row.get::<_, i64>(2)? as u64);
        match OrderStatus::parse(&row.get::<_, String>(0)?) {
            Some(OrderStatus::Confirmed) => {
                t.orders += n;
                t.units += units;
            }
            Some(OrderStatus::Paid) => {
                t.orders += n;
                t.units += units;
                t.paid_orders += n;
                t.paid_units += units;
            }
            Some(OrderStatus::Expired) => t.expired_orders += n,
            Some(OrderStatus::Cancelled) => t.cancelled_orders += n,
            _ => {}
        }
    }
    Ok(t)
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
        let shop = self.shop_events;
        tokio::task::spawn_blocking(move || {
            void(
                &mut writer.lock().expect("order writer lock poisoned"),
                &r,
                &reason,
                shop,
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
        self.blocking(move |conn| order_by_id(conn, id)).await
    }

    async fn reservations_of(&self, sale: SaleId) -> Result<LedgerSnapshot, StoreError> {
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
                if !t.is_empty() {
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

    async fn pay(&self, id: OrderId) -> Result<Option<OrderChange>, StoreError> {
        let shop = self.shop_events;
        self.change(move |tx| settle_payment(tx, id, OrderStatus::Paid, Utc::now(), shop))
            .await
    }

    async fn cancel(&self, id: OrderId) -> Result<Option<OrderChange>, StoreError> {
        let shop = self.shop_events;
        self.change(move |tx| settle_payment(tx, id, OrderStatus::Cancelled, Utc::now(), shop))
            .await
    }

    async fn expire_due(&self, limit: usize) -> Result<Vec<Order>, StoreError> {
        let shop = self.shop_events;
        self.change(move |tx| expire_due(tx, limit, Utc::now(), shop))
            .await
    }

    async fn units_to_give_back(&self, limit: usize) -> Result<Vec<Order>, StoreError> {
        self.blocking(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {ORDER_COLUMNS} FROM orders WHERE order_id IN
                     (SELECT order_id FROM units_back ORDER BY decided_at LIMIT ?1)"
            ))?
            .query_map([limit as i64], order_from)?
            .collect()
        })
        .await
    }

    async fn mark_given_back(&self, ids: &[OrderId]) -> Result<(), StoreError> {
        let ids = ids.to_vec();
        self.change(move |tx| {
            let mut stmt = tx.prepare_cached("DELETE FROM units_back WHERE order_id = ?1")?;
            for id in ids {
                stmt.execute([id.to_string()])?;
            }
            Ok(((), Vec::new()))
        })
        .await
    }
}

#[async_trait]
impl ShopOutbox for SqliteOrderStore {
    async fn claim(&self, limit: usize, lease: std::time::Duration) -> Result<Vec<ShopEvent>, StoreError> {
        self.change(move |tx| {
            let now = Utc::now();
            let events: Vec<ShopEvent> = tx
                .prepare_cached(
                    "SELECT id, payload, created_at, attempts FROM shop_outbox
                     WHERE gave_up_at IS NULL AND next_attempt_at <= ?1 ORDER BY next_attempt_at LIMIT ?2",
                )?
                .query_map(params![stamp(now), limit as i64], |row| {
                    Ok(ShopEvent {
                        id: row.get(0)?,
                        payload: row.get(1)?,
                        created_at: time(row.get(2)?)?,
                        attempts: row.get::<_, i64>(3)? as u32,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let until = stamp(now + chrono::Duration::from_std(lease).unwrap_or_default());
            let mut stmt = tx.prepare_cached("UPDATE shop_outbox SET next_attempt_at = ?2 WHERE id = ?1")?;
            for e in &events {
                stmt.execute(params![e.id, until])?;
            }
            Ok((events, Vec::new()))
        })
        .await
    }

    async fn delivered(&self, id: &str) -> Result<(), StoreError> {
        let id = id.to_owned();
        self.change(move |tx| {
            tx.prepare_cached("DELETE FROM shop_outbox WHERE id = ?1")?
                .execute([id])?;
            Ok(((), Vec::new()))
        })
        .await
    }

    async fn failed(&self, id: &str, error: &str, retry_at: Option<DateTime<Utc>>) -> Result<(), StoreError> {
        let (id, error) = (id.to_owned(), error.to_owned());
        self.change(move |tx| {
            let now = stamp(Utc::now());
            tx.prepare_cached(
                "UPDATE shop_outbox SET attempts = attempts + 1, last_error = ?2,
                     next_attempt_at = COALESCE(?3, next_attempt_at), gave_up_at = CASE WHEN ?3 IS NULL THEN ?4 END
                 WHERE id = ?1",
            )?
            .execute(params![id, error, retry_at.map(stamp), now])?;
            Ok(((), Vec::new()))
        })
        .await
    }

    async fn backlog(&self) -> Result<OutboxBacklog, StoreError> {
        self.blocking(|conn| {
            conn.prepare_cached(
                "SELECT COALESCE(SUM(gave_up_at IS NULL), 0), COALESCE(SUM(gave_up_at IS NULL AND attempts > 0), 0),
                        COALESCE(SUM(gave_up_at IS NOT NULL), 0)
                 FROM shop_outbox",
            )?
            .query_row([], |row| {
                Ok(OutboxBacklog {
                    pending: row.get::<_, i64>(0)? as u64,
                    failing: row.get::<_, i64>(1)? as u64,
                    gave_up: row.get::<_, i64>(2)? as u64,
                })
            })
        })
        .await
    }
}
