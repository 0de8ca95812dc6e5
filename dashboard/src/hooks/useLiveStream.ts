import { useCallback, useEffect, useReducer, useRef } from 'react';
import { ApiError, type Api } from '../lib/api';
import { feedReducer, initialFeed } from '../lib/events';
import { initialStats, statsReducer } from '../lib/stats';
import type { LogEvent, Stats } from '../lib/types';
import { useEventStream } from './useEventStream';

/** Log kinds after which the sale list is out of date (an expiry puts units back on sale). */
const SALE_KINDS = ['sale_state', 'stock_changed', 'sold_out', 'checkout', 'admin_action'];

interface Options {
  /** the engine refused the token: stop and sign out */
  onRefused: () => void;
  /** a sale may have changed (an event about one, or a (re)connection that may have missed some) */
  onSalesChanged: () => void;
}

/**
 * The engine's SSE stream for the signed-in operator, turned into state: stats
 * samples into the stats reducer (figures, chart), log events into the feed
 * reducer. When the stream fails, the token is checked before retrying, so a
 * revoked token signs out instead of reconnecting forever.
 */
export function useLiveStream(api: Api, token: string, options: Options) {
  const [stats, dispatchStats] = useReducer(statsReducer, initialStats);
  const [feed, dispatchFeed] = useReducer(feedReducer, undefined, () => initialFeed());
  const opts = useRef(options);
  opts.current = options;

  const onStats = useCallback((s: Stats) => dispatchStats({ type: 'stats', stats: s, at: Date.now() }), []);
  const onLogs = useCallback((events: LogEvent[]) => {
    dispatchFeed({ type: 'events', events });
    if (events.some((e) => SALE_KINDS.includes(e.kind))) opts.current.onSalesChanged();
  }, []);
  const onFailure = useCallback(async () => {
    try {
      await api.stats(token);
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        opts.current.onRefused();
        return false;
      }
      return true; // engine unreachable: keep retrying
    }
  }, [api, token]);

  const stream = useEventStream(token, { onStats, onLogs, onFailure });
  useEffect(() => {
    if (stream === 'live') opts.current.onSalesChanged();
  }, [stream]);

  return { stream, stats, feed, dispatchFeed };
}
