//! Buyer routes: list sales, buy, read one's order. The purchase handler is
//! the whole HTTP side of the hot path.

use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::header::LINK;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use flashsale_domain::ports::DrawAnswer;
use flashsale_domain::{EventKind, IdempotencyKey, PurchaseRejection, Quantity, SaleId, SaleStatus, UserId};
use flashsale_inventory::{DrawWait, PurchaseReceipt};
use flashsale_product::SaleQuery;
use flashsale_trace::{Kind, Span};
use serde::de::IntoDeserializer;
use serde::Deserialize;

use crate::auth::Buyer;
use crate::dto::{ApiJson, OrderDto, PurchaseAccepted, PurchaseRequest, RawPath, SaleDto};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

/// How long a purchase waits in a fair start's draw for its answer: the
/// longest window and its serving. Past it the buyer is told to retry
/// (503 `overloaded`, Retry-After), and the retry with the same key finds
/// the entry.
const DRAW_WAIT: Duration = Duration::from_secs(90);

fn sale_id(raw: Option<&str>) -> Result<SaleId, ApiError> {
    raw.and_then(|r| SaleId::parse(r).ok())
        .ok_or(ApiError::SaleNotFound)
}

/// The listing's query: every field optional, each checked.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListParams {
    status: Option<String>,
    archived: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
}

impl ListParams {
    fn query(&self) -> Result<SaleQuery, ApiError> {
        let status = match self.status.as_deref() {
            None => None,
            Some(raw) => Some(SaleStatus::deserialize(raw.into_deserializer()).map_err(
                |_: serde::de::value::Error| {
                    ApiError::InvalidRequest(format!(
                        "status must be scheduled, active, paused, ended or sold_out, not {raw:?}"
                    ))
                },
            )?),
        };
        let limit = match self.limit.as_deref() {
            None => SaleQuery::DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=SaleQuery::MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::InvalidRequest(format!(
                        "limit must be an integer between 1 and {}",
                        SaleQuery::MAX_LIMIT
                    ))
                })?,
        };
        let after =
            match self.cursor.as_deref() {
                None => None,
                Some(raw) => Some(SaleId::parse(raw).map_err(|_| {
                    ApiError::InvalidRequest("cursor must be the one a Link header gave".into())
                })?),
            };
        let archived = match self.archived.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => return Err(ApiError::InvalidRequest("archived must be true or false".into())),
        };
        Ok(SaleQuery {
            status,
            archived,
            after,
            limit,
        })
    }
}

/// Live sales (archived ones with `?archived=true`), oldest first, a page at
/// a time: `?status=` keeps one status,
/// `?limit=` (default 100, at most 1,000) sizes the page, and the `Link`
/// header (`rel="next"`) gives the next page's URL while more may follow.
#[utoipa::path(get, path = "/api/sales", tag = "sales",
    params(
        ("status" = Option<String>, Query, pattern = "^(scheduled|active|paused|ended|sold_out)$", description = "scheduled, active, paused, ended or sold_out"),
        ("archived" = Option<bool>, Query, description = "true: archived sales instead of live ones (default false)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Sales per page (default 100)"),
        ("cursor" = Option<String>, Query, format = Uuid, description = "Where the page starts: the cursor of the previous page's Link header")),
    responses(
        (status = 200, body = [SaleDto], headers(("Link" = String, description = "<next page URL>; rel=\"next\", while more sales may follow"))),
        (status = 400, description = "invalid_request", body = ErrorBody)))]
pub async fn list_sales(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::InvalidRequest(e.body_text()))?;
    let query = params.query()?;
    let page = state.services().product.page(query).await?;
    let body: Vec<SaleDto> = page.sales.iter().map(SaleDto::from).collect();
    let mut response = Json(body).into_response();
    response.headers_mut().insert(SERVER_TIME, server_time());
    if let Some(next) = page.next {
        let status = params
            .status
            .as_deref()
            .map(|s| format!("&status={s}"))
            .unwrap_or_default();
        let archived = if query.archived { "&archived=true" } else { "" };
        let link = format!(
            "</api/sales?limit={}&cursor={next}{status}{archived}>; rel=\"next\"",
            query.limit
        );
        if let Ok(value) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(LINK, value);
        }
    }
    Ok(response)
}

/// The header with the engine's clock (Unix milliseconds), so that a page
/// can count down to `starts_at` on the engine's time, not its own.
pub const SERVER_TIME: &str = "flashsale-server-time";

fn server_time() -> HeaderValue {
    HeaderValue::from(chrono::Utc::now().timestamp_millis())
}

/// One sale.
#[utoipa::path(get, path = "/api/sales/{id}", tag = "sales",
    params(("id" = String, Path, description = "Sale id (UUID)")),
    responses((status = 200, body = SaleDto,
               headers(("FlashSale-Server-Time" = i64, description = "The engine's clock, Unix milliseconds"))),
              (status = 404, description = "sale_not_found", body = ErrorBody)))]
pub async fn get_sale(
    State(state): State<AppState>,
    RawPath(id): RawPath<String>,
) -> Result<Response, ApiError> {
    let view = state.services().product.get(sale_id(id.as_deref())?).await?;
    let mut response = Json(SaleDto::from(&view)).into_response();
    response.headers_mut().insert(SERVER_TIME, server_time());
    Ok(response)
}

/// A sale's figures, live, for buyers' pages: an event stream whose `sale`
/// events carry the sale as `GET /api/sales/{id}` shows it: one at once,
/// then one whenever its figures change, at most one a second. Every
/// watcher of a sale shares one reader of it (see [`crate::live`]).
#[utoipa::path(get, path = "/api/sales/{id}/live", tag = "sales",
    params(("id" = String, Path, description = "Sale id (UUID)")),
    responses((status = 200, description = "text/event-stream of `sale` events (data: a Sale)",
               headers(("FlashSale-Server-Time" = i64, description = "The engine's clock, Unix milliseconds"))),
              (status = 404, description = "sale_not_found", body = ErrorBody)))]
pub async fn live_sale(
    State(state): State<AppState>,
    RawPath(id): RawPath<String>,
) -> Result<Response, ApiError> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use futures_util::StreamExt;
    let id = sale_id(id.as_deref())?;
    let product = state.services().product.clone();
    let view = product.get(id).await?;
    let figures = state.0.feeds.watch(id, product, SaleDto::from(&view)).await;
    let stopping = tokio_stream::wrappers::WatchStream::new(state.0.shutdown.clone())
        .filter(|stop| std::future::ready(*stop));
    let events =
        tokio_stream::wrappers::WatchStream::new(figures)
            .filter_map(|json| {
                std::future::ready(json.map(|json| {
                    Ok::<_, std::convert::Infallible>(Event::default().event("sale").data(&*json))
                }))
            })
            .take_until(stopping.into_future());
    let mut response = Sse::new(events).keep_alive(KeepAlive::default()).into_response();
    response.headers_mut().insert(SERVER_TIME, server_time());
    Ok(response)
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
        (status = 429, description = "rate_limited, with Retry-After, RateLimit-Policy and RateLimit (IETF draft)", body = ErrorBody),
        (status = 503, description = "overloaded, with Retry-After", body = ErrorBody)))]
pub async fn purchase(
    State(state): State<AppState>,
    buyer: Result<Buyer, ApiError>,
    RawPath(id): RawPath<String>,
    headers: PurchaseHeaders,
    body: Result<ApiJson<PurchaseRequest>, ApiError>,
) -> Response {
    let started = Instant::now();
    let span = Span::start(
        "POST /api/sales/{id}/purchase",
        Kind::Server,
        headers.traceparent.as_ref().and_then(|v| v.to_str().ok()),
    );
    let result = span
        .run(async {
            let result = purchase_inner(&state, buyer, id.as_deref(), &headers, body).await;
            let outcome = result.as_ref().map_or_else(|e| e.code().as_str(), |_| "accepted");
            tracing::debug!(
                message = "Purchase answered.",
                sale = id.as_deref().unwrap_or(""),
                outcome
            );
            result
        })
        .await;
    let refusal = result.as_ref().err().map(ApiError::code);
    state.telemetry().record_purchase(refusal, started.elapsed());
    if flashsale_trace::enabled() {
        if let Some(sale) = id.as_deref().and_then(|r| SaleId::parse(r).ok()) {
            span.set("flashsale.sale_id", sale.to_string());
        }
        if let Ok((accepted, _)) = &result {
            span.set("flashsale.order_id", accepted.order_id.clone());
        }
        span.set("flashsale.outcome", refusal.map_or("accepted", |c| c.as_str()));
    }
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
    headers: &PurchaseHeaders,
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
                policy: limiter.policy(),
            });
        }
    }
    let sale = sale_id(id)?;
    let ApiJson(body) = body?;
    let quantity = Quantity::parse(body.quantity).map_err(|e| ApiError::InvalidRequest(e.to_string()))?;
    let key = idempotency_key(headers.idempotency_key.as_ref())?;
    let inventory = &state.services().inventory;
    let buy = || async {
        let _slot = state
            .0
            .purchase_slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Overloaded)?;
        inventory
            .purchase(sale, user.clone(), quantity, key.clone())
            .await
    };
    // In a fair start's window the purchase is an entry in its draw: the
    // request waits (holding no purchase slot) for the entry's answer.
    let mut outcome = buy().await;
    let deadline = tokio::time::Instant::now() + DRAW_WAIT;
    while matches!(outcome, Err(ApiError::InDraw)) {
        let waiters = &state.0.draw_waiters;
        let Ok(settled) =
            tokio::time::timeout_at(deadline, waiters.wait(inventory, sale, user.clone())).await
        else {
            break;
        };
        outcome = match settled {
            Ok(DrawWait::Answered(DrawAnswer::Accepted { order_id, remaining })) => Ok(PurchaseReceipt {
                order_id,
                remaining,
                replayed: false,
            }),
            Ok(DrawWait::Answered(DrawAnswer::Refused(refusal))) => Err(refusal.into()),
            Ok(DrawWait::NotEntered) => buy().await,
            Ok(DrawWait::Waiting) => Err(ApiError::InDraw),
            Err(e) => Err(e),
        };
    }
    match outcome {
        Ok(receipt) => Ok((
            PurchaseAccepted {
                order_id: receipt.order_id.to_string(),
                status: "pending",
                remaining: receipt.remaining,
            },
            receipt.replayed,
        )),
        // Rare (an archived sale): the key is read again rather than kept
        // by a copy on every purchase.
        Err(ApiError::SaleNotFound) => {
            archived_answer(
                state,
                sale,
                &user,
                quantity,
                idempotency_key(headers.idempotency_key.as_ref())?,
            )
            .await
        }
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

/// The two headers a purchase reads, taken alone: axum's `HeaderMap`
/// extractor copies every header of the request.
pub struct PurchaseHeaders {
    traceparent: Option<HeaderValue>,
    idempotency_key: Option<HeaderValue>,
}

impl<S: Send + Sync> FromRequestParts<S> for PurchaseHeaders {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            traceparent: parts.headers.get("traceparent").cloned(),
            idempotency_key: parts.headers.get("idempotency-key").cloned(),
        })
    }
}

/// The `Idempotency-Key` header, if given and well formed.
fn idempotency_key(raw: Option<&HeaderValue>) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    raw.to_str()
        .ok()
        .and_then(|k| IdempotencyKey::parse(k).ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::InvalidRequest("Idempotency-Key must be 1 to 128 visible ASCII characters".into())
        })
}

/// A purchase the stock store found no sale for: an archived sale answers
/// a keyed retry with its first answer, read from the ledger (a key whose
/// first answer was for another quantity is refused as reused), and every
/// other attempt as the ended sale it is; any other sale is not found.
async fn archived_answer(
    state: &AppState,
    sale: SaleId,
    user: &UserId,
    quantity: Quantity,
    key: Option<IdempotencyKey>,
) -> Result<(PurchaseAccepted, bool), ApiError> {
    let view = state.services().product.get(sale).await?;
    if view.sale.archived.is_none() {
        return Err(ApiError::SaleNotFound);
    }
    let Some(key) = key else {
        return Err(ApiError::SaleNotActive);
    };
    match state.services().orders.first_answer(sale, user, &key).await? {
        Some(first) if first.quantity != quantity => Err(PurchaseRejection::IdempotencyKeyReused.into()),
        Some(first) => Ok((
            PurchaseAccepted {
                order_id: first.order_id.to_string(),
                status: "pending",
                remaining: first.remaining,
            },
            true,
        )),
        None => Err(ApiError::SaleNotActive),
    }
}
