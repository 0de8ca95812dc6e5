import { useCallback, useRef, useState } from 'react';
import { isOpen, newIdempotencyKey, runIntent, type FinalState, type Intent, type IntentState, type RunDeps } from '../lib/intent';
import type { ShopApi } from '../lib/shopApi';

export interface PurchaseOptions {
  /** a 202: the order to keep and follow (also for a replayed answer) */
  onAccepted?: (s: Extract<FinalState, { phase: 'accepted' }>) => void;
  /** for tests: the clock, the waits, the spread of retries, the key */
  deps?: Pick<RunDeps, 'sleep' | 'now' | 'rng' | 'budgetMs'>;
  newKey?: () => string;
}

/**
 * Buy, as intents: `buy(quantity)` opens one (a fresh Idempotency-Key) and
 * runs it to its end; while it is open, further calls are ignored (a double
 * click is one purchase). An intent that ended without an answer (gave up)
 * is resumed by the next Buy of the same quantity, with its key: the first
 * request may have gone through, and must not become two purchases.
 */
export function usePurchase(api: ShopApi, saleId: string, options: PurchaseOptions = {}) {
  const [state, setState] = useState<IntentState>({ phase: 'idle' });
  const open = useRef(false);
  const unresolved = useRef<Intent | null>(null);
  const opts = useRef(options);
  opts.current = options;

  const buy = useCallback(
    async (quantity: number): Promise<FinalState | null> => {
      // synchronous guard: two clicks in one frame see the same open intent
      if (open.current) return null;
      open.current = true;
      const now = opts.current.deps?.now ?? (() => Date.now());
      const previous = unresolved.current;
      const intent: Intent =
        previous && previous.saleId === saleId && previous.quantity === quantity
          ? { ...previous, startedAt: now() }
          : { key: (opts.current.newKey ?? newIdempotencyKey)(), saleId, quantity, startedAt: now() };
      try {
        const final = await runIntent(intent, {
          ...opts.current.deps,
          send: (i, signal) => api.purchase(i.saleId, i.quantity, i.key, signal),
          onState: setState,
        });
        unresolved.current = final.phase === 'gave_up' ? intent : null;
        if (final.phase === 'accepted') opts.current.onAccepted?.(final);
        return final;
      } finally {
        open.current = false;
      }
    },
    [api, saleId],
  );

  /** Forgets the last answer (e.g. a local notice replaces it). */
  const reset = useCallback(() => {
    if (!open.current) setState({ phase: 'idle' });
  }, []);

  return { state, busy: isOpen(state), buy, reset };
}
