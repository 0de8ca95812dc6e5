import type { Dispatch } from 'react';
import { Pause, Play, ScrollText, Trash } from 'lucide-react';
import { KIND_LABELS, KINDS, visibleEvents, type FeedAction, type FeedState } from '../lib/events';
import type { Sale } from '../lib/types';
import { fmtClock } from '../lib/format';

interface Props {
  feed: FeedState;
  dispatch: Dispatch<FeedAction>;
  sales: Sale[];
}

export function EventLog({ feed, dispatch, sales }: Props) {
  const names = new Map(sales.map((s) => [s.id, s.name]));
  const counts = new Map<string, number>();
  for (const e of feed.items) counts.set(e.kind, (counts.get(e.kind) ?? 0) + 1);
  const kinds: string[] = [...KINDS, ...[...counts.keys()].filter((k) => !(KINDS as readonly string[]).includes(k)).sort()];
  const shown = visibleEvents(feed);
  const hiddenCount = feed.items.length - shown.length;

  return (
    <section className="panel order-3" aria-labelledby="log-title" data-testid="event-log">
      <div className="panel-head">
        <h2 id="log-title">
          <ScrollText size={16} aria-hidden /> Security &amp; event log
        </h2>
        <span className="spacer" />
        {feed.paused && (
          <span className="badge warn" data-testid="feed-pending" role="status">
            paused · {feed.pending.length} new
          </span>
        )}
        <button
          type="button"
          className="btn small"
          onClick={() => dispatch({ type: feed.paused ? 'resume' : 'pause' })}
          aria-pressed={feed.paused}
          data-testid="feed-pause"
        >
          {feed.paused ? <Play size={13} aria-hidden /> : <Pause size={13} aria-hidden />}
          {feed.paused ? 'Resume feed' : 'Pause feed'}
        </button>
        <button type="button" className="btn small" onClick={() => dispatch({ type: 'clear' })} aria-label="Clear the event log">
          <Trash size={13} aria-hidden /> Clear
        </button>
      </div>
      <div className="chips" role="group" aria-label="Filter events by kind">
        <button
          type="button"
          className="chip"
          aria-pressed={feed.hidden.length === 0}
          onClick={() => dispatch({ type: 'showAll' })}
          data-testid="filter-all"
        >
          All
        </button>
        {kinds.map((k) => (
          <button
            key={k}
            type="button"
            className="chip"
            aria-pressed={!feed.hidden.includes(k)}
            onClick={() => dispatch({ type: 'toggleKind', kind: k })}
            onDoubleClick={() => dispatch({ type: 'only', kind: k })}
            title="Click to show or hide; double-click to show only this kind"
            data-testid={`filter-${k}`}
          >
            {KIND_LABELS[k] ?? k}
            <span className="count">{counts.get(k) ?? 0}</span>
          </button>
        ))}
      </div>
      <ol className="feed" data-testid="feed" aria-label="Events, newest first" tabIndex={0}>
        {shown.length === 0 && (
          <li className="empty" style={{ display: 'block' }}>
            {feed.items.length === 0 ? 'No event yet.' : `All ${hiddenCount} events are filtered out.`}
          </li>
        )}
        {shown.map((e) => (
          <li key={`${e.id}|${e.at}`} className={`sev-${e.severity}`} data-kind={e.kind} data-severity={e.severity} data-testid="feed-item">
            <time dateTime={e.at}>{fmtClock(e.at)}</time>
            <span className={`sev sev-${e.severity}`}>{e.severity}</span>
            <span className="kind">{KIND_LABELS[e.kind] ?? e.kind}</span>
            <span className="msg">
              {e.message}
              {e.sale_id && names.has(e.sale_id) && !e.message.includes(names.get(e.sale_id)!) ? (
                <span className="muted"> · {names.get(e.sale_id)}</span>
              ) : null}
            </span>
          </li>
        ))}
      </ol>
      <p className="muted" style={{ margin: '6px 0 0', fontSize: 12 }}>
        {feed.items.length} kept (last {feed.cap}){hiddenCount > 0 ? ` · ${hiddenCount} hidden by the filter` : ''}
      </p>
    </section>
  );
}
