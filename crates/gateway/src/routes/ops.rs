//! Operations routes: health, metrics, the live event stream, the OpenAPI
//! document.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};

use flashsale_domain::ComponentHealth;
use futures_util::stream::{self, Stream, StreamExt};
use tokio_stream::wrappers::{BroadcastStream, IntervalStream, WatchStream};

use crate::auth::Admin;
use crate::dto::{Health, Probe};
use crate::error::{ApiError, ErrorBody};
use crate::routes::admin::collect_stats;
use crate::state::AppState;

/// Stats pushed on the SSE stream this often.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// Health of this process and of every store behind it.
#[utoipa::path(get, path = "/api/health", tag = "ops",
    responses((status = 200, body = Health), (status = 503, description = "degraded", body = Health)))]
pub async fn health(State(state): State<AppState>) -> Response {
    let max = state.config().max_in_flight;
    let busy = max - state.0.purchase_slots.available_permits();
    let known = BTreeMap::from([
        (
            "gateway".to_owned(),
            ComponentHealth::ok(format!("{busy} of {max} purchase slots busy")),
        ),
        (
            "payments".to_owned(),
            ComponentHealth::ok(state.config().payments.describe()),
        ),
    ]);
    crate::health::answer(state.services().mode, known, &state.services().probes).await
}

/// Liveness: the process is alive. Never asks a store.
#[utoipa::path(get, path = "/livez", tag = "ops", responses((status = 200, body = Probe)))]
pub async fn livez() -> Response {
    crate::health::liveness()
}

/// Readiness: this process can take traffic (no store behind it is down).
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Probe), (status = 503, description = "a component is down", body = Probe)))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    crate::health::readiness(&state.services().probes).await
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "ops", responses((status = 200, description = "Prometheus text", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut gauges = String::new();
    let depth = state.services().inventory.queue_depth();
    gauges.push_str("# HELP flashsale_queue_depth Reservations waiting for the order store.\n");
    gauges.push_str("# TYPE flashsale_queue_depth gauge\n");
    gauges.push_str(&format!("flashsale_queue_depth {depth}\n"));
    let busy = state.config().max_in_flight - state.0.purchase_slots.available_permits();
    gauges.push_str("# HELP flashsale_purchases_in_flight Purchases being processed.\n");
    gauges.push_str("# TYPE flashsale_purchases_in_flight gauge\n");
    gauges.push_str(&format!("flashsale_purchases_in_flight {busy}\n"));
    if let Ok(views) = state.services().product.list().await {
        gauges.push_str("# HELP flashsale_sale_remaining_units Units of a sale not yet sold.\n");
        gauges.push_str("# TYPE flashsale_sale_remaining_units gauge\n");
        for v in &views {
            gauges.push_str(&format!(
                "flashsale_sale_remaining_units{{sale=\"{}\"}} {}\n",
                v.sale.id,
                v.remaining()
            ));
        }
        gauges.push_str(
            "# HELP flashsale_sale_ledger_difference Units of a sale unaccounted for: stock - (remaining + in flight + persisted); 0 when the ledger balances.\n",
        );
        gauges.push_str("# TYPE flashsale_sale_ledger_difference gauge\n");
        for v in &views {
            gauges.push_str(&format!(
                "flashsale_sale_ledger_difference{{sale=\"{}\"}} {}\n",
                v.sale.id,
                v.level.ledger_difference()
            ));
        }
    }
    gauges.push_str("# HELP flashsale_live_watchers Buyers' pages watching a sale's live figures.\n");
    gauges.push_str("# TYPE flashsale_live_watchers gauge\n");
    gauges.push_str(&format!("flashsale_live_watchers {}\n", state.0.feeds.watchers()));
    gauges.push_str(
        "# HELP flashsale_live_sales_watched Sales with at least one watcher (one read a second each).\n",
    );
    gauges.push_str("# TYPE flashsale_live_sales_watched gauge\n");
    gauges.push_str(&format!(
        "flashsale_live_sales_watched {}\n",
        state.0.feeds.watched()
    ));
    gauges.push_str("# HELP flashsale_draw_waiting Buyers waiting in a fair start's draw on this gateway.\n");
    gauges.push_str("# TYPE flashsale_draw_waiting gauge\n");
    gauges.push_str(&format!(
        "flashsale_draw_waiting {}\n",
        state.0.draw_waiters.waiting()
    ));
    for source in &state.services().metrics {
        gauges.push_str(&source());
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.telemetry().prometheus(&gauges),
    )
}

/// The live stream: recent log events, then every new one, and the stats
/// every second.
#[utoipa::path(get, path = "/api/admin/events", tag = "admin",
    params(("token" = Option<String>, Query, description = "The admin token, for EventSource clients that cannot set headers")),
    security(("admin_token" = [])),
    responses((status = 200, description = "text/event-stream of `log` and `stats` events"),
              (status = 401, description = "unauthorized", body = ErrorBody)))]
pub async fn events(
    State(state): State<AppState>,
    _: Admin,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let (recent, live) = state.events().subscribe();
    let log = |entry| SseEvent::default().event("log").json_data(entry).ok();
    let backlog = stream::iter(recent.into_iter().filter_map(log));
    let live = BroadcastStream::new(live).filter_map(move |e| async move { e.ok().and_then(log) });
    let stats_state = state.clone();
    let stats = IntervalStream::new(tokio::time::interval(STATS_EVERY)).filter_map(move |_| {
        let state = stats_state.clone();
        async move {
            collect_stats(&state)
                .await
                .ok()
                .and_then(|s| SseEvent::default().event("stats").json_data(s).ok())
        }
    });
    let stopping = WatchStream::new(state.0.shutdown.clone()).filter(|stop| std::future::ready(*stop));
    let stream = backlog
        .chain(stream::select(live, stats))
        .take_until(stopping.into_future())
        .map(Ok);
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// Unknown `/api/...` paths.
pub async fn not_found() -> ApiError {
    ApiError::NotFound
}
