//! Checkout routes: a buyer pays (simulated provider) or cancels an order
//! awaiting payment; the payment provider's signed webhook pays.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use chrono::Utc;
use flashsale_domain::{Event, EventKind, EventSink, Order, OrderChange, OrderId, OrderStatus, Severity};
use flashsale_order::PaymentOutcome;

use crate::auth::Buyer;
use crate::dto::{OrderDto, RawPath};
use crate::error::{ApiError, ErrorBody};
use crate::payments::{
    self, PaymentEvent, PaymentEventAnswer, PaymentEventOutcome, PaymentEventType, PaymentMode,
};
use crate::state::AppState;

/// Why `order` is not (or no longer) awaiting payment, as a refusal.
fn not_awaiting(order: &Order) -> ApiError {
    match order.status {
        OrderStatus::Paid => ApiError::OrderPaid,
        OrderStatus::Cancelled => ApiError::OrderCancelled,
        OrderStatus::Expired => ApiError::OrderExpired,
        // Overdue: the expiry is about to take it.
        OrderStatus::Confirmed if order.payment_due_at.is_some() => ApiError::OrderExpired,
        OrderStatus::Confirmed => {
            ApiError::OrderNotAwaitingPayment("the sale has no payment window: the order is final".into())
        }
        OrderStatus::Pending => {
            ApiError::OrderNotAwaitingPayment("the order is not stored yet; retry shortly".into())
        }
        OrderStatus::Void => ApiError::OrderNotAwaitingPayment("the order was voided".into()),
    }
}

/// The order if the change left it in `wanted`, else the refusal.
fn ended_in(change: OrderChange, wanted: OrderStatus) -> Result<Json<OrderDto>, ApiError> {
    if change.order.status == wanted {
        Ok(Json(change.order.into()))
    } else {
        Err(not_awaiting(&change.order))
    }
}

/// Pays one of the caller's orders with the simulated provider (only when
/// `FLASHSALE_PAYMENTS=simulated`, the embedded default; 404 otherwise).
/// Paying a paid order answers it again.
#[utoipa::path(post, path = "/api/orders/{order_id}/pay", tag = "orders",
    params(("order_id" = String, Path, description = "Order id (UUID)")),
    security(("buyer_jwt" = [])),
    responses((status = 200, description = "paid", body = OrderDto),
              (status = 401, description = "unauthorized", body = ErrorBody),
              (status = 404, description = "order_not_found, or not_found when payments are not simulated", body = ErrorBody),
              (status = 409, description = "order_expired, order_cancelled or order_not_awaiting_payment", body = ErrorBody)))]
pub async fn pay_order(
    State(state): State<AppState>,
    Buyer(user): Buyer,
    RawPath(id): RawPath<String>,
) -> Result<Json<OrderDto>, ApiError> {
    if state.config().payments.mode != PaymentMode::Simulated {
        return Err(ApiError::NotFound);
    }
    let id = super::order_id(id)?;
    let change = state.services().orders.pay(id, Some(&user)).await?;
    ended_in(change, OrderStatus::Paid)
}

/// Cancels one of the caller's orders awaiting payment: its units go back
/// on sale and stop counting toward the caller's limit. Cancelling a
/// cancelled order answers it again.
#[utoipa::path(post, path = "/api/orders/{order_id}/cancel", tag = "orders",
    params(("order_id" = String, Path, description = "Order id (UUID)")),
    security(("buyer_jwt" = [])),
    responses((status = 200, description = "cancelled", body = OrderDto),
              (status = 401, description = "unauthorized", body = ErrorBody),
              (status = 404, description = "order_not_found", body = ErrorBody),
              (status = 409, description = "order_paid, order_expired or order_not_awaiting_payment", body = ErrorBody)))]
pub async fn cancel_order(
    State(state): State<AppState>,
    Buyer(user): Buyer,
    RawPath(id): RawPath<String>,
) -> Result<Json<OrderDto>, ApiError> {
    let id = super::order_id(id)?;
    let change = state.services().orders.cancel(id, &user).await?;
    ended_in(change, OrderStatus::Cancelled)
}

/// The payment provider's webhook, signed with `FlashSale-Signature`
/// (404 unless `FLASHSALE_PAYMENT_WEBHOOK_SECRET` is set). A payment that
/// comes after its order expired is answered 200 with `order_expired`, so
/// the provider stops retrying, and raises a critical event: refund it.
#[utoipa::path(post, path = "/api/payments/webhook", tag = "payments", request_body = PaymentEvent,
    params(("FlashSale-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">")),
    responses((status = 200, body = PaymentEventAnswer),
              (status = 400, description = "invalid_request or stale_signature", body = ErrorBody),
              (status = 401, description = "invalid_signature", body = ErrorBody),
              (status = 404, description = "order_not_found, or not_found when the webhook is off", body = ErrorBody),
              (status = 409, description = "order_not_awaiting_payment (not stored yet: retry; or needs no payment)", body = ErrorBody),
              (status = 422, description = "amount_mismatch", body = ErrorBody)))]
pub async fn payment_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PaymentEventAnswer>, ApiError> {
    let Some(secret) = &state.config().payments.webhook_secret else {
        return Err(ApiError::NotFound);
    };
    let signature = headers
        .get(payments::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok());
    payments::verify(secret, signature, &body, Utc::now().timestamp())?;
    let event: PaymentEvent = serde_json::from_slice(&body)
        .map_err(|e| ApiError::InvalidRequest(format!("bad payment event: {e}")))?;
    if event.id.is_empty() || event.id.chars().count() > 255 || event.id.chars().any(char::is_control) {
        return Err(ApiError::InvalidRequest(
            "id must be 1 to 255 characters, no control characters".into(),
        ));
    }
    if event.amount_cents < 0 {
        return Err(ApiError::InvalidRequest(
            "amount_cents must not be negative".into(),
        ));
    }
    let id = OrderId::parse(&event.order_id).map_err(|_| ApiError::OrderNotFound)?;
    let order = state.services().orders.order(id).await?;
    let sale = state.services().product.get(order.sale_id).await?;
    let price = sale
        .sale
        .price_cents
        .saturating_mul(u64::from(order.quantity.get()));
    if u64::try_from(event.amount_cents).ok() != Some(price) {
        return Err(ApiError::AmountMismatch(format!(
            "the order costs {price} cents, the payment is {} cents",
            event.amount_cents
        )));
    }
    let answer = |outcome| {
        Ok(Json(PaymentEventAnswer {
            event_id: event.id.clone(),
            order_id: id.to_string(),
            outcome,
        }))
    };
    if event.kind == PaymentEventType::Failed {
        return answer(PaymentEventOutcome::PaymentFailed);
    }
    let change = state.services().orders.pay(id, None).await?;
    match PaymentOutcome::of(&change) {
        PaymentOutcome::Paid => answer(PaymentEventOutcome::Paid),
        PaymentOutcome::OrderExpired => {
            let order = &change.order;
            state.events().emit(
                Event::new(
                    EventKind::Checkout,
                    Severity::Critical,
                    format!(
                        "Payment {} for order {} came too late (the order is {}): refund {price} cents.",
                        event.id,
                        order.order_id,
                        order.status.as_str(),
                    ),
                )
                .for_sale(order.sale_id),
            );
            answer(PaymentEventOutcome::OrderExpired)
        }
        PaymentOutcome::NotPayable => Err(not_awaiting(&change.order)),
    }
}
