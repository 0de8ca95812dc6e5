//! The gateway's health of the production topology: each service up while
//! one of its replicas answers, and each store as the worst any replica
//! reports it. The replicas' health pages are read at most once a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use flashsale_domain::{ComponentHealth, HealthProbe, HealthStatus};

use super::remote::Upstream;

/// The components each service process reports, beside the services.
const STORES: [&str; 6] = ["redis", "rabbitmq", "postgres", "relay", "consumer", "sweeper"];

/// One probe per service and one per store, sharing one read of the
/// replicas' health pages.
pub fn probes(upstreams: Vec<(&'static str, Arc<Upstream>)>) -> Vec<Arc<dyn HealthProbe>> {
    let services: Vec<&'static str> = upstreams.iter().map(|(name, _)| *name).collect();
    let health = Arc::new(ServicesHealth {
        upstreams,
        cache: tokio::sync::Mutex::new(None),
    });
    let mut probes: Vec<Arc<dyn HealthProbe>> = Vec::new();
    for service in services {
        probes.push(Arc::new(ServiceProbe(service, health.clone())));
    }
    for store in STORES {
        probes.push(Arc::new(StoreProbe(store, health.clone())));
    }
    probes
}

/// The services' own health pages, read at most once a second and shared
/// by the gateway's probes (one per service, one per store).
struct ServicesHealth {
    upstreams: Vec<(&'static str, Arc<Upstream>)>,
    cache: tokio::sync::Mutex<Option<(Instant, Arc<Vec<ReplicaHealth>>)>>,
}

/// What one replica of one service said.
struct ReplicaHealth {
    service: &'static str,
    base: String,
    answer: Result<(u16, serde_json::Value), String>,
}

impl ServicesHealth {
    async fn read(&self) -> Arc<Vec<ReplicaHealth>> {
        let mut cache = self.cache.lock().await;
        if let Some((at, found)) = cache.as_ref() {
            if at.elapsed() < Duration::from_secs(1) {
                return found.clone();
            }
        }
        let mut found = Vec::new();
        for (service, upstream) in &self.upstreams {
            for (base, answer) in upstream.health().await {
                found.push(ReplicaHealth {
                    service,
                    base,
                    answer,
                });
            }
        }
        let found = Arc::new(found);
        *cache = Some((Instant::now(), found.clone()));
        found
    }
}

/// A service's health as the gateway sees it: up while at least one replica
/// answers healthy (the others are named in the detail).
struct ServiceProbe(&'static str, Arc<ServicesHealth>);

#[async_trait]
impl HealthProbe for ServiceProbe {
    fn name(&self) -> &'static str {
        self.0
    }
    async fn check(&self) -> ComponentHealth {
        let all = self.1.read().await;
        let replicas: Vec<&ReplicaHealth> = all.iter().filter(|r| r.service == self.0).collect();
        // A replica that answers its health page serves, even when a store
        // behind it is degraded (503): the store probes report that part.
        let serving = |r: &ReplicaHealth| matches!(&r.answer, Ok((_, body)) if body["status"].is_string());
        let up = replicas.iter().filter(|r| serving(r)).count();
        let down: Vec<String> = replicas
            .iter()
            .filter_map(|r| match &r.answer {
                Ok((200, _)) => None,
                Ok((status, _)) if serving(r) => Some(format!("{} answered {status} (degraded)", r.base)),
                Ok((status, _)) => Some(format!("{} answered {status}", r.base)),
                Err(e) => Some(format!("{} down: {e}", r.base)),
            })
            .collect();
        let mut detail = format!("{up} of {} replicas up", replicas.len());
        if !down.is_empty() {
            detail = format!("{detail}; {}", down.join("; "));
        }
        if up == 0 {
            ComponentHealth::down(detail)
        } else {
            ComponentHealth::ok(detail)
        }
    }
}

/// A store (or the relay, or the consumer) as the services that use it
/// report it: its worst status over every replica that reports it.
struct StoreProbe(&'static str, Arc<ServicesHealth>);

#[async_trait]
impl HealthProbe for StoreProbe {
    fn name(&self) -> &'static str {
        self.0
    }
    async fn check(&self) -> ComponentHealth {
        let all = self.1.read().await;
        let mut worst: Option<ComponentHealth> = None;
        for replica in all.iter() {
            let Ok((_, body)) = &replica.answer else { continue };
            let Some(c) = body["components"].get(self.0) else {
                continue;
            };
            let status = match c["status"].as_str() {
                Some("ok") => HealthStatus::Ok,
                Some("degraded") => HealthStatus::Degraded,
                _ => HealthStatus::Down,
            };
            let found = ComponentHealth {
                status,
                detail: format!(
                    "{} (seen by {} {})",
                    c["detail"].as_str().unwrap_or(""),
                    replica.service,
                    replica.base
                ),
            };
            if worst
                .as_ref()
                .is_none_or(|w| found.status.rank() > w.status.rank())
            {
                worst = Some(found);
            }
        }
        worst.unwrap_or_else(|| ComponentHealth::down("no service replica reports it"))
    }
}
