import { useEffect, useRef, useState } from 'react';
import { eventsUrl } from '../lib/api';
import type { LogEvent, Stats } from '../lib/types';

export type StreamStatus = 'connecting' | 'live' | 'reconnecting' | 'closed';

interface Handlers {
  onStats: (s: Stats) => void;
  onLogs: (events: LogEvent[]) => void;
  /** called when the stream fails; resolve false to stop retrying (e.g. token refused) */
  onFailure?: () => Promise<boolean>;
}

const SILENCE_MS = 10_000; // no message at all for this long: reconnect
const MAX_BACKOFF_MS = 8_000;

/**
 * Subscribes to the engine's SSE stream (`stats` and `log` events) and keeps it
 * alive: reconnects with backoff when it fails or goes silent. Log events are
 * batched per animation frame so a burst does not re-render per event.
 */
export function useEventStream(token: string | null, handlers: Handlers): StreamStatus {
  const [status, setStatus] = useState<StreamStatus>('connecting');
  const ref = useRef(handlers);
  ref.current = handlers;

  useEffect(() => {
    if (!token) {
      setStatus('closed');
      return;
    }
    let es: EventSource | null = null;
    let stopped = false;
    let attempt = 0;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let lastMessage = Date.now();
    let batch: LogEvent[] = [];
    let flushTimer: ReturnType<typeof setTimeout> | undefined;

    const flush = () => {
      flushTimer = undefined;
      if (batch.length === 0) return;
      const b = batch;
      batch = [];
      ref.current.onLogs(b);
    };

    const connect = () => {
      if (stopped) return;
      setStatus(attempt === 0 ? 'connecting' : 'reconnecting');
      es = new EventSource(eventsUrl(token));
      lastMessage = Date.now();
      es.onopen = () => {
        lastMessage = Date.now();
      };
      es.addEventListener('stats', (ev) => {
        lastMessage = Date.now();
        attempt = 0;
        setStatus('live');
        try {
          ref.current.onStats(JSON.parse((ev as MessageEvent).data));
        } catch {
          /* malformed sample: ignore */
        }
      });
      es.addEventListener('log', (ev) => {
        lastMessage = Date.now();
        try {
          batch.push(JSON.parse((ev as MessageEvent).data));
          if (!flushTimer) flushTimer = setTimeout(flush, 100);
        } catch {
          /* ignore */
        }
      });
      es.onerror = () => {
        if (stopped) return;
        if (es && es.readyState === EventSource.CONNECTING) {
          // the browser retries by itself
          setStatus('reconnecting');
          return;
        }
        retry();
      };
    };

    const retry = () => {
      es?.close();
      es = null;
      if (stopped) return;
      setStatus('reconnecting');
      attempt += 1;
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(attempt, 5));
      clearTimeout(retryTimer);
      retryTimer = setTimeout(async () => {
        if (stopped) return;
        const go = ref.current.onFailure ? await ref.current.onFailure() : true;
        if (go && !stopped) connect();
        else if (!stopped) setStatus('closed');
      }, delay);
    };

    const watchdog = setInterval(() => {
      if (!stopped && es && Date.now() - lastMessage > SILENCE_MS) retry();
    }, 1000);

    connect();
    return () => {
      stopped = true;
      clearInterval(watchdog);
      clearTimeout(retryTimer);
      clearTimeout(flushTimer);
      flush();
      es?.close();
    };
  }, [token]);

  return status;
}
