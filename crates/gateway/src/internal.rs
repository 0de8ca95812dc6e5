//! The HTTP API of a service process (`flashsale product`, `inventory`,
//! `order`): what the gateway's [`remote`](crate::upstream::remote) clients
//! call, plus the process's own `/api/health` and `/metrics`.
//!
//! Every `/internal` call must carry the service token in
//! `x-flashsale-internal` (compared in constant time): the services trust
//! the buyer id the gateway verified, so nobody else may call them. The
//! admin token does not open them: a dashboard user must not be able to buy
//! as any buyer. Errors
//! are the public error body; the gateway passes them on.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use flashsale_domain::{
    ComponentHealth, HealthProbe, Order, OrderChange, OrderId, OrderTotals, Reservation, SaleDraft, SaleId,
    Transition, UserId,
};
use flashsale_product::{SaleQuery, SaleView};
use flashsale_trace::{Kind, Span};
use serde::Deserialize;

use crate::auth::same_secret;
use crate::dto::ApiJson;
use crate::error::{ApiError, ErrorInfo, IN_DRAW_CODE};
use crate::state::Mode;
use crate::telemetry::{traceparent, MetricsSource, Telemetry};
use crate::upstream::remote::{
    DrawWaitCall, DrawWaitsAnswer, FirstAnswerCall, OwnerCall, PurchaseCall, StockCall, INTERNAL_TOKEN_HEADER,
};
use crate::upstream::{InventoryApi, OrderApi, ProductApi};

/// Which service this process runs.
pub enum Service {
    Product(Arc<dyn ProductApi>),
    Inventory(Arc<dyn InventoryApi>),
    Order(Arc<dyn OrderApi>),
}

impl Service {
    pub fn name(&self) -> &'static str {
        match self {
            Service::Product(_) => "product",
            Service::Inventory(_) => "inventory",
            Service::Order(_) => "order",
        }
    }
}

struct Shared {
    name: &'static str,
    token: String,
    probes: Vec<Arc<dyn HealthProbe>>,
    extra_metrics: Vec<MetricsSource>,
    telemetry: Telemetry,
}

type Ctx = Arc<Shared>;

fn sale_id(raw: &str) -> Result<SaleId, ApiError> {
    SaleId::parse(raw).map_err(|_| ApiError::SaleNotFound)
}

/// The router of a service process.
pub fn router(
    service: Service,
    token: String,
    probes: Vec<Arc<dyn HealthProbe>>,
    extra_metrics: Vec<MetricsSource>,
) -> Router {
    let shared = Arc::new(Shared {
        name: service.name(),
        token,
        probes,
        extra_metrics,
        telemetry: Telemetry::default(),
    });
    let internal = match service {
        Service::Product(p) => product_routes(p),
        Service::Inventory(i) => {
            let wait = i.clone();
            Router::new()
                .route(
                    "/internal/purchase",
                    post(
                        move |headers: HeaderMap, body: Result<ApiJson<PurchaseCall>, ApiError>| {
                            let inventory = i.clone();
                            async move {
                                let ApiJson(c) = body?;
                                let span =
                                    Span::start("inventory purchase", Kind::Server, traceparent(&headers));
                                if flashsale_trace::enabled() {
                                    span.set("flashsale.sale_id", c.sale_id.to_string());
                                }
                                let receipt = span
                                    .run(inventory.purchase(
                                        c.sale_id,
                                        c.user_id,
                                        c.quantity,
                                        c.idempotency_key,
                                    ))
                                    .await;
                                if let (true, Err(e)) = (flashsale_trace::enabled(), &receipt) {
                                    span.set("flashsale.outcome", e.to_string());
                                }
                                match receipt {
                                    Ok(receipt) => Ok(Json(receipt).into_response()),
                                    Err(ApiError::InDraw) => Ok(in_draw()),
                                    Err(e) => Err(e),
                                }
                            }
                        },
                    ),
                )
                .route(
                    "/internal/draw-wait",
                    post(move |body: Result<ApiJson<DrawWaitCall>, ApiError>| {
                        let inventory = wait.clone();
                        async move {
                            let ApiJson(c) = body?;
                            let waits = inventory.draw_wait(c.sale_id, &c.user_ids).await?;
                            Ok::<_, ApiError>(Json(DrawWaitsAnswer::from(waits)))
                        }
                    }),
                )
        }
        Service::Order(o) => order_routes(o),
    }
    .route_layer(middleware::from_fn_with_state(shared.clone(), require_token));
    Router::new()
        .route("/api/health", get(health))
        .route("/livez", get(|| async { crate::health::liveness() }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared.clone())
        .merge(internal)
        .fallback(|| async { ApiError::NotFound })
        .layer(middleware::from_fn_with_state(shared, observe))
        .layer(DefaultBodyLimit::max(64 * 1024))
}

/// [`ApiError::InDraw`] as the gateway reads it: its own code, which no
/// buyer's answer carries.
fn in_draw() -> Response {
    let body = serde_json::json!({"error": {"code": IN_DRAW_CODE, "message": ApiError::InDraw.to_string()}});
    (StatusCode::CONFLICT, Json(body)).into_response()
}

fn product_routes(p: Arc<dyn ProductApi>) -> Router {
    let (list, page, one, create, stock, transition, flush) = (
        p.clone(),
        p.clone(),
        p.clone(),
        p.clone(),
        p.clone(),
        p.clone(),
        p,
    );
    Router::new()
        .route(
            "/internal/sale-pages",
            post(move |body: Result<ApiJson<SaleQuery>, ApiError>| async move {
                let ApiJson(query) = body?;
                page.page(query).await.map(Json)
            }),
        )
        .route(
            "/internal/sales",
            get(move || async move { list.list().await.map(Json) }).post(
                move |body: Result<ApiJson<SaleDraft>, ApiError>| async move {
                    let ApiJson(draft) = body?;
                    create.create(draft).await.map(Json)
                },
            ),
        )
        .route(
            "/internal/sales/{id}",
            get(move |Path(id): Path<String>| async move { one.get(sale_id(&id)?).await.map(Json) }),
        )
        .route(
            "/internal/sales/{id}/stock",
            post(
                move |Path(id): Path<String>, body: Result<ApiJson<StockCall>, ApiError>| async move {
                    let ApiJson(call) = body?;
                    stock.adjust_stock(sale_id(&id)?, call.delta).await.map(Json)
                },
            ),
        )
        .route(
            "/internal/sales/{id}/{action}",
            post(move |Path((id, action)): Path<(String, String)>| async move {
                let t = Transition::parse(&action).ok_or(ApiError::NotFound)?;
                transition
                    .transition(sale_id(&id)?, t)
                    .await
                    .map(Json::<SaleView>)
            }),
        )
        .route(
            "/internal/cache/flush",
            post(move || async move { flush.flush_cache().await.map(Json) }),
        )
}

/// Whose order is read; absent: any buyer's (the payment webhook).
#[derive(Deserialize)]
struct Owner {
    user: Option<String>,
}

fn order_routes(o: Arc<dyn OrderApi>) -> Router {
    let (one, totals, first, void, pay, cancel) = (o.clone(), o.clone(), o.clone(), o.clone(), o.clone(), o);
    let order_id = |raw: &str| OrderId::parse(raw).map_err(|_| ApiError::OrderNotFound);
    Router::new()
        .route(
            "/internal/orders/{id}",
            get(
                move |Path(id): Path<String>, Query(owner): Query<Owner>| async move {
                    let id = order_id(&id)?;
                    match owner.user {
                        Some(user) => {
                            let user = UserId::parse(&user).map_err(|_| ApiError::OrderNotFound)?;
                            one.order_for(id, &user).await
                        }
                        None => one.order(id).await,
                    }
                    .map(Json::<Order>)
                },
            ),
        )
        .route(
            "/internal/orders/{id}/pay",
            post(
                move |Path(id): Path<String>, body: Result<ApiJson<OwnerCall>, ApiError>| async move {
                    let ApiJson(owner) = body?;
                    pay.pay(order_id(&id)?, owner.user.as_ref())
                        .await
                        .map(Json::<OrderChange>)
                },
            ),
        )
        .route(
            "/internal/orders/{id}/cancel",
            post(
                move |Path(id): Path<String>, body: Result<ApiJson<OwnerCall>, ApiError>| async move {
                    let ApiJson(owner) = body?;
                    let user = owner
                        .user
                        .ok_or_else(|| ApiError::InvalidRequest("a cancel names its buyer".into()))?;
                    cancel
                        .cancel(order_id(&id)?, &user)
                        .await
                        .map(Json::<OrderChange>)
                },
            ),
        )
        .route(
            "/internal/orders/{id}/void",
            post(move |Path(id): Path<String>| async move {
                let id = OrderId::parse(&id).map_err(|_| ApiError::OrderNotFound)?;
                void.void(id).await.map(Json::<Order>)
            }),
        )
        .route(
            "/internal/totals",
            post(move |body: Result<ApiJson<Vec<SaleId>>, ApiError>| async move {
                let ApiJson(sales) = body?;
                totals
                    .totals(&sales)
                    .await
                    .map(Json::<HashMap<SaleId, OrderTotals>>)
            }),
        )
        .route(
            "/internal/first-answer",
            post(
                move |body: Result<ApiJson<FirstAnswerCall>, ApiError>| async move {
                    let ApiJson(call) = body?;
                    first
                        .first_answer(call.sale, &call.user, &call.key)
                        .await
                        .map(Json::<Option<Reservation>>)
                },
            ),
        )
}

async fn require_token(State(shared): State<Ctx>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(INTERNAL_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if presented.is_empty() || !same_secret(presented, &shared.token) {
        return ApiError::Unauthorized("internal calls need the service token").into_response();
    }
    next.run(request).await
}

async fn observe(State(shared): State<Ctx>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let code = response.extensions().get::<ErrorInfo>().map(|e| e.code);
    shared
        .telemetry
        .record_request(&route, response.status().as_u16(), code);
    if route == "/internal/purchase" {
        shared.telemetry.record_purchase(code, started.elapsed());
    }
    response
}

async fn health(State(shared): State<Ctx>) -> Response {
    let known = BTreeMap::from([(shared.name.to_owned(), ComponentHealth::ok("serving"))]);
    crate::health::answer(Mode::Stack, known, &shared.probes).await
}

async fn readyz(State(shared): State<Ctx>) -> Response {
    crate::health::readiness(&shared.probes).await
}

async fn metrics(State(shared): State<Ctx>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.telemetry.prometheus(
            &shared
                .extra_metrics
                .iter()
                .map(|source| source())
                .collect::<String>(),
        ),
    )
}
