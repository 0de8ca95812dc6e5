// A purchase intent: one click on Buy. It gets one Idempotency-Key, and every
// attempt of it (after a 429 or a 5xx, honouring Retry-After, or after a
// dropped connection or a timeout) sends that same key with the same body,
// so the engine answers a retry of a purchase it already made with that
// purchase (`Idempotent-Replayed: true`) instead of making a second one.
// Retries stop after `INTENT_BUDGET_MS`; the page then says so.
//
// A press in a fair start's window is an entry in the sale's draw: the
// engine holds the request until the window closes and the draw is served
// (at most 90 s, then 503 `overloaded` with Retry-After). Such an intent
// carries `drawClosesAt`: each attempt may wait that long for its answer,
// and the budget starts counting at the close. A retry with the key finds
// the same entry (or its answer, once served).
import type { PurchaseOutcome } from './shopApi';

export const INTENT_BUDGET_MS = 60_000;
/** first retry after a failure without Retry-After; doubles up to MAX_BACKOFF_MS */
export const FIRST_BACKOFF_MS = 500;
export const MAX_BACKOFF_MS = 8_000;
/** an attempt without an answer after this long is given up and retried (ShopApi's default) */
export const ATTEMPT_TIMEOUT_MS = 10_000;
/** a draw entry's answer may come this long after the window closed (serving) before the attempt is retried */
export const DRAW_SERVING_MARGIN_MS = 15_000;
/** the engine holds a draw entry's request 90 s at most, then answers 503: never give up on it sooner */
export const DRAW_ATTEMPT_MAX_MS = 95_000;

export interface Intent {
  key: string;
  saleId: string;
  quantity: number;
  /** client ms when Buy was clicked */
  startedAt: number;
  /**
   * A draw entry (Buy pressed in a fair start's window): when the window
   * closes, client ms (the engine's time less the clock offset at the press).
   */
  drawClosesAt?: number;
}

/** How long the intent may wait for the draw before its budget starts (0 for a plain purchase). */
export function drawWaitMs(intent: Intent): number {
  return intent.drawClosesAt === undefined ? 0 : Math.max(0, intent.drawClosesAt - intent.startedAt);
}

/**
 * How long one attempt may wait for its answer, sent at client time `now`:
 * 10 s, or for a draw entry until the window closes and its draw is served
 * (then the attempt is retried, with its key: the same entry).
 */
export function attemptTimeoutMs(intent: Intent, now: number = Date.now()): number {
  if (intent.drawClosesAt === undefined) return ATTEMPT_TIMEOUT_MS;
  return Math.min(DRAW_ATTEMPT_MAX_MS, Math.max(ATTEMPT_TIMEOUT_MS, intent.drawClosesAt - now + DRAW_SERVING_MARGIN_MS));
}

/** Why an attempt is tried again. */
export type RetryReason = 'rate_limited' | 'overloaded' | 'unavailable' | 'network';

export type IntentState =
  | { phase: 'idle' }
  | { phase: 'sending'; intent: Intent; attempt: number }
  | { phase: 'waiting'; intent: Intent; attempt: number; reason: RetryReason; retryAt: number; delayMs: number }
  | { phase: 'accepted'; intent: Intent; attempts: number; orderId: string; remaining: number; replayed: boolean }
  | { phase: 'refused'; intent: Intent; attempts: number; status: number; code: string; message: string }
  | { phase: 'gave_up'; intent: Intent; attempts: number; reason: RetryReason; retryAfterMs: number | null };

export type FinalState = Extract<IntentState, { phase: 'accepted' | 'refused' | 'gave_up' }>;

/** Whether the intent is still running (Buy is busy). */
export function isOpen(s: IntentState): s is Extract<IntentState, { phase: 'sending' | 'waiting' }> {
  return s.phase === 'sending' || s.phase === 'waiting';
}

/** An RFC 9110 Retry-After (delay in seconds, or an HTTP date) in ms from `now`; null when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined, now: number = Date.now()): number | null {
  if (value === null || value === undefined) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - now);
}

/** Back-off without Retry-After: 0.5 s, 1 s, 2 s, … up to 8 s, spread by ±20 % so that many buyers do not retry in step. */
export function backoffMs(attempt: number, rng: () => number = Math.random): number {
  const base = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * rng()));
}

export type Decision =
  | { type: 'done'; state: FinalState }
  | { type: 'retry'; reason: RetryReason; delayMs: number };

function retryReason(o: Extract<PurchaseOutcome, { kind: 'error' }>): RetryReason | null {
  if (o.status === 429) return 'rate_limited';
  if (o.code === 'overloaded') return 'overloaded';
  if (o.status >= 500) return 'unavailable';
  return null;
}

/**
 * What to do after attempt number `attempt` (1-based) came back with
 * `outcome`, `elapsedMs` after the click: finish, or try again after a delay.
 * An answer that settles the purchase (202, or a refusal such as sold_out)
 * ends the intent; a throttle (429), an overload or outage (5xx) or no
 * answer at all is retried with the same key, never before Retry-After,
 * until the budget is spent.
 */
export function decide(
  intent: Intent,
  outcome: PurchaseOutcome,
  attempt: number,
  elapsedMs: number,
  { budgetMs = INTENT_BUDGET_MS, rng = Math.random, now = Date.now() }: { budgetMs?: number; rng?: () => number; now?: number } = {},
): Decision {
  if (outcome.kind === 'accepted') {
    const a = outcome.accepted;
    return { type: 'done', state: { phase: 'accepted', intent, attempts: attempt, orderId: a.order_id, remaining: a.remaining, replayed: outcome.replayed } };
  }
  let reason: RetryReason;
  let delayMs: number;
  let asked: number | null = null;
  if (outcome.kind === 'network') {
    reason = 'network';
    delayMs = backoffMs(attempt, rng);
  } else {
    const r = retryReason(outcome);
    if (r === null) {
      return { type: 'done', state: { phase: 'refused', intent, attempts: attempt, status: outcome.status, code: outcome.code, message: outcome.message } };
    }
    reason = r;
    asked = retryAfterMs(outcome.retryAfter, now);
    // never before the engine asked; a little later, spread, so that a crowd does not come back at once
    delayMs = asked !== null ? asked + Math.round(rng() * Math.min(1000, asked * 0.2)) : backoffMs(attempt, rng);
  }
  if (elapsedMs + delayMs > budgetMs) {
    return { type: 'done', state: { phase: 'gave_up', intent, attempts: attempt, reason, retryAfterMs: asked } };
  }
  return { type: 'retry', reason, delayMs };
}

export interface RunDeps {
  /** one attempt: the same intent (key, sale, quantity) every time */
  send: (intent: Intent, signal?: AbortSignal) => Promise<PurchaseOutcome>;
  /** waits `ms` (rejects when `signal` aborts) */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
  rng?: () => number;
  budgetMs?: number;
  signal?: AbortSignal;
  onState?: (s: IntentState) => void;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', stop, { once: true });
  });
}

/**
 * Runs an intent to its end: attempts with its one key until an answer
 * settles it or the budget is spent (a draw entry's budget is extended by
 * its wait for the window to close).
 */
export async function runIntent(intent: Intent, deps: RunDeps): Promise<FinalState> {
  const now = deps.now ?? (() => Date.now());
  const wait = deps.sleep ?? sleep;
  const budgetMs = (deps.budgetMs ?? INTENT_BUDGET_MS) + drawWaitMs(intent);
  for (let attempt = 1; ; attempt++) {
    deps.onState?.({ phase: 'sending', intent, attempt });
    const outcome = await deps.send(intent, deps.signal);
    const t = now();
    const d = decide(intent, outcome, attempt, t - intent.startedAt, { budgetMs, rng: deps.rng, now: t });
    if (d.type === 'done') {
      deps.onState?.(d.state);
      return d.state;
    }
    deps.onState?.({ phase: 'waiting', intent, attempt, reason: d.reason, retryAt: t + d.delayMs, delayMs: d.delayMs });
    await wait(d.delayMs, deps.signal);
  }
}

/** A fresh Idempotency-Key: crypto.randomUUID where the page is a secure context, else a v4 UUID from getRandomValues. */
export function newIdempotencyKey(c: Pick<Crypto, 'getRandomValues'> & { randomUUID?: () => string } = globalThis.crypto): string {
  if (typeof c.randomUUID === 'function') return c.randomUUID();
  const b = c.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
