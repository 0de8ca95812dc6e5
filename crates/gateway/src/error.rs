//! The one error type of the HTTP API, and its body:
//! `{"error": {"code": "<code>", "message": "<human text>"}}`.
//!
//! Internal failures are logged here, once, and never shown to the client.

use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use flashsale_domain::PurchaseRejection;
use flashsale_inventory::PurchaseError;
use flashsale_order::{OrderLookupError, OrderVoidError};
use flashsale_product::ProductError;
use serde::Serialize;

/// The error code and subject of an error response, left in the response's
/// extensions for the telemetry and event-log middleware.
#[derive(Debug, Clone)]
pub struct ErrorInfo {
    pub code: &'static str,
}

/// Every way a request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `invalid_request`: the request is malformed; nothing changed.
    #[error("{0}")]
    InvalidRequest(String),
    /// 401 `unauthorized`.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 404 `sale_not_found` (also for a malformed id).
    #[error("no sale with this id")]
    SaleNotFound,
    /// 404 `order_not_found`: unknown, malformed, or another buyer's.
    #[error("no order with this id")]
    OrderNotFound,
    /// 404 `not_found`: no such endpoint.
    #[error("no such endpoint")]
    NotFound,
    /// 405 `method_not_allowed`: the path exists, not with this method
    /// (the `Allow` header lists those it takes).
    #[error("method not allowed on this path")]
    MethodNotAllowed,
    /// 409 `sold_out`.
    #[error("{0}")]
    SoldOut(String),
    /// 409 `sale_not_active`.
    #[error("the sale is not open for purchases")]
    SaleNotActive,
    /// 409 `limit_exceeded`.
    #[error("{0}")]
    LimitExceeded(String),
    /// 409 `invalid_transition`.
    #[error("{0}")]
    InvalidTransition(String),
    /// 422 `idempotency_key_reused`: the key was first used with another
    /// request body; nothing changed.
    #[error("{0}")]
    IdempotencyKeyReused(String),
    /// 409 `stampede_running`: one simulated stampede at a time.
    #[error("a simulated stampede is already running")]
    StampedeRunning,
    /// 429 `rate_limited`, with `Retry-After`.
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// 503 `overloaded`, with `Retry-After`: shed rather than queue.
    #[error("the engine is at capacity; retry shortly")]
    Overloaded,
    /// 503 `unavailable`: a store cannot be reached.
    #[error("a backing store is unavailable; retry shortly")]
    Unavailable(String),
    /// 500 `internal`: logged, never detailed to the client.
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable: `invalid_request`, `unauthorized`, `sale_not_found`,
    /// `order_not_found`, `sold_out`, `sale_not_active`, `limit_exceeded`,
    /// `invalid_transition`, `idempotency_key_reused`, `rate_limited`,
    /// `overloaded`, ...
    pub code: &'static str,
    /// For humans.
    pub message: String,
}

impl ApiError {
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        use ApiError::*;
        match self {
            InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            SaleNotFound => (StatusCode::NOT_FOUND, "sale_not_found"),
            OrderNotFound => (StatusCode::NOT_FOUND, "order_not_found"),
            NotFound => (StatusCode::NOT_FOUND, "not_found"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            SoldOut(_) => (StatusCode::CONFLICT, "sold_out"),
            SaleNotActive => (StatusCode::CONFLICT, "sale_not_active"),
            LimitExceeded(_) => (StatusCode::CONFLICT, "limit_exceeded"),
            InvalidTransition(_) => (StatusCode::CONFLICT, "invalid_transition"),
            StampedeRunning => (StatusCode::CONFLICT, "stampede_running"),
            IdempotencyKeyReused(_) => (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
            RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            Overloaded => (StatusCode::SERVICE_UNAVAILABLE, "overloaded"),
            Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl ApiError {
    /// The error a service process answered with `code` and `message`, as
    /// the gateway answers it in turn.
    pub fn from_code(code: &str, message: String) -> Self {
        match code {
            "invalid_request" => ApiError::InvalidRequest(message),
            "sale_not_found" => ApiError::SaleNotFound,
            "order_not_found" => ApiError::OrderNotFound,
            "not_found" => ApiError::NotFound,
            "method_not_allowed" => ApiError::MethodNotAllowed,
            "sold_out" => ApiError::SoldOut(message),
            "sale_not_active" => ApiError::SaleNotActive,
            "limit_exceeded" => ApiError::LimitExceeded(message),
            "invalid_transition" => ApiError::InvalidTransition(message),
            "idempotency_key_reused" => ApiError::IdempotencyKeyReused(message),
            "overloaded" => ApiError::Overloaded,
            "unavailable" => ApiError::Unavailable(message),
            "unauthorized" => ApiError::Internal("a service refused the internal token".into()),
            _ => ApiError::Internal(format!("{code}: {message}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        match &self {
            ApiError::Internal(detail) => tracing::error!(message = "Request failed.", detail = %detail),
            ApiError::Unavailable(detail) => {
                tracing::warn!(message = "A store is unavailable.", detail = %detail)
            }
            _ => {}
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message: self.to_string(),
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::RateLimited { retry_after_secs } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            ApiError::Overloaded | ApiError::Unavailable(_) => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::Unauthorized(_) => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            _ => {}
        }
        response.extensions_mut().insert(ErrorInfo { code });
        response
    }
}

impl From<PurchaseError> for ApiError {
    fn from(e: PurchaseError) -> Self {
        match e {
            PurchaseError::Rejected(r) => r.into(),
            PurchaseError::SaleNotFound => ApiError::SaleNotFound,
            PurchaseError::Overloaded => ApiError::Overloaded,
            PurchaseError::Unavailable(detail) => ApiError::Unavailable(detail),
        }
    }
}

impl From<PurchaseRejection> for ApiError {
    fn from(r: PurchaseRejection) -> Self {
        match r {
            PurchaseRejection::SaleNotActive => ApiError::SaleNotActive,
            PurchaseRejection::SoldOut | PurchaseRejection::NotEnoughStock { .. } => {
                ApiError::SoldOut(r.to_string())
            }
            PurchaseRejection::LimitExceeded { .. } => ApiError::LimitExceeded(r.to_string()),
            PurchaseRejection::QuantityAboveLimit { .. } => ApiError::InvalidRequest(r.to_string()),
            PurchaseRejection::IdempotencyKeyReused => ApiError::IdempotencyKeyReused(r.to_string()),
        }
    }
}

impl From<ProductError> for ApiError {
    fn from(e: ProductError) -> Self {
        match e {
            ProductError::NotFound => ApiError::SaleNotFound,
            ProductError::Transition(t) => ApiError::InvalidTransition(t.to_string()),
            ProductError::StockChange(flashsale_domain::StockChangeError::Ended) => {
                ApiError::InvalidTransition(flashsale_domain::StockChangeError::Ended.to_string())
            }
            ProductError::StockChange(c) => ApiError::InvalidRequest(c.to_string()),
            ProductError::Store(s) => ApiError::Unavailable(s.to_string()),
        }
    }
}

impl From<OrderLookupError> for ApiError {
    fn from(e: OrderLookupError) -> Self {
        match e {
            OrderLookupError::NotFound => ApiError::OrderNotFound,
            OrderLookupError::Store(s) => ApiError::Unavailable(s.to_string()),
        }
    }
}

impl From<OrderVoidError> for ApiError {
    fn from(e: OrderVoidError) -> Self {
        match e {
            OrderVoidError::NotFound => ApiError::OrderNotFound,
            OrderVoidError::Stored(_) => ApiError::InvalidTransition(e.to_string()),
            OrderVoidError::Store(s) => ApiError::Unavailable(s.to_string()),
        }
    }
}
