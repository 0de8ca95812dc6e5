//! Health of the components behind this process, for `/api/health`.

use async_trait::async_trait;
use serde::Serialize;

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
