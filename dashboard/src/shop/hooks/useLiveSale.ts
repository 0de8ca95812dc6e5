import { useCallback, useEffect, useState } from 'react';
import { ApiError } from '../../lib/api';
import type { Sale } from '../../lib/types';
import { liveUrl, type ShopApi } from '../lib/shopApi';

export type LiveStatus = 'connecting' | 'live' | 'reconnecting';

export interface LiveSale {
  sale: Sale | null;
  /** `not_found`, or a message while the sale cannot be loaded */
  error: string | null;
  live: LiveStatus;
}

const MAX_BACKOFF_MS = 10_000;

/**
 * One sale, kept current by its event stream (`GET /api/sales/{id}/live`,
 * a `sale` event at once and whenever its figures change): no polling.
 * The sale is first read with `GET /api/sales/{id}`, whose answer also sets
 * the clock offset; again after the stream was lost (the engine restarted…).
 * A stream the browser gives up on is reopened with back-off.
 */
export function useLiveSale(api: ShopApi, id: string): LiveSale & { patch: (s: Partial<Sale>) => void } {
  const [state, setState] = useState<LiveSale>({ sale: null, error: null, live: 'connecting' });

  useEffect(() => {
    let stopped = false;
    let es: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    setState({ sale: null, error: null, live: 'connecting' });

    const read = async () => {
      try {
        const sale = await api.sale(id);
        if (!stopped) setState((s) => ({ ...s, sale: s.sale && s.live === 'live' ? s.sale : sale, error: null }));
        return true;
      } catch (e) {
        if (stopped) return false;
        if (e instanceof ApiError && e.status === 404) {
          setState({ sale: null, error: 'not_found', live: 'reconnecting' });
          return false;
        }
        setState((s) => ({ ...s, error: e instanceof ApiError ? e.message : 'Cannot load the sale.' }));
        return true;
      }
    };

    const retry = () => {
      es?.close();
      es = null;
      if (stopped) return;
      failures += 1;
      setState((s) => ({ ...s, live: 'reconnecting' }));
      clearTimeout(timer);
      timer = setTimeout(async () => {
        if (stopped) return;
        if (await read()) connect();
      }, Math.min(MAX_BACKOFF_MS, 500 * 2 ** Math.min(failures, 5)));
    };

    const connect = () => {
      if (stopped || typeof EventSource === 'undefined') return;
      es = new EventSource(liveUrl(id));
      es.addEventListener('sale', (ev) => {
        try {
          const sale = JSON.parse((ev as MessageEvent).data) as Sale;
          failures = 0;
          if (!stopped) setState({ sale, error: null, live: 'live' });
        } catch {
          /* a malformed event: keep the last figures */
        }
      });
      es.onerror = () => {
        if (stopped || !es) return;
        if (es.readyState === EventSource.CONNECTING) {
          // the browser reconnects by itself; the figures may be stale meanwhile
          setState((s) => ({ ...s, live: 'reconnecting' }));
          return;
        }
        retry();
      };
    };

    read().then((found) => {
      if (found && !stopped) connect();
    });
    return () => {
      stopped = true;
      clearTimeout(timer);
      es?.close();
    };
  }, [api, id]);

  /** Lays fresher figures over the sale (e.g. `remaining` from a purchase's answer) until the stream's next event. */
  const patch = useCallback((p: Partial<Sale>) => setState((s) => (s.sale ? { ...s, sale: { ...s.sale, ...p } } : s)), []);
  return { ...state, patch };
}
