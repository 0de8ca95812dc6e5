// The purchase intent: one key per click, the same key on every retry.
import { describe, expect, it, vi } from 'vitest';
import {
  backoffMs,
  decide,
  INTENT_BUDGET_MS,
  newIdempotencyKey,
  retryAfterMs,
  runIntent,
  type Intent,
  type IntentState,
} from '../../src/shop/lib/intent';
import type { PurchaseOutcome } from '../../src/shop/lib/shopApi';

const intent: Intent = { key: 'key-1', saleId: 'sale-1', quantity: 1, startedAt: 0 };
const accepted = (order_id = 'order-1', replayed = false): PurchaseOutcome => ({ kind: 'accepted', accepted: { order_id, status: 'pending', remaining: 4 }, replayed });
const error = (status: number, code: string, retryAfter: string | null = null): PurchaseOutcome => ({ kind: 'error', status, code, message: code, retryAfter });
const network: PurchaseOutcome = { kind: 'network', message: 'Failed to fetch' };

/** A run on a fake clock: `sleep` moves it; `answers` are the attempts' outcomes in turn. */
function harness(answers: PurchaseOutcome[]) {
  let clock = 0;
  const sent: Intent[] = [];
  const slept: number[] = [];
  const states: IntentState[] = [];
  const send = vi.fn(async (i: Intent) => {
    sent.push(i);
    return answers.shift() ?? network;
  });
  const run = () =>
    runIntent(intent, {
      send,
      now: () => clock,
      rng: () => 0.5,
      sleep: async (ms) => {
        slept.push(ms);
        clock += ms;
      },
      onState: (s) => states.push(s),
    });
  return { run, sent, slept, states, send };
}

describe('Retry-After', () => {
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs('0')).toBe(0);
    const now = Date.parse('2026-11-30T10:00:00Z');
    expect(retryAfterMs('Mon, 30 Nov 2026 10:00:07 GMT', now)).toBe(7000);
    expect(retryAfterMs('Mon, 30 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs(null)).toBeNull();
    expect(retryAfterMs('soon')).toBeNull();
  });

  it('backs off 0.5 s, 1 s, 2 s… up to 8 s, spread ±20 %', () => {
    expect([1, 2, 3, 4, 5, 6, 9].map((a) => backoffMs(a, () => 0.5))).toEqual([500, 1000, 2000, 4000, 8000, 8000, 8000]);
    expect(backoffMs(1, () => 0)).toBe(400);
    expect(backoffMs(1, () => 1)).toBe(600);
  });
});

describe('decide', () => {
  it('settles on a 202 and on a refusal', () => {
    expect(decide(intent, accepted('o', true), 2, 100)).toMatchObject({ type: 'done', state: { phase: 'accepted', orderId: 'o', replayed: true, attempts: 2 } });
    for (const [status, code] of [
      [409, 'sold_out'],
      [409, 'sale_not_active'],
      [409, 'limit_exceeded'],
      [400, 'invalid_request'],
      [401, 'unauthorized'],
      [404, 'sale_not_found'],
      [422, 'idempotency_key_reused'],
    ] as const) {
      expect(decide(intent, error(status, code), 1, 0)).toMatchObject({ type: 'done', state: { phase: 'refused', code, status } });
    }
  });

  it('retries a 429, a 503 and a dropped connection, never before Retry-After', () => {
    expect(decide(intent, error(429, 'rate_limited', '3'), 1, 0, { rng: () => 0 })).toEqual({ type: 'retry', reason: 'rate_limited', delayMs: 3000 });
    expect(decide(intent, error(503, 'overloaded', '1'), 1, 0, { rng: () => 0 })).toEqual({ type: 'retry', reason: 'overloaded', delayMs: 1000 });
    expect(decide(intent, error(503, 'unavailable', '2'), 1, 0, { rng: () => 0 })).toEqual({ type: 'retry', reason: 'unavailable', delayMs: 2000 });
    // spread above Retry-After, never below
    const spread = decide(intent, error(429, 'rate_limited', '3'), 1, 0, { rng: () => 0.999 });
    expect(spread.type === 'retry' && spread.delayMs >= 3000 && spread.delayMs <= 3600).toBe(true);
    expect(decide(intent, network, 3, 0, { rng: () => 0.5 })).toEqual({ type: 'retry', reason: 'network', delayMs: 2000 });
    expect(decide(intent, error(502, 'http_502'), 1, 0, { rng: () => 0.5 })).toEqual({ type: 'retry', reason: 'unavailable', delayMs: 500 });
  });

  it('gives up when the next attempt would come after the budget', () => {
    expect(decide(intent, network, 9, INTENT_BUDGET_MS - 1000, { rng: () => 0.5 })).toMatchObject({ type: 'done', state: { phase: 'gave_up', reason: 'network' } });
    // Retry-After beyond the budget: stop at once, and keep what the engine asked
    expect(decide(intent, error(429, 'rate_limited', '120'), 1, 0)).toMatchObject({ type: 'done', state: { phase: 'gave_up', reason: 'rate_limited', retryAfterMs: 120_000 } });
  });
});

describe('runIntent', () => {
  it('sends the same key on every retry, honouring Retry-After', async () => {
    const h = harness([error(429, 'rate_limited', '3'), error(503, 'overloaded', '2'), network, accepted('order-9', true)]);
    const final = await h.run();
    expect(final).toMatchObject({ phase: 'accepted', orderId: 'order-9', replayed: true, attempts: 4 });
    expect(h.sent.map((i) => i.key)).toEqual(['key-1', 'key-1', 'key-1', 'key-1']);
    expect(h.sent.every((i) => i.quantity === 1 && i.saleId === 'sale-1')).toBe(true);
    // 3 s and 2 s as asked (rng 0.5 adds 0.5 × min(1 s, 20 %)), then the back-off of a third attempt
    expect(h.slept).toEqual([3300, 2200, 2000]);
    expect(h.states.map((s) => s.phase)).toEqual(['sending', 'waiting', 'sending', 'waiting', 'sending', 'waiting', 'sending', 'accepted']);
  });

  it('retries a network error with the same key (the first request may have gone through)', async () => {
    const h = harness([network, network, accepted('order-1', true)]);
    expect(await h.run()).toMatchObject({ phase: 'accepted', orderId: 'order-1' });
    expect(new Set(h.sent.map((i) => i.key))).toEqual(new Set(['key-1']));
    expect(h.slept).toEqual([500, 1000]);
  });

  it('stops after a minute without an answer and says so', async () => {
    const h = harness([]);
    const final = await h.run();
    expect(final).toMatchObject({ phase: 'gave_up', reason: 'network' });
    const total = h.slept.reduce((a, b) => a + b, 0);
    expect(total).toBeLessThanOrEqual(INTENT_BUDGET_MS);
    expect(total).toBeGreaterThan(INTENT_BUDGET_MS - 8_000);
    expect(h.send.mock.calls.length).toBe(h.slept.length + 1);
    expect(new Set(h.sent.map((i) => i.key)).size).toBe(1);
  });

  it('does not retry a refusal', async () => {
    const h = harness([error(409, 'sold_out')]);
    expect(await h.run()).toMatchObject({ phase: 'refused', code: 'sold_out', attempts: 1 });
    expect(h.send).toHaveBeenCalledTimes(1);
  });
});

describe('Idempotency-Key', () => {
  it('is crypto.randomUUID where there is one', () => {
    expect(newIdempotencyKey({ randomUUID: () => 'uuid-x', getRandomValues: (a: never) => a } as never)).toBe('uuid-x');
  });
  it('is a v4 UUID from getRandomValues elsewhere (a phone on http://LAN-address is no secure context)', () => {
    const key = newIdempotencyKey({ getRandomValues: <T extends ArrayBufferView | null>(a: T) => crypto.getRandomValues(a as never) as T });
    expect(key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(newIdempotencyKey()).not.toBe(newIdempotencyKey());
  });
});
