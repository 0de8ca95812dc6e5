// A fair start seen from the shop: the draw's window on the engine's clock,
// the sale's phase in it, the buyer's entry, and its patient retries.
import { describe, expect, it, vi } from 'vitest';
import { drawEntryWords } from '../../src/shop/lib/answers';
import { buyable, msToBuy, salePhase } from '../../src/shop/lib/countdown';
import { drawResultText, drawWindow, entrantsText, entryStage, fairStartText, nextDrawBoundary, windowTime } from '../../src/shop/lib/draw';
import {
  ATTEMPT_TIMEOUT_MS,
  attemptTimeoutMs,
  DRAW_ATTEMPT_MAX_MS,
  DRAW_SERVING_MARGIN_MS,
  drawWaitMs,
  INTENT_BUDGET_MS,
  runIntent,
  type Intent,
  type IntentState,
} from '../../src/shop/lib/intent';
import type { PurchaseOutcome } from '../../src/shop/lib/shopApi';
import { draw } from '../fixtures';

const START = Date.parse('2026-11-30T10:00:10.000Z');
/** starts at 10:00:10, the draw from 10:00:05 to 10:00:13 */
const fair = (over = {}) => ({ status: 'scheduled', starts_at: new Date(START).toISOString(), ends_at: null, prequeue_seconds: 5, fair_start_seconds: 3, ...over });

describe('the draw window', () => {
  it('runs from starts_at − prequeue_seconds to starts_at + fair_start_seconds', () => {
    expect(drawWindow(fair())).toEqual({ opensAt: START - 5000, startsAt: START, closesAt: START + 3000 });
    expect(drawWindow(fair({ prequeue_seconds: 0 }))).toEqual({ opensAt: START, startsAt: START, closesAt: START + 3000 });
    // none without a start, or with 0 and 0
    expect(drawWindow(fair({ starts_at: null }))).toBeNull();
    expect(drawWindow(fair({ prequeue_seconds: 0, fair_start_seconds: 0 }))).toBeNull();
    expect(drawWindow({ starts_at: new Date(START).toISOString() })).toBeNull();
    const w = drawWindow(fair())!;
    expect([START - 5001, START - 5000, START + 2999, START + 3000].map((t) => windowTime(w, t))).toEqual(['before', 'open', 'open', 'closed']);
  });

  it('opens Buy in the prequeue, before the start, while the sale is still scheduled', () => {
    expect(salePhase(fair(), START - 6000)).toBe('upcoming');
    expect(msToBuy(fair(), START - 6000)).toBe(1000); // to the draw's opening, not the start
    expect(salePhase(fair(), START - 5000)).toBe('draw');
    expect(msToBuy(fair(), START - 5000)).toBeNull();
    expect(salePhase(fair({ status: 'active' }), START + 1000)).toBe('draw');
    expect(salePhase(fair({ status: 'active' }), START + 3000)).toBe('open');
    expect(salePhase(fair(), START + 3000)).toBe('open'); // the engine's status a little late: open anyway
    expect(buyable('draw')).toBe(true);
    // the engine closed it (this clock a little behind): no longer the draw
    expect(salePhase(fair({ status: 'active', draw: draw({ phase: 'serving', served: 0, entrants: 9 }) }), START + 2900)).toBe('open');
    expect(salePhase(fair({ status: 'active', draw: draw({ phase: 'open', seed: null, served: 0 }) }), START + 2900)).toBe('draw');
    // paused or ended: no entries
    expect(salePhase(fair({ status: 'paused' }), START)).toBe('paused');
    expect(salePhase(fair({ status: 'ended' }), START)).toBe('ended');
    // a sale without a fair start is unchanged
    expect(salePhase(fair({ prequeue_seconds: 0, fair_start_seconds: 0 }), START - 1000)).toBe('upcoming');
    expect(msToBuy(fair({ prequeue_seconds: 0, fair_start_seconds: 0 }), START - 1000)).toBe(1000);
  });

  it('wakes the page at each boundary: the opening, the start, the close', () => {
    const w = drawWindow(fair())!;
    expect(nextDrawBoundary(w, START - 9000)).toBe(START - 5000);
    expect(nextDrawBoundary(w, START - 5000)).toBe(START);
    expect(nextDrawBoundary(w, START)).toBe(START + 3000);
    expect(nextDrawBoundary(w, START + 3000)).toBeNull();
    expect(nextDrawBoundary(null, 0)).toBeNull();
  });

  it('says the start is a draw, and then how many were drawn', () => {
    const w = drawWindow(fair())!;
    expect(fairStartText(w, START - 9000)).toMatch(/^Fair start: every buyer who presses Buy between \d\d:\d\d:05 and \d\d:\d\d:13 is entered in a draw; the order is random, not by speed\.$/);
    expect(fairStartText(w, START)).toMatch(/^Fair start: every buyer who presses Buy before \d\d:\d\d:13 is entered in a draw; the order is random, not by speed\.$/);
    expect(drawResultText(undefined)).toBeNull();
    expect(drawResultText(draw({ phase: 'open' }))).toBeNull();
    expect(drawResultText(draw())).toMatch(/^Fair start: 2 buyers entered the draw; they were served in a random order/);
    expect(drawResultText(draw({ phase: 'serving', served: 1 }))).toMatch(/1 of its 2 buyers served so far/);
  });
});

describe("the buyer's entry", () => {
  const intent: Intent = { key: 'k', saleId: 's', quantity: 1, startedAt: 1000, drawClosesAt: 9000 };
  const sending: IntentState = { phase: 'sending', intent, attempt: 1 };

  it('is in the draw until the window closes, then drawing; none for a plain purchase or a settled one', () => {
    expect(entryStage(sending, undefined, 5000)).toBe('entered');
    expect(entryStage(sending, draw({ phase: 'open', seed: null, served: 0, entrants: 4 }), 5000)).toBe('entered');
    expect(entryStage(sending, undefined, 9000)).toBe('drawing');
    // the engine says it closed before this clock does
    expect(entryStage(sending, draw({ phase: 'serving', served: 0 }), 5000)).toBe('drawing');
    // a retry keeps it in the draw
    expect(entryStage({ phase: 'waiting', intent, attempt: 1, reason: 'overloaded', retryAt: 6000, delayMs: 1000 }, undefined, 5000)).toBe('entered');
    expect(entryStage({ phase: 'sending', intent: { ...intent, drawClosesAt: undefined }, attempt: 1 }, undefined, 5000)).toBeNull();
    expect(entryStage({ phase: 'accepted', intent, attempts: 1, orderId: 'o', remaining: 0, replayed: false }, undefined, 5000)).toBeNull();
    expect(entryStage({ phase: 'idle' }, undefined, 5000)).toBeNull();
  });

  it('in words: in the draw (the same words while retrying), then drawing; the entrants when known', () => {
    const closes = '2026-11-30T10:00:13.000Z';
    const entered = drawEntryWords('entered', sending, closes);
    expect(entered.title).toBe('In the draw');
    expect(entered.text).toMatch(/^You are in the draw\. It closes at \d\d:\d\d:13; then every entry is drawn in a random order, not by speed/);
    const retrying = drawEntryWords('entered', { phase: 'waiting', intent, attempt: 1, reason: 'network', retryAt: 6000, delayMs: 500 }, closes);
    expect(retrying.text).toMatch(/^You are in the draw\..*Still waiting: the page asks again with the same entry \(it cannot buy twice\)\.$/);
    expect(drawEntryWords('entered', { phase: 'sending', intent, attempt: 2 }, closes).text).toBe(retrying.text);
    expect(drawEntryWords('drawing', sending, closes).text).toMatch(/^The draw is closed: the entries are answered in the drawn order/);
    expect(entrantsText(undefined, 'entered')).toBeNull();
    expect(entrantsText(draw({ phase: 'open', entrants: 1, served: 0 }), 'entered')).toBe('1 buyer in the draw so far');
    expect(entrantsText(draw({ phase: 'serving', entrants: 40, served: 12 }), 'drawing')).toBe('12 of 40 entries served');
  });

  it('waits for the draw: each attempt until the window closes and its serving, the budget from the close', () => {
    expect(attemptTimeoutMs({ ...intent, drawClosesAt: undefined }, 1000)).toBe(ATTEMPT_TIMEOUT_MS);
    expect(attemptTimeoutMs(intent, 1000)).toBe(8000 + DRAW_SERVING_MARGIN_MS);
    expect(attemptTimeoutMs(intent, 20_000)).toBe(ATTEMPT_TIMEOUT_MS); // closed long ago: as any purchase
    expect(attemptTimeoutMs({ ...intent, drawClosesAt: 1000 + 60_000 }, 1000)).toBe(60_000 + DRAW_SERVING_MARGIN_MS);
    expect(attemptTimeoutMs({ ...intent, drawClosesAt: 10 * 60_000 }, 0)).toBe(DRAW_ATTEMPT_MAX_MS);
    expect(drawWaitMs(intent)).toBe(8000);
    expect(drawWaitMs({ ...intent, drawClosesAt: undefined })).toBe(0);
  });

  it("a request held too long (503 overloaded after 90 s) is retried with the same key, within the entry's budget", async () => {
    // the engine held the request 90 s, then asked to retry in 1 s; the retry gets the entry's answer
    const run = async (i: Intent) => {
      let clock = 0;
      const answers: PurchaseOutcome[] = [
        { kind: 'error', status: 503, code: 'overloaded', message: 'overloaded', retryAfter: '1' },
        { kind: 'accepted', accepted: { order_id: 'order-1', status: 'pending', remaining: 0 }, replayed: true },
      ];
      const held = [90_000, 10];
      const sent: string[] = [];
      const final = await runIntent(i, {
        send: vi.fn(async (x: Intent) => {
          sent.push(x.key);
          clock += held.shift()!;
          return answers.shift()!;
        }),
        now: () => clock,
        rng: () => 0,
        sleep: async (ms) => {
          clock += ms;
        },
      });
      return { final, sent };
    };
    // Buy pressed 55 s before the close: its budget is 55 s + a minute
    const entry = await run({ key: 'key-1', saleId: 's', quantity: 1, startedAt: 0, drawClosesAt: 55_000 });
    expect(entry.final).toMatchObject({ phase: 'accepted', orderId: 'order-1', attempts: 2 });
    expect(entry.sent).toEqual(['key-1', 'key-1']);
    // a plain purchase held that long has spent its minute (INTENT_BUDGET_MS) and stops
    const plain = await run({ key: 'key-2', saleId: 's', quantity: 1, startedAt: 0 });
    expect(INTENT_BUDGET_MS).toBeLessThan(90_000);
    expect(plain.final).toMatchObject({ phase: 'gave_up', reason: 'overloaded' });
  });
});
