//! The health port: every component behind a process reports what it holds,
//! or why it cannot reach it, on `/api/health`.

use async_trait::async_trait;

/// One component's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
    Degraded,
    Down,
}

impl HealthStatus {
    /// Worse is greater: `ok < degraded < down`.
    pub fn rank(self) -> u8 {
        match self {
            HealthStatus::Ok => 0,
            HealthStatus::Degraded => 1,
            HealthStatus::Down => 2,
        }
    }
}

/// What a probe found.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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

/// Checks one component.
///
/// # Errors
/// A probe has no error path: one that cannot reach its component reports
/// `down` with the reason. It MUST answer quickly (the caller gives it 2 s)
/// and never panic.
#[async_trait]
pub trait HealthProbe: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    async fn check(&self) -> ComponentHealth;
}
