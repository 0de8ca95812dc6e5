//! Health of the components behind this process, for `/api/health`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use flashsale_domain::{ComponentHealth, HealthProbe, HealthStatus};

use crate::dto::{Health, Probe};
use crate::state::Mode;

/// The `/api/health` answer of any process: `known` components plus every
/// probe (each given 2 s), 200 when all are ok and 503 otherwise.
pub async fn answer(
    mode: Mode,
    known: BTreeMap<String, ComponentHealth>,
    probes: &[Arc<dyn HealthProbe>],
) -> Response {
    let components = checked(known, probes).await;
    let healthy = components.values().all(|c| c.status == HealthStatus::Ok);
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
            components,
        }),
    )
        .into_response()
}

/// `/livez`: the process is alive and serving. Never asks a store: a store
/// that is down must not get the process restarted.
pub fn liveness() -> Response {
    Json(Probe {
        status: "alive",
        down: Vec::new(),
    })
    .into_response()
}

/// `/readyz`: the process can take traffic: none of its probes is down (a
/// degraded component still serves). 503 with the components that are
/// down otherwise. A process answers only once its migrations are applied,
/// and stops accepting connections when it starts draining.
pub async fn readiness(probes: &[Arc<dyn HealthProbe>]) -> Response {
    let down: Vec<String> = checked(BTreeMap::new(), probes)
        .await
        .into_iter()
        .filter(|(_, c)| c.status == HealthStatus::Down)
        .map(|(name, _)| name)
        .collect();
    let status = if down.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let answer = if down.is_empty() { "ready" } else { "not_ready" };
    (status, Json(Probe { status: answer, down })).into_response()
}

/// `known` plus what every probe finds, each given 2 s.
async fn checked(
    mut known: BTreeMap<String, ComponentHealth>,
    probes: &[Arc<dyn HealthProbe>],
) -> BTreeMap<String, ComponentHealth> {
    let checks = probes.iter().map(|p| async move {
        let found = tokio::time::timeout(Duration::from_secs(2), p.check())
            .await
            .unwrap_or_else(|_| ComponentHealth::down("no answer within 2 s"));
        (p.name().to_owned(), found)
    });
    known.extend(futures_util::future::join_all(checks).await);
    known
}
