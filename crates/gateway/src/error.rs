//! The one error type of the HTTP API, and its body:
//! `{"error": {"code": "<code>", "message": "<human text>"}}`.
//!
//! Internal failures are logged here, once, and never shown to the client.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::header::{CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use flashsale_domain::PurchaseRejection;
use flashsale_inventory::PurchaseError;
use flashsale_order::{OrderLookupError, OrderVoidError};
use flashsale_product::ProductError;
use serde::Serialize;

/// Declares [`ErrorCode`] from one list: each variant with the code the API
/// writes, so the enum, [`ErrorCode::ALL`] and [`ErrorCode::as_str`] cannot
/// disagree (serde writes the variant in snake case; a test checks that it
/// is the code).
macro_rules! error_codes {
    ($($variant:ident => $code:literal),+ $(,)?) => {
        /// Every error code the API answers with: the `code` of every error
        /// body, the label of the refused purchases on `/metrics`, the key of
        /// the stats' rejections, and how the gateway reads a service's error
        /// back. One list, so none of them can miss a code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($variant,)+
        }

        impl ErrorCode {
            /// Every code, in declaration order (`ALL[c as usize] == c`).
            pub const ALL: [ErrorCode; [$($code),+].len()] = [$(ErrorCode::$variant),+];

            /// The code as the API writes it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }
        }
    };
}

error_codes! {
    InvalidRequest => "invalid_request",
    Unauthorized => "unauthorized",
    SaleNotFound => "sale_not_found",
    OrderNotFound => "order_not_found",
    NotFound => "not_found",
    MethodNotAllowed => "method_not_allowed",
    SoldOut => "sold_out",
    SaleNotActive => "sale_not_active",
    LimitExceeded => "limit_exceeded",
    InvalidTransition => "invalid_transition",
    IdempotencyKeyReused => "idempotency_key_reused",
    StampedeRunning => "stampede_running",
    OrderNotAwaitingPayment => "order_not_awaiting_payment",
    OrderPaid => "order_paid",
    OrderExpired => "order_expired",
    OrderCancelled => "order_cancelled",
    InvalidSignature => "invalid_signature",
    StaleSignature => "stale_signature",
    AmountMismatch => "amount_mismatch",
    RateLimited => "rate_limited",
    Overloaded => "overloaded",
    Unavailable => "unavailable",
    Internal => "internal",
}

impl ErrorCode {
    /// The HTTP status every answer with this code has.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            InvalidRequest | StaleSignature => StatusCode::BAD_REQUEST,
            Unauthorized | InvalidSignature => StatusCode::UNAUTHORIZED,
            SaleNotFound | OrderNotFound | NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            SoldOut
            | SaleNotActive
            | LimitExceeded
            | InvalidTransition
            | StampedeRunning
            | OrderNotAwaitingPayment
            | OrderPaid
            | OrderExpired
            | OrderCancelled => StatusCode::CONFLICT,
            IdempotencyKeyReused | AmountMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Overloaded | Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code written `raw`, if the API has it.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == raw)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The code of an error response, left in the response's extensions for
/// the telemetry and event-log middleware.
#[derive(Debug, Clone, Copy)]
pub struct ErrorInfo {
    pub code: ErrorCode,
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
    /// `None`: the sale is sold out (the usual answer, its body made once);
    /// otherwise the message says more ("only 2 units are left").
    #[error("{}", .0.as_deref().unwrap_or(sold_out_message()))]
    SoldOut(Option<String>),
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
    /// 409 `order_not_awaiting_payment`: the order awaits no payment (its sale has
    /// no payment window, or it is not stored yet: retry shortly).
    #[error("{0}")]
    OrderNotAwaitingPayment(String),
    /// 409 `order_paid`: a paid order cannot be cancelled.
    #[error("the order is paid")]
    OrderPaid,
    /// 409 `order_expired`: not paid in time; its units are back on sale.
    #[error("the order expired unpaid; its units are back on sale")]
    OrderExpired,
    /// 409 `order_cancelled`: its units are back on sale.
    #[error("the order was cancelled; its units are back on sale")]
    OrderCancelled,
    /// 401 `invalid_signature`: a webhook without a valid
    /// `FlashSale-Signature`.
    #[error("{0}")]
    InvalidSignature(&'static str),
    /// 400 `stale_signature`: a webhook signed too long ago (or ahead).
    #[error("the signature's timestamp is outside the tolerance of {tolerance_secs} s")]
    StaleSignature { tolerance_secs: u64 },
    /// 422 `amount_mismatch`: a payment of another amount than the order's.
    #[error("{0}")]
    AmountMismatch(String),
    /// 429 `rate_limited`, with `Retry-After`.
    #[error("too many requests; retry in {retry_after_secs} s")]
    RateLimited {
        retry_after_secs: u64,
        policy: crate::rate_limit::RatePolicy,
    },
    /// 503 `overloaded`, with `Retry-After`: shed rather than queue.
    #[error("the engine is at capacity; retry shortly")]
    Overloaded,
    /// The purchase is in the sale's opening draw. The gateway waits for
    /// its answer; one that waited too long is answered as `overloaded`
    /// (503, Retry-After), and the buyer's retry with the same key finds
    /// the entry or its answer.
    #[error("the purchase waits in the sale's opening draw; retry shortly with the same Idempotency-Key")]
    InDraw,
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
    /// Machine-readable; the status of an answer follows from its code.
    pub code: ErrorCode,
    /// For humans.
    pub message: String,
}

impl ApiError {
    pub fn code(&self) -> ErrorCode {
        use ApiError::*;
        match self {
            InvalidRequest(_) => ErrorCode::InvalidRequest,
            Unauthorized(_) => ErrorCode::Unauthorized,
            SaleNotFound => ErrorCode::SaleNotFound,
            OrderNotFound => ErrorCode::OrderNotFound,
            NotFound => ErrorCode::NotFound,
            MethodNotAllowed => ErrorCode::MethodNotAllowed,
            SoldOut(_) => ErrorCode::SoldOut,
            SaleNotActive => ErrorCode::SaleNotActive,
            LimitExceeded(_) => ErrorCode::LimitExceeded,
            InvalidTransition(_) => ErrorCode::InvalidTransition,
            StampedeRunning => ErrorCode::StampedeRunning,
            OrderNotAwaitingPayment(_) => ErrorCode::OrderNotAwaitingPayment,
            OrderPaid => ErrorCode::OrderPaid,
            OrderExpired => ErrorCode::OrderExpired,
            OrderCancelled => ErrorCode::OrderCancelled,
            InvalidSignature(_) => ErrorCode::InvalidSignature,
            StaleSignature { .. } => ErrorCode::StaleSignature,
            AmountMismatch(_) => ErrorCode::AmountMismatch,
            IdempotencyKeyReused(_) => ErrorCode::IdempotencyKeyReused,
            RateLimited { .. } => ErrorCode::RateLimited,
            Overloaded | InDraw => ErrorCode::Overloaded,
            Unavailable(_) => ErrorCode::Unavailable,
            Internal(_) => ErrorCode::Internal,
        }
    }
}

impl ApiError {
    /// The error a service process answered with `code` and `message`, as
    /// the gateway answers it in turn.
    pub fn from_code(code: &str, message: String) -> Self {
        if code == IN_DRAW_CODE {
            return ApiError::InDraw;
        }
        let Some(code) = ErrorCode::parse(code) else {
            return ApiError::Internal(format!("{code}: {message}"));
        };
        match code {
            ErrorCode::InvalidRequest => ApiError::InvalidRequest(message),
            ErrorCode::SaleNotFound => ApiError::SaleNotFound,
            ErrorCode::OrderNotFound => ApiError::OrderNotFound,
            ErrorCode::NotFound => ApiError::NotFound,
            ErrorCode::MethodNotAllowed => ApiError::MethodNotAllowed,
            ErrorCode::SoldOut => ApiError::SoldOut(Some(message).filter(|m| m != sold_out_message())),
            ErrorCode::SaleNotActive => ApiError::SaleNotActive,
            ErrorCode::LimitExceeded => ApiError::LimitExceeded(message),
            ErrorCode::InvalidTransition => ApiError::InvalidTransition(message),
            ErrorCode::IdempotencyKeyReused => ApiError::IdempotencyKeyReused(message),
            ErrorCode::StampedeRunning => ApiError::StampedeRunning,
            ErrorCode::OrderNotAwaitingPayment => ApiError::OrderNotAwaitingPayment(message),
            ErrorCode::OrderPaid => ApiError::OrderPaid,
            ErrorCode::OrderExpired => ApiError::OrderExpired,
            ErrorCode::OrderCancelled => ApiError::OrderCancelled,
            ErrorCode::AmountMismatch => ApiError::AmountMismatch(message),
            ErrorCode::Overloaded => ApiError::Overloaded,
            ErrorCode::Unavailable => ApiError::Unavailable(message),
            ErrorCode::Unauthorized => ApiError::Internal("a service refused the internal token".into()),
            ErrorCode::RateLimited
            | ErrorCode::Internal
            | ErrorCode::InvalidSignature
            | ErrorCode::StaleSignature => ApiError::Internal(format!("{code}: {message}")),
        }
    }
}

/// The code of [`ApiError::InDraw`] between a service process and the
/// gateway (a buyer never sees it).
pub const IN_DRAW_CODE: &str = "in_draw";

/// The message of [`PurchaseRejection::SoldOut`], the answer of almost every
/// request of a stampede.
fn sold_out_message() -> &'static str {
    static MESSAGE: OnceLock<String> = OnceLock::new();
    MESSAGE.get_or_init(|| PurchaseRejection::SoldOut.to_string())
}

impl ApiError {
    /// Whether the code alone decides the message.
    fn fixed_message(&self) -> bool {
        use ApiError::*;
        matches!(
            self,
            SaleNotFound
                | OrderNotFound
                | NotFound
                | MethodNotAllowed
                | SoldOut(None)
                | SaleNotActive
                | StampedeRunning
                | OrderPaid
                | OrderExpired
                | OrderCancelled
                | Overloaded
                | Unavailable(_)
                | Internal(_)
        )
    }

    /// The contract's error body.
    fn body(&self) -> Vec<u8> {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        };
        serde_json::to_vec(&body).expect("an error body serialises")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = self.code();
        match &self {
            ApiError::Internal(detail) => tracing::error!(message = "Request failed.", detail = %detail),
            ApiError::Unavailable(detail) => {
                tracing::warn!(message = "A store is unavailable.", detail = %detail)
            }
            _ => {}
        }
        let body = if self.fixed_message() {
            // The same bytes every time: rendered once per code.
            static BODIES: [OnceLock<Vec<u8>>; ErrorCode::ALL.len()] =
                [const { OnceLock::new() }; ErrorCode::ALL.len()];
            Bytes::from_static(BODIES[code as usize].get_or_init(|| self.body()))
        } else {
            Bytes::from(self.body())
        };
        let json = [(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
        let mut response = (code.status(), json, body).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::RateLimited {
                retry_after_secs,
                policy,
            } => {
                headers.insert(RETRY_AFTER, HeaderValue::from(*retry_after_secs));
                // The IETF draft's fields; their values are ASCII by construction.
                for (name, value) in [
                    ("ratelimit-policy", policy.header()),
                    ("ratelimit", policy.exhausted(*retry_after_secs)),
                ] {
                    if let Ok(value) = HeaderValue::from_str(&value) {
                        headers.insert(name, value);
                    }
                }
            }
            ApiError::Overloaded | ApiError::InDraw | ApiError::Unavailable(_) => {
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
            PurchaseError::InDraw => ApiError::InDraw,
        }
    }
}

impl From<PurchaseRejection> for ApiError {
    fn from(r: PurchaseRejection) -> Self {
        match r {
            PurchaseRejection::SaleNotActive => ApiError::SaleNotActive,
            PurchaseRejection::SoldOut => ApiError::SoldOut(None),
            PurchaseRejection::NotEnoughStock { .. } => ApiError::SoldOut(Some(r.to_string())),
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
            ProductError::Archived => ApiError::InvalidTransition(e.to_string()),
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

#[cfg(test)]
mod tests {
    use super::{ApiError, ErrorCode};
    use flashsale_domain::PurchaseRejection;

    /// The sold-out answer rendered once is the contract's body with the
    /// domain's message, from this process or relayed from a service's;
    /// a message that says more is not the fixed one.
    #[test]
    fn a_sold_out_body_says_what_the_domain_says() {
        let body = |e: &ApiError| serde_json::from_slice::<serde_json::Value>(&e.body()).unwrap();
        let sold_out = ApiError::from(PurchaseRejection::SoldOut);
        assert!(sold_out.fixed_message());
        assert_eq!(
            body(&sold_out),
            serde_json::json!({"error": {"code": "sold_out", "message": "the sale is sold out"}})
        );
        let relayed = ApiError::from_code("sold_out", "the sale is sold out".into());
        assert!(matches!(relayed, ApiError::SoldOut(None)));
        let few = ApiError::from(PurchaseRejection::NotEnoughStock { remaining: 2 });
        assert!(!few.fixed_message());
        assert_eq!(body(&few)["error"]["message"], "only 2 units are left");
        let relayed = ApiError::from_code("sold_out", "only 2 units are left".into());
        assert_eq!(relayed.to_string(), "only 2 units are left");
    }

    /// `ALL` lists every code once, in declaration order, each written as
    /// serde writes it in the error body, and read back by `parse`.
    #[test]
    fn every_code_is_listed_written_and_read_back() {
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(code as usize, i);
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
            assert_eq!(ErrorCode::parse(code.as_str()), Some(code));
        }
    }

    /// The README's API section documents every code.
    #[test]
    fn the_readme_documents_every_code() {
        let readme = include_str!("../../../README.md");
        for code in ErrorCode::ALL {
            assert!(
                readme.contains(&format!("`{code}`")),
                "README.md does not document `{code}`"
            );
        }
    }
}
