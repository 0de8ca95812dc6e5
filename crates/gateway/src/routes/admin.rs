//! Operator routes. Every one requires the admin token and is logged as an
//! admin action.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use flashsale_domain::{Event, EventKind, EventSink, OrderStatus, SaleDraft, SaleId, Severity, Transition};

use crate::auth::Admin;
use crate::dto::{
    now_rfc3339, ApiJson, CreateSaleRequest, DrawDto, FlushResult, LedgerCheck, OrderDto, RawPath, SaleDto,
    SaleStats, StampedeRequest, StampedeStarted, Stats, StockChangeRequest, Totals,
};
use crate::error::{ApiError, ErrorBody};
use crate::stampede;
use crate::state::AppState;

fn sale_id(raw: Option<&str>) -> Result<SaleId, ApiError> {
    raw.and_then(|r| SaleId::parse(r).ok())
        .ok_or(ApiError::SaleNotFound)
}

fn admin_action(state: &AppState, message: String, sale: Option<SaleId>) {
    let mut event = Event::new(EventKind::AdminAction, Severity::Info, message);
    event.sale_id = sale;
    state.events().emit(event);
}

/// Creates a sale, `scheduled` until started.
#[utoipa::path(post, path = "/api/admin/sales", tag = "admin", request_body = CreateSaleRequest,
    security(("admin_token" = [])),
    responses((status = 201, body = SaleDto), (status = 400, description = "invalid_request", body = ErrorBody),
              (status = 401, description = "unauthorized", body = ErrorBody)))]
pub async fn create_sale(
    State(state): State<AppState>,
    _: Admin,
    body: Result<ApiJson<CreateSaleRequest>, ApiError>,
) -> Result<(StatusCode, Json<SaleDto>), ApiError> {
    let ApiJson(b) = body?;
    let draft = SaleDraft::parse(
        &b.name,
        &b.product,
        b.price_cents,
        b.stock,
        b.per_user_limit,
        b.starts_at,
        b.ends_at,
    )
    .and_then(|draft| draft.with_payment_window(b.payment_window_seconds.unwrap_or(0)))
    .and_then(|draft| {
        draft.with_fair_start(b.prequeue_seconds.unwrap_or(0), b.fair_start_seconds.unwrap_or(0))
    })
    .and_then(|draft| draft.with_stock_buckets(b.stock_buckets.unwrap_or(1)))
    .map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let view = state.services().product.create(draft).await?;
    Ok((StatusCode::CREATED, Json(SaleDto::from(&view))))
}

/// Starts, pauses, resumes or ends a sale.
#[utoipa::path(post, path = "/api/admin/sales/{id}/{action}", tag = "admin",
    params(("id" = String, Path, description = "Sale id (UUID)"),
           ("action" = String, Path, description = "start, pause, resume or end")),
    security(("admin_token" = [])),
    responses((status = 200, body = SaleDto), (status = 401, description = "unauthorized", body = ErrorBody),
              (status = 404, description = "sale_not_found", body = ErrorBody),
              (status = 409, description = "invalid_transition", body = ErrorBody)))]
pub async fn transition(
    State(state): State<AppState>,
    _: Admin,
    RawPath(path): RawPath<(String, String)>,
) -> Result<Json<SaleDto>, ApiError> {
    let (id, action) = path.ok_or(ApiError::SaleNotFound)?;
    let t = Transition::parse(&action).ok_or(ApiError::NotFound)?;
    let id = sale_id(Some(&id))?;
    let view = state.services().product.transition(id, t).await?;
    admin_action(
        &state,
        format!("Operator: {} \"{}\".", t.as_str(), view.sale.name),
        Some(id),
    );
    Ok(Json(SaleDto::from(&view)))
}

/// Adds or withdraws units during the sale.
#[utoipa::path(post, path = "/api/admin/sales/{id}/stock", tag = "admin", request_body = StockChangeRequest,
    params(("id" = String, Path, description = "Sale id (UUID)")),
    security(("admin_token" = [])),
    responses((status = 200, body = SaleDto), (status = 400, description = "invalid_request", body = ErrorBody),
              (status = 401, description = "unauthorized", body = ErrorBody),
              (status = 404, description = "sale_not_found", body = ErrorBody),
              (status = 409, description = "invalid_transition (ended sale)", body = ErrorBody)))]
pub async fn change_stock(
    State(state): State<AppState>,
    _: Admin,
    RawPath(id): RawPath<String>,
    body: Result<ApiJson<StockChangeRequest>, ApiError>,
) -> Result<Json<SaleDto>, ApiError> {
    let id = sale_id(id.as_deref())?;
    let ApiJson(body) = body?;
    let view = state.services().product.adjust_stock(id, body.add).await?;
    admin_action(
        &state,
        format!(
            "Operator: stock of \"{}\" changed by {:+}.",
            view.sale.name, body.add
        ),
        Some(id),
    );
    Ok(Json(SaleDto::from(&view)))
}

/// Rebuilds the live stock from the order ledger.
#[utoipa::path(post, path = "/api/admin/cache/flush", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = FlushResult), (status = 401, description = "unauthorized", body = ErrorBody)))]
pub async fn flush_cache(State(state): State<AppState>, _: Admin) -> Result<Json<FlushResult>, ApiError> {
    let sales = state.services().product.flush_cache().await?;
    Ok(Json(FlushResult { flushed: true, sales }))
}

/// Any buyer's order, for operators (support, and `flashsale pay`, which
/// signs a payment of the order's amount).
#[utoipa::path(get, path = "/api/admin/orders/{order_id}", tag = "admin", operation_id = "admin_get_order",
    params(("order_id" = String, Path, description = "Order id (UUID)")),
    security(("admin_token" = [])),
    responses((status = 200, body = OrderDto), (status = 401, description = "unauthorized", body = ErrorBody),
              (status = 404, description = "order_not_found", body = ErrorBody)))]
pub async fn get_order(
    State(state): State<AppState>,
    _: Admin,
    RawPath(id): RawPath<String>,
) -> Result<Json<OrderDto>, ApiError> {
    let id = super::order_id(id)?;
    Ok(Json(state.services().orders.order(id).await?.into()))
}

/// Voids an answered reservation that the ledger has not decided: one the
/// sweeper reports as unaccounted for (health, event log, metrics) and the
/// operator knows lost. The ledger writes the void unless the order was
/// stored first (then 409, nothing changed); the units go back on sale and
/// the buyer sees the status `void`. Audited in the ledger's database.
#[utoipa::path(post, path = "/api/admin/orders/{order_id}/void", tag = "admin",
    params(("order_id" = String, Path, description = "Order id (UUID)")),
    security(("admin_token" = [])),
    responses((status = 200, body = OrderDto), (status = 401, description = "unauthorized", body = ErrorBody),
              (status = 404, description = "order_not_found", body = ErrorBody),
              (status = 409, description = "invalid_transition: the order is stored", body = ErrorBody)))]
pub async fn void_order(
    State(state): State<AppState>,
    _: Admin,
    RawPath(id): RawPath<String>,
) -> Result<Json<OrderDto>, ApiError> {
    let id = super::order_id(id)?;
    let order = state.services().orders.void(id).await?;
    let event = Event::new(
        EventKind::AdminAction,
        Severity::Warning,
        format!(
            "Operator: voided order {id} ({} units of buyer {}); the units are back on sale.",
            order.quantity.get(),
            order.user_id
        ),
    );
    state.events().emit(event.for_sale(order.sale_id));
    Ok(Json(order.into()))
}

/// Launches a simulated stampede against a sale, inside the engine, through
/// the real purchase path; watch it on the stats and the event log.
#[utoipa::path(post, path = "/api/admin/sales/{id}/stampede", tag = "admin", request_body = StampedeRequest,
    params(("id" = String, Path, description = "Sale id (UUID)")),
    security(("admin_token" = [])),
    responses((status = 202, body = StampedeStarted), (status = 400, description = "invalid_request", body = ErrorBody),
              (status = 401, description = "unauthorized", body = ErrorBody),
              (status = 404, description = "sale_not_found", body = ErrorBody),
              (status = 409, description = "stampede_running", body = ErrorBody)))]
pub async fn launch_stampede(
    State(state): State<AppState>,
    _: Admin,
    RawPath(id): RawPath<String>,
    body: Result<ApiJson<StampedeRequest>, ApiError>,
) -> Result<(StatusCode, Json<StampedeStarted>), ApiError> {
    let id = sale_id(id.as_deref())?;
    let ApiJson(body) = body?;
    let plan = stampede::Plan::parse(body.buyers, body.attempts_per_buyer, body.quantity)?;
    let view = state.services().product.get(id).await?;
    stampede::launch(state.clone(), id, plan)?;
    admin_action(
        &state,
        format!(
            "Operator: simulated stampede of {} buyers on \"{}\".",
            plan.buyers, view.sale.name
        ),
        Some(id),
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(StampedeStarted {
            sale_id: id.to_string(),
            buyers: plan.buyers,
            attempts_per_buyer: plan.attempts,
        }),
    ))
}

/// Live figures: per sale and in total, with the ledger check.
#[utoipa::path(get, path = "/api/admin/stats", tag = "admin", security(("admin_token" = [])),
    responses((status = 200, body = Stats), (status = 401, description = "unauthorized", body = ErrorBody)))]
pub async fn stats(State(state): State<AppState>, _: Admin) -> Result<Json<Stats>, ApiError> {
    Ok(Json(collect_stats(&state).await?))
}

/// The stats, as the endpoint and the SSE stream send them.
pub async fn collect_stats(state: &AppState) -> Result<Stats, ApiError> {
    let services = state.services();
    let views = services.product.list().await?;
    let live: Vec<SaleId> = views.iter().map(|v| v.sale.id).collect();
    let persisted = services.orders.totals(&live).await?;
    let mut totals = Totals {
        queue_depth: services.inventory.queue_depth(),
        ..Totals::default()
    };
    let mut sales = Vec::with_capacity(views.len());
    for view in &views {
        let level = view.level;
        let orders = persisted.get(&view.sale.id).copied().unwrap_or_default();
        let difference = level.ledger_difference();
        totals.stock += level.stock;
        totals.remaining += level.remaining;
        totals.sold += view.sold();
        totals.in_flight += level.in_flight;
        totals.units_persisted += level.persisted;
        totals.orders_persisted += orders.orders;
        sales.push(SaleStats {
            sale_id: view.sale.id.to_string(),
            name: view.sale.name.clone(),
            status: view.status(),
            stock: level.stock,
            remaining: level.remaining,
            sold: view.sold(),
            units_persisted: level.persisted,
            orders_persisted: orders.orders,
            in_flight: level.in_flight,
            units_awaiting_payment: if view.sale.payment_window_seconds > 0 {
                orders.units.saturating_sub(orders.paid_units)
            } else {
                0
            },
            units_paid: orders.paid_units,
            orders_by_status: BTreeMap::from([
                (
                    OrderStatus::Confirmed.as_str().to_owned(),
                    orders.orders.saturating_sub(orders.paid_orders),
                ),
                (OrderStatus::Paid.as_str().to_owned(), orders.paid_orders),
                (OrderStatus::Expired.as_str().to_owned(), orders.expired_orders),
                (
                    OrderStatus::Cancelled.as_str().to_owned(),
                    orders.cancelled_orders,
                ),
            ]),
            ledger: LedgerCheck {
                ok: difference == 0,
                difference,
            },
            draw: view.draw.as_ref().map(DrawDto::from),
        });
    }
    let rates = state.telemetry().rates();
    totals.requests_per_second = rates.requests_per_second;
    totals.purchase_attempts_per_second = rates.purchase_attempts_per_second;
    totals.accepted_per_second = rates.accepted_per_second;
    totals.p99_latency_ms = rates.p99_latency_ms;
    totals.rejections = state
        .telemetry()
        .rejections()
        .into_iter()
        .map(|(code, n)| (code.to_owned(), n))
        .collect::<BTreeMap<_, _>>();
    Ok(Stats {
        generated_at: now_rfc3339(),
        mode: services.mode,
        uptime_seconds: state.telemetry().uptime().as_secs_f64(),
        totals,
        sales,
    })
}
