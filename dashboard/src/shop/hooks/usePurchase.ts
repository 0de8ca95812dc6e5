import { useCallback, useRef, useState } from 'react';
import { attemptTimeoutMs, isOpen, newIdempotencyKey, runIntent, type FinalState, type Intent, type IntentState, type RunDeps } from '../lib/intent';
import type { ShopApi } from '../lib/shopApi';

export interface PurchaseOptions {
  /** a 202: the order to keep and follow (also for a replayed answer) */
  onAccepted?: (s: Extract<FinalState, { phase: 'accepted' }>) => void;
  /** for tests: the clock, the waits, the spread of retries, the key */
  deps?: Pick<RunDeps, 'sleep' | 'now' | 'rng' | 'budgetMs'>;
  newKey?: () => string;
}

/** How a press of Buy is sent. */
export interface BuyOptions {
  /** pressed in a fair start's window: when it closes, client ms (the request waits for the draw) */
  drawClosesAt?: number;
}

/**
 * Buy, as intents: `buy(quantity)` opens one (a fresh Idempotency-Key) and
 * runs it to its end; while it is open, further calls are ignored (a double
 * click is one purchase). An intent that ended without an answer (gave up)
 * is resumed by the next Buy of the same quantity, with its key: the first
 * request may have gone through, and must not become two purchases. A press
 * in a fair start's window is a draw entry (`drawClosesAt`): its attempts
 * wait for the draw, and its retries, with the key, find the same entry.
 */
export function usePurchase(api: ShopApi, saleId: string, options: PurchaseOptions = {}) {
  const [state, setState] = useState<IntentState>({ phase: 'idle' });
  const open = useRef(false);
  const unresolved = useRef<Intent | null>(null);
  const opts = useRef(options);
  opts.current = options;

  const buy = useCallback(
    async (quantity: number, how: BuyOptions = {}): Promise<FinalState | null> => {
      // synchronous guard: two clicks in one frame see the same open intent
      if (open.current) return null;
      open.current = true;
      const now = opts.current.deps?.now ?? (() => Date.now());
      const previous = unresolved.current;
      const base =
        previous && previous.saleId === saleId && previous.quantity === quantity
          ? previous
          : { key: (opts.current.newKey ?? newIdempotencyKey)(), saleId, quantity };
      const intent: Intent = { key: base.key, saleId, quantity, startedAt: now(), ...(how.drawClosesAt !== undefined && { drawClosesAt: how.drawClosesAt }) };
      try {
        const final = await runIntent(intent, {
          ...opts.current.deps,
          send: (i, signal) => api.purchase(i.saleId, i.quantity, i.key, signal, attemptTimeoutMs(i, now())),
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
