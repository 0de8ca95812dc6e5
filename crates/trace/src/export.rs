//! The OTLP exporter: read from the standard `OTEL_*` variables, batched
//! off the request path, sent over HTTP (`http/protobuf` by default, or
//! `http/json`).

use std::time::Duration;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

/// How long one export may take before it is given up (and its spans
/// dropped: traces never hold back the engine).
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// A tracing setting the engine cannot start with.
#[derive(Debug, thiserror::Error)]
pub enum TraceSettingsError {
    #[error("{variable}={value:?}: {why}")]
    Setting {
        variable: &'static str,
        value: String,
        why: &'static str,
    },
    #[error("the OTLP exporter: {0}")]
    Exporter(String),
}

/// The installed exporter: flush it with [`Traces::shutdown`] before the
/// process exits, or the last spans are lost.
pub struct Traces {
    provider: SdkTracerProvider,
    description: String,
}

impl Traces {
    /// Where spans go, for the start-up banner (no credentials: headers
    /// are never shown).
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// Exports what is buffered and stops the exporter.
    pub async fn shutdown(self) {
        let provider = self.provider;
        // The batch processor's thread sends through this runtime: wait for
        // it from a thread of the blocking pool, not a worker.
        let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Installs the exporter when an OTLP endpoint is set and the SDK is not
/// disabled (`OTEL_SDK_DISABLED=true`, `OTEL_TRACES_EXPORTER=none`).
/// `service` names the process unless `OTEL_SERVICE_NAME` does. Must run
/// inside the Tokio runtime the engine runs on: exports are sent from it.
pub fn install(service: &str) -> Result<Option<Traces>, TraceSettingsError> {
    let endpoint = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"));
    let disabled = env("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let exporter = env("OTEL_TRACES_EXPORTER");
    match exporter.as_deref() {
        None | Some("otlp") => {}
        Some("none") => return Ok(None),
        Some(other) => {
            return Err(TraceSettingsError::Setting {
                variable: "OTEL_TRACES_EXPORTER",
                value: other.to_owned(),
                why: "the engine exports traces over OTLP only: use otlp, or none",
            })
        }
    }
    let Some(endpoint) = endpoint.filter(|_| !disabled) else {
        return Ok(None);
    };
    let protocol = protocol()?;
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| TraceSettingsError::Exporter("installed outside the Tokio runtime".into()))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .with_http_client(RuntimeClient::new(runtime))
        .build()
        .map_err(|e| TraceSettingsError::Exporter(e.to_string()))?;
    let mut resource = Resource::builder();
    if env("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(service.to_owned());
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    crate::span::enable();
    let protocol = match protocol {
        Protocol::HttpJson => "http/json",
        _ => "http/protobuf",
    };
    Ok(Some(Traces {
        provider,
        description: format!("OTLP {protocol} to {}", without_credentials(&endpoint)),
    }))
}

/// `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL`;
/// `http/protobuf`, the specification's default, when neither is set.
fn protocol() -> Result<Protocol, TraceSettingsError> {
    let variable = [
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ]
    .into_iter()
    .find(|v| env(v).is_some());
    let Some(variable) = variable else {
        return Ok(Protocol::HttpBinary);
    };
    let value = env(variable).unwrap_or_default();
    match value.as_str() {
        "http/protobuf" => Ok(Protocol::HttpBinary),
        "http/json" => Ok(Protocol::HttpJson),
        _ => Err(TraceSettingsError::Setting {
            variable,
            value,
            why: "use http/protobuf or http/json (gRPC is not built in: collectors take OTLP over HTTP on port 4318)",
        }),
    }
}

/// `endpoint` without a user or password, for showing.
fn without_credentials(endpoint: &str) -> String {
    match endpoint.split_once("://") {
        Some((scheme, rest)) => {
            let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
            format!("{scheme}://{rest}")
        }
        None => endpoint.to_owned(),
    }
}

/// Sends the exporter's requests from the engine's runtime. The SDK's batch
/// processor exports from a thread of its own, outside any runtime, where
/// hyper cannot run; this client hands each request to the runtime and
/// waits for its answer.
#[derive(Debug, Clone)]
struct RuntimeClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    runtime: tokio::runtime::Handle,
}

impl RuntimeClient {
    fn new(runtime: tokio::runtime::Handle) -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_secs(2)));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            runtime,
        }
    }
}

#[async_trait]
impl HttpClient for RuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let request = request.map(Full::new);
        let sent = self.runtime.spawn(async move {
            tokio::time::timeout(EXPORT_TIMEOUT, async move {
                let response = client.request(request).await?;
                let (parts, body) = response.into_parts();
                let body = body.collect().await?.to_bytes();
                Ok::<_, HttpError>(Response::from_parts(parts, body))
            })
            .await
            .map_err(|_| HttpError::from("the OTLP endpoint did not answer in time"))?
        });
        sent.await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_not_shown() {
        assert_eq!(
            without_credentials("https://user:secret@otel.example:4318"),
            "https://otel.example:4318"
        );
        assert_eq!(
            without_credentials("http://127.0.0.1:4318"),
            "http://127.0.0.1:4318"
        );
    }
}
