//! The JSON shapes of the HTTP contract. Kept apart from the domain types so
//! that the wire format is written down in one place and documented in the
//! OpenAPI document.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use chrono::{DateTime, SecondsFormat, Utc};
use flashsale_domain::ports::DrawStatus;
use flashsale_domain::{ComponentHealth, Order, OrderStatus, SaleStatus};
use flashsale_product::SaleView;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::Mode;

/// A JSON body whose every rejection (bad syntax, wrong types, missing
/// fields, unknown fields, wrong content type, too large) is a 400
/// `invalid_request` in the contract's error body.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(value)| Self(value))
            .map_err(|rejection| ApiError::InvalidRequest(rejection.body_text()))
    }
}

/// A route's path parameters, or `None` when they cannot be decoded (a
/// segment that is not UTF-8 once percent-decoded). Never rejects: each
/// handler answers `None` with its own not-found error, as for any
/// malformed id.
pub struct RawPath<T>(pub Option<T>);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for RawPath<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            Path::<T>::from_request_parts(parts, state)
                .await
                .ok()
                .map(|Path(t)| t),
        ))
    }
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A sale session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SaleDto {
    #[schema(format = "uuid")]
    pub id: String,
    pub name: String,
    pub product: String,
    pub price_cents: u64,
    /// Units put on sale in all.
    pub stock: u64,
    /// Units not yet sold.
    pub remaining: u64,
    pub sold: u64,
    pub per_user_limit: u32,
    #[schema(format = "date-time")]
    pub starts_at: Option<String>,
    #[schema(format = "date-time")]
    pub ends_at: Option<String>,
    /// `scheduled`, `active`, `paused`, `ended` or `sold_out`.
    #[schema(value_type = String)]
    pub status: SaleStatus,
    #[schema(format = "date-time")]
    pub created_at: String,
    /// Seconds a buyer has to pay once the order is stored; 0: no payment
    /// step (orders are final once `confirmed`).
    pub payment_window_seconds: u32,
    /// A fair start: purchase attempts from `prequeue_seconds` before
    /// `starts_at` to `fair_start_seconds` after it enter the sale's
    /// opening draw and wait; the entries are then served in a random
    /// order, each answered as any purchase. 0 and 0: first come, first
    /// served from the start.
    pub prequeue_seconds: u32,
    pub fair_start_seconds: u32,
    /// Slots the sale's live stock is split over on the real stack (a hot
    /// sale on several Redis Cluster masters); 1: one slot.
    #[schema(minimum = 1, maximum = 16)]
    pub stock_buckets: u32,
    /// Present (true) while the engine rebuilds this sale's live copy,
    /// which it had lost: nothing is shown on sale meanwhile.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub degraded: bool,
    /// When the sale's life ended in the archive (present only then): it
    /// ended, its pipeline drained, its live records left Redis; listed
    /// with `?archived=true`, and a keyed retry still gets its first answer.
    #[schema(format = "date-time")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<String>,
    /// The sale's opening draw (a fair start): present once a buyer entered
    /// it or its window closed, and kept in the archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draw: Option<DrawDto>,
}

/// A fair start's draw, for buyers to see it is one and for audit: with
/// the seed and the entrants anybody recomputes the drawn order
/// (`docs/fair-start.md`).
#[derive(Debug, Serialize, ToSchema)]
pub struct DrawDto {
    /// `open` (taking entries), `serving` (closed, entries being answered
    /// in the drawn order) or `served`.
    pub phase: &'static str,
    /// Buyers entered: so far while open, fixed once closed.
    pub entrants: u64,
    /// Entries answered, in the drawn order.
    pub served: u64,
    /// 64 hex digits, set when the window closed.
    pub seed: Option<String>,
}

impl From<&DrawStatus> for DrawDto {
    fn from(d: &DrawStatus) -> Self {
        Self {
            phase: d.phase.as_str(),
            entrants: d.entrants,
            served: d.served,
            seed: d.seed.map(|s| s.to_hex()),
        }
    }
}

impl From<&SaleView> for SaleDto {
    fn from(v: &SaleView) -> Self {
        Self {
            id: v.sale.id.to_string(),
            name: v.sale.name.clone(),
            product: v.sale.product.clone(),
            price_cents: v.sale.price_cents,
            stock: v.level.stock,
            remaining: v.remaining(),
            sold: v.sold(),
            per_user_limit: v.sale.per_user_limit,
            starts_at: v.sale.starts_at.map(rfc3339),
            ends_at: v.sale.ends_at.map(rfc3339),
            status: v.status(),
            archived_at: v.sale.archived.map(|a| rfc3339(a.at)),
            created_at: rfc3339(v.sale.created_at),
            payment_window_seconds: v.sale.payment_window_seconds,
            prequeue_seconds: v.sale.prequeue_seconds,
            fair_start_seconds: v.sale.fair_start_seconds,
            stock_buckets: v.sale.stock_buckets,
            degraded: v.degraded,
            draw: v.draw.as_ref().map(DrawDto::from),
        }
    }
}

/// `POST /api/sales/{id}/purchase`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRequest {
    /// Units to buy: 1 up to the sale's per-user limit.
    #[schema(minimum = 1, maximum = 1_000)]
    pub quantity: i64,
}

/// The 202 answer: the units are the buyer's.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurchaseAccepted {
    #[schema(format = "uuid")]
    pub order_id: String,
    /// Always `pending`: poll `GET /api/orders/{order_id}` for `confirmed`.
    pub status: &'static str,
    /// Units left in the sale right after this purchase.
    pub remaining: u64,
}

/// An order.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDto {
    #[schema(format = "uuid")]
    pub order_id: String,
    #[schema(format = "uuid")]
    pub sale_id: String,
    pub user_id: String,
    pub quantity: u32,
    /// `pending` (reserved), `confirmed` (in the order store; awaiting
    /// payment until `payment_due_at` where the sale has a payment window),
    /// then `paid`, `expired` (not paid in time) or `cancelled` (by its
    /// buyer); or `void` (the ledger decided it will never be an order; see
    /// `void_reason`). Units of expired and cancelled orders are back on sale.
    #[schema(value_type = String, example = "confirmed")]
    pub status: OrderStatus,
    #[schema(format = "date-time")]
    pub created_at: String,
    /// Why a `void` order was voided; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub void_reason: Option<String>,
    /// Until when the order can be paid; absent where the sale has no
    /// payment window (or the order is not stored yet).
    #[schema(format = "date-time")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payment_due_at: Option<String>,
    #[schema(format = "date-time")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paid_at: Option<String>,
}

impl From<Order> for OrderDto {
    fn from(o: Order) -> Self {
        Self {
            order_id: o.order_id.to_string(),
            sale_id: o.sale_id.to_string(),
            user_id: o.user_id.to_string(),
            quantity: o.quantity.get(),
            status: o.status,
            created_at: rfc3339(o.created_at),
            void_reason: o.void_reason,
            payment_due_at: o.payment_due_at.map(rfc3339),
            paid_at: o.paid_at.map(rfc3339),
        }
    }
}

/// `POST /api/admin/sales`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSaleRequest {
    /// 1 to 120 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 120,
        pattern = r"^[^\u0000-\u001f\u007f]*[^\s\u0000-\u001f\u007f][^\u0000-\u001f\u007f]*$"
    )]
    pub name: String,
    /// 1 to 120 characters, not only spaces, no control characters.
    #[schema(
        min_length = 1,
        max_length = 120,
        pattern = r"^[^\u0000-\u001f\u007f]*[^\s\u0000-\u001f\u007f][^\u0000-\u001f\u007f]*$"
    )]
    pub product: String,
    /// 0 to 10^12.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_i64)]
    pub price_cents: i64,
    /// 1 to 10,000,000.
    #[schema(minimum = 1, maximum = 10_000_000)]
    pub stock: i64,
    /// 1 to 1,000.
    #[schema(minimum = 1, maximum = 1_000)]
    pub per_user_limit: i64,
    /// RFC 3339; the sale starts by itself at this time.
    #[schema(value_type = Option<String>, format = "date-time")]
    pub starts_at: Option<DateTime<Utc>>,
    /// RFC 3339; the sale ends by itself at this time.
    #[schema(value_type = Option<String>, format = "date-time")]
    pub ends_at: Option<DateTime<Utc>>,
    /// 0 to 86,400 (default 0: no payment step). Buyers get this many
    /// seconds to pay once their order is stored; unpaid orders then
    /// expire and their units go back on sale.
    #[schema(minimum = 0, maximum = 86_400)]
    pub payment_window_seconds: Option<i64>,
    /// A fair start (default 0 and 0: none; needs `starts_at`; 60 together
    /// at most): purchase attempts from `prequeue_seconds` before
    /// `starts_at` to `fair_start_seconds` after it enter the sale's
    /// opening draw and wait for its answer; when the window closes the
    /// entries are served in a random order (one entry per buyer), then
    /// first come, first served.
    #[schema(minimum = 0, maximum = 60)]
    pub prequeue_seconds: Option<i64>,
    #[schema(minimum = 0, maximum = 60)]
    pub fair_start_seconds: Option<i64>,
    /// 1 to 16, and no more than `stock` (default 1). On the real stack a
    /// hot sale's live stock is split over this many Redis slots, so on a
    /// Redis Cluster it sells on several masters at once; every buyer's
    /// purchases stay in one of them (the limit stays exact) and units move
    /// to where buyers are, so the sale still sells out to exactly its
    /// stock. A 202's `remaining` is then its bucket's. The embedded engine
    /// keeps the setting and sells from one book.
    #[schema(minimum = 1, maximum = 16)]
    pub stock_buckets: Option<i64>,
}

/// `POST /api/admin/sales/{id}/stock`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockChangeRequest {
    /// Units to add; negative withdraws, down to minus the remaining units;
    /// the stock stays within 10,000,000.
    #[schema(minimum = -10_000_000, maximum = 10_000_000)]
    pub add: i64,
}

/// `POST /api/admin/sales/{id}/stampede`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StampedeRequest {
    /// Simulated buyers: 1 to 100,000.
    #[schema(minimum = 1, maximum = 100_000)]
    pub buyers: i64,
    /// 1 to 10; default 1.
    #[schema(minimum = 1, maximum = 10)]
    pub attempts_per_buyer: Option<i64>,
    /// Units per attempt, 1 up to the sale's per-user limit; default 1.
    #[schema(minimum = 1, maximum = 1_000)]
    pub quantity: Option<i64>,
}

/// The 202 answer of a stampede launch.
#[derive(Debug, Serialize, ToSchema)]
pub struct StampedeStarted {
    pub sale_id: String,
    pub buyers: u32,
    pub attempts_per_buyer: u32,
}

/// `POST /api/admin/cache/flush`.
#[derive(Debug, Serialize, ToSchema)]
pub struct FlushResult {
    pub flushed: bool,
    /// Sales rebuilt.
    pub sales: usize,
}

/// Whether every unit of a sale is accounted for.
#[derive(Debug, Serialize, ToSchema)]
pub struct LedgerCheck {
    /// stock = remaining + in flight + persisted, where persisted = awaiting
    /// payment + paid (+ final orders of a sale without a payment window).
    pub ok: bool,
    /// stock - (remaining + persisted + in flight).
    pub difference: i64,
}

/// Live figures of one sale.
#[derive(Debug, Serialize, ToSchema)]
pub struct SaleStats {
    pub sale_id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub status: SaleStatus,
    pub stock: u64,
    pub remaining: u64,
    pub sold: u64,
    /// Units committed to the order store.
    pub units_persisted: u64,
    /// Orders committed to the order store.
    pub orders_persisted: u64,
    /// Units answered 202 and not yet in the order store.
    pub in_flight: u64,
    /// Of the units persisted: stored and not paid yet, on a sale with a
    /// payment window (0 without one).
    pub units_awaiting_payment: u64,
    /// Of the units persisted: paid.
    pub units_paid: u64,
    /// Orders by status in the order store (`confirmed`, `paid`,
    /// `expired`, `cancelled`).
    pub orders_by_status: BTreeMap<String, u64>,
    pub ledger: LedgerCheck,
    /// The sale's opening draw, as on the sale.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub draw: Option<DrawDto>,
}

/// Totals over every sale, and the live rates.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct Totals {
    pub stock: u64,
    pub remaining: u64,
    pub sold: u64,
    pub orders_persisted: u64,
    pub units_persisted: u64,
    pub in_flight: u64,
    /// Reservations waiting for the order store.
    pub queue_depth: u64,
    pub requests_per_second: f64,
    pub purchase_attempts_per_second: f64,
    pub accepted_per_second: f64,
    /// Over the last ten seconds of purchases.
    pub p99_latency_ms: f64,
    /// Error answers by code since start-up.
    pub rejections: BTreeMap<String, u64>,
}

/// `GET /api/admin/stats`, also pushed every second on the SSE stream.
#[derive(Debug, Serialize, ToSchema)]
pub struct Stats {
    pub generated_at: String,
    #[schema(value_type = String)]
    pub mode: Mode,
    pub uptime_seconds: f64,
    pub totals: Totals,
    pub sales: Vec<SaleStats>,
}

/// `GET /api/health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`, or `degraded` (HTTP 503) when any component is not ok.
    pub status: &'static str,
    #[schema(value_type = String)]
    pub mode: Mode,
    pub components: BTreeMap<String, ComponentHealth>,
}

/// `GET /livez` and `GET /readyz`: the orchestrator's probes.
#[derive(Debug, Serialize, ToSchema)]
pub struct Probe {
    /// `alive` (`/livez`); `ready`, or `not_ready` (HTTP 503) (`/readyz`).
    pub status: &'static str,
    /// The components that are down (`/readyz` only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub down: Vec<String>,
}

pub fn now_rfc3339() -> String {
    rfc3339(Utc::now())
}
