//! Health of the components behind this process, for `/api/health`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::dto::Health;
use crate::state::Mode;

/// One component's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Degraded,
    Down,
}

/// What a probe found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComponentHealth {
    pub status: HealthStatus,
    /// For operators: latency, lag, persistence mode, the error.
    pub detail: String,
}

impl ComponentHealth {
    pub fn ok(detail: impl Into<String>) -> Self {
        Self {
            status: HealthStatus::Ok,
            detail: detail.into(),
        }
    }

    pub fn down(detail: impl Into<String>) -> Self {
        Self {
            status: HealthStatus::Down,
            detail: detail.into(),
        }
    }

    pub fn degraded(detail: impl Into<String>) -> Self {
        Self {
            status: HealthStatus::Degraded,
            detail: detail.into(),
        }
    }
}

/// Checks one component. Must answer quickly (under a second) and never
/// panic: a probe that cannot reach its component reports `down`.
#[async_trait]
pub trait HealthProbe: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn check(&self) -> ComponentHealth;
}

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
