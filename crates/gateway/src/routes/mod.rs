//! The router: every route of the contract, the middleware around them,
//! and the dashboard's files.

pub mod admin;
pub mod buyer;
pub mod checkout;
mod front_door;
pub mod ops;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::response::Html;
use axum::routing::{get, post};
use axum::Router;
use tower_http::services::{ServeDir, ServeFile};

use crate::error::ApiError;
use crate::state::AppState;

const PURCHASE_ROUTE: &str = "/api/sales/{id}/purchase";

/// An order id from the path; a malformed one is an unknown order.
fn order_id(raw: Option<String>) -> Result<flashsale_domain::OrderId, ApiError> {
    raw.and_then(|id| flashsale_domain::OrderId::parse(&id).ok())
        .ok_or(ApiError::OrderNotFound)
}

/// The SSE stream: the only route that takes the admin token in `?token=`
/// (EventSource cannot set headers).
pub const EVENTS_ROUTE: &str = "/api/admin/events";

/// The whole HTTP surface of the gateway.
pub fn router(state: AppState) -> Router {
    let buyer = Router::new()
        .route("/api/sales", get(buyer::list_sales))
        .route("/api/sales/{id}", get(buyer::get_sale))
        .route("/api/sales/{id}/live", get(buyer::live_sale))
        .route(PURCHASE_ROUTE, post(buyer::purchase))
        .route("/api/orders/{order_id}", get(buyer::get_order))
        .route("/api/orders/{order_id}/pay", post(checkout::pay_order))
        .route("/api/orders/{order_id}/cancel", post(checkout::cancel_order));
    // The provider's own door: signed, not rate-limited per IP (a provider
    // sends from few addresses).
    let payments = Router::new().route("/api/payments/webhook", post(checkout::payment_webhook));
    let admin = Router::new()
        .route("/api/admin/sales", post(admin::create_sale))
        .route("/api/admin/sales/{id}/stock", post(admin::change_stock))
        .route("/api/admin/sales/{id}/stampede", post(admin::launch_stampede))
        .route("/api/admin/sales/{id}/{action}", post(admin::transition))
        .route("/api/admin/cache/flush", post(admin::flush_cache))
        .route("/api/admin/orders/{order_id}", get(admin::get_order))
        .route("/api/admin/orders/{order_id}/void", post(admin::void_order))
        .route("/api/admin/stats", get(admin::stats))
        .route(EVENTS_ROUTE, get(ops::events));
    let ops = Router::new()
        .route("/api/health", get(ops::health))
        .route("/livez", get(ops::livez))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/api/openapi.json", get(crate::openapi::openapi))
        .route("/api", get(ops::not_found))
        .route(
            "/api/{*rest}",
            get(ops::not_found)
                .post(ops::not_found)
                .put(ops::not_found)
                .delete(ops::not_found),
        );
    let body_limit = state.config().body_limit;
    let dashboard = dashboard(&state);
    buyer
        .merge(payments)
        .merge(admin)
        .merge(ops)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback_service(dashboard)
        .layer(front_door::FrontDoorLayer(state.clone()))
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The built pages: the buyers' shop under `/shop/` (its client-side
/// routes fall back to `shop/index.html`) and the operators' dashboard
/// everywhere else (falling back to `index.html`). From the binary
/// ([`crate::pages`]) unless a folder is given; `ServeDir` refuses paths
/// that leave its folder.
fn dashboard(state: &AppState) -> Router {
    match &state.config().dashboard_dir {
        None if crate::pages::embedded() => Router::new().fallback(crate::pages::serve),
        Some(dir) if dir.join("index.html").is_file() => {
            let shop = dir.join("shop");
            let dashboard = ServeDir::new(dir)
                .append_index_html_on_directories(true)
                .fallback(ServeFile::new(dir.join("index.html")));
            Router::new()
                .nest_service(
                    "/shop",
                    ServeDir::new(&shop)
                        .append_index_html_on_directories(true)
                        .fallback(ServeFile::new(shop.join("index.html"))),
                )
                .fallback_service(dashboard)
        }
        _ => Router::new().fallback(|| async {
            Html(
                "<!doctype html><title>FlashSale</title><h1>FlashSale engine</h1>\
                 <p>The dashboard is not built. Run <code>npm --prefix dashboard ci && npm --prefix dashboard run build</code> \
                 and build the engine again (it embeds them), or point <code>FLASHSALE_DASHBOARD_DIR</code> at a built copy.</p><p>API: <a href=\"/api/openapi.json\">/api/openapi.json</a></p>",
            )
        }),
    }
}

/// Runs the once-a-second chores until `stop` resolves: the event counts
/// become log lines, idle rate-limit keys are swept.
pub async fn run_chores(state: AppState, stop: impl std::future::Future<Output = ()>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tokio::pin!(stop);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tick.tick() => {
                state.events().flush_counts();
                n += 1;
                if n.is_multiple_of(10) {
                    for limiter in [&state.0.ip_limit, &state.0.user_limit].into_iter().flatten() {
                        limiter.sweep();
                    }
                }
            }
        }
    }
}
