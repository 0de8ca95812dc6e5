//! Buyer routes: list sales, buy, read one's order. The purchase handler is
//! the whole HTTP side of the hot path.

use std::time::Instant;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use flashsale_domain::{EventKind, IdempotencyKey, Quantity, SaleId};

use crate::auth::Buyer;
use crate::dto::{ApiJson, OrderDto, PurchaseAccepted, PurchaseRequest, RawPath, SaleDto};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

fn sale_id(raw: Option<&str>) -> Result<SaleId, ApiError> {
    raw.and_then(|r| SaleId::parse(r).ok())
        .ok_or(ApiError::SaleNotFound)
}

/// Every sale, oldest first.
#[utoipa::path(get, path = "/api/sales", tag = "sales", responses((status = 200, body = [SaleDto])))]
pub async fn list_sales(State(state): State<AppState>) -> Result<Json<Vec<SaleDto>>, ApiError> {
    let views = state.services().product.list().await?;
    Ok(Json(views.iter().map(SaleDto::from).collect()))
}

/// One sale.
#[utoipa::path(get, path = "/api/sales/{id}", tag = "sales",
    params(("id" = String, Path, description = "Sale id (UUID)")),
    responses((status = 200, body = SaleDto), (status = 404, description = "sale_not_found", body = ErrorBody)))]
pub async fn get_sale(
    State(state): State<AppState>,
    RawPath(id): RawPath<String>,
) -> Result<Json<SaleDto>, ApiError> {
    let view = state.services().product.get(sale_id(id.as_deref())?).await?;
    Ok(Json(SaleDto::from(&view)))
}

/// Buys units of a sale. 202 means the units are the buyer's and the order
/// will exist; retry with the same `Idempotency-Key` to get the same answer.
#[utoipa::path(post, path = "/api/sales/{id}/purchase", tag = "sales",
    params(("id" = String, Path, description = "Sale id (UUID)"),
           ("Idempotency-Key" = Option<String>, Header, description = "Same buyer and key: the first answer again")),
    request_body = PurchaseRequest,
    security(("buyer_jwt" = [])),
    responses(
        (status = 202, body = PurchaseAccepted),
        (status = 400, description = "invalid_request", body = ErrorBody),
        (status = 401, description = "unauthorized", body = ErrorBody),
        (status = 404, description = "sale_not_found", body = ErrorBody),
        (status = 409, description = "sold_out, sale_not_active or limit_exceeded", body = ErrorBody),
        (status = 422, description = "idempotency_key_reused: the key was first used with another body", body = ErrorBody),
        (status = 429, description = "rate_limited, with Retry-After", body = ErrorBody),
        (status = 503, description = "overloaded, with Retry-After", body = ErrorBody)))]
pub async fn purchase(
    State(state): State<AppState>,
    buyer: Result<Buyer, ApiError>,
    RawPath(id): RawPath<String>,
    headers: HeaderMap,
    body: Result<ApiJson<PurchaseRequest>, ApiError>,
) -> Response {
    let started = Instant::now();
    let result = purchase_inner(&state, buyer, id.as_deref(), &headers, body).await;
    let refusal = result.as_ref().err().map(ApiError::code);
    state.telemetry().record_purchase(refusal, started.elapsed());
    match result {
        Ok((accepted, replayed)) => {
            let mut response = (StatusCode::ACCEPTED, Json(accepted)).into_response();
            if replayed {
                response
                    .headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

async fn purchase_inner(
    state: &AppState,
    buyer: Result<Buyer, ApiError>,
    id: Option<&str>,
    headers: &HeaderMap,
    body: Result<ApiJson<PurchaseRequest>, ApiError>,
) -> Result<(PurchaseAccepted, bool), ApiError> {
    let Buyer(user) = buyer?;
    if let Some(limiter) = &state.0.user_limit {
        if let Err(wait) = limiter.check(user.as_str()) {
            state
                .events()
                .count(EventKind::RateLimited, format!("user {user}"));
            return Err(ApiError::RateLimited {
                retry_after_secs: wait.as_secs().max(1),
            });
        }
    }
    let sale = sale_id(id)?;
    let ApiJson(body) = body?;
    let quantity = Quantity::parse(body.quantity).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(raw) => Some(
            raw.to_str()
                .ok()
                .and_then(|k| IdempotencyKey::parse(k).ok())
                .ok_or_else(|| {
                    ApiError::InvalidRequest(
                        "Idempotency-Key must be 1 to 128 visible ASCII characters".into(),
                    )
                })?,
        ),
    };
    let _slot = state
        .0
        .purchase_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Overloaded)?;
    let inventory = &state.services().inventory;
    match inventory.purchase(sale, user.clone(), quantity, key).await {
        Ok(receipt) => Ok((
            PurchaseAccepted {
                order_id: receipt.order_id.to_string(),
                status: "pending",
                remaining: receipt.remaining,
            },
            receipt.replayed,
        )),
        Err(e) => {
            if matches!(e, ApiError::LimitExceeded(_)) {
                state
                    .events()
                    .count(EventKind::LimitAbuse, format!("user {user}"));
            }
            Err(e)
        }
    }
}

/// One of the caller's orders.
#[utoipa::path(get, path = "/api/orders/{order_id}", tag = "orders",
    params(("order_id" = String, Path, description = "Order id (UUID)")),
    security(("buyer_jwt" = [])),
    responses((status = 200, body = OrderDto),
              (status = 401, description = "unauthorized", body = ErrorBody),
              (status = 404, description = "order_not_found (also another buyer's order)", body = ErrorBody)))]
pub async fn get_order(
    State(state): State<AppState>,
    Buyer(user): Buyer,
    RawPath(id): RawPath<String>,
) -> Result<Json<OrderDto>, ApiError> {
    let id = super::order_id(id)?;
    let order = state.services().orders.order_for(id, &user).await?;
    Ok(Json(order.into()))
}
