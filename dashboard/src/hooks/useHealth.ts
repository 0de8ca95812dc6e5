import { useEffect, useState } from 'react';
import { ApiError, type Api } from '../lib/api';
import type { Health } from '../lib/types';

export interface HealthState {
  health: Health | null;
  error: string | null;
  /** client time (ms) of the last check, 0 before the first */
  checkedAt: number;
}

/**
 * Polls the public health endpoint every `everyMs`. A failed check keeps the
 * last answer on screen next to the error: an operator wants both.
 */
export function useHealth(api: Api, everyMs = 5000): HealthState {
  const [state, setState] = useState<HealthState>({ health: null, error: null, checkedAt: 0 });
  useEffect(() => {
    let stop = false;
    const poll = async () => {
      try {
        const health = await api.health();
        if (!stop) setState({ health, error: null, checkedAt: Date.now() });
      } catch (e) {
        const error = e instanceof ApiError ? e.message : 'Health check failed';
        if (!stop) setState((s) => ({ ...s, error, checkedAt: Date.now() }));
      }
    };
    poll();
    const id = setInterval(poll, everyMs);
    return () => {
      stop = true;
      clearInterval(id);
    };
  }, [api, everyMs]);
  return state;
}
