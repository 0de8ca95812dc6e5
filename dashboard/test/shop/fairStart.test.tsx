// A fair start on the sale page: Buy open in the prequeue (before the start),
// the press an entry in the draw with the time left and the entrants, the
// same key on every retry while the request waits, then the usual answer.
import { describe, expect, it, vi } from 'vitest';
import { act, fireEvent, screen } from '@testing-library/react';
import { errorBody, fakeEngine, json, order } from './fakeEngine';
import { advance, answer, buy, HOUR, openSale, T0, usePhoneClock } from './salePageHarness';

usePhoneClock();

const ms = (testId: string) => Number(screen.getByTestId(testId).dataset.ms);

/**
 * The engine's clock is an hour ahead of the phone's. The sale starts 8 s
 * from now (engine time); its draw opens 5 s before (3 s from now) and
 * closes 3 s after (11 s from now).
 */
function fairSale(over = {}) {
  return fakeEngine(
    { status: 'scheduled', starts_at: new Date(T0 + HOUR + 8000).toISOString(), prequeue_seconds: 5, fair_start_seconds: 3, stock: 1, remaining: 1, sold: 0, per_user_limit: 1, ...over },
    HOUR,
  );
}

describe('a fair start', () => {
  it('says the start is a draw, counts down to its opening, and opens Buy in the prequeue, before the start', async () => {
    const engine = fairSale();
    openSale();
    await advance();
    expect(screen.getByTestId('fair-start').dataset.window).toBe('before');
    expect(screen.getByTestId('fair-start').textContent).toMatch(/^Fair start: every buyer who presses Buy between \d\d:\d\d:03 and \d\d:\d\d:11 is entered in a draw; the order is random, not by speed\.$/);
    expect(screen.getByTestId('countdown').getAttribute('aria-label')).toBe('Draw opens in 3 seconds');
    expect(buy().disabled).toBe(true);
    expect(screen.getByTestId('buy-hint').textContent).toMatch(/^Buy opens at \d\d:\d\d:03, when the draw opens\.$/);

    const requests = engine.sent.length;
    await advance(3000);
    // the draw is open: Buy enabled by the page's own clock (the sale is still "scheduled"), no request
    expect(buy().disabled).toBe(false);
    expect(screen.getByTestId('sale-status').dataset.phase).toBe('draw');
    expect(screen.getByTestId('sale-status').dataset.status).toBe('scheduled');
    expect(screen.getByTestId('sale-status').textContent).toBe('Draw open');
    expect(screen.queryByTestId('countdown')).toBeNull();
    expect(ms('draw-window-countdown')).toBe(8000);
    expect(screen.getByTestId('fair-start').textContent).toMatch(/presses Buy before \d\d:\d\d:11 is entered in a draw/);
    expect(screen.getByTestId('buy-hint').textContent).toMatch(/^Press Buy before \d\d:\d\d:11 to enter the draw/);
    expect(engine.sent.slice(requests).filter((r) => r.path.startsWith('/api/sales'))).toEqual([]);
    expect(screen.getByText('The draw is open: press Buy to enter it. The order is random, not by speed.')).toBeTruthy();
  });

  it('a press in the draw: "you are in the draw", the time left and the entrants while the request waits; retries keep the key; then the answer', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const engine = fairSale();
    let heldFirst: (r: Response | 'network') => void = () => {};
    let heldSecond: (r: Response) => void = () => {};
    engine.purchases.push(
      () => new Promise((r) => (heldFirst = r)),
      () => new Promise((r) => (heldSecond = r)),
    );
    openSale();
    await advance(4000); // the prequeue: 4 s before the start, 7 s before the close
    const region = answer();
    fireEvent.click(buy());
    fireEvent.click(buy());
    await advance();
    expect(engine.purchaseCalls()).toHaveLength(1);
    const key = engine.purchaseCalls()[0].headers['Idempotency-Key'];
    expect(buy().disabled).toBe(true);
    expect(buy().getAttribute('aria-busy')).toBe('true');
    expect(buy().textContent).toBe('In the draw…');
    const box = screen.getByTestId('in-draw');
    expect(box.dataset.stage).toBe('entered');
    expect(box.textContent).toMatch(/You are in the draw/);
    expect(ms('draw-countdown')).toBe(7000);
    expect(screen.getByTestId('draw-countdown').getAttribute('aria-label')).toBe('Draw closes in 7 seconds');
    expect(screen.getByTestId('draw-countdown').getAttribute('role')).toBe('timer');
    expect(screen.queryByTestId('draw-window-countdown')).toBeNull();
    // announced once by the live region, which does not tick
    expect(answer()).toBe(region);
    expect(region.dataset.draw).toBe('entered');
    expect(region.textContent).toMatch(/^In the draw\. You are in the draw\. It closes at \d\d:\d\d:11; then every entry is drawn in a random order/);
    const said = region.textContent;
    // the entrants, pushed by the live feed
    expect(screen.queryByTestId('draw-entrants')).toBeNull();
    act(() => engine.stream()!.emit({ ...engine.sale, draw: { phase: 'open', entrants: 7, served: 0, seed: null } }));
    expect(screen.getByTestId('draw-entrants').textContent).toBe('7 buyers in the draw so far');
    await advance(2000);
    expect(ms('draw-countdown')).toBe(5000);
    expect(region.textContent).toBe(said);

    // the connection drops: the same key again, still in the draw
    heldFirst('network');
    await advance();
    expect(region.dataset.phase).toBe('waiting');
    expect(region.dataset.draw).toBe('entered');
    expect(region.textContent).toMatch(/Still waiting: the page asks again with the same entry \(it cannot buy twice\)\.$/);
    await advance(500);
    expect(engine.purchaseCalls()).toHaveLength(2);
    expect(engine.purchaseCalls()[1].headers['Idempotency-Key']).toBe(key);
    expect(screen.getByTestId('in-draw').dataset.stage).toBe('entered');

    // the window closes: drawing, then the entry's answer
    await advance(5000);
    expect(screen.getByTestId('in-draw').dataset.stage).toBe('drawing');
    expect(region.dataset.draw).toBe('drawing');
    expect(region.textContent).toMatch(/The draw is closed: the entries are answered in the drawn order/);
    act(() => engine.stream()!.emit({ ...engine.sale, status: 'active', draw: { phase: 'serving', entrants: 7, served: 3, seed: 'ab'.repeat(32) } }));
    expect(screen.getByTestId('draw-entrants').textContent).toBe('3 of 7 entries served');
    engine.orders.set('order-9', order({ order_id: 'order-9', status: 'pending' }));
    heldSecond(json(202, { order_id: 'order-9', status: 'pending', remaining: 0 }));
    await advance();
    expect(screen.queryByTestId('in-draw')).toBeNull();
    expect(region.dataset.draw).toBeUndefined();
    expect(region.dataset.orderId).toBe('order-9');
    expect(region.textContent).toMatch(/Order order-9 is pending/);
    expect(buy().getAttribute('aria-busy')).toBe('false');
    expect(engine.purchaseCalls()).toHaveLength(2);
  });

  it('a request held past 90 s (503 overloaded) is retried with the same key, still in the draw; a draw lost reads sold out', async () => {
    vi.spyOn(Math, 'random').mockReturnValue(0);
    const engine = fairSale();
    let held: (r: Response) => void = () => {};
    engine.purchases.push(
      () => errorBody(503, 'overloaded', { 'Retry-After': '1' }),
      () => new Promise((r) => (held = r)),
    );
    openSale();
    await advance(3500);
    fireEvent.click(buy());
    await advance();
    expect(answer().dataset.draw).toBe('entered');
    expect(answer().dataset.code).toBe('overloaded');
    expect(answer().textContent).toMatch(/^In the draw\. You are in the draw\./);
    expect(screen.getByTestId('in-draw')).toBeTruthy();
    await advance(1000);
    expect(engine.purchaseCalls()).toHaveLength(2);
    const [a, b] = engine.purchaseCalls();
    expect(b.headers['Idempotency-Key']).toBe(a.headers['Idempotency-Key']);
    await advance(8000);
    held(errorBody(409, 'sold_out'));
    await advance();
    expect(screen.queryByTestId('in-draw')).toBeNull();
    expect(answer().dataset.code).toBe('sold_out');
    expect(answer().textContent).toMatch(/Sold out: every unit has been sold/);
    expect(buy().disabled).toBe(false);
  });

  it('after the window: first come, first served, and the draw told in one line', async () => {
    const engine = fairSale({ status: 'active', starts_at: new Date(T0 + HOUR - 10_000).toISOString(), draw: { phase: 'served', entrants: 12, served: 12, seed: 'cd'.repeat(32) } });
    openSale();
    await advance();
    expect(screen.getByTestId('sale-status').dataset.phase).toBe('open');
    expect(screen.getByTestId('fair-start').textContent).toBe('Fair start: 12 buyers entered the draw; they were served in a random order. First come, first served since.');
    fireEvent.click(buy());
    await advance();
    expect(screen.queryByTestId('in-draw')).toBeNull();
    expect(answer().dataset.draw).toBeUndefined();
    expect(engine.purchaseCalls()).toHaveLength(1);
  });
});
