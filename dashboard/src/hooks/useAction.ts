import { useCallback, useRef, useState } from 'react';
import { ApiError } from '../lib/api';

export interface ActionResult {
  kind: 'idle' | 'busy' | 'ok' | 'error';
  text: string;
  code?: string;
}

/** Runs one admin action at a time and keeps its outcome (the API's message on error). */
export function useAction() {
  const [result, setResult] = useState<ActionResult>({ kind: 'idle', text: '' });
  const seq = useRef(0);
  const run = useCallback(async <T,>(busyText: string, fn: () => Promise<T>, okText: (r: T) => string): Promise<T | undefined> => {
    const my = ++seq.current;
    setResult({ kind: 'busy', text: busyText });
    try {
      const r = await fn();
      if (my === seq.current) setResult({ kind: 'ok', text: okText(r) });
      return r;
    } catch (e) {
      if (my === seq.current) {
        if (e instanceof ApiError) setResult({ kind: 'error', text: e.message, code: e.code });
        else setResult({ kind: 'error', text: (e as Error)?.message || 'Unexpected error' });
      }
      return undefined;
    }
  }, []);
  const clear = useCallback(() => setResult({ kind: 'idle', text: '' }), []);
  return { result, run, clear, busy: result.kind === 'busy' };
}
