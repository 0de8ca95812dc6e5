//! The process's log lines on stderr: text for people, or one JSON object
//! per line for a log pipeline, with the trace and span ids of the
//! purchase a line was written in when traces are exported.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Logs to stderr, as text or as JSON (`format`), filtered by
/// `FLASHSALE_LOG` (default `info`).
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_env("FLASHSALE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    if format == "json" {
        let json = tracing_subscriber::fmt::format()
            .json()
            .flatten_event(true)
            .with_span_list(false)
            .with_target(false);
        logs.json().event_format(WithTraceIds(json)).init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init();
    }
}

/// A JSON line with `trace_id` and `span_id` added when it is written
/// inside a traced span, so a log pipeline can jump from a line to its
/// trace.
struct WithTraceIds<F>(F);

impl<S, N, F> FormatEvent<S, N> for WithTraceIds<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some((trace, span)) = flashsale_trace::current_ids() else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        match line.trim_end().strip_suffix('}') {
            Some(object) => writeln!(
                writer,
                "{object},\"trace_id\":\"{trace}\",\"span_id\":\"{span}\"}}"
            ),
            None => writer.write_str(&line),
        }
    }
}
