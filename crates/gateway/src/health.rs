//! Health of the components behind this process, for `/api/health`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use flashsale_domain::{ComponentHealth, HealthProbe, HealthStatus};

use crate::dto::Health;
use crate::state::Mode;

/// The `/api/health` answer of any process: `known` components plus every
/// probe (each given 2 s), 200 when all are ok and 503 otherwise.
pub async fn answer(
    mode: Mode,
    mut known: BTreeMap<String, ComponentHealth>,
    probes: &[Arc<dyn HealthProbe>],
) -> Response {
    let checks = probes.iter().map(|p| async move {
        let found = tokio::time::timeout(Duration::from_secs(2), p.check())
            .await
            .unwrap_or_else(|_| ComponentHealth::down("no answer within 2 s"));
        (p.name().to_owned(), found)
    });
    known.extend(futures_util::future::join_all(checks).await);
    let healthy = known.values().all(|c| c.status == HealthStatus::Ok);
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Health {
            status: if healthy { "ok" } else { "degraded" },
            mode,
            components: known,
        }),
    )
        .into_response()
}
