//! Spans of the purchase path, and the W3C `traceparent` that links them
//! across processes.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use opentelemetry::context::FutureExt;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanContext, SpanId, Status, TraceContextExt, TraceId, Tracer};
use opentelemetry::{global, Context, KeyValue, Value};
use opentelemetry_sdk::propagation::TraceContextPropagator;

pub use opentelemetry::trace::SpanKind as Kind;

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans are made: only once [`crate::install`] found an endpoint.
/// Every function here is a no-op otherwise, so the purchase path pays
/// one relaxed load for tracing when it is off.
pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

pub(crate) fn enable() {
    ENABLED.store(true, Relaxed);
}

/// The span context a `traceparent` names, if it is a valid one (W3C Trace
/// Context, level 1, as the SDK's propagator reads it).
fn parse(traceparent: &str) -> Option<SpanContext> {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    let span = cx.span().span_context().clone();
    span.is_valid().then_some(span)
}

/// The `traceparent` of a span context.
fn format(span: &SpanContext) -> String {
    format!(
        "00-{}-{}-{:02x}",
        span.trace_id(),
        span.span_id(),
        span.trace_flags().to_u8()
    )
}

/// The `traceparent` of the span the current task runs in: what a call to
/// another process, or a record kept for one, carries on.
pub fn current_traceparent() -> Option<String> {
    if !enabled() {
        return None;
    }
    let cx = Context::current();
    let span = cx.span().span_context().clone();
    span.is_valid().then(|| format(&span))
}

/// The trace and span ids of the current task's span, for its log lines.
pub fn current_ids() -> Option<(TraceId, SpanId)> {
    if !enabled() {
        return None;
    }
    let cx = Context::current();
    let span = cx.span().span_context().clone();
    span.is_valid().then(|| (span.trace_id(), span.span_id()))
}

/// A span of this process; ended when dropped. Without tracing it holds
/// nothing.
#[must_use = "a span ends when dropped"]
pub struct Span(Option<Context>);

impl Span {
    /// A span that records nothing.
    pub fn none() -> Self {
        Self(None)
    }

    /// Starts `name` as a child of `parent` (a `traceparent` received from
    /// another process), or of the current task's span when there is none
    /// or it is malformed: a bad header starts a new trace, it never fails
    /// a request.
    pub fn start(name: &'static str, kind: Kind, parent: Option<&str>) -> Self {
        if !enabled() {
            return Self::none();
        }
        let parent = match parent.and_then(parse) {
            Some(remote) => Context::new().with_remote_span_context(remote),
            None => Context::current(),
        };
        let tracer = global::tracer("flashsale");
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .start_with_context(&tracer, &parent);
        Self(Some(parent.with_span(span)))
    }

    /// Sets an attribute.
    pub fn set(&self, key: &'static str, value: impl Into<Value>) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(KeyValue::new(key, value));
        }
    }

    /// Marks the span failed, with why.
    pub fn fail(&self, why: impl Into<String>) {
        if let Some(cx) = &self.0 {
            cx.span().set_status(Status::error(why.into()));
        }
    }

    /// This span's `traceparent`, for a hop to another process.
    pub fn traceparent(&self) -> Option<String> {
        let cx = self.0.as_ref()?;
        let span = cx.span().span_context().clone();
        span.is_valid().then(|| format(&span))
    }

    /// Runs `work` inside this span: calls it makes to other processes,
    /// records it keeps and lines it logs carry the span's context.
    pub async fn run<F: Future>(&self, work: F) -> F::Output {
        match &self.0 {
            Some(cx) => work.with_context(cx.clone()).await,
            None => work.await,
        }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(cx) = &self.0 {
            cx.span().end();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparents_round_trip_and_bad_ones_are_refused() {
        let good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(parse(good).map(|s| format(&s)).as_deref(), Some(good));
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "not a traceparent",
        ] {
            assert!(parse(bad).is_none(), "{bad:?} was accepted");
        }
    }

    #[tokio::test]
    async fn without_tracing_nothing_is_made() {
        let span = Span::start("purchase", Kind::Server, None);
        assert!(span.traceparent().is_none());
        assert!(span.run(async { current_traceparent() }).await.is_none());
    }
}
